"""Measure Melee's ledge mechanics from real replays (Fox and Falco), to check the mock's.

Reads the Fox/Falco games of a corpus (``../shared/corpus`` by default: its ``manifest.json``
lists the splits) and prints, per character, the mode, median and sample count of:

* ``catch``: frames in EDGE_CATCHING (CLIFF_CATCH) before EDGE_HANGING (CLIFF_WAIT), and the
  ``action_frame`` column on the first frame of each;
* ``hang_dx``, ``hang_y``: where a hanging player is, from the stage's edge (outward) on FD
  and Battlefield;
* ``grab_dx``, ``grab_y``: where the player was on the frame before a grab (the grab box),
  and how often the player faced away from the stage;
* ``intangible``: frames from the grab with the ``invulnerable`` column set, for a first grab
  and for a regrab without touching the ground in between;
* each getup action (EDGE_GETUP_*, EDGE_ATTACK_*, EDGE_ROLL_*, EDGE_JUMP_*): its length (a
  run of the id), split by percent below/at or above 100, its intangible frames, and where the
  player is on the frame after (from the edge);
* ``hang_max``: the longest EDGE_HANGING runs and what follows them (a timeout drops).

    .venv/bin/python scripts/measure_ledges.py [--corpus DIR] [--max-files N]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from exphil.game.ids import Character, Stage, action_name
from exphil.game.peppi import read_game

CATCH, HANG = 0xFC, 0xFD
GETUPS = range(0xFE, 0x108)
FOX_FALCO = (Character.FOX, Character.FALCO)


def _runs(mask: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def measure(files: list[Path]) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for f in files:
        try:
            info, fr = read_game(f)
        except Exception as err:  # broken files are reported and skipped
            print(f"skip {f.name}: {type(err).__name__}")
            continue
        st = info.stage
        edge = st.geometry.edge if st is not None else None
        for p, pi in enumerate(info.players[:2]):
            if pi.character not in FOX_FALCO:
                continue
            o = out[pi.character.name.lower()]
            pl = fr.players[p]
            a = pl.action.astype(np.int64)
            x, y, af = pl.x, pl.y, pl.action_frame
            inv, grounded, pct = pl.invulnerable, pl.on_ground, pl.percent
            n = len(a)
            ground_since = True  # touched the ground since the last grab
            for t in range(1, n):
                if grounded[t]:
                    ground_since = True
                if a[t] == CATCH and a[t - 1] != CATCH:
                    s, e = t, t
                    while e < n and a[e] == CATCH:
                        e += 1
                    regrab = not ground_since
                    ground_since = False
                    if e < n and a[e] == HANG:
                        o["catch"].append(e - s)
                        o["catch_af0"].append(float(af[s]))
                        o["hang_af0"].append(float(af[e]))
                        if edge is not None and st in (Stage.FINAL_DESTINATION, Stage.BATTLEFIELD):
                            side = 1.0 if x[e] > 0 else -1.0
                            o[f"hang_dx_{st.name.lower()}"].append(
                                round(float(x[e] * side - edge), 2)
                            )
                            o[f"hang_y_{st.name.lower()}"].append(round(float(y[e]), 2))
                            o[f"grab_dx_{st.name.lower()}"].append(
                                round(float(x[t - 1] * side - edge), 1)
                            )
                            o[f"grab_y_{st.name.lower()}"].append(round(float(y[t - 1]), 1))
                            o["grab_facing_away"].append(float(pl.facing[e] == side))
                    k = s
                    while k < n and inv[k] and a[k] in (CATCH, HANG):
                        k += 1
                    # only runs that left the ledge states after the intangibility ended
                    if k < n and a[k] in (CATCH, HANG):
                        o["intangible_regrab" if regrab else "intangible_first"].append(k - s)
            for act in GETUPS:
                for s, e in _runs(a == act):
                    if e >= n or s == 0:
                        continue
                    key = action_name(act)
                    slow = pct[s] >= 100
                    o[f"{key}{' (>=100%)' if slow else ''}"].append(e - s)
                    o[f"{key} af0"].append(float(af[s]))
                    o[f"{key} intangible"].append(float(inv[s:e].sum()))
                    o[f"{key} next"].append(float(a[e]))
                    if edge is not None and st in (Stage.FINAL_DESTINATION, Stage.BATTLEFIELD):
                        side = 1.0 if x[s] > 0 else -1.0
                        o[f"{key} end_dx"].append(round(float(x[e] * side - edge), 1))
                        o[f"{key} end_y"].append(round(float(y[e]), 1))
            for s, e in _runs(a == HANG):
                if e < n:
                    o["hang_len"].append(e - s)
                    o[f"hang->{action_name(int(a[e]))}"].append(e - s)
    return out


def _summary(v: list[float]) -> str:
    c = collections.Counter(v).most_common(3)
    return (
        f"n={len(v):5d} mode={c[0][0]!r:>8} median={statistics.median(v):8.2f} "
        f"min={min(v):7.2f} max={max(v):7.2f} top={c}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    ap.add_argument("--max-files", type=int, default=0)
    args = ap.parse_args()
    man = json.loads((args.corpus / "manifest.json").read_text())
    files = [
        args.corpus / e["file"]
        for e in man
        if e.get("split") in ("fox_falco_ditto", "fox_falco_vs_other")
    ]
    if args.max_files:
        files = files[: args.max_files]
    out = measure(files)
    for ch, rows in out.items():
        print(f"== {ch}")
        for k in sorted(rows):
            if "next" in k:
                c = collections.Counter(action_name(int(v)) for v in rows[k]).most_common(3)
                print(f"  {k:40s} {c}")
            else:
                print(f"  {k:40s} {_summary(rows[k])}")


if __name__ == "__main__":
    main()
