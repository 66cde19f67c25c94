"""Rewards and discounted returns from a game's ``Frames``: the targets of BC's value head,
so PPO starts with a critic.

The reward is the mock environment's zero-sum core (``exphil.envs.RewardConfig``), computed
from the frames for one player's perspective. Frame ``t``'s reward is what the transition
from frame ``t - 1`` to frame ``t`` earned (frame 0 earns nothing)::

    stock  * (stocks the opponent lost - stocks the player lost)
    damage * (damage dealt - damage taken)       # percent increases only; a respawn's reset
                                                 # to 0 is not negative damage
    win    * (+1 / -1 on the game's last frame when it has a winner by stocks)

The winner by stocks is the player with more stocks on the last frame (a stock-out, or a
stock lead when the game ended otherwise); equal stocks is no winner (the replay does not say
whether a timer decided on percent). A caller that knows the result passes ``winner``.
The shaping terms of ``RewardConfig`` (``approach``, ``offstage``) are not computed here.

The return of frame ``t`` is what the decisions from frame ``t`` on earn, discounted:
``G[t] = r[t+1] + discount * r[t+2] + discount**2 * r[t+3] + ...``, i.e.
``G[t] = r[t+1] + discount * G[t+1]`` -- the value a critic predicts at frame ``t`` (PPO's
convention: a step's reward comes from the transition it causes). The sum is **truncated** at
the end of the replay: ``G[last] = 0`` and nothing beyond the game is bootstrapped (a game
that ends is over; a replay cut short loses the tail).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from exphil.envs import RewardConfig
from exphil.game.frames import Frames

__all__ = [
    "REWARD_TERMS",
    "reward_terms",
    "frame_rewards",
    "rewards_from_terms",
    "discounted_returns",
    "segment_returns",
]

Array = np.ndarray[Any, Any]

#: the columns of :func:`reward_terms`, each multiplied by the ``RewardConfig`` field of the
#: same name
REWARD_TERMS: Final = ("stock", "damage", "win")

_MAX_BLOCK: Final = 4096  # frames per vectorized block of the return scan


def reward_terms(frames: Frames, port: int, *, winner: int | None = None) -> Array:
    """``[T, 3]`` float32: per frame, for player ``port`` (0 or 1), the unweighted terms
    (:data:`REWARD_TERMS`): stocks the opponent lost minus stocks lost, damage dealt minus
    damage taken, and +1 / -1 / 0 for a win / loss / neither on the last frame.

    ``winner``: 0 or 1 (that port won), -1 (no winner), or None to decide by stocks on the
    last frame (see the module docstring)."""
    if port not in (0, 1):
        raise ValueError(f"port must be 0 or 1, got {port}")
    if winner not in (None, -1, 0, 1):
        raise ValueError(f"winner must be 0, 1, -1 (none) or None (by stocks), got {winner}")
    n = len(frames)
    out = np.zeros((n, len(REWARD_TERMS)), dtype=np.float32)
    if n == 0:
        return out
    me, opp = frames.players[port], frames.players[1 - port]
    stocks_me = np.asarray(me.stocks, dtype=np.int64)
    stocks_opp = np.asarray(opp.stocks, dtype=np.int64)
    lost_me = np.maximum(stocks_me[:-1] - stocks_me[1:], 0)
    lost_opp = np.maximum(stocks_opp[:-1] - stocks_opp[1:], 0)
    out[1:, 0] = lost_opp - lost_me
    pct_me = np.asarray(me.percent, dtype=np.float32)
    pct_opp = np.asarray(opp.percent, dtype=np.float32)
    taken = np.maximum(pct_me[1:] - pct_me[:-1], np.float32(0))
    dealt = np.maximum(pct_opp[1:] - pct_opp[:-1], np.float32(0))
    out[1:, 1] = dealt - taken
    if winner is None:
        diff = int(stocks_me[-1]) - int(stocks_opp[-1])
        won = (diff > 0) - (diff < 0)
    else:
        won = 0 if winner == -1 else (1 if winner == port else -1)
    out[-1, 2] = won
    return out


def rewards_from_terms(terms: Array, rewards: RewardConfig) -> Array:
    """``[T]`` float32 rewards: the terms weighted by ``rewards`` (its shaping terms must
    be 0: they are not computed from frames)."""
    if rewards.approach or rewards.offstage:
        raise ValueError(
            "rewards.approach and rewards.offstage (shaping) are not computed from replays: "
            "set them to 0 for value targets"
        )
    w = np.asarray([rewards.stock, rewards.damage, rewards.win], dtype=np.float64)
    out: Array = (np.asarray(terms, dtype=np.float64) @ w).astype(np.float32)
    return out


def frame_rewards(
    frames: Frames,
    port: int,
    rewards: RewardConfig | None = None,
    *,
    winner: int | None = None,
) -> Array:
    """``[T]`` float32: frame ``t``'s reward for player ``port`` (see the module docstring),
    the mock environment's zero-sum core reward with weights ``rewards`` (default
    ``RewardConfig()``)."""
    return rewards_from_terms(reward_terms(frames, port, winner=winner), rewards or RewardConfig())


def discounted_returns(rewards: Array, discount: float) -> Array:
    """``[T]`` float32 returns of one game: ``G[t] = r[t+1] + discount * G[t+1]``, ``G[T-1]
    = 0`` (truncated at the game's end). Computed in float64, O(T), vectorized in blocks."""
    if not 0.0 <= discount <= 1.0:
        raise ValueError(f"discount must be in [0, 1], got {discount}")
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    n = len(r)
    out = np.zeros(n, dtype=np.float64)
    if n <= 1:
        return out.astype(np.float32)
    after = np.zeros(n, dtype=np.float64)  # after[t] = r[t+1]: what frame t's decision earns
    after[:-1] = r[1:]
    if discount == 0.0:
        return after.astype(np.float32)
    # backwards in blocks of L frames where discount**L stays >= 1e-6: inside a block,
    # G[i] = sum_{j >= i} discount**(j - i) after[j] + discount**(L - i) * carry
    #      = (suffix sum of discount**j after[j]) / discount**i + ..., exact enough in float64
    size = _MAX_BLOCK
    if discount < 1.0:
        size = max(1, min(_MAX_BLOCK, int(np.log(1e-6) / np.log(discount))))
    carry = 0.0
    end = n
    while end > 0:
        start = max(0, end - size)
        k = np.arange(end - start, dtype=np.float64)
        p = discount**k
        suffix = np.cumsum((p * after[start:end])[::-1])[::-1]
        out[start:end] = suffix / p + discount ** (end - start - k) * carry
        carry = float(out[start])
        end = start
    return out.astype(np.float32)


def segment_returns(rewards: Array, offsets: Array, lengths: Array, discount: float) -> Array:
    """:func:`discounted_returns` of each segment ``rewards[offset : offset + length]``
    (segments never mix: each is one game from one side), into one ``[N]`` float32 array;
    rows outside every segment stay 0."""
    r = np.asarray(rewards)
    out = np.zeros(len(r), dtype=np.float32)
    for off, length in zip(np.asarray(offsets), np.asarray(lengths), strict=True):
        a, b = int(off), int(off) + int(length)
        out[a:b] = discounted_returns(r[a:b], discount)
    return out
