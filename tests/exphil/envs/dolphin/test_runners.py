"""The runners' deadline accounting on a fake clock, the delay FIFO's pairing, and what the
real-time runner's controls look like when they reach libmelee's pipe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exphil.envs import ScriptedEnv
from exphil.envs.dolphin import (
    FRAME_SECONDS,
    DolphinConfig,
    DolphinEnv,
    LockstepRunner,
    PlayerConfig,
    RealtimeRunner,
    ReplayLink,
    ThreadDecider,
)
from exphil.game import Controls, Frames
from tests.exphil.envs.dolphin.conftest import capture_controllers, parse_pipe

MS = 0.001


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def advance_to(self, t: float) -> None:
        self.t = max(self.t, t)


class Emulator:
    """A ScriptedEnv whose frames arrive at 60 fps on the fake clock (``receive`` waits for
    the next one, or returns at once when it is already there)."""

    def __init__(self, clock: FakeClock, time_limit: int = 30) -> None:
        self.env = ScriptedEnv(1, time_limit=time_limit)
        self.clock = clock
        self.n = 1
        self._sent: tuple[Controls, Controls] | None = None
        self.k = 0
        self.start = 0.0

    def reset(self) -> Frames:
        self.start = self.clock.now()
        return self.env.reset()

    def send(self, p0: Controls, p1: Controls) -> None:
        self._sent = (p0, p1)

    def receive(self) -> Any:
        assert self._sent is not None
        self.k += 1
        self.clock.advance_to(self.start + self.k * FRAME_SECONDS)
        return self.env.step(*self._sent)

    def step(self, p0: Controls, p1: Controls) -> Any:
        return self.env.step(p0, p1)


class Counting:
    """Decision i is main_x = i / 100 (never neutral; distinct on the pipe up to 100);
    records end_games."""

    def __init__(self) -> None:
        self.i = 0
        self.ended = 0

    def act(self, frames: Frames) -> Controls:
        self.i += 1
        return Controls.full(1, main_x=min(self.i / 100, 1.0))

    def end_games(self, done: Any) -> None:
        self.ended += int(np.asarray(done).sum())


class SimulatedDecider:
    """One worker thread modelled on the fake clock: a decision starts when submitted or
    when the previous one is done, and takes ``cost(i)`` seconds."""

    def __init__(self, actor: Counting, clock: FakeClock, cost: Callable[[int], float]) -> None:
        self.actor, self.clock, self.cost = actor, clock, cost
        self.busy_until = 0.0
        self.n = 0

    def submit(self, frames: Frames) -> tuple[float, Controls]:
        done = max(self.clock.now(), self.busy_until) + self.cost(self.n)
        self.n += 1
        self.busy_until = done
        return done, self.actor.act(frames)

    def ready(self, ticket: tuple[float, Controls]) -> bool:
        return self.clock.now() >= ticket[0]

    def wait(self, ticket: tuple[float, Controls]) -> Controls:
        self.clock.advance_to(ticket[0])
        return ticket[1]

    def end_games(self, done: Any) -> None:
        self.actor.end_games(done)

    def close(self) -> None: ...


def realtime(
    delay: int, cost: Callable[[int], float], time_limit: int = 30
) -> tuple[RealtimeRunner, Counting]:
    clock = FakeClock()
    actor = Counting()
    runner = RealtimeRunner(
        Emulator(clock, time_limit),
        [actor, None],
        delay=delay,
        clock=clock,
        deciders=[SimulatedDecider(actor, clock, cost), None],
    )
    runner.sent = []
    return runner, actor


def test_delay_fifo_pairing_and_game_ends() -> None:
    runner, actor = realtime(3, lambda i: 1 * MS, time_limit=20)
    stats = runner.run(frames=45)
    assert runner.sent is not None
    sent = [round(float(c0.main_x[0]) * 100) for c0, _ in runner.sent]
    # game 1: steps 0..19 (decisions 1..20 on its frames 0..19); game 2 from step 20
    assert sent[:3] == [0, 0, 0] and sent[3:20] == list(range(1, 18))
    # decisions on game 1's last frames are dropped; game 2 starts neutral for 3 steps again
    assert sent[20:23] == [0, 0, 0] and sent[23] == 21
    assert (stats.frames, stats.games, stats.late_frames, stats.behind_frames) == (45, 2, 0, 0)
    assert actor.ended == 2
    assert stats.fps == pytest.approx(60, abs=1.5)


def test_the_delay_is_inference_slack() -> None:
    slow = lambda i: 40 * MS if i == 5 else 2 * MS  # noqa: E731
    runner, _ = realtime(3, slow)
    stats = runner.run(frames=25)
    assert stats.late_frames == 0  # 40 ms < 3 frames of slack
    runner, _ = realtime(0, slow)
    stats = runner.run(frames=25)
    assert stats.late_frames >= 1 and stats.waited_frames >= 1
    assert stats.worst_late_ms == pytest.approx(40 - 1000 / 60, abs=3)


def test_too_slow_an_agent_falls_behind() -> None:
    runner, _ = realtime(2, lambda i: 25 * MS, time_limit=10_000)
    stats = runner.run(frames=120)
    assert stats.late_frames > 100 and stats.behind_frames > 50
    assert stats.mean_fps == pytest.approx(40, rel=0.1)
    assert stats.late_fraction > 0.8


def test_lockstep_runner_and_thread_decider() -> None:
    env = ScriptedEnv(1, time_limit=15)
    a, b = Counting(), Counting()
    stats = LockstepRunner(env, [a, b]).run(games=3)
    assert (stats.games, sum(stats.score), a.ended, b.ended) == (3, 3, 3, 3)
    decider = ThreadDecider(Counting())
    tickets = [decider.submit(env.frames) for _ in range(5)]
    assert [round(float(decider.wait(t).main_x[0]) * 100) for t in tickets] == [1, 2, 3, 4, 5]
    decider.close()
    with pytest.raises(ValueError, match="at least one port"):
        LockstepRunner(env, [None, None])


def test_realtime_controls_reach_the_pipe(game_path: Path, tmp_path: Path) -> None:
    """The real-time runner's delayed decisions, through DolphinEnv and real libmelee
    controllers, are exactly the states libmelee's pipe protocol carries at each FLUSH."""
    controllers, readers, _console = capture_controllers(tmp_path, (1, 3))
    config = DolphinConfig(
        players=(
            PlayerConfig(port=1, character="fox"),
            PlayerConfig(port=3, character="pichu", kind="cpu"),
        ),
        stage="fd",
    )
    env = DolphinEnv(config, link=ReplayLink([game_path], controllers))
    clock = FakeClock()
    actor = Counting()
    runner = RealtimeRunner(
        env,
        [actor, None],
        delay=2,
        clock=clock,
        deciders=[SimulatedDecider(actor, clock, lambda i: 1 * MS), None],
    )
    runner.sent = []
    runner.run(frames=100)
    env.close()
    for c in controllers.values():
        c.disconnect()
    flushes = parse_pipe(readers[1].text())
    from melee.controller import fix_analog_stick, fix_analog_trigger

    want = [
        {
            "buttons": frozenset(c0.pressed(0)),
            "MAIN": (fix_analog_stick((float(c0.main_x[0]) + 1) / 2), fix_analog_stick(0.5)),
            "C": (fix_analog_stick(0.5), fix_analog_stick(0.5)),
            "L": fix_analog_trigger(0.0),
            "R": fix_analog_trigger(0.0),
        }
        for c0, _ in runner.sent
    ]
    # reset's Console.step and the GAME_START release flush first, then one FLUSH per step
    assert len(flushes) == 2 + 100
    assert fix_analog_stick((0.01 + 1) / 2) != fix_analog_stick(0.5)
    assert flushes[2:] == want
    assert [round(f["MAIN"][0], 3) for f in flushes[2:5]] == [
        round(fix_analog_stick(0.5), 3)
    ] * 2 + [round(fix_analog_stick((0.01 + 1) / 2), 3)]
    assert len(parse_pipe(readers[3].text())) == 2 + 100  # the CPU's pipe: flushed, neutral
