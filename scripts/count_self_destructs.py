"""Count self-destructs of scripted CPUs in the mock, at several windows.

Plays ``--games`` games of ``--player`` (port 0) against ``--vs`` with ``exphil eval``'s own
machinery (:func:`exphil.eval.evaluate`: the same seeds, games and counting) and prints its
self-destructs: a stock lost without damage taken in the ``W`` frames before, for each
window ``W`` of ``--windows`` (``exphil eval`` reports W = 300, 5 s; 180 is 3 s). A death
a few seconds after a long launch counts as a self-destruct at the short window and as a KO
at the long one.

    .venv/bin/python scripts/count_self_destructs.py --player cpu:9 --vs cpu:5 --games 64
"""

from __future__ import annotations

import argparse
import json

import exphil.eval as ev
from exphil.envs import MockConfig


def count(
    player: str, vs: str, games: int, seed: int, windows: list[int], stage: str, character: str
) -> dict[str, object]:
    cfg = MockConfig(stage=stage, characters=(character, character))
    out: dict[str, object] = {"player": player, "vs": vs, "games": games, "seed": seed}
    default = ev.SD_WINDOW
    try:
        for w in windows:
            ev.SD_WINDOW = w  # read by evaluate's counting at every frame
            r = ev.evaluate(player, vs, games=games, config=cfg, seed=seed)
            out[f"sd_{w}"] = r.self_destructs
            out.setdefault("kos_taken", r.kos_taken)
            out.setdefault("kos_dealt", r.kos_dealt)
            out.setdefault("wins_losses_draws", [r.wins, r.losses, r.draws])
    finally:
        ev.SD_WINDOW = default
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--player", default="cpu:9")
    ap.add_argument("--vs", default="cpu:5")
    ap.add_argument("--games", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--windows", default="180,300", help="frames, comma-separated")
    ap.add_argument("--stage", default="fd")
    ap.add_argument("--character", default="fox")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    windows = [int(w) for w in a.windows.split(",")]
    res = count(a.player, a.vs, a.games, a.seed, windows, a.stage, a.character)
    if a.json:
        print(json.dumps(res))
        return
    sds = ", ".join(f"{res[f'sd_{w}']} at {w} frames" for w in windows)
    print(
        f"{a.player} vs {a.vs}, {a.games} games: W-L-D {res['wins_losses_draws']}, "
        f"stocks lost {res['kos_taken']}, self-destructs {sds}"
    )


if __name__ == "__main__":
    main()
