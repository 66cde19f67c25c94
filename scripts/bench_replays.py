"""Benchmark replay ingestion on a replay folder (default ../shared/replays).

    python scripts/bench_replays.py [PATH] [--json] [--repeats N] [--jobs N]

All figures are frames/s over the same set of files (every 1v1 replay peppi-py reads), so
every ratio is a ratio of wall times. Each single-process figure is the median of
``--repeats`` passes, measured in one run:

(a) raw ``peppi_py.read_slippi`` (Arrow arrays, no conversion)           - the floor
(b) ours, cold: ``exphil.game.peppi.read_game`` -> ``Frames``          target >= 50% of (a)
(b+) cold into the cache: hash + parse + quality + fingerprint + atomic write
(c) warm from the cache: index lookup + memory-mapped ``Frames`` (what a data loader gets;
    pages are read when used)                                           target >= 10x (a)
(c') the same, then every stored column copied into memory (all-zero columns, stored as a
    flag, share one zero buffer): every byte of the game in RAM
(d) a straightforward per-frame Python conversion (slippi-ai style: per-frame loop building
    each row, rollback handled with a dict)                             (b) >= 10x (d)

Then the pool (``exphil replays scan`` as users run it): a cold deep scan into an empty cache
with ``--jobs`` processes, and the same scan warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil.data import GameCache, discover, quality, scan  # noqa: E402
from exphil.game.frames import BUTTON_BITS  # noqa: E402
from exphil.game.peppi import read_game  # noqa: E402


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def raw_peppi(files: list[str]) -> None:
    import peppi_py

    for f in files:
        peppi_py.read_slippi(f)


def ours_cold(files: list[str]) -> None:
    for f in files:
        read_game(f)


def ours_into_cache(files: list[str], root: str) -> None:
    from exphil.data import file_hash

    cache = GameCache(root)
    for f in files:
        info, frames = read_game(f)
        cache.store(file_hash(f), info, quality(frames), frames)
    cache.close()


def warm(files: list[str], cache: GameCache, touch: bool) -> int:
    total = 0
    for f in files:
        key = cache.known_key(f)
        assert key is not None, f
        game = cache.load(key, path=f)
        assert game is not None
        if touch:  # copy every stored column into memory (all-zero columns share one
            # zero buffer per dtype, copied once): every byte of the game is then in RAM
            fr = game.frames
            cols = [fr.frame, fr.stage, *fr.items.columns().values()]
            for p in (*fr.players, *fr.nana):
                cols += p.columns().values()
            distinct = {id(c): c for c in cols}
            total += sum(np.array(c, copy=True).nbytes for c in distinct.values())
    return total


_SLIPPI_BUTTONS = {
    "A": 0x100,
    "B": 0x200,
    "X": 0x400,
    "Y": 0x800,
    "Z": 0x10,
    "L": 0x40,
    "R": 0x20,
    "D_UP": 0x8,
}


def per_frame_python(files: list[str]) -> None:
    """The baseline: peppi's arrays turned into Python values, then one Python iteration per
    frame and port building that frame's row (what slippi-ai-style converters do)."""
    import peppi_py

    for f in files:
        game = peppi_py.read_slippi(f)
        ids = game.frames.id.to_pylist()
        rows: dict[int, list[tuple[Any, ...]]] = {}
        ports = []
        n = len(ids)

        def pl(arr: Any, n: int = n) -> list[Any]:  # optional fields: None on old replays
            return [None] * n if arr is None else arr.to_pylist()

        for port in game.frames.ports[:2]:
            post, pre = port.leader.post, port.leader.pre
            ports.append(
                (
                    pl(post.position.x),
                    pl(post.position.y),
                    pl(post.percent),
                    pl(post.stocks),
                    pl(post.direction),
                    pl(post.state),
                    pl(post.state_age),
                    pl(post.character),
                    pl(post.jumps),
                    pl(post.shield),
                    pl(post.airborne),
                    pl(post.hitlag),
                    pl(pre.joystick.x),
                    pl(pre.joystick.y),
                    pl(pre.cstick.x),
                    pl(pre.cstick.y),
                    pl(pre.triggers),
                    pl(pre.buttons),
                )
            )
        for i, fid in enumerate(ids):
            row = []
            for cols in ports:
                (
                    x,
                    y,
                    pct,
                    stocks,
                    direction,
                    state,
                    age,
                    char,
                    jumps,
                    shield,
                    air,
                    hitlag,
                    mx,
                    my,
                    cx,
                    cy,
                    trig,
                    buttons,
                ) = (c[i] for c in cols)
                b = 0
                for name, bit in _SLIPPI_BUTTONS.items():
                    if buttons is not None and buttons & bit:
                        b |= BUTTON_BITS[name]
                row.append(
                    (
                        x,
                        y,
                        pct,
                        stocks,
                        1 if (direction or 0) >= 0 else -1,
                        state,
                        age,
                        char,
                        jumps,
                        shield,
                        not air,
                        hitlag,
                        mx,
                        my,
                        cx,
                        cy,
                        trig,
                        b,
                    )
                )
            rows[fid] = row  # rollback: the last occurrence wins
        order = sorted(rows)
        np.array([rows[k] for k in order], dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("path", nargs="?", default=str(ROOT.parent / "shared" / "replays"))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    all_files = [str(p) for p in discover([args.path])]
    with tempfile.TemporaryDirectory(prefix="exphil-bench-") as tmp:
        # the file set: every 1v1 game the parser reads (found through the pool, untimed, so
        # broken files cannot print a backtrace here)
        probe = scan(all_files, jobs=max(1, args.jobs))
        files = [r.path for r in probe if r.error is None and r.quality is not None]
        frames = sum(len(read_game(f)[1]) for f in files)
        mb = sum(os.path.getsize(f) for f in files) / 1e6

        a = _median_time(lambda: raw_peppi(files), args.repeats)
        b = _median_time(lambda: ours_cold(files), args.repeats)
        roots = iter(range(args.repeats))
        b_cache = _median_time(
            lambda: ours_into_cache(files, os.path.join(tmp, f"c{next(roots)}")), args.repeats
        )
        cache = GameCache(os.path.join(tmp, "c0"))
        for f in files:  # the index entries the warm path looks up
            from exphil.data import file_hash

            cache.remember_key(f, file_hash(f), os.stat(f))
        cache.flush()
        warm(files, cache, True)  # page cache warm, as on a second epoch
        c = _median_time(lambda: warm(files, cache, True), args.repeats)
        c_lazy = _median_time(lambda: warm(files, cache, False), args.repeats)
        cache.close()
        d = _median_time(lambda: per_frame_python(files), 1)

        pool_root = os.path.join(tmp, "pool")
        pool_cache = GameCache(pool_root)
        t0 = time.perf_counter()
        res = scan(all_files, cache=pool_cache, jobs=args.jobs)
        pool_cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        res2 = scan(all_files, cache=pool_cache, jobs=args.jobs)
        pool_warm = time.perf_counter() - t0
        pool_cache.close()
        pool_frames = sum(r.info.frames for r in res if r.error is None and r.quality is not None)
        assert len(res) == len(res2) == len(all_files)

    fps = {
        k: frames / v
        for k, v in {"a": a, "b": b, "b_cache": b_cache, "c": c, "c_lazy": c_lazy, "d": d}.items()
    }
    out = {
        "files": len(files),
        "frames": frames,
        "megabytes": round(mb, 1),
        "repeats": args.repeats,
        "frames_per_s": {k: round(v) for k, v in fps.items()},
        "ratios": {
            "b_over_a": round(fps["b"] / fps["a"], 3),
            "c_over_a": round(fps["c_lazy"] / fps["a"], 2),
            "c_copied_over_a": round(fps["c"] / fps["a"], 2),
            "b_over_d": round(fps["b"] / fps["d"], 2),
        },
        "targets": {
            "b_over_a>=0.5": fps["b"] / fps["a"] >= 0.5,
            "c_over_a>=10": fps["c_lazy"] / fps["a"] >= 10,
            "b_over_d>=10": fps["b"] / fps["d"] >= 10,
        },
        "pool": {
            "jobs": args.jobs,
            "files_scanned": len(all_files),
            "cold_s": round(pool_cold, 3),
            "warm_s": round(pool_warm, 3),
            "cold_frames_per_s": round(pool_frames / pool_cold),
            "warm_frames_per_s": round(pool_frames / pool_warm),
        },
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"{len(files)} 1v1 replays, {frames} frames, {mb:.1f} MB; median of {args.repeats}")
    names = {
        "a": "(a) raw peppi_py.read_slippi",
        "b": "(b) ours cold -> Frames",
        "b_cache": "(b+) cold into the cache",
        "c_lazy": "(c) warm from the cache (memory-mapped)",
        "c": "(c') warm, every column then copied",
        "d": "(d) per-frame Python baseline",
    }
    for k, label in names.items():
        print(f"  {label:<38} {fps[k]:>14,.0f} frames/s")
    r = out["ratios"]
    print(
        f"  (b)/(a) = {r['b_over_a']:.2f} (target >= 0.5)   (c)/(a) = {r['c_over_a']:.1f}x "
        f"(target >= 10; copied {r['c_copied_over_a']:.1f}x)   (b)/(d) = {r['b_over_d']:.1f}x "
        "(target >= 10)"
    )
    p = out["pool"]
    print(
        f"  pool, {p['jobs']} jobs, {p['files_scanned']} files: cold {p['cold_s']:.2f} s "
        f"({p['cold_frames_per_s']:,} frames/s), warm {p['warm_s']:.3f} s "
        f"({p['warm_frames_per_s']:,} frames/s)"
    )


if __name__ == "__main__":
    main()
