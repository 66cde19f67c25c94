"""Damage share and duration per action of Fox and Falco on a replay corpus (issue 17's moves).

Usage: ``python scripts/measure_moves.py [CORPUS]`` (default ``../shared/corpus``). For each
character: every action that raised the opponent's percent, with its hits, total damage (and
share of the character's damage), the most frequent damage per hit, and the most frequent
length of the action's whole runs (frames in that action id, entered from another one,
without hitlag, ending in WAIT or FALL: the move's total duration).
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from exphil.data import GameCache, ReplayFilter, select_games
from exphil.envs.calibrate import action_name, player_samples
from exphil.game.ids import Character

TOP = 30
NATURAL_END = (0x0E, 0x1D)  # WAIT, FALL: where a move ends when nothing interrupts it


def main(corpus: Path) -> None:
    files = sorted(str(p) for p in corpus.rglob("*.slp"))
    cache_dir = Path("/tmp/exphil-measure-moves-cache")
    with GameCache(cache_dir) as cache:
        sel = select_games(files, ReplayFilter(), cache=cache)
        dmg: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        runs: dict[str, dict[int, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        hit_af: dict[str, dict[int, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        for r in sel.kept:
            if r.key is None:
                continue
            game = cache.load(r.key, path=r.path)
            if game is None:
                continue
            players = game.frames.players
            if len(players) != 2:
                continue
            for i, p in enumerate(players):
                if len(p) == 0 or not p.exists.any():
                    continue
                ch = Character.from_internal(int(np.bincount(p.character[p.exists]).argmax()))
                name = ch.name.lower()
                if name not in ("fox", "falco"):
                    continue
                opp = players[1 - i]
                for a, d in player_samples(p, opp)["damage"]:
                    dmg[name][a].append(d)
                rise = np.flatnonzero(
                    (opp.percent[1:] > opp.percent[:-1] + 1e-3)
                    & (opp.stocks[1:] == opp.stocks[:-1])
                    & opp.exists[1:]
                    & p.exists[1:]
                )
                for t in rise:  # the attacker's action frame on the frame the hit lands
                    hit_af[name][int(p.action[t + 1])][int(p.action_frame[t + 1])] += 1
                act = p.action.astype(np.int64)
                change = np.flatnonzero(np.diff(act) != 0) + 1
                bounds = np.concatenate(([0], change, [len(act)]))
                for s, e in itertools.pairwise(bounds):
                    # a whole run: entered from another action, no hitlag (which stretches it),
                    # ended by the move itself (standing or falling), not by an interrupt
                    if (
                        s > 0
                        and e < len(act)
                        and act[e] in NATURAL_END
                        and p.hitlag[s:e].max() <= 0
                    ):
                        runs[name][int(act[s])][int(e - s)] += 1
    for name, per in dmg.items():
        total = sum(sum(v) for v in per.values())
        print(f"== {name}: {total:.0f}% dealt")
        for a, v in sorted(per.items(), key=lambda kv: -sum(kv[1]))[:TOP]:
            mode = Counter(round(x, 2) for x in v).most_common(3)
            length = runs[name][a].most_common(3)
            print(
                f"{a:#06x} {action_name(a):24s} hits {len(v):5d} total {sum(v):7.0f}"
                f" ({100 * sum(v) / total:4.1f}%) damage {mode} lengths {length}"
                f" hit on action frames {sorted(hit_af[name][a].items())[:12]}"
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/corpus"))
