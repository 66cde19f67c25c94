"""Benchmark backbone inference on CPU: per-frame ``step`` versus re-running a window.

    python scripts/bench_inference.py [--json] [--steps N] [--kinds mamba,lstm]

One run, one core (the process pins itself to one CPU and torch to one thread), under
``torch.inference_mode()``, every backbone at its default size (hidden 256, 2 layers;
Mamba state 16, conv 4, expand 2; attention 4 heads, window 60) reading 169 features per
frame. For each backbone:

* ``step`` latency at batch 1: median and p99 of ``--steps`` single-frame steps of one
  game, after a warm-up longer than the attention window (so the ring buffer is full);
* batched ``step`` throughput at 64 and 256 games (game-frames/s, the median of 5 passes);
* the latency of re-running ``forward`` over the full 60-frame window at batch 1 for every
  frame (what the original ExPhil did in play), and its ratio to the ``step`` median;
* parameters and the per-game state size.
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
os.environ.setdefault("MKL_NUM_THREADS", "1")

import msgspec
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil.nets import BACKBONE_KINDS, Backbone, BackboneConfig, build_backbone  # noqa: E402

INPUT_DIM = 169
WINDOW = 60
BATCHES = (64, 256)


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def step_latency(model: Backbone, steps: int, warmup: int) -> list[float]:
    """Seconds per single-game step, one game carried on for ``warmup + steps`` frames."""
    x = torch.randn(warmup + steps, 1, INPUT_DIM)
    state = model.initial_state(1)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        state, _ = model.step(state, x[i])
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    return times


def step_throughput(model: Backbone, games: int, steps: int, passes: int = 5) -> float:
    """Game-frames per second of batched steps over ``games`` games: the median of
    ``passes`` timed passes of ``steps`` steps, after a warm-up pass."""
    x = torch.randn(4, games, INPUT_DIM)
    state = model.initial_state(games)
    rates = []
    for p in range(passes + 1):
        t0 = time.perf_counter()
        for i in range(steps):
            state, _ = model.step(state, x[i % 4])
        if p > 0:
            rates.append(games * steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def window_latency(model: Backbone, runs: int, warmup: int) -> list[float]:
    """Seconds per ``forward`` over a full ``WINDOW``-frame window of one game."""
    x = torch.randn(1, WINDOW, INPUT_DIM)
    times = []
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        model(x)
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    return times


def bench(kind: str, steps: int) -> dict[str, Any]:
    torch.manual_seed(0)
    config = msgspec.convert({"kind": kind, "window": WINDOW}, BackboneConfig)
    model = build_backbone(config, INPUT_DIM).eval()
    state_bytes = sum(t.numel() * t.element_size() for t in model.initial_state(1))
    with torch.inference_mode():
        lat = step_latency(model, steps, warmup=WINDOW + 40)
        throughput = {g: step_throughput(model, g, steps=max(8, steps // 20)) for g in BATCHES}
        win = window_latency(model, runs=max(20, steps // 6), warmup=5)
    step_med = statistics.median(lat)
    win_med = statistics.median(win)
    return {
        "kind": kind,
        "params": sum(p.numel() for p in model.parameters()),
        "state_bytes_per_game": state_bytes,
        "step_us_median": step_med * 1e6,
        "step_us_p99": percentile(lat, 0.99) * 1e6,
        **{f"step_frames_per_s_{g}": throughput[g] for g in BATCHES},
        "window_forward_us_median": win_med * 1e6,
        "window_forward_us_p99": percentile(win, 0.99) * 1e6,
        "window_over_step": win_med / step_med,
    }


def print_table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Backbone inference on CPU, 1 thread ({out['pinned']}); hidden 256, 2 layers, "
        f"input {INPUT_DIM}, window {WINDOW}; {out['steps']} timed steps",
    )
    for col in (
        "backbone",
        "params",
        "state/game",
        "step b1 median",
        "step b1 p99",
        "step b64 frames/s",
        "step b256 frames/s",
        "60-frame window fwd b1",
        "window / step",
    ):
        table.add_column(col, justify="right")
    for r in out["rows"]:
        table.add_row(
            r["kind"],
            f"{r['params'] / 1e6:.2f} M",
            f"{r['state_bytes_per_game'] / 1024:.1f} KiB",
            f"{r['step_us_median']:.0f} us",
            f"{r['step_us_p99']:.0f} us",
            f"{r['step_frames_per_s_64']:,.0f}",
            f"{r['step_frames_per_s_256']:,.0f}",
            f"{r['window_forward_us_median']:,.0f} us",
            f"{r['window_over_step']:.1f}x",
        )
    Console(width=max(Console().width, 150)).print(table)
    print(out["machine"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--steps", type=int, default=400, help="timed batch-1 steps per backbone")
    ap.add_argument("--kinds", default=",".join(BACKBONE_KINDS), help="comma-separated")
    args = ap.parse_args()
    pinned = pin_one_core()
    torch.set_num_threads(1)
    kinds = [k for k in args.kinds.split(",") if k]
    rows = []
    for kind in kinds:
        rows.append(bench(kind, args.steps))
        if not args.json:
            print(f"{kind}: done", file=sys.stderr, flush=True)
    out = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}".replace("  ", " "),
        "pinned": pinned,
        "steps": args.steps,
        "input_dim": INPUT_DIM,
        "window": WINDOW,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print_table(out)


if __name__ == "__main__":
    main()
