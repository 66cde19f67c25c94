"""How fast a training step is: the trainer's own step (``loss_and_metrics``, the device-side
metrics, ``Optimization``: clipping, AdamW, EMA, bf16 autocast, compile) timed on synthetic
batches of a config's shape. ``exphil train-bc --dry-run`` quotes :func:`measure_step`'s
frames/s; ``scripts/bench_train.py`` sweeps batch sizes with it.

The step is timed as the loop runs it: steps are queued without waiting for the device and
the device is waited for once at the end, so on CUDA the figure is the steady-state rate
(launch overhead and device time overlapped), not one step's latency.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import torch

from exphil.nets import Policy
from exphil.train._config import TrainConfig
from exphil.train._core import Optimization
from exphil.train._synthetic import synthetic_batch
from exphil.train._trainer import METRIC_NAMES, DeviceMetrics, loss_and_metrics

__all__ = ["StepSpeed", "effective_config", "measure_step", "sync"]


@dataclass(frozen=True)
class StepSpeed:
    """``batch`` windows of ``window`` frames (``frames`` loss frames per step, after the
    burn-in): ``seconds`` per step over ``steps`` timed steps (after ``warmup``)."""

    device: str
    batch: int
    window: int
    frames: int
    steps: int
    warmup: int
    seconds: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "batch": self.batch,
            "window": self.window,
            "frames": self.frames,
            "steps": self.steps,
            "warmup": self.warmup,
            "step_ms": self.seconds * 1e3,
            "frames_per_s": self.frames_per_s,
        }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def effective_config(config: TrainConfig, device: torch.device) -> TrainConfig:
    """The config a run on ``device`` trains with: on CUDA, ``data.cuda_batch_size`` (when
    set) replaces ``data.batch_size`` and the learning rate is scaled with it by
    ``optim.lr_scaling`` (``sqrt``: times sqrt(new / old); ``linear``: new / old; ``none``).
    Elsewhere ``config`` itself."""
    cuda_batch = config.data.cuda_batch_size
    if device.type != "cuda" or cuda_batch is None or cuda_batch == config.data.batch_size:
        return config
    ratio = cuda_batch / config.data.batch_size
    factor = {"sqrt": math.sqrt(ratio), "linear": ratio, "none": 1.0}[config.optim.lr_scaling]
    return msgspec.structs.replace(
        config,
        data=msgspec.structs.replace(config.data, batch_size=cuda_batch),
        optim=msgspec.structs.replace(config.optim, lr=config.optim.lr * factor),
    )


def measure_step(
    config: TrainConfig,
    device: torch.device,
    *,
    batch: int | None = None,
    steps: int = 10,
    warmup: int = 3,
    max_seconds: float = 10.0,
    seed: int = 0,
) -> StepSpeed:
    """Time the trainer's step for ``config`` (``batch`` windows, default the config's) on
    ``device``: ``warmup`` untimed steps, then up to ``steps`` timed ones, fewer when the
    warm-up shows they would take more than ``max_seconds`` (at least one is timed)."""
    window = config.data.window if config.policy.backbone.kind != "mlp" else 1
    burnin = config.data.burnin if window > 1 else 0
    b = batch or config.data.batch_size
    torch.manual_seed(seed)
    policy = Policy(config.policy).to(device).train()
    policy.backbone.gradient_checkpointing = config.optim.grad_checkpointing
    opt = Optimization(policy, config.optim, device=device, total_steps=10**6)
    data = synthetic_batch(config.policy, b, window, seed=seed)
    if device.type == "cuda":
        data = data.pin_memory()

    def one() -> None:
        group = DeviceMetrics(METRIC_NAMES, device)
        with opt.autocast():
            loss, values, frames = loss_and_metrics(opt.forward_model, data, config, device)
        opt.backward(loss)
        group.add(values, frames)
        opt.step()

    t0 = time.perf_counter()
    for _ in range(max(1, warmup)):
        one()
    sync(device)
    per_warm = (time.perf_counter() - t0) / max(1, warmup)
    n = max(1, min(steps, int(max_seconds / per_warm) if per_warm > 0 else steps))
    t0 = time.perf_counter()
    for _ in range(n):
        one()
    sync(device)
    seconds = (time.perf_counter() - t0) / n
    return StepSpeed(
        device=str(device),
        batch=b,
        window=window,
        frames=b * (window - burnin),
        steps=n,
        warmup=max(1, warmup),
        seconds=seconds,
    )
