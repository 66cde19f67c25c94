"""Trajectory chunks: built frame by frame by a GameRunner, joined into a PPO
:class:`~exphil.rl.Rollout` by the learner.

A chunk is ``T`` frames of the ``k`` games of one runner. It is closed one frame late, when
the next frame's decision is known: that decision's values are the chunk's bootstrap values
(``next_values``) and a game truncated on the chunk's last frame gets its final value from
the same call (the server peeks it before the game's state is reset). So inference stays at
one forward pass per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from exphil.agent import Decision
from exphil.envs import StepResult
from exphil.rl import Rollout
from exphil.wire import Trajectory

__all__ = ["ChunkBuilder", "rollout_from"]

Array = np.ndarray[Any, Any]
_STICKS = ("main_x", "main_y", "c_x", "c_y", "shoulder")


class ChunkBuilder:
    """One chunk in the making: call :meth:`decided` then :meth:`stepped` for each frame."""

    def __init__(self, steps: int, k: int, dense_dim: int, id_cols: int) -> None:
        self.steps, self.k, self.t = steps, k, 0
        f32 = np.float32
        self.dense = np.zeros((steps, k, dense_dim), f32)
        self.ids = np.zeros((steps, k, id_cols), np.int64)
        self.buttons = np.zeros((steps, k, 8), np.uint8)
        self.sticks = np.zeros((steps, k, 5), np.int64)
        self.log_prob = np.zeros((steps, k), f32)
        self.values = np.zeros((steps, k), f32)
        self.rewards = np.zeros((steps, k), f32)
        self.terminated = np.zeros((steps, k), np.uint8)
        self.truncated = np.zeros((steps, k), np.uint8)
        self.final_values = np.zeros((steps, k), f32)
        self.resets = np.zeros((steps, k), np.uint8)
        self.state0: list[Array] = []
        self.teacher_state0: list[Array] | None = None
        self.version = -1
        self.version_max = -1

    @property
    def full(self) -> bool:
        return self.t == self.steps

    def start(self, state0: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor] | None) -> None:
        self.state0 = [s.cpu().numpy() for s in state0]
        self.teacher_state0 = None if teacher is None else [s.cpu().numpy() for s in teacher]

    def decided(self, d: Decision, version: int, resets: Array | None) -> None:
        t = self.t
        self.dense[t], self.ids[t] = d.dense, d.ids
        self.buttons[t] = d.actions["buttons"]
        for j, name in enumerate(_STICKS):
            self.sticks[t, :, j] = d.actions[name]
        self.log_prob[t], self.values[t] = d.log_prob, d.value
        if resets is not None and t > 0:
            self.resets[t] = resets
        self.version = version if self.version < 0 else min(self.version, version)
        self.version_max = max(self.version_max, version)

    def stepped(self, step: StepResult) -> None:
        t = self.t
        self.rewards[t] = step.reward[:, 0]
        self.terminated[t], self.truncated[t] = step.terminated, step.truncated
        self.t += 1

    def set_final_values(self, t: int, local: Array, values: Array) -> None:
        self.final_values[t, local] = values

    def close(self, stream: str, seq: int, worker: str, next_values: Array) -> Trajectory:
        return Trajectory(
            stream=stream,
            seq=seq,
            worker=worker,
            version=self.version,
            version_max=self.version_max,
            dense=self.dense,
            ids=self.ids,
            buttons=self.buttons,
            sticks=self.sticks,
            log_prob=self.log_prob,
            values=self.values,
            rewards=self.rewards,
            terminated=self.terminated,
            truncated=self.truncated,
            final_values=self.final_values,
            resets=self.resets,
            next_values=np.asarray(next_values, np.float32),
            state0=self.state0,
            teacher_state0=self.teacher_state0,
        )


def check_chunk(c: Trajectory, dense_dim: int, id_cols: int) -> str | None:
    """What is wrong with a received chunk's shapes and values (None: fine)."""
    t, k = c.rewards.shape if c.rewards.ndim == 2 else (0, 0)
    expect = {
        "dense": (t, k, dense_dim), "ids": (t, k, id_cols), "buttons": (t, k, 8),
        "sticks": (t, k, 5), "log_prob": (t, k), "values": (t, k), "terminated": (t, k),
        "truncated": (t, k), "final_values": (t, k), "resets": (t, k), "next_values": (k,),
    }  # fmt: skip
    if t < 1 or k < 1:
        return f"rewards has shape {c.rewards.shape}, expected [T, k] with T, k >= 1"
    for name, shape in expect.items():
        got = getattr(c, name).shape
        if got != shape:
            return f"{name} has shape {got}, expected {shape}"
    for s in c.state0:
        if s.shape[:1] != (k,):
            return f"state0 has a tensor of shape {s.shape}, expected [{k}, ...]"
    for name in ("rewards", "values", "log_prob", "final_values", "next_values"):
        if not np.isfinite(getattr(c, name)).all():
            return f"{name} has non-finite values"
    return None


def rollout_from(chunks: Sequence[Trajectory], version: int) -> Rollout:
    """The chunks side by side (game columns) as one PPO rollout. All must have the same
    number of frames."""
    steps = {c.rewards.shape[0] for c in chunks}
    if len(steps) != 1:
        raise ValueError(f"chunks of different lengths cannot share a batch: {sorted(steps)}")

    def cat(name: str) -> Array:
        return np.concatenate([getattr(c, name) for c in chunks], axis=1)

    sticks = cat("sticks")
    actions = {"buttons": cat("buttons")}
    for j, name in enumerate(_STICKS):
        actions[name] = np.ascontiguousarray(sticks[..., j])
    state0 = tuple(
        torch.from_numpy(np.concatenate([c.state0[i] for c in chunks], axis=0))
        for i in range(len(chunks[0].state0))
    )
    teacher = None
    if all(c.teacher_state0 is not None for c in chunks):
        teacher = tuple(
            torch.from_numpy(np.concatenate([c.teacher_state0[i] for c in chunks], axis=0))  # type: ignore[index]
            for i in range(len(chunks[0].teacher_state0 or ()))
        )
    return Rollout(
        dense=cat("dense"),
        ids=cat("ids"),
        actions=actions,
        log_prob=cat("log_prob"),
        values=cat("values"),
        rewards=cat("rewards"),
        terminated=cat("terminated").astype(bool),
        truncated=cat("truncated").astype(bool),
        final_values=cat("final_values"),
        resets=cat("resets").astype(bool),
        state0=state0,
        teacher_state0=teacher,
        next_values=np.concatenate([c.next_values for c in chunks]),
        policy_version=version,
    )
