"""``NodePlay``: every game of one worker node played with one batched forward pass per
policy per frame (what the InferenceServer runs; no actors here, so it is tested directly).

Rows ``0..n-1`` are the node's game slots (each GameRunner owns a contiguous range). Port 0
is always the learner's policy (one :class:`~exphil.agent.Agent` over all rows); port 1 is
each row's opponent, drawn when its game starts from the current :class:`~exphil.wire.OpponentMix`:

* ``current``: the learner's live weights (a second Agent on port 1 sharing the module);
* a snapshot slot (``v40``, ``initial``): a loaded frozen policy, one Agent over all rows;
* ``cpu:N``: the scripted CPU at level N. Every level shares one vectorised
  :class:`ScriptedCpu` whose per-row level is set when a game draws it (a numpy CPU costs the
  same for 1 row as for 64: one call for all levels, not one per level).

``act(frames, rows)`` therefore costs one learner call plus one call per distinct opponent
policy among ``rows`` (all CPU levels together count as one) — never one per game. When the
rows of a call are every row in order, the learner's decisions equal an :class:`Agent`
stepping the same frames directly, bit for bit (same generator, same batch):
``tests/exphil/selfplay/test_play.py`` holds that.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from exphil.agent import Agent, Decision
from exphil.envs.cpu import ScriptedCpu
from exphil.game import Controls, Frames
from exphil.nets import Policy
from exphil.wire import MixEntry

__all__ = ["NodePlay", "Step", "weights_of", "load_weights"]

Array = np.ndarray[Any, Any]
_COLUMNS = ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons")


def weights_of(policy: Policy) -> dict[str, Array]:
    """A policy's weights as numpy arrays (CPU copies: safe to send while training goes on)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in policy.state_dict().items()}


def load_weights(policy: Policy, weights: Mapping[str, Any]) -> None:
    """Load :func:`weights_of` arrays in place (raises naming the keys when they differ)."""
    state = policy.state_dict()
    missing, extra = set(state) - set(weights), set(weights) - set(state)
    if missing or extra:
        raise ValueError(
            f"weights do not fit this policy: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(extra)[:5]}"
        )
    srcs = {k: torch.as_tensor(np.asarray(weights[k])) for k in state}
    for k, t in state.items():  # every shape checked first: a refused load changes nothing
        if srcs[k].shape != t.shape:
            raise ValueError(f"weights do not fit this policy: {k} is {tuple(srcs[k].shape)}, "
                             f"the policy's is {tuple(t.shape)}")  # fmt: skip
    with torch.no_grad():
        for k, t in state.items():
            t.copy_(srcs[k])


@dataclass(frozen=True)
class Step:
    """One call's answer: the controllers to apply now for ``rows`` and the learner's decision."""

    p0: Controls
    p1: Controls
    decision: Decision
    version: int


