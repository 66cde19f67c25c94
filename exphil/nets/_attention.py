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

``unroll`` (a chunk continuing from a state, with per-row resets) puts the ring's keys and
values in time order before the chunk's and runs one masked attention: a query sees a key
within the window, from its own game (no reset of its row in between) and, for the ring's
keys, one that was really written (from ``frames seen``). The output state's ring holds the
last ``window`` frames of each row's current game and ``frames seen`` counts the frames
since the row's last reset, exactly as ``step`` would have left them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exphil.nets._base import BackboneState, Mixer, StackBackbone, in_place_ok, reset_counts

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
        # step's lookup tables (not weights): ring slot j seen from position p is
        # (p - j) % window frames old
        slots = torch.arange(window)
        self._slots: Tensor
        self._ring_distance: Tensor
        self.register_buffer("_slots", slots, persistent=False)
        self.register_buffer(
            "_ring_distance", (slots[:, None] - slots[None, :]) % window, persistent=False
        )
        self._table_cache: tuple[tuple[Any, ...], Tensor] | None = None

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
        # under autocast the ring holds the autocast dtype (bf16), what step writes into it
        # and its attention products read: no cast of the whole ring per step
        if torch.is_autocast_enabled(device.type):
            dtype = torch.get_autocast_dtype(device.type)
        shape = (batch, self.heads, self.window, self.head_dim)
        return (
            torch.zeros(shape, device=device, dtype=dtype),
            torch.zeros(shape, device=device, dtype=dtype),
            torch.zeros(batch, device=device, dtype=torch.int64),
        )

    def unroll(
        self, x: Tensor, state: BackboneState | None, resets: Tensor | None
    ) -> tuple[Tensor, BackboneState]:
        b, t, _ = x.shape
        h, d, w = self.heads, self.head_dim, self.window
        q, k, v = self.qkv(x).view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)  # each [B, h, T, d]
        slots = self._slots
        if state is None:
            seen = torch.zeros(b, device=x.device, dtype=torch.int64)
            keys, values, p = k, v, 0
        else:
            ring_k, ring_v, seen = state
            # the ring in time order: entry m is the frame m - W (before the chunk), valid
            # when the row has seen that many frames since its last reset
            age = seen[:, None] - w + slots  # [B, W]: that frame's index in its game
            idx = (age % w).view(b, 1, w, 1).expand(b, h, w, d)
            keys = torch.cat([ring_k.gather(2, idx).to(k.dtype), k], dim=2)
            values = torch.cat([ring_v.gather(2, idx).to(v.dtype), v], dim=2)
            p = w
        # key j (position j - p) is within query i's window when 0 <= i + p - j < W
        dist = torch.arange(t, device=x.device)[:, None] + p - torch.arange(p + t, device=x.device)
        in_window = (dist >= 0) & (dist < w)
        mask = self.rel_bias.to(q.dtype)[:, dist.clamp(0, w - 1)]  # [h, T, P + T]
        mask = mask.masked_fill(~in_window, float("-inf"))
        visible: Tensor | None = None  # [B, T, P + T], per row
        if p:
            visible = F.pad(age >= 0, (0, t), value=True)[:, None, :].expand(b, t, p + t)
        if resets is not None:
            # key j and query i are in the same game when the row's reset counts agree
            count = reset_counts(resets)  # [B, T]
            same = F.pad(count, (p, 0))[:, None, :] == count[:, :, None]
            visible = same if visible is None else visible & same
        if visible is not None:
            mask = mask.unsqueeze(0).masked_fill(~visible.unsqueeze(1), float("-inf"))
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        out: Tensor = self.out(y.transpose(1, 2).reshape(b, t, self.hidden))

        # the state after the chunk: frames seen since each row's last reset, and the ring
        # (slot j holds the game's frame f with f % W == j among its last W frames)
        if resets is None:
            seen_out = seen + t
        else:
            frame = torch.arange(1, t + 1, device=x.device)
            last = (resets.to(torch.int64) * frame).amax(1)  # 1 + last reset frame, or 0
            seen_out = torch.where(last > 0, t + 1 - last, seen + t)
        if keys.shape[2] < w:  # from the initial state, a chunk shorter than the window
            pad = (0, 0, w - keys.shape[2], 0)
            keys, values = F.pad(keys, pad), F.pad(values, pad)
        tail_k, tail_v = keys[:, :, -w:], values[:, :, -w:]  # the last W frames, oldest first
        offset = (slots - seen_out[:, None]) % w  # [B, W]: slot j's frame in the tail
        written = ((seen_out[:, None] - w + offset) >= 0).view(b, 1, w, 1)
        idx = offset.view(b, 1, w, 1).expand(b, h, w, d)
        ring_k = tail_k.gather(2, idx).masked_fill(~written, 0)
        ring_v = tail_v.gather(2, idx).masked_fill(~written, 0)
        return out, (ring_k, ring_v, seen_out)

    def _bias_table(self, dtype: torch.dtype, cached: bool) -> Tensor:
        """``[W, heads, W]``: row ``p`` is the relative bias of each ring slot ``j`` seen
        from ring position ``p`` (slot ``j`` holds a frame ``(p - j) % W`` frames old). With
        ``cached`` (in-place steps) kept until ``rel_bias`` changes (its version counter
        moves with every in-place update, an optimizer step included)."""
        if not cached:
            return self.rel_bias.to(dtype)[:, self._ring_distance].transpose(0, 1)
        p = self.rel_bias
        key = (p._version, p.data_ptr(), p.device, dtype)
        if self._table_cache is None or self._table_cache[0] != key:
            table = p.detach().to(dtype)[:, self._ring_distance].transpose(0, 1).contiguous()
            self._table_cache = (key, table)
        return self._table_cache[1]

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        keys, values, seen = state
        b, h, d, w = x.shape[0], self.heads, self.head_dim, self.window
        inplace = in_place_ok()
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias).view(b, 3, h, 1, d)
        pos = seen % w  # the ring slot this frame goes to
        slot = pos.view(b, 1, 1, 1).expand(b, h, 1, d)
        # the ring keeps its dtype: under bf16 autocast the projection is bf16 while a ring
        # made outside autocast is fp32 (and the reverse): scatter needs equal dtypes
        k_new, v_new = qkv[:, 1].to(keys.dtype), qkv[:, 2].to(values.dtype)
        if inplace:  # the ring buffer, updated in place
            keys.scatter_(2, slot, k_new)
            values.scatter_(2, slot, v_new)
        else:  # functional: keep the tensors autograd saved intact
            keys, values = keys.scatter(2, slot, k_new), values.scatter(2, slot, v_new)
        # slots not written yet in this game (j > frames seen) are masked out; on CPU in
        # play the mask is skipped once every game has filled its window (checking costs
        # less than masking; on a GPU the check would be a device sync)
        bias = self._bias_table(x.dtype, inplace)[pos]
        if x.is_cuda or not inplace or int(seen.min()) < w - 1:
            bias = bias.masked_fill((self._slots > seen[:, None]).unsqueeze(1), float("-inf"))
        # one query per game: two batched matrix-vector products (SDPA's CPU kernels are
        # slower for a single query), the scale and the bias fused into the first
        # (in the projection's dtype: a no-op unless a bf16 ring is stepped outside autocast)
        bh = b * h
        q = qkv[:, 0].reshape(bh, 1, d)
        scores = torch.baddbmm(
            bias.view(bh, 1, w),
            q,
            keys.view(bh, w, d).to(q.dtype).transpose(1, 2),
            alpha=d**-0.5,
        )
        y = torch.bmm(scores.softmax(dim=-1), values.view(bh, w, d).to(q.dtype))
        out = F.linear(y.view(b, self.hidden), self.out.weight, self.out.bias)
        return (keys, values, seen.add_(1) if inplace else seen + 1), out


class FeedForward(Mixer):
    """``Linear(H, mH) -> GELU (tanh form) -> Linear(mH, H)`` (m = 2 as slippi-ai's
    ``tx_like``), per frame (no state)."""

    n_state = 0

    def __init__(self, hidden: int, multiplier: int = FFN_MULTIPLIER) -> None:
        super().__init__()
        inner = multiplier * hidden
        self.net = nn.Sequential(
            nn.Linear(hidden, inner), nn.GELU(approximate="tanh"), nn.Linear(inner, hidden)
        )

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out

    def step(self, state: BackboneState, x: Tensor) -> tuple[BackboneState, Tensor]:
        up, down = cast(nn.Linear, self.net[0]), cast(nn.Linear, self.net[2])
        h = F.gelu(F.linear(x, up.weight, up.bias), approximate="tanh")
        return state, F.linear(h, down.weight, down.bias)


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
