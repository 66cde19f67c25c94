"""The per-frame MLP backbone: no memory, the state is an empty tuple."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exphil.nets._base import Backbone, BackboneState

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = ["MLPBackbone"]


class MLPBackbone(Backbone):
    """``layers`` times ``Linear -> [LayerNorm] -> ReLU -> Dropout``, each optionally with a
    skip connection (a bias-free projection where the width changes, i.e. the first layer
    when ``input_dim != hidden``). Applied to every frame independently."""

    temporal = False

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        h = config.hidden
        dims = [input_dim] + [h] * config.layers
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.norms = nn.ModuleList(
            nn.LayerNorm(h) if config.layer_norm else nn.Identity() for _ in range(config.layers)
        )
        self.skips: nn.ModuleList | None = (
            nn.ModuleList(
                nn.Identity() if a == b else nn.Linear(a, b, bias=False)
                for a, b in itertools.pairwise(dims)
            )
            if config.residual
            else None
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., D] -> [..., H]`` (any leading dimensions, e.g. ``[B, T, D]``)."""
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
            y: Tensor = self.dropout(F.relu(norm(linear(x))))
            x = y + self.skips[i](x) if self.skips is not None else y
        return x

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> BackboneState:
        return ()

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        if x.dim() != 2:
            raise ValueError(f"step takes x [B, D], got shape {list(x.shape)}")
        return state, self.forward(x)

    def unroll(
        self, x: Tensor, state: BackboneState | None = None, resets: Tensor | None = None
    ) -> tuple[Tensor, BackboneState]:
        """``forward(x)`` and the empty state: no memory, so ``resets`` changes nothing
        (it is still checked)."""
        self._unroll_args(x, state, resets)
        return self.forward(x), ()
