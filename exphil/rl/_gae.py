"""Generalized advantage estimation over per-game segments of a rollout.

A rollout holds ``T`` consecutive steps of ``N`` game slots. Step ``t`` of slot ``n`` is: the
agent saw a frame, its value estimate was ``values[t, n]``, it acted, and the env answered
with ``rewards[t, n]`` and whether that step ended the game: ``terminated`` (the game's rules
ended it: the value beyond is 0) or ``truncated`` (a time limit cut it: the value beyond is
that of the game's last frame, ``final_values[t, n]``, which PPO bootstraps from). After an
ended step the slot's next step belongs to a new game, so nothing flows back across it.
``next_values [N]`` are the values of the frames that follow the last step (bootstrap of
the games still running at the end of the rollout).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gae"]

Array = np.ndarray


def gae(
    rewards: Array,
    values: Array,
    terminated: Array,
    truncated: Array,
    final_values: Array,
    next_values: Array,
    *,
    gamma: float,
    lam: float,
) -> tuple[Array, Array]:
    """(advantages, returns), each ``[T, N]`` float32; returns = advantages + values."""
    t_len = rewards.shape[0]
    adv = np.zeros(rewards.shape, dtype=np.float64)
    last = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in reversed(range(t_len)):
        ended = terminated[t] | truncated[t]
        following = next_values if t == t_len - 1 else values[t + 1]
        # terminated wins when both are set (a stock-out on the time limit's frame)
        beyond = np.where(terminated[t], 0.0, np.where(truncated[t], final_values[t], following))
        delta = rewards[t] + gamma * beyond - values[t]
        last = delta + gamma * lam * np.where(ended, 0.0, last)
        adv[t] = last
    return adv.astype(np.float32), (adv + values).astype(np.float32)
