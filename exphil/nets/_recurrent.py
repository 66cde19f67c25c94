"""LSTM and GRU backbones: stacked pre-norm residual recurrent layers (as slippi-ai's residual
recurrent core), one ``nn.LSTM`` / ``nn.GRU`` layer per block."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

from exphil.nets._base import BackboneState, Mixer, StackBackbone

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = ["GRUMixer", "LSTMMixer", "RecurrentBackbone"]


def _cell_weights(rnn: nn.RNNBase) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The one layer's weights, for a single cell step in ``step`` (``nn.LSTM`` on a 1-frame
    sequence goes through oneDNN, about 1 ms per call at batch 1 on CPU)."""
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    w = [cast(Tensor, getattr(rnn, n)) for n in names]
    return w[0], w[1], w[2], w[3]


class LSTMMixer(Mixer):
    """One LSTM layer. State: ``h [B, H]``, ``c [B, H]``."""

    n_state = 2

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.rnn(x)[0]
        return y

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> BackboneState:
        z = torch.zeros(batch, self.hidden, device=device, dtype=dtype)
        return (z, z.clone())

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        h, c = state
        h1, c1 = torch.lstm_cell(x, (h, c), *_cell_weights(self.rnn))
        return (h1, c1), h1


class GRUMixer(Mixer):
    """One GRU layer. State: ``h [B, H]``."""

    n_state = 1

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.rnn(x)[0]
        return y

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> BackboneState:
        return (torch.zeros(batch, self.hidden, device=device, dtype=dtype),)

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        (h,) = state
        h1 = torch.gru_cell(x, h, *_cell_weights(self.rnn))
        return (h1,), h1


class RecurrentBackbone(StackBackbone):
    """``kind`` ``"lstm"`` or ``"gru"``: ``layers`` residual blocks
    ``x + dropout(RNN(LayerNorm(x)))`` after an input projection, then a final LayerNorm.
    State: per layer ``(h, c)`` (LSTM) or ``(h,)`` (GRU), each ``[B, hidden]``."""

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        if config.kind not in ("lstm", "gru"):
            raise ValueError(f"RecurrentBackbone needs kind 'lstm' or 'gru', got {config.kind!r}")
        cls = LSTMMixer if config.kind == "lstm" else GRUMixer
        mixers: list[Mixer] = [cls(config.hidden) for _ in range(config.layers)]
        super().__init__(config, input_dim, mixers)
