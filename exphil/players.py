"""Players: anything that can hold a controller in a batch of games.

A :class:`Player` is asked, every frame, for the controllers of some of the ``N`` games it
plays (``rows``, all of them by default) given the current frame of every game, and is told
which games ended. Four kinds, named by an opponent spec (:func:`parse_player`):

* ``cpu:N`` (0-9): the scripted CPU of ``exphil.envs.cpu``;
* ``random``: uniform sticks and a few random button presses per second;
* ``noop``: never touches the controller;
* a path to a policy file (``.safetensors``): an :class:`~exphil.agent.Agent`.

``mock watch``, ``exphil eval`` and the self-play opponent pool all build players here.
``exphil play --vs`` names its opponent with the same parser (``dolphin=True``): Melee's own
CPU (``cpu:1`` .. ``cpu:9``), ``human`` (a GameCube controller), ``noop`` or a policy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np

from exphil.agent import Agent
from exphil.errors import UserError
from exphil.game import Character, Controls, Frames, Stage

__all__ = [
    "AgentPlayer",
    "CpuPlayer",
    "NoopPlayer",
    "Player",
    "PlayerSpec",
    "RandomPlayer",
    "make_player",
    "parse_player",
    "policy_label",
]

Array = np.ndarray[Any, Any]

#: Melee's CPU as ``exphil play --vs`` names it: ``cpu:N`` or ``cpuN``
_MELEE_CPU: Final = re.compile(r"^cpu:?(\d{1,2})$")


@runtime_checkable
class Player(Protocol):
    label: str

    def act(self, frames: Frames, rows: Array | None = None) -> Controls:
        """Controllers for the games ``rows`` (all ``N`` when None); ``frames`` holds the
        current frame of every game (``N`` rows)."""
        ...

    def end_games(self, done: Array) -> None:
        """Games where ``done [N]`` is true ended; their next frame starts a new game."""
        ...


@dataclass(frozen=True)
class PlayerSpec:
    """A parsed opponent spec: ``kind`` is ``cpu``, ``random``, ``noop`` or ``policy``; on
    Dolphin (``parse_player(..., dolphin=True)``) ``cpu`` (Melee's CPU), ``human``, ``noop``
    or ``policy``."""

    kind: str
    level: int = 0
    path: Path | None = None

    @property
    def label(self) -> str:
        if self.kind == "cpu":
            return f"cpu:{self.level}"
        if self.kind == "policy":
            return str(self.path)
        return self.kind


def policy_label(path: Path) -> str:
    """A policy's short name: its file's stem, or the whole path for a run's ``best`` or
    ``last`` (whose stem says nothing)."""
    return str(path) if path.stem in ("best", "last") else path.stem


def _cpu_level(low: str, dolphin: bool) -> int | None:
    """The level a lower-case CPU spec names (not range-checked); None: not a CPU spec."""
    if dolphin:
        m = _MELEE_CPU.match(low)
        return int(m.group(1)) if m else None
    digits = low.removeprefix("cpu").lstrip(":")
    return int(digits) if digits.isdigit() and len(digits) <= 2 else None


def parse_player(text: str, *, dolphin: bool = False) -> PlayerSpec:
    """``cpu:N`` (N in 0..9; also ``cpuN`` or a bare level), ``random``, ``noop``, or the
    path of a readable policy file (a run folder: its ``best``, else its ``last``). With
    ``dolphin`` (what ``exphil play --vs`` names): ``cpu:N`` (Melee's CPU, N in 1..9; also
    ``cpuN``), ``human``, ``noop``, or a policy file / run folder. Anything else raises
    :class:`~exphil.errors.UserError`."""
    t = text.strip()
    low = t.lower()
    if low in (("human", "noop") if dolphin else ("random", "noop")):
        return PlayerSpec(low)
    level = _cpu_level(low, dolphin)
    if level is not None:
        if dolphin and not 1 <= level <= 9:
            raise UserError(f"--vs {text}: Melee's CPU levels are cpu:1 .. cpu:9")
        if not 0 <= level <= 9:
            raise UserError(f"{text!r}: CPU levels are cpu:0 .. cpu:9")
        return PlayerSpec("cpu", level)
    path = Path(os.path.expanduser(t))
    if dolphin and not path.exists():
        extra = " (random plays on the mock only)" if low == "random" else ""
        raise UserError(
            f"--vs {text}: not an opponent{extra}; use cpu:1 .. cpu:9 (Melee's CPU), human "
            "(a GameCube controller on the adapter), noop, or a policy file / run folder"
        )
    if path.is_dir():
        best = path / "best.safetensors"
        path = best if best.exists() else path / "last.safetensors"
    if path.is_file():
        from exphil.nets import read_policy_config

        try:
            read_policy_config(path)
        except (ValueError, OSError) as exc:
            raise UserError(f"{text!r} is not a readable policy file: {exc}") from None
        return PlayerSpec("policy", path=path)
    raise UserError(
        f"{text!r} is not a player: use cpu:0 .. cpu:9, random, noop, or the path of a "
        "policy file (.safetensors, e.g. checkpoints/RUN/best.safetensors)"
    )


class NoopPlayer:
    label = "noop"

    def __init__(self, n: int) -> None:
        self.n = n

    def act(self, frames: Frames, rows: Array | None = None) -> Controls:
        return Controls.neutral(self.n if rows is None else len(rows))

    def end_games(self, done: Array) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """Nothing changes as it plays: only ``n``, to check a load against."""
        return {"kind": "noop", "n": self.n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Check ``state`` is a ``noop`` player's for the same ``n`` (else ValueError)."""
        got = (state.get("kind"), state.get("n")) if isinstance(state, dict) else state
        if got != ("noop", self.n):
            raise ValueError(
                f"noop player state: expected (kind, n) ('noop', {self.n}), got {got!r}"
            )


class RandomPlayer:
    """Uniform main stick, the c-stick now and then, and a few random button presses per
    second; seeded."""

    label = "random"

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)

    def act(self, frames: Frames, rows: Array | None = None) -> Controls:
        r = self.rng
        k = self.n if rows is None else len(rows)
        f32 = np.float32
        buttons = (r.integers(0, 256, k) * (r.random(k) < 0.08)).astype(np.uint8)
        return Controls(
            r.uniform(-1, 1, k).astype(f32),
            r.uniform(-1, 1, k).astype(f32),
            (r.uniform(-1, 1, k) * (r.random(k) < 0.05)).astype(f32),
            np.zeros(k, f32),
            np.zeros(k, f32),
            buttons,
        )

    def end_games(self, done: Array) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """``n`` and the generator's ``bit_generator.state`` (a dict of str and int, which
        ``torch.load(weights_only=True)`` reads back)."""
        return {"kind": "random", "n": self.n, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the generator: the following ``act`` calls draw exactly what the saved
        player's would. ``n`` and the bit generator must match (else ValueError)."""
        got = (state.get("kind"), state.get("n")) if isinstance(state, dict) else state
        if got != ("random", self.n):
            raise ValueError(
                f"random player state: expected (kind, n) ('random', {self.n}), got {got!r}"
            )
        rng = state.get("rng")
        name = type(self.rng.bit_generator).__name__
        if not isinstance(rng, dict) or rng.get("bit_generator") != name:
            bg = rng.get("bit_generator") if isinstance(rng, dict) else rng
            raise ValueError(f"random player state: rng must be a {name} state, got {bg!r}")
        try:
            self.rng.bit_generator.state = rng
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"random player state: rng is not a valid {name} state: {exc}"
            ) from None


