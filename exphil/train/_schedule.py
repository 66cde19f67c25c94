"""Learning-rate schedules and the EMA of the weights.

A schedule is a pure function of the optimizer step and the run's real horizon (the number
of optimizer steps the run will take, computed from the dataset, the epochs, the batch size
and gradient accumulation, or ``max_steps``), so a resumed run continues on the same curve
and nothing but the step has to be saved.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from exphil.train._config import OptimConfig

__all__ = ["lr_factor", "set_lr", "EMA"]


def lr_factor(step: int, optim: OptimConfig, total_steps: int) -> float:
    """The multiplier of ``optim.lr`` at optimizer step ``step`` (0-based) of a run of
    ``total_steps`` steps: a linear warm-up over ``warmup_steps``, then

    * ``constant``: 1;
    * ``cosine``: half a cosine from 1 down to ``min_lr_ratio`` at ``total_steps``;
    * ``cosine_restarts`` (SGDR): cosines from 1 to ``min_lr_ratio`` over periods of
      ``restart_period`` steps, each ``restart_mult`` times longer than the last;
    * ``linear``: a straight line from 1 down to ``min_lr_ratio`` at ``total_steps``.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    warm = optim.warmup_steps
    if step < warm:
        return (step + 1) / warm
    low = optim.min_lr_ratio
    s = step - warm
    span = max(1, total_steps - warm)
    if optim.schedule == "constant":
        return 1.0
    if optim.schedule == "cosine":
        progress = min(1.0, s / span)
        return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress))
    if optim.schedule == "linear":
        progress = min(1.0, s / span)
        return 1.0 - (1 - low) * progress
    if optim.schedule == "cosine_restarts":
        period = float(optim.restart_period)
        while s >= period:
            s -= int(period)
            period = max(1.0, period * optim.restart_mult)
        return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * s / period))
    raise ValueError(f"unknown schedule {optim.schedule!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class EMA:
    """An exponential moving average of a module's floating-point parameters and buffers:
    ``ema = d * ema + (1 - d) * theta`` after every optimizer step, with the usual warm-up
    ``d_t = min(decay, (1 + t) / (10 + t))`` so early averages are not dominated by the
    random initialization. Used for validation and for the saved policy when on."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.shadow: dict[str, Tensor] = {
            k: v.detach().clone()
            for k, v in module.state_dict().items()
            if v.dtype.is_floating_point
        }

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        state = module.state_dict()
        averages = list(self.shadow.values())
        current = [state[k].detach().to(avg.dtype) for k, avg in self.shadow.items()]
        # one fused kernel for every tensor on CUDA (a loop of lerp_ on the CPU: the same
        # arithmetic either way)
        torch._foreach_lerp_(averages, current, 1 - d)
        self.updates += 1

    @contextlib.contextmanager
    def applied(self, module: nn.Module) -> Iterator[None]:
        """Within the block ``module`` holds the averaged weights; its own come back after
        (also on an exception)."""
        state = module.state_dict()
        saved = {k: state[k].detach().clone() for k in self.shadow}
        self.copy_to(module)
        try:
            yield
        finally:
            with torch.no_grad():
                for k, v in saved.items():
                    state[k].copy_(v)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        state = module.state_dict()
        for k, avg in self.shadow.items():
            state[k].copy_(avg)

    def state_dict(self) -> dict[str, object]:
        return {"decay": self.decay, "updates": self.updates, "shadow": dict(self.shadow)}

    def load_state_dict(self, state: dict[str, object]) -> None:
        shadow = state["shadow"]
        if not isinstance(shadow, dict) or set(shadow) != set(self.shadow):
            raise ValueError("EMA state does not match this model's parameters")
        for k, v in shadow.items():
            self.shadow[k].copy_(v)
        self.decay = float(state["decay"])  # type: ignore[arg-type]
        self.updates = int(state["updates"])  # type: ignore[call-overload]
