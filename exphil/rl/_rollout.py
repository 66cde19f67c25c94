"""Rollout storage: ``T`` steps of ``N`` game slots, what PPO's update reads.

Step ``t`` of slot ``n`` holds the learner's model inputs, its sampled classes, their
log-probability, its value estimate, the env's reward and the game-end flags. ``resets[t]``
marks a slot whose step ``t`` is the first frame of a new game (its recurrent state starts
from zero there); ``state0`` is every slot's recurrent state before step 0, so a recurrent
policy replays the chunk exactly as it played it (``Policy.unroll``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Rollout"]

Array = np.ndarray[Any, Any]


@dataclass
class Rollout:
    dense: Array  # [T, N, D] float32
    ids: Array  # [T, N, K] int64
    actions: dict[str, Array]  # buttons [T, N, 8] uint8; the others [T, N] int64
    log_prob: Array  # [T, N] float32
    values: Array  # [T, N] float32
    rewards: Array  # [T, N] float32 (as the env gave them, before normalisation)
    terminated: Array  # [T, N] bool
    truncated: Array  # [T, N] bool
    final_values: Array  # [T, N] float32: value of a truncated game's last frame
    resets: Array  # [T, N] bool
    state0: tuple[Tensor, ...]  # learner's recurrent state before step 0 ([N, ...] each)
    teacher_state0: tuple[Tensor, ...] | None
    next_values: Array = field(default_factory=lambda: np.zeros(0, np.float32))  # [N]
    policy_version: int = 0

    @classmethod
    def empty(cls, t: int, n: int, dense_dim: int, id_cols: int) -> Rollout:
        f32 = np.float32
        return cls(
            dense=np.zeros((t, n, dense_dim), f32),
            ids=np.zeros((t, n, id_cols), np.int64),
            actions={
                "buttons": np.zeros((t, n, 8), np.uint8),
                **{
                    k: np.zeros((t, n), np.int64)
                    for k in ("main_x", "main_y", "c_x", "c_y", "shoulder")
                },
            },
            log_prob=np.zeros((t, n), f32),
            values=np.zeros((t, n), f32),
            rewards=np.zeros((t, n), f32),
            terminated=np.zeros((t, n), bool),
            truncated=np.zeros((t, n), bool),
            final_values=np.zeros((t, n), f32),
            resets=np.zeros((t, n), bool),
            state0=(),
            teacher_state0=None,
            next_values=np.zeros(n, f32),
        )

    @property
    def steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def games(self) -> int:
        return int(self.rewards.shape[1])

    def check_finite(self) -> None:
        """Raise ``FloatingPointError`` naming the array when a reward, value or log-prob is
        NaN or infinite: the update must not run on a poisoned rollout."""
        for name in ("rewards", "values", "log_prob", "final_values", "next_values"):
            arr = getattr(self, name)
            bad = ~np.isfinite(arr)
            if bad.any():
                where = np.argwhere(bad)[0]
                raise FloatingPointError(
                    f"rollout {name} has {int(bad.sum())} non-finite value(s) (first at "
                    f"{tuple(int(i) for i in where)}); the update was skipped and the last "
                    "good weights kept"
                )
