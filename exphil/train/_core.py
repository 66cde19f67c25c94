"""The optimization machinery every training algorithm shares (BC here, PPO in ``exphil.rl``):
the algorithm computes a loss, :class:`Optimization` does the rest.

In the style of Stable-Baselines3's split: the core owns AdamW, the learning-rate schedule,
gradient accumulation, clipping, the EMA of the weights, bf16 autocast and ``torch.compile``;
the algorithm owns its data and its loss. One optimizer step::

    with opt.autocast():
        loss = algorithm_loss(opt.forward_model, batch)
    opt.backward(loss)                # loss / grad_accum, accumulated
    if not opt.accumulating:          # grad_accum backward passes since the last step
        info = opt.step()             # clip, lr for this step, AdamW, zero_grad, EMA

:func:`capture_rng` / :func:`restore_rng` save and restore every random generator a run
draws from (Python's ``random``, numpy's global generator, torch's CPU and CUDA generators),
in types that ``torch.load(weights_only=True)`` reads back, so a resumed run continues bit
for bit.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from exphil.train._config import OptimConfig
from exphil.train._schedule import EMA, lr_factor, set_lr

__all__ = ["OptimStep", "Optimization", "bf16_autocast", "capture_rng", "restore_rng"]


@dataclass(frozen=True)
class OptimStep:
    """What one :meth:`Optimization.step` did: ``step`` is the number of optimizer steps
    taken so far (1 after the first), ``lr`` the learning rate it used, ``norm`` the global
    gradient norm before clipping as a 0-dim tensor on the model's device (taking the step
    never waits for the device); :attr:`grad_norm` reads it as a float (on CUDA that waits
    for the device: read it only when the value is needed)."""

    step: int
    lr: float
    norm: Tensor

    @property
    def grad_norm(self) -> float:
        return float(self.norm)


def bf16_autocast(
    device: torch.device, mode: str = "auto"
) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when ``mode`` is ``"on"``, or ``"auto"`` on CUDA; else a
    context that turns autocast off (forward passes outside :class:`Optimization`, e.g.
    validation, use it with the same setting)."""
    if mode == "on" or (mode == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


class Optimization:
    """AdamW over ``model``'s parameters with ``config``'s schedule (over a horizon of
    ``total_steps`` optimizer steps), gradient accumulation, clipping, EMA, bf16 autocast and
    ``torch.compile``.

    * ``model``: the raw module (the one whose weights are saved); ``forward_model``: the
      same module compiled when ``config.compile`` says so (``auto``: on CUDA only), else
      ``model`` itself. Call ``forward_model`` for training forwards.
    * :meth:`backward` adds ``loss / grad_accum``'s gradients; :attr:`accumulating` is True
      until ``grad_accum`` backward passes were made since the last step; :meth:`step`
      may also be called early (an epoch's last, partial group).
    * :meth:`ema_applied`: within the block ``model`` holds the EMA weights (no-op
      without EMA): validate and save the policy there.
    * :meth:`state_dict` / :meth:`load_state_dict`: optimizer, EMA, step count and, with EMA
      on, a copy of the raw weights (a checkpoint's policy file holds the EMA weights).
      Take the state outside :meth:`ema_applied`.

    ``config.grad_checkpointing`` concerns the model; the algorithm applies it.
    """

    def __init__(
        self,
        model: nn.Module,
        config: OptimConfig,
        *,
        device: torch.device,
        total_steps: int,
    ) -> None:
        if not isinstance(config, OptimConfig):
            raise TypeError(f"config must be an OptimConfig, got {type(config).__name__}")
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.model = model
        self.config = config
        self.device = torch.device(device)
        self.total_steps = total_steps
        # on CUDA the fused AdamW: one kernel for every parameter's update, not several per
        # parameter (on the CPU the default implementation, the reference the tests match)
        self.optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.lr,
            betas=config.betas,
            weight_decay=config.weight_decay,
            fused=True if self.device.type == "cuda" else None,
        )
        self.ema = EMA(model, config.ema) if config.ema is not None else None
        #: whether ``forward_model`` is compiled (``compile``: "on", or "auto" on CUDA)
        self.compiled = config.compile == "on" or (
            config.compile == "auto" and self.device.type == "cuda"
        )
        #: torch.compile's mode: ``config.compile_mode`` on CUDA; "default" on the CPU
        #: (CUDA graphs, what "reduce-overhead" captures, exist only on CUDA)
        self.compile_mode = config.compile_mode if self.device.type == "cuda" else "default"
        self.forward_model: nn.Module = (
            torch.compile(model, mode=self.compile_mode)  # type: ignore[assignment]
            if self.compiled
            else model
        )
        #: optimizer steps taken (restored by :meth:`load_state_dict`)
        self.steps = 0
        self._pending = 0  # backward passes since the last step

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast on the run's device when ``config.bf16`` says so (``auto``: CUDA
        only), else a context that turns autocast off."""
        return bf16_autocast(self.device, self.config.bf16)

    def backward(self, loss: Tensor) -> None:
        """Accumulate the gradients of ``loss / grad_accum``."""
        torch.autograd.backward(loss / self.config.grad_accum)
        self._pending += 1

    @property
    def accumulating(self) -> bool:
        """True while the current group has fewer than ``grad_accum`` backward passes."""
        return self._pending < self.config.grad_accum

    def step(self) -> OptimStep:
        """Clip the gradients (``clip_norm`` > 0), set this step's learning rate, take the
        AdamW step, zero the gradients, update the EMA and count the step."""
        # the norm stays a device tensor: clipping scales by min(1, clip / norm) on the
        # device, so nothing here waits for the device
        params = [p for p in self.model.parameters() if p.grad is not None]
        if not params:
            norm = torch.zeros((), device=self.device)
        elif self.config.clip_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, self.config.clip_norm)
        else:
            grads = [p.grad for p in params if p.grad is not None]
            norm = torch.nn.utils.get_total_norm(grads)
        lr = self.config.lr * lr_factor(self.steps, self.config, self.total_steps)
        set_lr(self.optimizer, lr)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.model)
        self.steps += 1
        self._pending = 0
        return OptimStep(step=self.steps, lr=lr, norm=norm.detach())

    @contextlib.contextmanager
    def ema_applied(self) -> Iterator[None]:
        """Within the block ``model`` holds the EMA weights; its own come back after (also on
        an exception). Without EMA, nothing changes."""
        if self.ema is None:
            yield
            return
        with self.ema.applied(self.model):
            yield

    def state_dict(self) -> dict[str, Any]:
        """``{"steps", "optimizer", "ema", "weights"}``: everything :meth:`load_state_dict`
        needs to continue exactly (``ema`` and ``weights`` are None without EMA)."""
        return {
            "steps": self.steps,
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "weights": (
                {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                if self.ema is not None
                else None
            ),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (the raw weights too, when it holds them)."""
        missing = {"steps", "optimizer", "ema", "weights"} - set(state)
        if missing:
            raise ValueError(f"not an Optimization state: missing {sorted(missing)}")
        if state["weights"] is not None:
            self.model.load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            if state["ema"] is None:
                raise ValueError("the state has no EMA but config.ema is on")
            self.ema.load_state_dict(state["ema"])
        self.steps = int(state["steps"])
        self._pending = 0


# --------------------------------------------------------------------------- RNG state


def capture_rng(device: torch.device | str | None = None) -> dict[str, Any]:
    """The states of Python's ``random``, numpy's global generator, torch's CPU generator
    and, when ``device`` is a CUDA device, its generator; in weights_only-safe types (numpy's
    key array as a tensor)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    dev = None if device is None else torch.device(device)
    if dev is not None and dev.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(dev)
    return state


def restore_rng(state: Mapping[str, Any], device: torch.device | str | None = None) -> None:
    """Undo :func:`capture_rng` (a state without ``cuda``, or a CPU ``device``, leaves the
    CUDA generators alone)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (
            n["kind"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    dev = None if device is None else torch.device(device)
    if dev is not None and dev.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], dev)