class CpuPlayer:
    """The scripted CPU at one level for ``N`` games on ``port``."""

    def __init__(self, level: int, n: int, port: int, seed: int = 0) -> None:
        from exphil.envs.cpu import ScriptedCpu

        self.label = f"cpu:{level}"
        self.port = port
        self.cpu = ScriptedCpu(level, n, seed=seed)

    def act(self, frames: Frames, rows: Array | None = None) -> Controls:
        # the CPU keeps per-game plans: it reads every game each frame, and we keep the rows
        out = self.cpu.act(frames, self.port)
        return out if rows is None else out.take(rows)

    def end_games(self, done: Array) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """The port and the scripted CPU's state (:meth:`ScriptedCpu.state_dict`)."""
        return {"kind": "cpu", "port": self.port, "cpu": self.cpu.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the CPU's plans and seeds; the port, ``n`` and level must match."""
        got = (state.get("kind"), state.get("port")) if isinstance(state, dict) else state
        if got != ("cpu", self.port):
            raise ValueError(
                f"cpu player state: expected (kind, port) ('cpu', {self.port}), got {got!r}"
            )
        self.cpu.load_state_dict(state["cpu"])


class AgentPlayer:
    """A policy (an :class:`~exphil.agent.Agent`) as a player."""

    def __init__(self, agent: Agent, label: str = "policy") -> None:
        self.agent = agent
        self.label = label

    def act(self, frames: Frames, rows: Array | None = None) -> Controls:
        if rows is None:
            return self.agent.act(frames)
        return self.agent.act(frames.take(rows), rows)

    def end_games(self, done: Array) -> None:
        self.agent.end_games(done)


def make_player(
    spec: PlayerSpec | str,
    n: int,
    port: int,
    *,
    seed: int = 0,
    character: Character | None = None,
    stage: Stage | None = None,
    device: str = "cpu",
    **agent_kw: Any,
) -> Player:
    """Build the player a spec names for ``n`` games on ``port``."""
    s = parse_player(spec) if isinstance(spec, str) else spec
    if s.kind == "cpu":
        return CpuPlayer(s.level, n, port, seed=seed)
    if s.kind == "random":
        return RandomPlayer(n, seed=seed)
    if s.kind == "noop":
        return NoopPlayer(n)
    if s.kind == "human":
        raise ValueError("a human plays on a GameCube controller, not as a player here")
    assert s.path is not None
    try:
        agent = Agent.from_file(
            s.path,
            n,
            port,
            character=character,
            stage=stage,
            seed=seed,
            device=device,
            **agent_kw,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return AgentPlayer(agent, label=policy_label(s.path))
