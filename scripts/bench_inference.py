"""Benchmark policy inference: per-frame ``step`` versus re-running a window, eager PyTorch
and ONNX Runtime.

    python scripts/bench_inference.py [--json] [--steps N] [--kinds mamba,lstm] [--no-onnx]

One run. On CPU the process pins itself to one core and torch and ONNX Runtime to one
thread, under ``torch.inference_mode()``; every backbone at its default size (hidden 256,
2 layers; Mamba state 16, conv 4, expand 2; attention 4 heads, window 60) in a default
``Policy`` (169 dense features + 6 learned ids per frame). For each backbone:

* ``backbone step``: the backbone's ``step`` at batch 1 (one game carried on; median and
  p99), after a warm-up longer than the attention window (the ring buffer is full);
* ``policy step``: what a player runs per frame, ``Policy.step`` + the autoregressive head
  (sampled) + the value head, eager and in ONNX Runtime (the exported step-mode graph;
  the single-frame graph for the MLP);
* batched throughput at 64 and 256 games (on CUDA 256, 1024 and 4096; game-frames/s,
  median of 5): the backbone ``step`` alone, and ``play`` (policy step + the sampled
  head + the value head: a self-play worker's call);
* the latency of re-running ``forward`` over the full 60-frame window at batch 1 (what the
  original ExPhil did every frame) and its ratio to the backbone ``step`` median.

The machine is shared and noisy, so the measurements are interleaved: every model runs in
short blocks (``--block`` calls, the first few of each block dropped as warm-up) taken in
turn, so a noisy moment hits every backbone alike instead of one of them.

With a CUDA device (and ``--device auto``, the default) the same table is printed for it
too, fp32 and bf16 autocast (eager only: the ONNX check uses the CPU runtime).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import msgspec
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil.nets import (  # noqa: E402
    BACKBONE_KINDS,
    NOISE_WIDTH,
    BackboneConfig,
    Policy,
    PolicyConfig,
)

WINDOW = 60
BATCHES = (64, 256)
#: on CUDA the batched rows: how many games one inference server steps at once
CUDA_BATCHES = (256, 1024, 4096)
TARGET_P99_US = 1000.0
TARGET_MLP_P99_US = 200.0
TARGET_RATIO = 10.0


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Timed:
    """A callable timed in blocks; ``samples`` are seconds per call."""

    name: str
    call: Callable[[], Any]
    samples: list[float] = field(default_factory=list)


def interleave(
    timers: list[Timed], total: int, block: int, drop: int, sync: Callable[[], None]
) -> None:
    """Run every timer ``total`` timed calls, in blocks of ``block`` taken in turn, the
    first ``drop`` calls of each block untimed (warm caches after switching model)."""
    while any(len(t.samples) < total for t in timers):
        for t in timers:
            need = min(block, total - len(t.samples))
            if need <= 0:
                continue
            for _ in range(drop):
                t.call()
            sync()
            for _ in range(need):
                t0 = time.perf_counter()
                t.call()
                sync()
                t.samples.append(time.perf_counter() - t0)


def frames_for(policy: Policy, batch: int, n: int, device: torch.device) -> list[tuple[Any, ...]]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        dense = torch.randn(batch, policy.dense_dim, generator=gen)
        ids = torch.stack(
            [torch.randint(0, s.size, (batch,), generator=gen) for s in policy.id_specs], dim=1
        )
        noise = torch.rand(batch, NOISE_WIDTH, generator=gen)
        out.append((dense.to(device), ids.to(device), noise.to(device)))
    return out


class Player:
    """One game (or ``batch`` games) carried on, frame after frame, in one of three ways."""

    def __init__(self, policy: Policy, batch: int, device: torch.device, mode: str) -> None:
        self.policy, self.mode = policy, mode
        self.inputs = frames_for(policy, batch, 8, device)
        self.x = [torch.randn(batch, policy.backbone.input_dim, device=device) for _ in range(8)]
        self.i = 0
        self.state: Any = policy.initial_state(batch, device=device)
        self.onnx: Any = None

    def __call__(self) -> None:
        k = self.i % 8
        self.i += 1
        if self.mode == "backbone":
            self.state, _ = self.policy.backbone.step(self.state, self.x[k])
        elif self.mode in ("policy", "play"):
            dense, ids, noise = self.inputs[k]
            self.state, trunk = self.policy.step(self.state, dense, ids)
            self.policy.act(trunk.float(), noise=noise, with_entropy=False)
            if self.mode == "play":  # what a self-play worker runs: the value too
                self.policy.value(trunk.float())
            self.policy.value(trunk)
        else:  # onnx
            dense, ids, noise = self.onnx_inputs[k]
            out = self.onnx.run(dense, ids, noise, state=self.state)
            self.state = tuple(out[f"next_state_{j}"] for j in range(self.onnx.n_state))

    def use_onnx(self, runner: Any) -> None:
        self.onnx = runner
        self.state = runner.initial_state(self.inputs[0][0].shape[0])
        self.onnx_inputs = [tuple(a.cpu().numpy() for a in f) for f in self.inputs]


def build(kind: str, device: torch.device) -> Policy:
    torch.manual_seed(0)
    backbone = msgspec.convert({"kind": kind, "window": WINDOW}, BackboneConfig)
    config = PolicyConfig(backbone=backbone)
    return Policy(config).to(device).eval()


@contextlib.contextmanager
def autocast(device: torch.device, bf16: bool) -> Iterator[None]:
    if bf16:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def bench_device(
    kinds: list[str],
    device: torch.device,
    *,
    steps: int,
    block: int,
    onnx: bool,
    bf16: bool,
    tmp: Path,
) -> list[dict[str, Any]]:
    cuda = device.type == "cuda"
    sync: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    policies = {k: build(k, device) for k in kinds}
    rows: dict[str, dict[str, Any]] = {}
    runners: dict[str, Any] = {}
    if onnx:
        from exphil.nets._onnx import OnnxPolicy, export_onnx

        for kind in policies:
            print(f"{kind}: exporting to ONNX...", file=sys.stderr, flush=True)
            cpu_policy = build(kind, torch.device("cpu"))
            graph = "step" if cpu_policy.backbone.temporal else "frame"
            report = export_onnx(cpu_policy, tmp / f"{kind}.onnx", graphs=[graph])
            runners[kind] = OnnxPolicy(report.paths[graph], threads=1)
    with torch.inference_mode(), autocast(device, bf16):
        # batch-1 latency: backbone step, policy step, policy step in ONNX Runtime
        timers: list[Timed] = []
        for kind, policy in policies.items():
            timers.append(Timed(f"{kind}/backbone", Player(policy, 1, device, "backbone")))
            timers.append(Timed(f"{kind}/policy", Player(policy, 1, device, "policy")))
            if kind in runners:
                p = Player(policy, 1, device, "onnx")
                p.use_onnx(runners[kind])
                timers.append(Timed(f"{kind}/onnx", p))
        for t in timers:  # fill the attention window before timing
            for _ in range(WINDOW + 20):
                t.call()
        interleave(timers, steps, block, drop=5, sync=sync)
        lat = {t.name: t.samples for t in timers}
        # the original approach: forward over a full 60-frame window, every frame
        win_timers = []
        for kind, policy in policies.items():
            x = torch.randn(1, WINDOW, policy.backbone.input_dim, device=device)
            win_timers.append(Timed(kind, lambda m=policy.backbone, x=x: m(x)))
        interleave(win_timers, max(30, steps // 8), max(5, block // 8), drop=2, sync=sync)
        win = {t.name: t.samples for t in win_timers}
        # batched throughput (backbone step), median of 5 passes
        batches = CUDA_BATCHES if cuda else BATCHES
        thr: dict[str, dict[int, float]] = {k: {} for k in kinds}
        play_thr: dict[str, dict[int, float]] = {k: {} for k in kinds}
        for games in batches:
            players = {k: Player(p, games, device, "backbone") for k, p in policies.items()}
            thr_passes(players, thr, games, steps, sync)
            # policy step + sampled head + value (a self-play worker's call)
            players = {k: Player(p, games, device, "play") for k, p in policies.items()}
            thr_passes(players, play_thr, games, steps, sync)
    for kind, policy in policies.items():
        b = lat[f"{kind}/backbone"]
        row: dict[str, Any] = {
            "kind": kind,
            "device": str(device) + (" bf16" if bf16 else ""),
            "backbone_params": sum(p.numel() for p in policy.backbone.parameters()),
            "policy_params": sum(p.numel() for p in policy.parameters()),
            "state_bytes_per_game": sum(
                t.numel() * t.element_size() for t in policy.initial_state(1, device=device)
            ),
            "step_us_median": statistics.median(b) * 1e6,
            "step_us_p99": percentile(b, 0.99) * 1e6,
            "policy_step_us_median": statistics.median(lat[f"{kind}/policy"]) * 1e6,
            "policy_step_us_p99": percentile(lat[f"{kind}/policy"], 0.99) * 1e6,
            "batches": list(batches),
            **{f"step_frames_per_s_{g}": thr[kind][g] for g in batches},
            **{f"play_frames_per_s_{g}": play_thr[kind][g] for g in batches},
            "window_forward_us_median": statistics.median(win[kind]) * 1e6,
            "window_forward_us_p99": percentile(win[kind], 0.99) * 1e6,
        }
        row["window_over_step"] = row["window_forward_us_median"] / row["step_us_median"]
        if f"{kind}/onnx" in lat:
            o = lat[f"{kind}/onnx"]
            row["onnx_policy_step_us_median"] = statistics.median(o) * 1e6
            row["onnx_policy_step_us_p99"] = percentile(o, 0.99) * 1e6
        rows[kind] = row
    return [rows[k] for k in kinds]


def thr_passes(
    players: dict[str, Player],
    out: dict[str, dict[int, float]],
    games: int,
    steps: int,
    sync: Callable[[], None],
) -> None:
    """Game-frames/s of each player at ``games`` games: the median of 5 timed passes."""
    passes: dict[str, list[float]] = {k: [] for k in players}
    n = max(8, steps // 40)
    for p in range(6):
        for kind, player in players.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(n):
                player()
            sync()
            if p:
                passes[kind].append(games * n / (time.perf_counter() - t0))
    for kind in players:
        out[kind][games] = statistics.median(passes[kind])


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in rows:
        limit = TARGET_MLP_P99_US if r["kind"] == "mlp" else TARGET_P99_US
        ok = r["step_us_p99"] <= limit
        line = (
            f"{r['kind']} ({r['device']}): backbone step p99 {r['step_us_p99']:.0f} us "
            f"{'<=' if ok else '>'} {limit:.0f} us ({'met' if ok else 'MISSED'})"
        )
        if r["kind"] == "mlp":
            line += "; window ratio n/a (the MLP has no memory: it never re-runs a window)"
        else:
            ok_r = r["window_over_step"] >= TARGET_RATIO
            line += (
                f"; window / step {r['window_over_step']:.1f}x "
                f"({'met' if ok_r else 'MISSED'}, target >= {TARGET_RATIO:.0f}x)"
            )
        out.append(line)
    return out


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    cols = [
        "backbone",
        "params",
        "state/game",
        "backbone step b1 med / p99",
        "policy step b1 med / p99",
        "ONNX policy step b1 med / p99",
        *(f"b{g} step / play frames/s" for g in (rows[0]["batches"] if rows else BATCHES)),
        "60-frame window fwd b1",
        "window / step",
    ]
    for col in cols:
        table.add_column(col, justify="right")
    for r in rows:
        onnx = (
            f"{r['onnx_policy_step_us_median']:.0f} / {r['onnx_policy_step_us_p99']:.0f} us"
            if "onnx_policy_step_us_median" in r
            else "-"
        )
        table.add_row(
            r["kind"],
            f"{r['backbone_params'] / 1e6:.2f} M",
            f"{r['state_bytes_per_game'] / 1024:.1f} KiB",
            f"{r['step_us_median']:.0f} / {r['step_us_p99']:.0f} us",
            f"{r['policy_step_us_median']:.0f} / {r['policy_step_us_p99']:.0f} us",
            onnx,
            *(
                f"{r[f'step_frames_per_s_{g}']:,.0f} / {r[f'play_frames_per_s_{g}']:,.0f}"
                for g in r["batches"]
            ),
            f"{r['window_forward_us_median']:,.0f} us",
            f"{r['window_over_step']:.1f}x",
        )
    Console(width=max(Console().width, 170)).print(table)
    for line in verdicts(rows):
        print("  " + line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--steps", type=int, default=1000, help="timed batch-1 steps per model")
    ap.add_argument("--block", type=int, default=50, help="calls per interleaved block")
    ap.add_argument("--kinds", default=",".join(BACKBONE_KINDS), help="comma-separated")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime column")
    ap.add_argument("--device", choices=["auto", "cpu"], default="auto")
    args = ap.parse_args()
    pinned = pin_one_core()
    torch.set_num_threads(1)
    kinds = [k for k in args.kinds.split(",") if k]
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_device(
            kinds,
            torch.device("cpu"),
            steps=args.steps,
            block=args.block,
            onnx=not args.no_onnx,
            bf16=False,
            tmp=Path(tmp),
        )
        tables.append(("cpu", rows))
        if args.device == "auto" and torch.cuda.is_available():
            for bf16 in (False, True):
                rows = bench_device(
                    kinds,
                    torch.device("cuda"),
                    steps=args.steps,
                    block=args.block,
                    onnx=False,
                    bf16=bf16,
                    tmp=Path(tmp),
                )
                tables.append(("cuda bf16" if bf16 else "cuda", rows))
    import onnxruntime

    out = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"threads {torch.get_num_threads()}".replace("  ", " "),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "pinned": pinned,
        "steps": args.steps,
        "window": WINDOW,
        "tables": {name: rows for name, rows in tables},
        "verdicts": [v for _, rows in tables for v in verdicts(rows)],
    }
    if args.json:
        print(json.dumps(out))
        return
    for name, rows in tables:
        print_table(
            f"Policy inference on {name} ({out['pinned']}, 1 thread); hidden 256, 2 layers, "
            f"window {WINDOW}; {args.steps} timed steps per model, interleaved",
            rows,
        )
    print(out["machine"] + (f", GPU {out['gpu']}" if out["gpu"] else ", no GPU"))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
