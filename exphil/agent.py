"""``Agent``: a policy playing ``N`` games on one port, batch-first.

Per frame, for every game at once: embed the ``Frames`` rows for the agent's port (with the
controller the agent chose on the previous frame fed back, exactly as training paired it),
``step`` the backbone with each game's recurrent state, sample (or pick) a controller, push
it into the reaction-delay FIFO and return the controller that leaves the FIFO.

The delay pairing (the same as ``train-bc``'s): trained with delay ``d``, the policy that
sees frame ``t`` chooses the controller applied at frame ``t + d``, and the previous
controller embedded with frame ``t`` is the one it chose at frame ``t - 1``. So the FIFO
holds ``d`` decisions; the first ``d`` frames of a game send a neutral controller.

Games that end (the env's auto-reset rows) are passed to :meth:`Agent.end_games`: their
recurrent state, FIFO and fed-back controller go back to a new game's, so nothing leaks
from one game into the next. :meth:`Agent.act` can step a subset of the games (``rows``),
which is how a pool of opponents shares one batch of games.

One class serves ``mock watch``, evaluation, the self-play loop and inference servers.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from exphil.embed import DiscreteController, decode_controller, embed_games
from exphil.game import Character, Controls, Frames, Stage
from exphil.nets import Policy, clone_state, load_policy, read_policy_config

__all__ = ["Agent", "Decision", "PolicyIncompatible", "load_agent_policy"]

Array = np.ndarray[Any, Any]


class PolicyIncompatible(ValueError):
    """A policy cannot play this game (its embedding or training does not fit it)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the agent decided on its last :meth:`Agent.act` (rows in the order acted on):
    the model inputs, the chosen classes, their log-probability and the value estimate.
    Self-play stores these in its rollouts."""

    rows: Array  # [B] game slots
    dense: Array  # [B, D] float32
    ids: Array  # [B, K] int64
    actions: dict[str, Array]  # buttons [B, 8] uint8, others [B] int64
    log_prob: Array  # [B] float32
    value: Array  # [B] float32


def load_agent_policy(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[Policy, dict[str, Any]]:
    """A policy file and its metadata (the training ``delay`` among them). Raises
    ``FileNotFoundError`` or ``ValueError`` (not a policy file) with the path in the message."""
    _config, meta = read_policy_config(path)
    policy = load_policy(path, map_location=device)
    policy.eval()
    return policy, meta


def check_compatible(
    meta: dict[str, Any],
    *,
    port: int,
    character: Character | None = None,
    stage: Stage | None = None,
) -> None:
    """Refuse a policy that cannot play ``character`` on ``stage`` from ``port``: the
    characters and stages it was trained on are in its metadata (``train-bc`` writes
    them); raises :class:`PolicyIncompatible` naming the field."""
    if port not in (0, 1):
        raise PolicyIncompatible(f"port: the agent plays port 0 or 1, not {port}")
    for field, value in (("character", character), ("stage", stage)):
        trained = meta.get(f"{field}s")
        if value is None or not trained:
            continue
        names = {str(c).lower() for c in trained}
        if value.name.lower() not in names and value.display_name.lower() not in names:
            raise PolicyIncompatible(
                f"{field}: the policy was trained on {', '.join(sorted(map(str, trained)))}, "
                f"not {value.display_name} (play it as one of those, or train it on games "
                f"with {value.display_name})"
            )


class Agent:
    """``policy`` playing ``n`` games on ``port`` with reaction ``delay`` frames.

    ``temperature`` scales the sampling; ``deterministic`` picks each component's most
    likely value instead. ``seed`` seeds the sampling noise (reproducible play)."""

    def __init__(
        self,
        policy: Policy,
        n: int,
        port: int,
        *,
        delay: int = 0,
        temperature: float = 1.0,
        deterministic: bool = False,
        seed: int | None = None,
        device: str | torch.device | None = None,
        bf16: bool = False,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if port not in (0, 1):
            raise ValueError(f"port must be 0 or 1, got {port}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.policy = policy
        self.n, self.port, self.delay = n, port, delay
        self.temperature, self.deterministic = temperature, deterministic
        self.device = torch.device(device) if device is not None else _device_of(policy)
        self.generator = torch.Generator(device=self.device)
        # no seed: a fresh one from the OS (torch.seed() would reseed the global RNG)
        self.generator.manual_seed(
            seed if seed is not None else random.SystemRandom().getrandbits(63)
        )
        self.config = policy.config
        #: the backbone steps under bf16 autocast (its recurrent state made there too, e.g.
        #: attention's ring buffer in bf16); the head samples in fp32 either way
        self.bf16 = bf16
        with self._autocast():
            self.state: Any = policy.initial_state(n, device=self.device)
        self.prev = Controls.neutral(n)  # the controller chosen on each game's previous frame
        d = max(delay, 1)
        z = [np.zeros((n, d), dtype=np.float32) for _ in range(5)]
        self._fifo = Controls(z[0], z[1], z[2], z[3], z[4], np.zeros((n, d), dtype=np.uint8))
        self._fifo_pos = np.zeros(n, dtype=np.int64)
        self.last: Decision | None = None
        self.frames_played = 0

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        n: int,
        port: int,
        *,
        character: Character | None = None,
        stage: Stage | None = None,
        delay: int | None = None,
        **kw: Any,
    ) -> Agent:
        """An agent for a policy file; the delay defaults to the one it was trained with.
        With ``character`` / ``stage``, a policy trained on others is refused."""
        device = kw.get("device") or "cpu"
        policy, meta = load_agent_policy(path, device=device)
        check_compatible(meta, port=port, character=character, stage=stage)
        d = int(meta.get("delay", 0)) if delay is None else delay
        return cls(policy, n, port, delay=d, **kw)

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    # --- play ------------------------------------------------------------------------------
    def act(self, frames: Frames, rows: Array | None = None) -> Controls:
        """Decide for the current frame of every game (or the games ``rows``), and return
        the controllers to apply now (what left the delay FIFO), one row per game acted on."""
        idx = np.arange(self.n) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(frames) != len(idx):
            raise ValueError(f"frames has {len(frames)} rows, expected {len(idx)} (one per game)")
        prev = self.prev if rows is None else self.prev.take(idx)
        emb = embed_games(frames, self.config.embed, self.port, prev_controller=prev)
        decision, chosen = self._decide(idx, emb.dense, emb.ids, whole=rows is None)
        self.last = decision
        _put(self.prev, idx, chosen)
        self.frames_played += len(idx)
        if self.delay == 0:
            return chosen
        pos = self._fifo_pos[idx]
        out = Controls(*(getattr(self._fifo, c)[idx, pos].copy() for c in _COLUMNS))
        for c in _COLUMNS:
            getattr(self._fifo, c)[idx, pos] = getattr(chosen, c)
        self._fifo_pos[idx] = (pos + 1) % self.delay
        return out

    def _decide(
        self, idx: Array, dense: Array, ids: Array, *, whole: bool
    ) -> tuple[Decision, Controls]:
        policy = self.policy
        with torch.no_grad():
            d_t = torch.from_numpy(dense).to(self.device)
            i_t = torch.from_numpy(ids).to(self.device)
            with self._autocast():
                if whole:
                    self.state, trunk = policy.step(self.state, d_t, i_t)
                else:
                    sel = torch.from_numpy(idx).to(self.device)
                    sub = tuple(t.index_select(0, sel) for t in self.state)
                    sub, trunk = policy.step(sub, d_t, i_t)
                    for full, part in zip(self.state, sub, strict=True):
                        full.index_copy_(0, sel, part.to(full.dtype))
            out = policy.act(
                trunk.float(),
                temperature=self.temperature,
                deterministic=self.deterministic,
                generator=self.generator,
                with_entropy=False,
            )
            value = policy.value(trunk.float())
        actions = {k: v.cpu().numpy() for k, v in out.actions.items()}
        classes = DiscreteController(
            buttons=actions["buttons"],
            main_x=actions["main_x"],
            main_y=actions["main_y"],
            c_x=actions["c_x"],
            c_y=actions["c_y"],
            shoulder=actions["shoulder"],
        )
        chosen = decode_controller(classes, self.config.controller)
        decision = Decision(
            rows=idx,
            dense=dense,
            ids=ids,
            actions=actions,
            log_prob=out.log_prob.float().cpu().numpy(),
            value=value.float().cpu().numpy(),
        )
        return decision, chosen

    def peek_values(self, frames: Frames, rows: Array) -> Array:
        """Value estimates ``[len(rows)]`` of ``frames`` (one row per game in ``rows``) as
        the next frame of those games, without changing any state: PPO bootstraps a
        truncated game from the value of its last frame."""
        idx = np.asarray(rows, dtype=np.int64)
        if len(idx) == 0:
            return np.zeros(0, dtype=np.float32)
        emb = embed_games(frames, self.config.embed, self.port, prev_controller=self.prev.take(idx))
        with torch.no_grad():
            sel = torch.from_numpy(idx).to(self.device)
            sub = clone_state(tuple(t.index_select(0, sel) for t in self.state))
            with self._autocast():
                _, trunk = self.policy.step(
                    sub,
                    torch.from_numpy(emb.dense).to(self.device),
                    torch.from_numpy(emb.ids).to(self.device),
                )
            out: Array = self.policy.value(trunk.float()).float().cpu().numpy()
        return out

    def end_games(self, done: Array) -> None:
        """Games where ``done [N]`` is true ended: their next frame starts a new game."""
        mask = np.asarray(done, dtype=bool)
        if mask.shape != (self.n,):
            raise ValueError(f"done must have shape ({self.n},), got {mask.shape}")
        if mask.any():
            self.reset(mask)

    def reset(self, mask: Array | None = None) -> None:
        """Start new games in the slots where ``mask`` is true (every slot without it)."""
        m = np.ones(self.n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        self.state = self.policy.reset_state(self.state, torch.from_numpy(m).to(self.device))
        for c in _COLUMNS:
            getattr(self.prev, c)[m] = 0
            getattr(self._fifo, c)[m] = 0
        self._fifo_pos[m] = 0

    def state_dict(self) -> dict[str, Any]:
        """Everything that decides this agent's next controllers besides its weights: the
        recurrent state, the fed-back controller, the delay FIFO and the sampling RNG (as
        tensors and plain values: ``torch.load(weights_only=True)`` reads it)."""
        return {
            "state": [t.detach().cpu().clone() for t in self.state],
            "prev": {c: torch.from_numpy(getattr(self.prev, c).copy()) for c in _COLUMNS},
            "fifo": {c: torch.from_numpy(getattr(self._fifo, c).copy()) for c in _COLUMNS},
            "fifo_pos": torch.from_numpy(self._fifo_pos.copy()),
            "generator": self.generator.get_state(),
            "frames_played": self.frames_played,
            "shape": [self.n, self.port, self.delay],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shape = [int(v) for v in state["shape"]]
        if shape != [self.n, self.port, self.delay]:
            raise ValueError(
                f"agent state is for (games, port, delay) = {tuple(shape)}, this agent has "
                f"{(self.n, self.port, self.delay)}"
            )
        self.state = tuple(t.to(self.device).clone() for t in state["state"])
        for c in _COLUMNS:
            getattr(self.prev, c)[:] = state["prev"][c].numpy()
            getattr(self._fifo, c)[:] = state["fifo"][c].numpy()
        self._fifo_pos[:] = state["fifo_pos"].numpy()
        self.generator.set_state(state["generator"])
        self.frames_played = int(state["frames_played"])

    def state_rows(self, rows: Array) -> tuple[Tensor, ...]:
        """A copy of the recurrent state of ``rows`` (a rollout chunk's starting state)."""
        sel = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.device)
        return tuple(t.index_select(0, sel).clone() for t in self.state)


_COLUMNS = ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons")


def _device_of(policy: Policy) -> torch.device:
    return next(policy.parameters()).device


def _put(target: Controls, idx: Array, values: Controls) -> None:
    for c in _COLUMNS:
        getattr(target, c)[idx] = getattr(values, c)
