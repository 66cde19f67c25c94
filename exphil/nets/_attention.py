"""Causal sliding-window multi-head attention and the attention (transformer) backbone.

Frame ``t`` attends to frames ``t - window + 1 .. t`` (fewer at the start of a game). The
only positional information is a learned bias per head and per distance ``t - s`` in
``0 .. window - 1`` (initialized ALiBi-style: recent frames weigh more), so nothing depends
on absolute positions and ``step`` equals ``forward`` exactly.

``step`` keeps a fixed-size ring buffer of the last ``window`` keys and values per game
(``[B, heads, window, head_dim]``, slot ``frame % window``) plus the number of frames seen
``[B]`` (int64), from which each slot's distance and validity follow. Outside autograd
(``inference_mode`` / ``no_grad``) the buffer is updated in place (the state is consumed,
see ``exphil.nets._base``); with gradients enabled ``step`` copies it instead.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exphil.nets._base import BackboneState, Mixer, StackBackbone

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = ["AttentionBackbone", "FeedForward", "SlidingWindowAttention"]

FFN_MULTIPLIER = 2


def _alibi_slopes(heads: int) -> Tensor:
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / heads) for i in range(heads)])


class SlidingWindowAttention(Mixer):
    """Multi-head self-attention over the last ``window`` frames, with a learned relative
    position bias ``[heads, window]``. State: keys ``[B, h, W, d]``, values
    ``[B, h, W, d]``, frames seen ``[B]`` (int64)."""

    n_state = 3

    def __init__(self, hidden: int, heads: int, window: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"heads ({heads}) must divide hidden ({hidden})")
        self.hidden, self.heads, self.window = hidden, heads, window
        self.head_dim = hidden // heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        distance = torch.arange(window, dtype=torch.float32)
        self.rel_bias = nn.Parameter(-_alibi_slopes(heads)[:, None] * distance[None, :])

    def attention_bias(self, t: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The additive mask ``[heads, t, t]`` of a ``t``-frame window: the relative bias
        where ``0 <= t_q - t_k < window``, ``-inf`` elsewhere."""
        pos = torch.arange(t, device=device)
        dist = pos[:, None] - pos[None, :]
        allowed = (dist >= 0) & (dist < self.window)
        bias = self.rel_bias.to(dtype)[:, dist.clamp(0, self.window - 1)]
        return bias.masked_fill(~allowed, float("-inf"))

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        mask = self.attention_bias(t, x.device, q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out: Tensor = self.out(y.transpose(1, 2).reshape(b, t, self.hidden))
        return out

    def initial_state(self, batch: int, device: torch.device, dtype: torch.dtype) -> BackboneState:
        shape = (batch, self.heads, self.window, self.head_dim)
        return (
            torch.zeros(shape, device=device, dtype=dtype),
            torch.zeros(shape, device=device, dtype=dtype),
            torch.zeros(batch, device=device, dtype=torch.int64),
        )

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        keys, values, seen = state
        b = x.shape[0]
        q, k, v = self.qkv(x).view(b, 3, self.heads, self.head_dim).unbind(1)
        index = (torch.arange(b, device=x.device), slice(None), seen % self.window)
        if torch.is_grad_enabled():  # keep the tensors autograd saved intact
            keys, values = keys.clone(), values.clone()
        keys[index] = k  # the ring buffer, updated in place
        values[index] = v
        # the frame in slot j is ``dist`` frames old; it exists when dist <= frames seen
        slots = torch.arange(self.window, device=x.device)
        dist = (seen[:, None] - slots[None, :]) % self.window  # [B, W]
        valid = dist <= seen[:, None]
        bias = self.rel_bias.to(q.dtype)[:, dist].transpose(0, 1)  # [B, h, W]
        scores = torch.matmul(q.unsqueeze(2), keys.transpose(-1, -2))[:, :, 0]  # [B, h, W]
        scores = scores / math.sqrt(self.head_dim) + bias
        scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
        y = torch.matmul(scores.softmax(dim=-1).unsqueeze(2), values)[:, :, 0]  # [B, h, d]
        out: Tensor = self.out(y.reshape(b, self.hidden))
        return (keys, values, seen + 1), out


class FeedForward(Mixer):
    """``Linear(H, mH) -> GELU -> Linear(mH, H)`` (m = 2 as slippi-ai's ``tx_like``), per
    frame (no state)."""

    n_state = 0

    def __init__(self, hidden: int, multiplier: int = FFN_MULTIPLIER) -> None:
        super().__init__()
        inner = multiplier * hidden
        self.net = nn.Sequential(nn.Linear(hidden, inner), nn.GELU(), nn.Linear(inner, hidden))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        return state, self.forward(x)


def attention_mixers(config: BackboneConfig) -> list[Mixer]:
    """One transformer layer: attention then a feed-forward block (each pre-norm residual)."""
    return [
        SlidingWindowAttention(config.hidden, config.heads, config.window),
        FeedForward(config.hidden),
    ]


class AttentionBackbone(StackBackbone):
    """``kind="attention"``: ``layers`` pre-norm transformer layers (sliding-window
    attention + feed-forward, each ``x + dropout(f(LayerNorm(x)))``) after an input
    projection, then a final LayerNorm. State per layer: ``(keys, values, frames seen)``."""

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        mixers: list[Mixer] = []
        for _ in range(config.layers):
            mixers += attention_mixers(config)
        super().__init__(config, input_dim, mixers)
