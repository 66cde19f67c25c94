"""Faults inside one worker node: an env that hangs past ``nodes.step_timeout`` and an env
that raises. The runner is restarted with a fresh env and counted; the run goes on."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from exphil.envs import GameEnv, ScriptedEnv
from exphil.selfplay import SelfPlayConfig, WorkerShared, serve_learner
from exphil.selfplay._runners import default_env
from exphil.wire import METRICS_TYPES, Event, Metrics
from supervisors.remote import Subscriber

from .actors import inprocess_worker, new_learner, small_config

pytestmark = pytest.mark.timeout(120)


class FaultyEnv:
    """Wraps the mock: its ``fail_at``-th step hangs (``hang``) or raises."""

    def __init__(self, inner: GameEnv, fail_at: int, hang: bool, release: threading.Event):
        self.inner, self.fail_at, self.hang, self.release = inner, fail_at, hang, release
        self.steps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def step(self, p0: Any, p1: Any) -> Any:
        self.steps += 1
        if self.steps == self.fail_at:
            if self.hang:
                self.release.wait(30)  # a stuck env (the runner gives up on it)
            else:
                raise RuntimeError("the env broke")
        return self.inner.step(p0, p1)


@pytest.mark.parametrize(
    ("anyio_backend", "hang"), [("asyncio", True), ("trio", False)],
    ids=["hung-env-asyncio", "raising-env-trio"],
)  # fmt: skip
async def test_a_broken_env_restarts_its_runner_and_the_run_goes_on(
    tmp_path: Path, anyio_backend: str, hang: bool
) -> None:
    base = small_config(tmp_path, max_updates=5)
    nodes = msgspec.structs.replace(base.nodes, step_timeout=0.5)
    config = msgspec.structs.replace(base, nodes=nodes)
    shared = new_learner(config)
    release = threading.Event()
    made: list[int] = []

    def factory(k: int, seed: int, cfg: SelfPlayConfig) -> Any:
        made.append(k)
        first = len(made) == 1  # only the first env breaks (on its 20th step)
        return FaultyEnv(default_env(k, seed, cfg), 20 if first else -1, hang, release)

    ready, stop = anyio.Event(), anyio.Event()
    endpoint: list[str] = []
    workers: list[WorkerShared] = []

    metrics_ep: list[str] = []
    received: list[Any] = []

    def on_ready(ep: str, metrics: str | None) -> None:
        endpoint.append(ep)
        assert metrics is not None
        metrics_ep.append(metrics)
        ready.set()

    async def dashboard() -> None:  # what the Textual dashboard will subscribe to
        with Subscriber(metrics_ep[0], types=METRICS_TYPES) as sub:
            async for _topic, value in sub:
                received.append(value)

    async with anyio.create_task_group() as tg:

        async def learner() -> None:
            await serve_learner(shared, workers=0, on_ready=on_ready)
            stop.set()

        tg.start_soon(learner)
        await ready.wait()
        tg.start_soon(dashboard)
        tg.start_soon(lambda: inprocess_worker(
            endpoint[0], "w", config=config, until=stop, shared_out=workers,
            env_factory=factory,
        ))  # fmt: skip
        with anyio.fail_after(90):
            await stop.wait()
        release.set()
        tg.cancel_scope.cancel()
    assert shared.version == config.max_updates and not shared.error
    assert workers[0].runner_restarts == 1
    assert workers[0].chunks_dropped >= 1 and workers[0].frames_dropped > 0  # (+ at shutdown)
    assert len(made) == config.nodes.runners + 1  # one fresh env for the restarted runner
    s = shared.queue.collector.statistics()
    assert s.duplicates == 0 and s.gaps == 0
    # the metrics went out on the PUB socket: snapshots with the worker, events with the restart
    snaps = [m for m in received if isinstance(m, Metrics)]
    assert snaps and snaps[-1].version >= 1, received
    assert any(w.name == "w" and w.up for m in snaps for w in m.workers)
    assert any(m.leaderboard for m in snaps) and any(m.losses for m in snaps)
    assert any(isinstance(e, Event) and e.kind == "checkpoint" for e in received)


async def test_games_truncated_apart_are_valued_from_their_own_last_frame(
    tmp_path: Path, anyio_backend: str
) -> None:
    """Regression: a runner whose games hit the time limit on different frames (only some of
    its games end on a step) bootstraps each truncated game from its own final frame (the
    runner crashed with IndexError, or valued another game's frame)."""
    config = small_config(tmp_path, max_updates=3)
    shared = new_learner(config)
    limits = [5, 7, 9, 11]

    def factory(k: int, seed: int, cfg: SelfPlayConfig) -> Any:
        return ScriptedEnv(k, time_limit=limits[:k], edge=1e9)

    ready, stop = anyio.Event(), anyio.Event()
    endpoint: list[str] = []
    workers: list[WorkerShared] = []
    chunks: list[Any] = []
    offer = shared.queue.collector.offer

    def spy(chunk: Any) -> str:
        chunks.append(chunk)
        return offer(chunk)

    shared.queue.collector.offer = spy  # type: ignore[method-assign]

    def on_ready(ep: str, metrics: str | None) -> None:
        endpoint.append(ep)
        ready.set()

    async with anyio.create_task_group() as tg:

        async def learner() -> None:
            await serve_learner(shared, workers=0, on_ready=on_ready)
            stop.set()

        tg.start_soon(learner)
        await ready.wait()
        tg.start_soon(lambda: inprocess_worker(
            endpoint[0], "w", config=config, until=stop, shared_out=workers, env_factory=factory,
        ))  # fmt: skip
        with anyio.fail_after(60):
            await stop.wait()
        tg.cancel_scope.cancel()
    assert shared.version == config.max_updates and not shared.error
    assert workers[0].runner_restarts == 0
    truncated = [c for c in chunks if c.truncated.any()]
    assert truncated
    for c in truncated:  # a value where a game was cut, nothing elsewhere
        assert (c.final_values[c.truncated == 1] != 0).all()
        assert (c.final_values[c.truncated == 0] == 0).all()
