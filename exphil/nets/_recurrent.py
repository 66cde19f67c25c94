"""LSTM and GRU backbones: stacked pre-norm residual recurrent layers (as slippi-ai's residual
recurrent core), one ``nn.LSTM`` / ``nn.GRU`` layer per block.

``unroll`` runs the fused ``nn.LSTM`` / ``nn.GRU`` over the stretches between the chunk's
reset columns (frames where any row starts a game), zeroing the resetting rows' state at
the start of each stretch: one fused call per stretch, and resets are rare."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

from exphil.nets._base import BackboneState, Mixer, StackBackbone

_Run = Callable[[Tensor, BackboneState], tuple[Tensor, BackboneState]]

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = ["GRUMixer", "LSTMMixer", "RecurrentBackbone"]


def _cell_weights(rnn: nn.RNNBase) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The one layer's weights, for a single cell step in ``step`` (``nn.LSTM`` on a 1-frame
    sequence goes through oneDNN, about 1 ms per call at batch 1 on CPU)."""
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    w = [cast(Tensor, getattr(rnn, n)) for n in names]
    return w[0], w[1], w[2], w[3]


def _segments(resets: Tensor | None, t: int) -> list[tuple[int, int]]:
    """``[start, end)`` stretches of a ``t``-frame chunk split before every frame where
    some row resets."""
    cuts = [0]
    if resets is not None:
        cuts += [c for c in resets.any(0).nonzero().flatten().tolist() if c > 0]
    cuts.append(t)
    return list(itertools.pairwise(cuts))


def _unroll_rnn(
    run: _Run, x: Tensor, state: BackboneState, resets: Tensor | None
) -> tuple[Tensor, BackboneState]:
    """``run(x_segment, state) -> (y, state)`` (one fused RNN call) over each stretch
    between reset columns, the resetting rows' state zeroed at the stretch's start."""
    ys = []
    for start, end in _segments(resets, x.shape[1]):
        if resets is not None:
            restart = resets[:, start, None]
            state = tuple(s.masked_fill(restart, 0) for s in state)
        y, state = run(x[:, start:end], state)
        ys.append(y)
    return (ys[0] if len(ys) == 1 else torch.cat(ys, dim=1)), state


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

    def _run(self, x: Tensor, state: BackboneState) -> tuple[Tensor, BackboneState]:
        h, c = state
        y, (hn, cn) = self.rnn(x, (h.unsqueeze(0), c.unsqueeze(0)))
        return y, (hn[0], cn[0])

    def unroll(
        self, x: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[Tensor, BackboneState]:
        if state is None and resets is None:
            y, (hn, cn) = self.rnn(x)
            return y, (hn[0], cn[0])
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return _unroll_rnn(self._run, x, state, resets)


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

    def _run(self, x: Tensor, state: BackboneState) -> tuple[Tensor, BackboneState]:
        y, hn = self.rnn(x, state[0].unsqueeze(0))
        return y, (hn[0],)

    def unroll(
        self, x: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[Tensor, BackboneState]:
        if state is None and resets is None:
            y, hn = self.rnn(x)
            return y, (hn[0],)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return _unroll_rnn(self._run, x, state, resets)


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
