"""Benchmark the mock environment (its compiled kernel) against a per-game Python implementation.

    python scripts/bench_mockenv.py [--json] [--repeats N] [--sizes 1,64,1024]

One core (the process pins itself to one CPU and numpy to one thread), one run. For each
batch size N it measures game-frames/s (N games x steps / wall time) of:

* ``MockEnv.step`` (the numba kernel ``exphil.envs._kernel`` looped over the games; includes
  reading the controls, building the ``Frames`` rows, rewards, results and auto-resets), and
* the baseline, ``ScalarEnv.step`` (``exphil.envs._scalar``): the kernel's own source run as
  plain Python (numba off), one game after another; it is bit-identical to ``MockEnv`` (a
  test holds them equal, and this script checks that the figures come from identical games);
* for context, the same step run one game at a time (N ``MockEnv(1)`` in a Python loop): what
  batching buys over one call (and one ``Frames``) per game.

Both replay the same controls, recorded beforehand from scripted CPU players (level 9 against
level 5), so the games are real fights (hits, shields, deaths, respawns) and the controllers'
cost is not in the figures. Figures are medians of ``--repeats`` timed passes.

Targets (issue 17): >= 5,000,000 game-frames/s at N = 1024 on one core, and >= 50x the
per-game baseline there (the first issue's were 1,000,000 and 50x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil.envs import MockEnv  # noqa: E402
from exphil.envs._scalar import ScalarEnv  # noqa: E402
from exphil.envs.cpu import ScriptedCpu  # noqa: E402
from exphil.game import Controls  # noqa: E402

TARGET_FPS = 5_000_000  # issue 17: game-frames/s at N = 1024, one core
TARGET_SPEEDUP = 50  # x the per-game pure-Python step at N = 1024


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def record(n: int, steps: int) -> list[tuple[Controls, Controls]]:
    """Controls of CPU level 9 (port 0) against level 5 (port 1), ``steps`` frames."""
    env = MockEnv(n)
    a, b = ScriptedCpu(9, n, seed=1), ScriptedCpu(5, n, seed=2)
    frames = env.reset()
    out = []
    for _ in range(steps):
        c = (a.act(frames, 0), b.act(frames, 1))
        out.append(c)
        frames = env.step(*c).frames
    return out


def time_env(make: Any, controls: list[tuple[Controls, Controls]], repeats: int) -> float:
    """Median seconds per step over ``repeats`` passes, each from a fresh env."""
    times = []
    for _ in range(repeats):
        env = make()
        t0 = time.perf_counter()
        for c0, c1 in controls:
            env.step(c0, c1)
        times.append((time.perf_counter() - t0) / len(controls))
    return statistics.median(times)


class _Loop:
    """N one-game ``MockEnv``s stepped in a Python loop."""

    def __init__(self, n: int) -> None:
        self.envs = [MockEnv(1) for _ in range(n)]

    def step(self, c0: Controls, c1: Controls) -> None:
        for i, env in enumerate(self.envs):
            env.step(c0.take(slice(i, i + 1)), c1.take(slice(i, i + 1)))


def check_identical(n: int, controls: list[tuple[Controls, Controls]]) -> bool:
    """The first ``n`` games, stepped by both implementations, are the same games: every
    player column, item and reward of 300 steps, bit for bit."""
    mock, scalar = MockEnv(n), ScalarEnv(n)
    rows = slice(0, n)
    for c0, c1 in ((a.take(rows), b.take(rows)) for a, b in controls[:300]):
        want, got = mock.step(c0, c1), scalar.step(c0, c1)
        if want.reward.tobytes() != got.reward.tobytes():
            return False
        for p in (0, 1):
            w, g = want.frames.players[p].columns(), got.frames.players[p].columns()
            if any(w[k].tobytes() != g[k].tobytes() for k in w):
                return False
        w, g = want.frames.items.columns(), got.frames.items.columns()
        if any(w[k].tobytes() != g[k].tobytes() for k in w):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="1,64,1024", help="batch sizes, comma-separated")
    args = ap.parse_args()
    pinned = pin_one_core()
    sizes = [int(s) for s in args.sizes.split(",")]

    rows = []
    for n in sizes:
        steps = max(200, min(3000, 400_000 // n))
        controls = record(n, steps)
        vec = time_env(lambda n=n: MockEnv(n), controls, args.repeats)
        scalar_steps = controls[: max(20, min(steps, 40_000 // n))]
        base = time_env(lambda n=n: ScalarEnv(n), scalar_steps, max(1, args.repeats // 2))
        single = time_env(lambda n=n: _Loop(n), controls[: max(5, min(steps, 4_000 // n))], 1)
        rows.append(
            {
                "games": n,
                "steps": steps,
                "mockenv_frames_per_s": n / vec,
                "mockenv_us_per_step": vec * 1e6,
                "baseline_frames_per_s": n / base,
                "baseline_us_per_step": base * 1e6,
                "speedup": base / vec,
                "per_game_numpy_frames_per_s": n / single,
                "speedup_vs_per_game_numpy": single / vec,
                "identical_games": check_identical(min(n, 64), controls),
            }
        )
        if not args.json:
            r = rows[-1]
            print(
                f"N={n:5d}: MockEnv {r['mockenv_frames_per_s']:>12,.0f} game-frames/s "
                f"({r['mockenv_us_per_step']:8.1f} us/step) | per-game Python "
                f"{r['baseline_frames_per_s']:>9,.0f} game-frames/s | "
                f"{r['speedup']:6.1f}x | MockEnv(1) x N "
                f"{r['per_game_numpy_frames_per_s']:>8,.0f} game-frames/s, "
                f"{r['speedup_vs_per_game_numpy']:6.1f}x | identical games: "
                f"{r['identical_games']}",
                flush=True,
            )

    out = {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}",
        "pinned": pinned,
        "repeats": args.repeats,
        "rows": rows,
        "targets": {"frames_per_s_at_1024": TARGET_FPS, "speedup_at_1024": TARGET_SPEEDUP},
    }
    big = next((r for r in rows if r["games"] == 1024), None)
    if big is not None:
        out["meets_targets"] = (
            big["mockenv_frames_per_s"] >= TARGET_FPS and big["speedup"] >= TARGET_SPEEDUP
        )
    if args.json:
        print(json.dumps(out))
    elif big is not None:
        print(
            f"targets at N=1024: >= {TARGET_FPS:,} game-frames/s and >= {TARGET_SPEEDUP}x: "
            f"{'met' if out['meets_targets'] else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
