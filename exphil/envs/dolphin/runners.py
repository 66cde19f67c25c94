"""Runners: play games on an env with one or two actors, and account for time.

* :class:`LockstepRunner`: each step, every actor decides on the current frame, then the env
  steps. The emulator waits for the agent (``DolphinConfig.blocking_input``): self-play,
  evaluation. Any :class:`~exphil.envs.GameEnv` with ``n == 1`` works.
* :class:`RealtimeRunner`: the emulator runs at 60 fps on its own. The actors decide in a
  worker thread each (:class:`ThreadDecider`), and the reaction delay is the slack: the
  decision made on frame ``t`` is sent at step ``t + delay`` (neutral for the first
  ``delay`` steps of a game, exactly the pairing of :class:`~exphil.agent.Agent` with that
  delay: give the runner actors that decide with no delay of their own), so inference has
  ``delay`` frames to finish instead of one. Each step's controls must be sent by the
  step's deadline, ``budget`` seconds (one frame) after its frame arrived; later sends are
  **late** (counted, with the worst lateness). A decision not ready at send time is waited
  for (so the controls sent are always the same as in lockstep, only late).

  A frame's arrival is when ``receive`` returned if it had to wait for it; when it returned
  at once the frame was already queued (we were behind), and its arrival is taken as one
  frame after the previous one.

The clock is injected (:class:`Clock`; tests pass a fake one), and so are the deciders.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from exphil.envs._protocol import StepResult
from exphil.game.controls import Controls
from exphil.game.frames import Frames

__all__ = [
    "FRAME_SECONDS",
    "Actor",
    "Clock",
    "Decider",
    "LockstepRunner",
    "MonotonicClock",
    "RealtimeRunner",
    "RunnerStatistics",
    "ThreadDecider",
]

Array = np.ndarray[Any, Any]

FRAME_SECONDS = 1.0 / 60.0
_WAITED = 0.0005  # a receive that took longer than this waited for its frame


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic."""
        ...


class MonotonicClock:
    def now(self) -> float:
        return time.perf_counter()


class Actor(Protocol):
    """What plays a port: an :class:`~exphil.agent.Agent` or any
    :class:`~exphil.players.Player`."""

    def act(self, frames: Frames) -> Controls: ...
    def end_games(self, done: Array) -> None: ...


class Decider(Protocol):
    """An actor's decisions, made in order (maybe in another thread)."""

    def submit(self, frames: Frames) -> Any:
        """Start deciding on ``frames``; a ticket for :meth:`wait`."""
        ...

    def ready(self, ticket: Any) -> bool: ...
    def wait(self, ticket: Any) -> Controls: ...
    def end_games(self, done: Array) -> None:
        """The actor's games ended (ordered after every decision submitted so far)."""
        ...

    def close(self) -> None: ...


