"""``GameEnv``: the one interface every environment implements.

One small interface with adapters behind it (in the style of httpx transports): the vectorized
mock (:class:`~exphil.envs.MockEnv`), a scripted fake for unit tests
(:class:`~exphil.envs.ScriptedEnv`), and Dolphin later. Agents, evaluation and training loops
take a ``GameEnv`` and never know which one it is.

The contract
------------
* ``n`` games are stepped together, on one ``stage``, with fixed ``characters`` (port 0's,
  port 1's): what a policy checks for compatibility.
* ``reset()`` starts every game over and returns frame 0 of each (one ``Frames`` row per game).
* ``step(p0, p1)`` applies port 0's and port 1's :class:`~exphil.game.Controls` (``n`` rows
  each) to every game and returns a :class:`StepResult`. Bad controls raise ``ValueError``
  naming the column (``"port 1's controls.main_x has NaN"``), or ``TypeError`` if they are
  not ``Controls``, and change nothing.
* **Auto-reset**: a game that ends on a step is restarted on that same step. Its row of
  ``StepResult.frames`` is already frame 0 of the next game; its last frame is in
  ``final_frames`` (one row per ended game, in game order) and its :class:`GameOutcome` in
  ``results`` (same order). The reward of its last step is in ``reward``.
* A game ends either by its rules (``terminated``: a stock-out) or by the time limit
  (``truncated``: PPO bootstraps from the value of the final frame there). Never both: a
  game that ends by its rules on the time limit's frame is terminated.
* ``statistics()`` returns counters since construction (:class:`EnvStatistics`).
* ``close()`` releases what the env holds (processes, sockets); it may be called more than
  once. A closed env is not stepped again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import msgspec
import numpy as np

from exphil.game.controls import Controls
from exphil.game.frames import Frames
from exphil.game.ids import Character, Stage

__all__ = ["GameEnv", "StepResult", "GameOutcome", "EnvStatistics"]

Array = np.ndarray[Any, Any]


class GameOutcome(msgspec.Struct, frozen=True):
    """How one game ended. ``winner`` is the winning port (0 or 1), or -1 for a draw;
    ``reason`` says what ended it: ``"stocks"`` (the mock's rules), ``"edge"`` (the scripted
    env's rule) or ``"timeout"`` (the time limit: the game was truncated)."""

    game: int  # index of the game in the batch
    winner: int
    reason: str
    frames: int  # the game's length: frames stepped since its frame 0
    stocks: tuple[int, int]
    percent: tuple[float, float]


@dataclass(frozen=True, slots=True, eq=False)
class StepResult:
    """What one ``GameEnv.step`` returns (see the module docstring for auto-reset).

    ``frames``: the current frame of every game (``n`` rows; for a game that just ended,
    already frame 0 of the next one). ``reward``: ``[n, 2]`` float32, per port.
    ``terminated`` / ``truncated``: ``[n]`` bool, the game ended by its rules / by the time
    limit on this step. ``final_frames``: the last frame of each ended game (rows in game
    order), None when no game ended. ``results``: one :class:`GameOutcome` per ended game, in
    game order.
    """

    frames: Frames
    reward: Array
    terminated: Array
    truncated: Array
    final_frames: Frames | None
    results: tuple[GameOutcome, ...]

    @property
    def done(self) -> Array:
        """``[n]`` bool: the game ended on this step (``terminated | truncated``)."""
        out: Array = self.terminated | self.truncated
        return out


@dataclass(frozen=True, slots=True)
class EnvStatistics:
    """Counters since an env was built.

    ``games``: games stepped together (``n``); ``steps``: calls to ``step``;
    ``frames_stepped``: frames over all games (``steps * n``); ``games_finished`` =
    ``games_terminated + games_truncated`` = ``port0_wins + port1_wins + draws``;
    ``game_frames``: the summed lengths of the finished games.
    """

    games: int
    steps: int = 0
    frames_stepped: int = 0
    games_finished: int = 0
    games_terminated: int = 0
    games_truncated: int = 0
    port0_wins: int = 0
    port1_wins: int = 0
    draws: int = 0
    game_frames: int = 0

    @property
    def mean_game_frames(self) -> float:
        """The mean length of a finished game in frames (0.0 before any has finished)."""
        return self.game_frames / self.games_finished if self.games_finished else 0.0


@runtime_checkable
class GameEnv(Protocol):
    """``n`` two-player games stepped together (see the module docstring for the contract).

    ``isinstance(env, GameEnv)`` checks that the members exist (not their signatures).
    """

    @property
    def n(self) -> int:
        """Games stepped together."""
        ...

    @property
    def stage(self) -> Stage: ...

    @property
    def characters(self) -> tuple[Character, Character]:
        """Port 0's and port 1's characters."""
        ...

    def reset(self) -> Frames:
        """Start every game over; frame 0 of each."""
        ...

    def step(self, p0: Controls, p1: Controls) -> StepResult:
        """Apply port 0's and port 1's controls to every game."""
        ...

    def statistics(self) -> EnvStatistics: ...

    def close(self) -> None: ...


def check_controls(p0: Controls, p1: Controls, n: int, *, finite: bool = True) -> None:
    """Both ports' controls for ``n`` games, or ``TypeError`` / ``ValueError`` naming the port
    and the column (what every ``GameEnv.step`` does first). ``finite=False`` leaves out the
    NaN/infinity check, for an env that checks the values as it reads them (and calls this
    again with ``finite=True`` for the message)."""
    for p, c in enumerate((p0, p1)):
        if not isinstance(c, Controls):
            raise TypeError(f"port {p}'s controls must be Controls, got {type(c).__name__}")
        c.validate(n, f"port {p}'s controls", finite=finite)


class Counters:
    """The mutable counters behind :class:`EnvStatistics`, for env implementations."""

    __slots__ = ("n", "steps", "terminated", "truncated", "wins", "game_frames")

    def __init__(self, n: int) -> None:
        self.n = n
        self.steps = 0
        self.terminated = 0
        self.truncated = 0
        self.wins = [0, 0, 0]  # port 0, port 1, draws
        self.game_frames = 0

    def count(self, outcome: GameOutcome, terminated: bool) -> None:
        if terminated:
            self.terminated += 1
        else:
            self.truncated += 1
        self.wins[outcome.winner if outcome.winner >= 0 else 2] += 1
        self.game_frames += outcome.frames

    def snapshot(self) -> EnvStatistics:
        return EnvStatistics(
            games=self.n,
            steps=self.steps,
            frames_stepped=self.steps * self.n,
            games_finished=self.terminated + self.truncated,
            games_terminated=self.terminated,
            games_truncated=self.truncated,
            port0_wins=self.wins[0],
            port1_wins=self.wins[1],
            draws=self.wins[2],
            game_frames=self.game_frames,
        )
