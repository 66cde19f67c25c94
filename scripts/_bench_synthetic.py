"""``scripts/bench_train.py``'s synthetic part (``--scaling``, ``--train-synthetic``): the
trainer's step time against the batch on synthetic batches, a real ``train()`` of a preset on
a synthetic in-memory corpus, and the GPU's busy fraction while they run (``nvidia-smi``). No
replays needed; ``scripts/gpu_check.sh`` runs both on a GPU machine."""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from typing import Any

import msgspec
import torch

from exphil.nets import BackboneConfig, PolicyConfig
from exphil.train._config import TrainConfig

__all__ = ["GpuSampler", "bench_scaling", "bench_train_synthetic", "print_scaling"]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class GpuSampler:
    """``nvidia-smi``'s utilization.gpu (percent of the last sample period with a kernel
    running) every 100 ms in a thread while the block runs; ``busy`` is their mean as a
    fraction, None without nvidia-smi or samples."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.samples: list[float] = []
        self.proc: Any = None
        self.thread: Any = None

    def __enter__(self) -> GpuSampler:
        import shutil
        import subprocess
        import threading

        if self.device.type != "cuda" or shutil.which("nvidia-smi") is None:
            return self
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-i", str(index), "-lms", "100"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
        except OSError:
            return self

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                with contextlib.suppress(ValueError):
                    self.samples.append(float(line.strip()))

        self.thread = threading.Thread(target=read, daemon=True)
        self.thread.start()
        time.sleep(0.3)  # the first sample covers the time before the block
        self.samples.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
        if self.thread is not None:
            self.thread.join(timeout=5)

    @property
    def busy(self) -> float | None:
        return statistics.mean(self.samples) / 100 if self.samples else None


def scaling_config(kind: str, window: int, bf16: bool, compile_mode: str | None) -> TrainConfig:
    backbone = msgspec.convert(
        {"kind": kind, "hidden": 128, "layers": 2, "window": window}, BackboneConfig
    )
    optim = {"bf16": "on" if bf16 else "off", "compile": "off"}
    if compile_mode:
        optim = {"bf16": optim["bf16"], "compile": "on", "compile_mode": compile_mode}
    return msgspec.convert(
        {
            "policy": msgspec.to_builtins(PolicyConfig(backbone=backbone)),
            "data": {"window": window if kind != "mlp" else 1,
                     "burnin": 5 if kind != "mlp" and window > 5 else 0},
            "optim": optim,
        },
        TrainConfig,
    )  # fmt: skip


def bench_scaling(
    kinds: list[str],
    batches: list[int],
    window: int,
    device: torch.device,
    dtypes: list[str],
    *,
    steps: int,
    min_seconds: float,
    compile_mode: str | None,
) -> dict[str, Any]:
    from exphil.train._speed import measure_step, sync

    rows: list[dict[str, Any]] = []
    fixed: list[dict[str, Any]] = []
    for dtype in dtypes:
        for kind in kinds:
            cfg = scaling_config(kind, window, dtype == "bf16", compile_mode)
            points = []
            for b in [1, *batches]:
                log(f"scaling: {kind} {dtype} on {device}, batch {b}...")
                # a first pass sizes the timed steps so a row takes about min_seconds
                probe = measure_step(cfg, device, batch=b, steps=2, warmup=2)
                n = max(steps, int(min_seconds / max(probe.seconds, 1e-6)))
                with GpuSampler(device) as gpu:
                    speed = measure_step(
                        cfg,
                        device,
                        batch=b,
                        steps=n,
                        warmup=3,
                        max_seconds=max(min_seconds, 1.0) * 4,
                    )
                    sync(device)
                row = speed.as_dict() | {
                    "kind": kind, "dtype": dtype, "compile_mode": compile_mode,
                    "gpu_busy": gpu.busy, "gpu_samples": len(gpu.samples),
                }  # fmt: skip
                if b != 1:
                    rows.append(row)
                points.append((b, speed.seconds))
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            xs = [float(b) for b, _ in points if b != 1]
            ys = [t for b, t in points if b != 1]
            if len(xs) >= 2:
                mx, my = statistics.mean(xs), statistics.mean(ys)
                slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
                    (x - mx) ** 2 for x in xs
                )
                intercept = my - slope * mx
            else:
                slope = intercept = float("nan")
            fixed.append({
                "kind": kind, "dtype": dtype, "step_ms_at_1_window": points[0][1] * 1e3,
                # None (JSON null, not NaN) with fewer than two batch sizes
                "intercept_ms": intercept * 1e3 if intercept == intercept else None,
                "ms_per_window": slope * 1e3 if slope == slope else None,
            })  # fmt: skip
    return {"device": str(device), "window": window, "rows": rows, "fixed": fixed}


def bench_train_synthetic(
    preset: str, steps: int, device: torch.device, games: int, frames: int, workers: int
) -> dict[str, Any]:
    """A real ``train()`` of ``preset`` on a synthetic in-memory corpus, ``steps`` steps."""
    import tempfile

    from exphil.train import Run, train
    from exphil.train._layers import load_preset
    from exphil.train._speed import effective_config
    from exphil.train._synthetic import synthetic_corpus

    cfg = msgspec.convert(load_preset("train-bc", preset), TrainConfig)
    cfg = msgspec.structs.replace(
        cfg,
        device=device.type,
        max_steps=steps,
        epochs=1000,
        val_per_epoch=1,
        val_batches=4,
        data=msgspec.structs.replace(
            cfg.data, workers=workers, min_val_games=1, min_val_frames=0, val_fraction=0.1
        ),
        output=msgspec.structs.replace(cfg.output, log_every=20),
    )
    run_cfg = effective_config(cfg, device)
    corpus = synthetic_corpus(
        games, frames, embed=cfg.policy.embed, controller=cfg.policy.controller,
        value=cfg.value, seed=0,
    )  # fmt: skip
    records: list[dict[str, Any]] = []

    class Recording:
        def run_start(self, info: dict[str, Any]) -> None: ...
        def epoch_start(self, epoch: int, batches: int, first_batch: int) -> None: ...
        def train_step(self, metrics: dict[str, Any]) -> None:
            records.append(metrics)

        def validation(self, metrics: dict[str, float]) -> None: ...
        def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None: ...
        def message(self, text: str, level: str = "info") -> None: ...

    with tempfile.TemporaryDirectory() as tmp, GpuSampler(device) as gpu:
        checkpoint = msgspec.structs.replace(cfg.checkpoint, dir=tmp, name="synthetic")
        cfg = msgspec.structs.replace(cfg, checkpoint=checkpoint)
        t0 = time.perf_counter()
        with Run.create(cfg, default_name="synthetic") as run:
            result = train(cfg, corpus, run, seed=0, reporter=Recording())
        seconds = time.perf_counter() - t0
    steady = records[1:] or records  # the first record holds the warm-up (and compiling)
    frames_n = sum(r["frames"] for r in steady)
    wall = sum(r["data_s"] + r["compute_s"] for r in steady)
    return {
        "preset": preset,
        "device": str(device),
        "batch": run_cfg.data.batch_size,
        "window": run_cfg.data.window,
        "lr": run_cfg.optim.lr,
        "steps": result.steps,
        "records": len(records),
        "frames_per_s": frames_n / wall if wall > 0 else None,
        "data_wait_fraction": sum(r["data_s"] for r in steady) / wall if wall > 0 else None,
        "gpu_busy": gpu.busy,
        "seconds": seconds,
        "corpus_frames": corpus.n_frames,
    }


def print_scaling(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"The trainer's step on synthetic batches ({out['device']}, windows of "
        f"{out['window']} frames, hidden 128 x 2; steady state)"
    )
    for col in ("backbone", "dtype", "batch", "step", "frames/s", "GPU busy"):
        table.add_column(col, justify="right")
    for r in out["rows"]:
        busy = r["gpu_busy"]
        table.add_row(
            r["kind"], r["dtype"], f"{r['batch']:,}", f"{r['step_ms']:,.2f} ms",
            f"{r['frames_per_s']:,.0f}", "-" if busy is None else f"{busy:.0%}",
        )  # fmt: skip
    Console(width=max(Console().width, 110)).print(table)
    for f in out["fixed"]:
        if f["intercept_ms"] is None:
            print(f"  {f['kind']} {f['dtype']}: {f['step_ms_at_1_window']:.2f} ms at 1 window")
            continue
        print(
            f"  {f['kind']} {f['dtype']}: fixed per-step cost {f['intercept_ms']:.2f} ms "
            f"(intercept of step time against batch; {f['ms_per_window'] * 1e3:.1f} us per "
            f"window), {f['step_ms_at_1_window']:.2f} ms at 1 window"
        )