class ThreadDecider:
    """An actor deciding in one worker thread (torch releases the GIL)."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exphil-decide")

    def submit(self, frames: Frames) -> Future[Controls]:
        return self._pool.submit(self.actor.act, frames)

    def ready(self, ticket: Future[Controls]) -> bool:
        return ticket.done()

    def wait(self, ticket: Future[Controls]) -> Controls:
        return ticket.result()

    def end_games(self, done: Array) -> None:
        self._pool.submit(self.actor.end_games, done).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class RunnerStatistics:
    """Counters since the runner started. ``fps``: frames per second over the last
    second of clock time (``mean_fps`` over the whole run); ``late_frames``: sends after
    their deadline (real-time only), the worst by ``worst_late_ms``; ``waited_frames``:
    sends that had to wait for a decision; ``behind_frames``: frames that were already
    queued when we asked for them. ``score``: port 0's wins, port 1's wins, draws."""

    frames: int = 0
    games: int = 0
    score: tuple[int, int, int] = (0, 0, 0)
    late_frames: int = 0
    worst_late_ms: float = 0.0
    waited_frames: int = 0
    behind_frames: int = 0
    fps: float = 0.0
    mean_fps: float = 0.0
    seconds: float = 0.0

    @property
    def late_fraction(self) -> float:
        return self.late_frames / self.frames if self.frames else 0.0


class _Stats:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.start = clock.now()
        self.frames = 0
        self.games = 0
        self.score = [0, 0, 0]
        self.late = 0
        self.worst_late = 0.0
        self.waited = 0
        self.behind = 0
        self.times: collections.deque[float] = collections.deque(maxlen=600)

    def frame(self, result: StepResult) -> None:
        self.frames += 1
        self.times.append(self.clock.now())
        for outcome in result.results:
            self.games += 1
            self.score[outcome.winner if outcome.winner >= 0 else 2] += 1

    def snapshot(self) -> RunnerStatistics:
        now = self.clock.now()
        recent = [t for t in self.times if t >= now - 1.0]
        span = now - self.start
        return RunnerStatistics(
            frames=self.frames,
            games=self.games,
            score=(self.score[0], self.score[1], self.score[2]),
            late_frames=self.late,
            worst_late_ms=self.worst_late * 1000.0,
            waited_frames=self.waited,
            behind_frames=self.behind,
            fps=float(len(recent)) if span >= 1.0 else (len(recent) / span if span > 0 else 0.0),
            mean_fps=self.frames / span if span > 0 else 0.0,
            seconds=span,
        )


OnStep = Callable[[StepResult, RunnerStatistics], None]


def _actors(actors: Sequence[Actor | None]) -> tuple[Actor | None, Actor | None]:
    if len(actors) != 2:
        raise ValueError(
            f"actors: one per port (port 0's, port 1's; None for none), got {len(actors)}"
        )
    if actors[0] is None and actors[1] is None:
        raise ValueError("actors: at least one port needs an actor")
    return actors[0], actors[1]


class _Runner:
    def __init__(self, env: Any, actors: Sequence[Actor | None], clock: Clock | None) -> None:
        if env.n != 1:
            raise ValueError(f"runners play one game at a time, the env has n={env.n}")
        self.env = env
        self.actors = _actors(actors)
        self.clock: Clock = clock or MonotonicClock()
        self._stats = _Stats(self.clock)

    def statistics(self) -> RunnerStatistics:
        return self._stats.snapshot()

    def _stop(self, games: int | None, frames: int | None) -> bool:
        s = self._stats
        return (games is not None and s.games >= games) or (
            frames is not None and s.frames >= frames
        )


class LockstepRunner(_Runner):
    """Every actor decides on the current frame, then the env steps (no deadlines)."""

    def __init__(
        self, env: Any, actors: Sequence[Actor | None], *, clock: Clock | None = None
    ) -> None:
        super().__init__(env, actors, clock)

    def run(
        self, *, games: int | None = None, frames: int | None = None, on_step: OnStep | None = None
    ) -> RunnerStatistics:
        """Play until ``games`` games ended or ``frames`` steps (None: no limit)."""
        current = self.env.reset()
        neutral = Controls.neutral(1)
        while not self._stop(games, frames):
            c = [a.act(current) if a is not None else neutral for a in self.actors]
            result = self.env.step(c[0], c[1])
            self._stats.frame(result)
            if result.done.any():
                for a in self.actors:
                    if a is not None:
                        a.end_games(result.done)
            current = result.frames
            if on_step is not None:
                on_step(result, self._stats.snapshot())
        return self._stats.snapshot()


class RealtimeRunner(_Runner):
    """60 fps play with the reaction delay as inference slack (see the module docstring).

    ``env`` needs ``send(p0, p1)`` and ``receive()`` (:class:`DolphinEnv` has them).
    ``deciders``: one per actor (default a :class:`ThreadDecider` each)."""

    def __init__(
        self,
        env: Any,
        actors: Sequence[Actor | None],
        *,
        delay: int,
        clock: Clock | None = None,
        deciders: Sequence[Decider | None] | None = None,
        budget: float = FRAME_SECONDS,
    ) -> None:
        super().__init__(env, actors, clock)
        if delay < 0:
            raise ValueError(f"delay must be >= 0 frames, got {delay}")
        if budget <= 0:
            raise ValueError(f"budget must be > 0 seconds, got {budget}")
        self.delay = delay
        self.budget = budget
        if deciders is None:
            deciders = [ThreadDecider(a) if a is not None else None for a in self.actors]
        if len(deciders) != 2 or any(
            (d is None) != (a is None) for d, a in zip(deciders, self.actors, strict=True)
        ):
            raise ValueError("deciders: one per actor, None where the actor is None")
        self.deciders = tuple(deciders)
        self._lines: tuple[collections.deque[Any], ...] = (collections.deque(), collections.deque())
        self.sent: list[tuple[Controls, Controls]] | None = None
        """When a list: every step's sent controls are appended (tests)."""

    def _submit(self, frames: Frames) -> None:
        for d, line in zip(self.deciders, self._lines, strict=True):
            if d is not None:
                line.append(d.submit(frames))

    def _controls(self) -> tuple[list[Controls], bool]:
        out, waited = [], False
        for d, line in zip(self.deciders, self._lines, strict=True):
            if d is None or len(line) <= self.delay:
                out.append(Controls.neutral(1))
                continue
            ticket = line.popleft()
            waited |= not d.ready(ticket)
            out.append(d.wait(ticket))
        return out, waited

    def _end_games(self, done: Array) -> None:
        for d, line in zip(self.deciders, self._lines, strict=True):
            if d is None:
                continue
            while line:  # decisions for frames after the game's end: waited for, dropped
                d.wait(line.popleft())
            d.end_games(done)

    def run(
        self, *, games: int | None = None, frames: int | None = None, on_step: OnStep | None = None
    ) -> RunnerStatistics:
        """Play until ``games`` games ended or ``frames`` steps (None: no limit)."""
        s, clock = self._stats, self.clock
        current = self.env.reset()
        arrival = clock.now()
        self._submit(current)
        try:
            while not self._stop(games, frames):
                c, waited = self._controls()
                sent_at = clock.now()
                late = sent_at - (arrival + self.budget)
                if late > 0:
                    s.late += 1
                    s.worst_late = max(s.worst_late, late)
                s.waited += waited
                self.env.send(c[0], c[1])
                if self.sent is not None:
                    self.sent.append((c[0], c[1]))
                before = clock.now()
                result = self.env.receive()
                after = clock.now()
                if after - before > _WAITED:
                    arrival = after
                else:
                    s.behind += 1
                    arrival = arrival + FRAME_SECONDS
                s.frame(result)
                if result.done.any():
                    self._end_games(result.done)
                    arrival = clock.now()  # menus in between: a new schedule
                self._submit(result.frames)
                if on_step is not None:
                    on_step(result, s.snapshot())
        finally:
            for d, line in zip(self.deciders, self._lines, strict=True):
                line.clear()
                if d is not None:
                    d.close()
        return s.snapshot()
