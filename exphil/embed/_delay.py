"""Reaction delay: the state at frame t is paired with the controller at frame t + d.

A human (and a policy playing online) reacts a few frames late; training on (state t,
controller t + d) teaches the policy to act on what it saw d frames ago, as slippi-ai does.
Delay augmentation draws d per sample around a base delay so the policy tolerates the
jitter of online play.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["delay_pairs", "sample_delays"]

Array = np.ndarray[Any, Any]


def delay_pairs(n_frames: int, delay: int | Array) -> tuple[Array, Array]:
    """``(state_rows, action_rows)`` for one game of ``n_frames`` rows: every state row ``t``
    whose action row ``t + delay`` exists. ``delay`` is one int or one per state row
    (``[n_frames]``, from :func:`sample_delays`); rows whose action would fall past the game's
    end are dropped, never wrapped into another game."""
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    t = np.arange(n_frames)
    d = np.broadcast_to(np.asarray(delay, dtype=np.int64), (n_frames,))
    if (d < 0).any():
        raise ValueError("delays must be >= 0 (a policy cannot react before it sees)")
    keep = t + d < n_frames
    return t[keep], (t + d)[keep]


def sample_delays(
    count: int, delay: int, spread: int = 0, rng: np.random.Generator | None = None
) -> Array:
    """``count`` delays uniform in ``[delay - spread, delay + spread]`` (clipped at 0)."""
    if delay < 0 or spread < 0:
        raise ValueError(f"delay and spread must be >= 0, got {delay} and {spread}")
    if spread == 0:
        return np.full(count, delay, dtype=np.int64)
    gen = rng if rng is not None else np.random.default_rng()
    out: Array = np.maximum(gen.integers(delay - spread, delay + spread + 1, count), 0)
    return out
