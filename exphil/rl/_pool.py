"""The opponent pool of synchronous self-play.

Members: the current policy (the learner's live weights on the other port), snapshots of
past weights (taken every ``snapshot_every`` updates, the newest ``history_size`` kept), the
scripted CPU levels and the frozen starting policy (fixed anchors). Each game slot draws its
opponent when its game starts (the mix of :class:`~exphil.rl.OpponentConfig`), so a batch
of games holds several opponents at once; each member plays all of its games in one batched
call per frame.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from exphil.agent import Agent
from exphil.game import Controls, Frames
from exphil.nets import Policy
from exphil.players import AgentPlayer, CpuPlayer, NoopPlayer, Player, RandomPlayer
from exphil.rl._config import OpponentConfig

__all__ = ["Member", "OpponentPool"]

Array = np.ndarray[Any, Any]


@dataclass
class Member:
    name: str
    group: str  # "current", "history", "cpu", "initial"
    player: Player
    games: int = 0
    wins: int = 0
    losses: int = 0
    draws: int = field(default=0)

    @property
    def win_rate(self) -> float:
        """The learner's win rate against this member (draws count half)."""
        n = self.wins + self.losses + self.draws
        return (self.wins + 0.5 * self.draws) / n if n else float("nan")


class OpponentPool:
    def __init__(
        self,
        config: OpponentConfig,
        n: int,
        *,
        current: Policy,
        initial: Policy | None,
        delay: int,
        port: int = 1,
        seed: int = 0,
        temperature: float = 1.0,
    ) -> None:
        self.config, self.n, self.port, self.delay = config, n, port, delay
        self.temperature = temperature
        self.rng = np.random.default_rng(seed + 7919)
        self._seed = seed
        self.members: list[Member] = []
        fixed = config.fixed
        if not fixed or "current" in fixed:
            self._add("current", "current", self._agent(current, "current"))
        if initial is not None and ((not fixed and config.include_initial) or "initial" in fixed):
            frozen = copy.deepcopy(initial).eval()
            for p in frozen.parameters():
                p.requires_grad_(False)
            self._add("initial", "initial", self._agent(frozen, "initial"))
        levels = config.cpu_levels if not fixed else ()
        for spec in fixed:
            if spec.startswith("cpu:"):
                levels += (int(spec[4:]),)
            elif spec == "random":
                self._add("random", "cpu", RandomPlayer(n, seed=seed))
            elif spec == "noop":
                self._add("noop", "cpu", NoopPlayer(n))
            elif spec not in ("current", "initial"):
                raise ValueError(f"opponents.fixed: unknown opponent {spec!r}")
        for lv in levels:
            self._add(f"cpu:{lv}", "cpu", CpuPlayer(lv, n, port, seed=seed + lv))
        if not self.members:
            raise ValueError("the opponent pool is empty: check opponents.fixed")
        self.snapshots = 0
        self.assign = np.zeros(n, dtype=np.int64)
        self.assign[:] = self._draw(n)

    def _agent(self, policy: Policy, label: str) -> AgentPlayer:
        agent = Agent(
            policy,
            self.n,
            self.port,
            delay=self.delay,
            temperature=self.temperature,
            seed=self._seed + 31 * (len(self.members) + 1),
        )
        return AgentPlayer(agent, label)

    def _add(self, name: str, group: str, player: Player) -> None:
        self.members.append(Member(name, group, player))

    def snapshot(self, policy: Policy, version: int) -> None:
        """Add a frozen copy of ``policy`` as ``v{version}`` (dropping the oldest snapshot
        past ``history_size``; games it is playing finish against it)."""
        if self.config.fixed:
            return
        frozen = copy.deepcopy(policy).eval()
        for p in frozen.parameters():
            p.requires_grad_(False)
        self._add(f"v{version}", "history", self._agent(frozen, f"v{version}"))
        self.snapshots += 1
        self._retire()

    def _retire(self) -> None:
        """Drop the oldest snapshots past ``history_size`` once no game plays them."""
        while True:
            history = [i for i, m in enumerate(self.members) if m.group == "history"]
            if len(history) <= self.config.history_size or (self.assign == history[0]).any():
                return
            self._remove(history[0])

    def _remove(self, i: int) -> None:
        del self.members[i]
        self.assign[self.assign > i] -= 1

    def _draw(self, k: int) -> Array:
        """``k`` member indices from the mix."""
        cfg = self.config
        groups: dict[str, list[int]] = {"current": [], "history": [], "cpu": [], "uniform": []}
        for i, m in enumerate(self.members):
            if m.group in ("current", "cpu"):
                groups[m.group].append(i)
            if m.group in ("history", "initial"):
                groups["uniform"].append(i)
        history = [i for i, m in enumerate(self.members) if m.group == "history"]
        groups["history"] = history[-cfg.recent :]
        weights = {
            "current": cfg.current,
            "history": cfg.history,
            "cpu": cfg.cpu,
            "uniform": cfg.uniform,
        }
        if cfg.fixed:  # uniform over whatever was fixed
            return self.rng.integers(0, len(self.members), k)
        names = [g for g in groups if groups[g] and weights[g] > 0]
        if not names:
            return self.rng.integers(0, len(self.members), k)
        w = np.array([weights[g] for g in names])
        picks = self.rng.choice(len(names), size=k, p=w / w.sum())
        out = np.empty(k, dtype=np.int64)
        for j, g in enumerate(names):
            sel = picks == j
            out[sel] = np.asarray(groups[g])[self.rng.integers(0, len(groups[g]), sel.sum())]
        return out

    def act(self, frames: Frames) -> Controls:
        """Every game's opponent controller (one batched call per member in use)."""
        out = Controls.neutral(self.n)
        for i in np.unique(self.assign):
            rows = np.flatnonzero(self.assign == i)
            c = self.members[int(i)].player.act(frames, rows)
            for col in ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons"):
                getattr(out, col)[rows] = getattr(c, col)
        return out

    def end_games(self, done: Array, winners: dict[int, int], learner_port: int = 0) -> None:
        """Record the ended games (``winners``: game slot -> winning port or -1) and draw
        new opponents for those slots."""
        for slot, winner in winners.items():
            m = self.members[int(self.assign[slot])]
            m.games += 1
            if winner == learner_port:
                m.wins += 1
            elif winner < 0:
                m.draws += 1
            else:
                m.losses += 1
        for m in self.members:
            m.player.end_games(done)
        rows = np.flatnonzero(done)
        if len(rows):
            self.assign[rows] = self._draw(len(rows))
            self._retire()

    # --- save and restore (exact resume) ----------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Members (snapshots' weights, each player's per-game state, results), the games'
        assignments and the draw RNG, as tensors and plain values."""
        members = []
        for m in self.members:
            entry: dict[str, Any] = {
                "name": m.name,
                "group": m.group,
                "results": [m.games, m.wins, m.losses, m.draws],
            }
            pl = m.player
            if isinstance(pl, AgentPlayer):
                entry["agent"] = pl.agent.state_dict()
                if m.group == "history":
                    entry["weights"] = {
                        k: v.detach().cpu().clone() for k, v in pl.agent.policy.state_dict().items()
                    }
            else:
                entry["player"] = pl.state_dict()  # type: ignore[attr-defined]
            members.append(entry)
        return {
            "members": members,
            "assign": torch.from_numpy(self.assign.copy()),
            "rng": self.rng.bit_generator.state,
            "snapshots": self.snapshots,
        }

    def load_state_dict(self, state: dict[str, Any], current: Policy) -> None:
        """Restore :meth:`state_dict`'s pool; ``current`` is the learner's (restored)
        policy, which the history snapshots are copies of."""
        by_name = {m.name: m for m in self.members}
        members: list[Member] = []
        for entry in state["members"]:
            name, group = str(entry["name"]), str(entry["group"])
            if group == "history":
                frozen = copy.deepcopy(current).eval()
                frozen.load_state_dict(entry["weights"])
                for p in frozen.parameters():
                    p.requires_grad_(False)
                m = Member(name, group, self._agent(frozen, name))
            elif name in by_name:
                m = by_name[name]
            else:
                raise ValueError(
                    f"the saved opponent pool has {name!r}, which this run's opponents config "
                    "does not make"
                )
            pl = m.player
            if isinstance(pl, AgentPlayer):
                pl.agent.load_state_dict(entry["agent"])
            else:
                pl.load_state_dict(entry["player"])  # type: ignore[attr-defined]
            m.games, m.wins, m.losses, m.draws = (int(v) for v in entry["results"])
            members.append(m)
        self.members = members
        self.assign = state["assign"].numpy().copy()
        self.rng.bit_generator.state = state["rng"]
        self.snapshots = int(state["snapshots"])

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "name": m.name,
                "games": m.games,
                "win_rate": m.win_rate,
                "playing": int((self.assign == i).sum()),
            }
            for i, m in enumerate(self.members)
        ]
