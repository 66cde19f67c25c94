"""Faults during a run: GameRunners killed every couple of seconds, a worker process
SIGKILLed mid-run, then paused (SIGSTOP) past the heartbeat timeout and resumed. The run
finishes, training progressed, the restarts and the dead worker are reported, and the
collector's sequence-id audit shows nothing lost or counted twice."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import anyio
import pytest

from exphil.selfplay import WorkerShared, serve_learner

from .actors import inprocess_worker, kill_a_runner, new_learner, small_config, worker_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_runner_kills_and_a_sigkilled_worker_lose_nothing(
    tmp_path: Path, anyio_backend: str
) -> None:
    # the run ends when the chaos is over and it has trained on (`stop`), never before: with a
    # fixed number of updates, a loaded machine's slow worker restart let the run end first
    # and the pause signalled a process that had exited
    config = small_config(tmp_path, max_updates=10_000, batch_games=16)
    shared = new_learner(config)
    stop = threading.Event()
    ready = anyio.Event()
    endpoint: list[str] = []
    stop_worker = anyio.Event()
    kills: list[float] = []
    sigkilled: list[int] = []
    stopped: list[int] = []
    workers: list[WorkerShared] = []

    def on_ready(ep: str, metrics: str | None) -> None:
        endpoint.append(ep)
        ready.set()

    async def chaos_in_worker() -> None:
        # kill one of this worker's two runners every ~1.5 s, alternating
        i = 0
        while True:
            await anyio.sleep(1.5)
            if shared.version >= 1 and await kill_a_runner(i % 2):
                kills.append(time.monotonic())
                i += 1

    async def sigkill_the_process_worker() -> None:
        while shared.version < 4 or "worker-0" not in shared.workers:  # noqa: ASYNC110
            await anyio.sleep(0.1)
        pid = shared.workers["worker-0"].pid
        joins = shared.workers["worker-0"].joins  # (1, or more: a slow start may rejoin)
        os.kill(pid, signal.SIGKILL)
        sigkilled.append(pid)
        # its process is restarted and joins again (a new pid: waiting on the join count
        # alone let a loaded machine pause the killed pid); then pause it past the heartbeat
        # timeout
        while (  # noqa: ASYNC110
            shared.workers["worker-0"].joins <= joins or shared.workers["worker-0"].pid == pid
        ):
            await anyio.sleep(0.1)
        await anyio.sleep(1.0)
        while True:
            pid, joins = shared.workers["worker-0"].pid, shared.workers["worker-0"].joins
            try:
                os.kill(pid, signal.SIGSTOP)
                break
            except ProcessLookupError:  # it went down again meanwhile: pause its next process
                while shared.workers["worker-0"].joins <= joins:  # noqa: ASYNC110
                    await anyio.sleep(0.1)
        await anyio.sleep(2.5)
        os.kill(pid, signal.SIGCONT)
        stopped.append(pid)
        # it rejoins by itself (checked below); then the run trains on a few updates and stops
        with anyio.move_on_after(30):
            while shared.workers["worker-0"].joins <= joins:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        resumed = shared.version
        while shared.version < max(resumed + 5, 30):  # noqa: ASYNC110
            await anyio.sleep(0.1)
        stop.set()

    async with anyio.create_task_group() as tg:

        async def learner() -> None:
            await serve_learner(
                shared, workers=1, on_ready=on_ready, stop=stop,
                worker_argv_for=lambda ep, name: worker_argv(ep, name, config),
            )  # fmt: skip
            stop_worker.set()

        tg.start_soon(learner)
        await ready.wait()
        tg.start_soon(lambda: inprocess_worker(
            endpoint[0], "inproc", config=config, until=stop_worker, chaos=chaos_in_worker,
            shared_out=workers,
        ))  # fmt: skip
        tg.start_soon(sigkill_the_process_worker)
        with anyio.fail_after(200):
            await stop_worker.wait()
        tg.cancel_scope.cancel()

    c = shared.queue.collector
    stats = c.statistics()
    # training went on through the chaos and after it, and the run stopped cleanly
    assert shared.version >= 30 and stop.is_set(), shared.error
    assert shared.finished and not shared.error
    # nothing lost or duplicated: every stream's accepted chunks are 0, 1, 2, ...
    assert stats.duplicates == 0 and stats.gaps == 0, stats
    for stream, seqs in c.accepted_seqs.items():
        assert seqs == list(range(len(seqs))), (stream, seqs)
    assert stats.bad == 0
    # the runner kills were restarts, counted on the worker and reported to the learner
    assert len(kills) >= 3
    assert workers[0].runner_restarts >= len(kills) - 1
    assert workers[0].chunks_dropped >= 1
    runner_streams = {s.rsplit("/", 1)[0] for s in c.accepted_seqs if s.startswith("inproc/")}
    assert len([s for s in c.accepted_seqs if s.startswith("inproc/")]) > len(runner_streams)
    # the SIGKILLed worker was detected, its process restarted and joined again
    kinds = [e["kind"] for e in shared.events]
    assert sigkilled and "worker_down" in kinds, kinds
    assert shared.workers["worker-0"].joins >= 2, shared.workers["worker-0"]
    # the paused (SIGSTOP) worker was declared down, then came back by itself (SIGCONT)
    assert stopped and kinds.count("worker_down") >= 2, kinds
    assert shared.workers["worker-0"].joins >= 3, shared.workers["worker-0"]
    # each game result counted once
    assert shared.match.duplicates == 0
    assert shared.match.results > 0
    # the checkpoint, population and ratings are in the run folder
    run_dir = shared.run.directory
    assert (run_dir / "last.safetensors").exists() and (run_dir / "ratings.json").exists()
    assert list((run_dir / "population").glob("v*.safetensors"))