class NodePlay:
    def __init__(
        self,
        policy: Policy,
        n: int,
        *,
        delay: int = 0,
        temperature: float = 1.0,
        seed: int = 0,
        teacher: Policy | None = None,
        version: int = 0,
        bf16: bool = False,
    ) -> None:
        self.policy, self.n, self.delay, self.temperature = policy, n, delay, temperature
        self.seed = seed
        self.version = version
        #: the policies' backbones step under bf16 autocast (``Agent(bf16=True)``); the
        #: teacher, whose state feeds the update's KL, stays in fp32
        self.bf16 = bf16
        self.learner = Agent(
            policy, n, 0, delay=delay, temperature=temperature, seed=seed, bf16=bf16
        )
        self.teacher = teacher
        self.teacher_state: tuple[Tensor, ...] = (
            teacher.initial_state(n, device=torch.device("cpu")) if teacher is not None else ()
        )
        self.rng = np.random.default_rng(seed + 104_729)
        self.players: dict[str, Agent | ScriptedCpu] = {"current": self._agent(policy, 1)}
        self.cpu: ScriptedCpu | None = None  # every cpu:N entry of players is this one
        self.mix: list[MixEntry] = [MixEntry(name="current", kind="current", weight=1.0)]
        self.assign: list[str] = ["current"] * n
        self.games_ended = 0

    def _agent(self, policy: Policy, salt: int) -> Agent:
        return Agent(
            policy, self.n, 1, delay=self.delay, temperature=self.temperature,
            seed=self.seed + 7919 * salt, bf16=self.bf16,
        )  # fmt: skip

    # --- weights and opponents ------------------------------------------------------------
    def set_weights(self, weights: Mapping[str, Any], version: int) -> None:
        """The learner's new weights (the "current" opponent plays them too)."""
        load_weights(self.policy, weights)
        self.version = version

    def set_mix(self, mix: list[MixEntry], snapshots: Mapping[str, Policy]) -> None:
        """A new opponent mix; ``snapshots`` holds a policy for every snapshot entry. Slots no
        longer in the mix are unloaded once no game plays them; games keep their opponent."""
        if not mix or sum(e.weight for e in mix) <= 0:
            raise ValueError("an opponent mix needs at least one entry with a positive weight")
        for e in mix:
            if e.name in self.players:
                continue
            if e.kind == "cpu":
                level = _level(e.name)
                if self.cpu is None:
                    self.cpu = ScriptedCpu(level, self.n, seed=self.seed + 31)
                self.players[e.name] = self.cpu
            elif e.kind == "snapshot":
                frozen = snapshots[e.name]
                self.players[e.name] = self._agent(frozen, len(self.players) + 1)
            elif e.kind != "current":
                raise ValueError(f"unknown opponent kind {e.kind!r} ({e.name})")
        self.mix = list(mix)
        self._unload()

    def _unload(self) -> None:
        keep = {e.name for e in self.mix} | set(self.assign) | {"current"}
        for name in [k for k in self.players if k not in keep]:
            del self.players[name]

    def loaded(self) -> list[str]:
        return list(self.players)

    def _draw(self, k: int) -> list[str]:
        w = np.array([e.weight for e in self.mix], dtype=np.float64)
        picks = self.rng.choice(len(self.mix), size=k, p=w / w.sum())
        return [self.mix[int(i)].name for i in picks]

    # --- play -----------------------------------------------------------------------------
    def end_games(self, rows: Array) -> list[str]:
        """Games in ``rows`` ended: reset their state, draw their next opponents. Returns the
        opponent each ended game had."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return []
        was = [self.assign[int(r)] for r in rows]
        mask = np.zeros(self.n, dtype=bool)
        mask[rows] = True
        self.learner.end_games(mask)
        for p in self.players.values():
            if isinstance(p, Agent):  # a CPU sees a new game by its frame number
                p.end_games(mask)
        if self.teacher is not None and self.teacher_state:
            self.teacher_state = self.teacher.reset_state(
                self.teacher_state, torch.from_numpy(mask)
            )
        for r, name in zip(rows, self._draw(len(rows)), strict=True):
            self.assign[int(r)] = name
            if self.cpu is not None and name.startswith("cpu:"):
                self.cpu.set_levels(np.array([r]), _level(name))
        self.games_ended += len(rows)
        self._unload()
        return was

    def peek_values(self, frames: Frames, rows: Array) -> Array:
        return self.learner.peek_values(frames, rows)

    def state_rows(self, rows: Array) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...] | None]:
        """The learner's (and the teacher's) recurrent state of ``rows``: a chunk's start."""
        idx = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        t = None
        if self.teacher is not None:
            t = tuple(s.index_select(0, idx).clone() for s in self.teacher_state)
        return self.learner.state_rows(rows), t

    def act(self, frames: Frames, rows: Array | None = None) -> Step:
        """Both ports' controllers for ``frames`` (one row per game in ``rows``, default all)."""
        whole = rows is None
        idx = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        p0 = self.learner.act(frames, None if whole else idx)
        d = self.learner.last
        assert d is not None
        if self.teacher is not None and self.teacher_state:
            with torch.no_grad():
                sel = torch.from_numpy(idx)
                sub = tuple(s.index_select(0, sel) for s in self.teacher_state)
                sub, _ = self.teacher.step(sub, torch.from_numpy(d.dense), torch.from_numpy(d.ids))
                for full, part in zip(self.teacher_state, sub, strict=True):
                    full.index_copy_(0, sel, part)
        p1 = Controls.neutral(len(idx))
        # every CPU level is one group (one ScriptedCpu with per-row levels)
        names = np.array(
            [a if not a.startswith("cpu:") else "cpu" for a in (self.assign[int(r)] for r in idx)],
            dtype=object,
        )
        for name in dict.fromkeys(names.tolist()):  # first-seen order: deterministic
            local = np.flatnonzero(names == name)
            if name == "cpu":
                assert self.cpu is not None
                c = self.cpu.act_rows(frames.take(local), 1, idx[local])
                for col in _COLUMNS:
                    getattr(p1, col)[local] = getattr(c, col)
                continue
            player = self.players[name]
            mine = frames.take(local)
            if isinstance(player, Agent):
                c = player.act(mine, idx[local])
            else:
                c = player.act_rows(mine, 1, idx[local])
            for col in _COLUMNS:
                getattr(p1, col)[local] = getattr(c, col)
        return Step(p0, p1, d, self.version)

    def opponent_of(self, row: int) -> str:
        return self.assign[row]


def _level(name: str) -> int:
    return int(name.split(":", 1)[1])


def frozen_copy(policy: Policy) -> Policy:
    """An eval-mode copy without gradients (an opponent or teacher)."""
    out = copy.deepcopy(policy).eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out
