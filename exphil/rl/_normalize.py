"""Reward normalisation with running statistics that several workers can merge.

Rewards are divided by the running standard deviation of the discounted return (as SB3's
``VecNormalize`` and CleanRL's ``NormalizeReward``): the return's scale becomes about 1
whatever the reward weights, and the sign and the zero of rewards are kept (zero-sum stays
zero-sum). :class:`RunningMeanStd` merges batches and other instances exactly (Chan et al.'s
parallel variance), so statistics from many game workers combine into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ReturnNormalizer", "RunningMeanStd"]


@dataclass
class RunningMeanStd:
    mean: float = 0.0
    var: float = 1.0
    count: float = 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.size:
            self.merge(RunningMeanStd(float(x.mean()), float(x.var()), float(x.size)))

    def merge(self, other: RunningMeanStd) -> None:
        if other.count == 0:
            return
        if self.count == 0:
            self.mean, self.var, self.count = other.mean, other.var, other.count
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        m2 = (
            self.var * self.count
            + other.var * other.count
            + delta**2 * self.count * other.count / total
        )
        self.mean += delta * other.count / total
        self.var = m2 / total
        self.count = total

    @property
    def std(self) -> float:
        return float(np.sqrt(self.var + 1e-8))

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, d: dict[str, float]) -> None:
        self.mean, self.var, self.count = float(d["mean"]), float(d["var"]), float(d["count"])


class ReturnNormalizer:
    """Scales rewards by the running std of the per-slot discounted return."""

    def __init__(self, n: int, gamma: float, *, clip: float = 10.0) -> None:
        self.gamma = gamma
        self.clip = clip
        self.stats = RunningMeanStd()
        self._ret = np.zeros(n, dtype=np.float64)

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        """One step's rewards ``[N]`` and game ends ``[N]``: update the statistics."""
        self._ret = self._ret * self.gamma + rewards
        self.stats.update(self._ret)
        self._ret[done] = 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.state_dict(), "ret": torch.from_numpy(self._ret.copy())}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.stats.load_state_dict(d["stats"])
        ret = d["ret"].numpy()
        if ret.shape != self._ret.shape:
            raise ValueError(f"normalizer state is for {ret.shape[0]} games, not {len(self._ret)}")
        self._ret[:] = ret

    def scale(self, rewards: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.clip(rewards / self.stats.std, -self.clip, self.clip)
        return out.astype(np.float32)
