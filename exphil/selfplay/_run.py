"""Running a self-play job: the learner node in this process, local workers as child
processes (each a ``WorkerProcess`` actor: restarted when it dies), and ``run_worker`` for
``exphil worker``."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog

from exphil.nets import Policy
from exphil.selfplay._collector import Collector
from exphil.selfplay._config import SelfPlayConfig
from exphil.selfplay._learner import Learner, LearnerShared
from exphil.selfplay._metrics import MetricsPublisher
from exphil.selfplay._population import Population
from exphil.selfplay._ratings import Ratings, default_anchors
from exphil.selfplay._services import (
    BatchQueue,
    ExperienceCollector,
    Matchmaker,
    MatchStats,
    PopulationManager,
)
from exphil.selfplay._worker import worker_tree
from exphil.selfplay._worker_shared import LEARNER, WorkerOptions, WorkerShared
from exphil.train import ResumePoint, Run
from exphil.wire import TYPES
from supervisors import Actor, ChildSpec, Restart, Runtime, StopActor, Supervisor, run
from supervisors.remote import Bind, Connect, Node, current_node

__all__ = [
    "SelfPlayResult",
    "WorkerProcess",
    "learner_shared",
    "run_selfplay",
    "run_worker",
    "serve_learner",
]

log = structlog.get_logger("exphil.selfplay")


@dataclass
class SelfPlayResult:
    shared: LearnerShared
    endpoint: str
    metrics_endpoint: str | None
    seconds: float
    interrupted: bool
    worker_exits: list[int] = field(default_factory=list)


def learner_shared(
    config: SelfPlayConfig, run: Run[Any], resume: ResumePoint[Any] | None
) -> LearnerShared:
    """The learner node's shared objects for ``config`` (fresh, or as ``resume`` saved them)."""
    policy = Policy(config.policy)
    collector = Collector(
        config.games_per_batch, max_policy_lag=config.max_policy_lag, gamma=config.loss.gamma,
        dense_dim=policy.dense_dim, id_cols=len(policy.id_specs),
        normalize=config.loss.normalize_rewards,
    )  # fmt: skip
    cpu_levels = () if config.opponents.fixed else config.opponents.cpu_levels
    fixed_cpus = tuple(int(s[4:]) for s in config.opponents.fixed if s.startswith("cpu:"))
    ratings = Ratings(default_anchors(cpu_levels + fixed_cpus))
    return LearnerShared(
        config=config, run=run, resume=resume, queue=BatchQueue(collector),
        population=Population(run.directory, config.opponents, seed=config.seed),
        ratings=ratings, match=MatchStats(),
    )  # fmt: skip


class WorkerProcess(Actor):
    """One local worker OS process; it exiting while the run goes on is a crash (restarted
    by the supervisor, counted as a restart by the learner when it joins again)."""

    def __init__(self, argv: list[str], log_path: Path, shared: LearnerShared) -> None:
        self.argv, self.log_path, self.shared = argv, log_path, shared
        self.process: anyio.abc.Process | None = None

    async def init(self) -> None:
        starts = self.shared.process_starts.get(self.log_path.name, 0)
        self.shared.process_starts[self.log_path.name] = starts + 1
        if starts:  # a restart: back off a little, so a crash loop does not spin
            await anyio.sleep(min(0.5 * 2 ** (starts - 1), 5.0))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("ab")
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        self.process = await anyio.open_process(
            self.argv, stdout=self.log_file, stderr=self.log_file, env=env
        )
        self.start_soon(self._wait)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    async def _wait(self) -> None:
        assert self.process is not None
        code = await self.process.wait()
        if self.shared.finished or self.shared.stop_requested:
            raise StopActor()
        raise RuntimeError(f"worker process {self.pid} exited with status {code}")

    async def handle_call(self, request: Any, from_: Any) -> Any:
        if request == "pid":
            return self.pid
        raise TypeError(f"WorkerProcess got call {request!r}")

    async def terminate(self, reason: Any) -> None:
        p = self.process
        if p is not None and p.returncode is None:
            p.terminate()
            with anyio.move_on_after(5.0, shield=True):
                await p.wait()
            if p.returncode is None:
                p.kill()
        self.log_file.close()


def _learner_bind(config: SelfPlayConfig) -> list[Bind]:
    return [Bind(config.nodes.bind)]


def _keys(config: SelfPlayConfig) -> dict[str, Any]:
    k = config.nodes.keys
    if not k:
        return {}
    return {"keys": Path(k) / "learner.key_secret", "authorized_keys": Path(k) / "authorized"}


def worker_argv(endpoint: str, name: str, config: SelfPlayConfig) -> list[str]:
    n = config.nodes
    argv = [sys.executable, "-m", "exphil.cli", "worker", "--connect", endpoint, "--name", name,
            "--heartbeat-interval", f"{n.heartbeat_interval:g}",
            "--heartbeat-timeout", f"{n.heartbeat_timeout:g}"]  # fmt: skip
    if config.nodes.keys:
        argv += ["--keys", config.nodes.keys]
    if config.is_dolphin:  # this machine's paths (the learner checked them)
        argv += ["--env", "dolphin"]
        if config.dolphin.dolphin:
            argv += ["--dolphin", config.dolphin.dolphin]
        if config.dolphin.iso:
            argv += ["--iso", config.dolphin.iso]
    return argv


async def serve_learner(
    shared: LearnerShared,
    *,
    workers: int,
    stop: threading.Event | None = None,
    on_ready: Callable[[str, str | None], None] | None = None,
    worker_argv_for: Callable[[str, str], list[str]] | None = None,
) -> SelfPlayResult:
    """Run the learner node (and ``workers`` local worker processes) until the run ends."""
    config = shared.config
    t0 = time.monotonic()
    n = config.nodes
    metrics_bind = n.metrics_bind
    async with Runtime():
        learner_sup = Supervisor(
            [
                Node.spec(
                    LEARNER,
                    bind=_learner_bind(config),
                    types=TYPES,
                    heartbeat_interval=n.heartbeat_interval,
                    heartbeat_timeout=n.heartbeat_timeout,
                    **_keys(config),
                ),
                ChildSpec(
                    "population", lambda: PopulationManager(shared.population), name="population"
                ),
                ChildSpec(
                    "matchmaker",
                    lambda: Matchmaker(shared.ratings, shared.match),
                    name="matchmaker",
                ),
                ChildSpec("collector", lambda: ExperienceCollector(shared.queue), name="collector"),
                ChildSpec("learner", lambda: Learner(shared), name="learner", shutdown=30.0),
            ],
            strategy="one_for_one",
            max_restarts=10,
            max_seconds=60.0,
        )
        from supervisors import spawn

        sup = await spawn(learner_sup)
        endpoint = current_node().endpoints[0]
        if metrics_bind is None and endpoint.startswith("tcp://"):
            metrics_bind = endpoint.rsplit(":", 1)[0] + ":0"
        metrics = MetricsPublisher(shared, metrics_bind)
        await spawn(metrics, name="metrics")
        metrics_endpoint = metrics.endpoints[0] if metrics.endpoints else None
        shared.metrics_endpoint = metrics_endpoint
        if on_ready is not None:
            on_ready(endpoint, metrics_endpoint)
        argv_for = worker_argv_for or (lambda ep, name: worker_argv(ep, name, config))
        procs = Supervisor(
            [
                ChildSpec(
                    ("worker", i),
                    functools.partial(
                        WorkerProcess,
                        argv_for(endpoint, f"worker-{i}"),
                        shared.run.directory / "workers" / f"worker-{i}.log",
                        shared,
                    ),
                    restart=Restart.TRANSIENT,
                    shutdown=10.0,
                    name=f"worker-process-{i}",
                    start_timeout=None,
                )
                for i in range(workers)
            ],
            strategy="one_for_one",
            max_restarts=20,
            max_seconds=60.0,
        )
        procs_ref = await spawn(procs)
        interrupted = False
        while not shared.done.is_set():
            with anyio.move_on_after(0.2):
                await shared.done.wait()
            if stop is not None and stop.is_set() and not shared.stop_requested:
                interrupted = True
                shared.stop_requested = True
                shared.queue.close()
            if not sup.alive:
                shared.error = f"the learner node stopped: {sup.exit_reason!r}"
                break
            if workers and not procs_ref.alive:
                shared.error = (
                    "the local worker processes keep failing; see "
                    f"{shared.run.directory / 'workers'} for their logs"
                )
                break
        # workers see `stopping` in their next status reply (about a second) and exit 0
        with anyio.move_on_after(3 * n.heartbeat_interval + 2):
            while any(w.up for w in shared.workers.values()):  # noqa: ASYNC110 (polled state)
                await anyio.sleep(0.1)
        from supervisors import stop as stop_actor

        if procs_ref.alive:
            await stop_actor(procs_ref)
    return SelfPlayResult(shared, endpoint, metrics_endpoint, time.monotonic() - t0, interrupted)


def run_selfplay(
    shared: LearnerShared, *, workers: int, stop: threading.Event | None = None,
    on_ready: Callable[[str, str | None], None] | None = None,
    worker_argv_for: Callable[[str, str], list[str]] | None = None,
) -> SelfPlayResult:  # fmt: skip
    """:func:`serve_learner` on a fresh event loop (asyncio)."""
    return anyio.run(
        lambda: serve_learner(
            shared, workers=workers, stop=stop, on_ready=on_ready, worker_argv_for=worker_argv_for
        )
    )


def run_worker(connect: str, options: WorkerOptions, *, keys: str | None = None) -> tuple[int, str]:
    """``exphil worker``: run this process's worker node until the learner says the run is
    over (0), a signal stops it (130), or the learner refuses it or it cannot play the run's
    games (2, with the message)."""
    shared = WorkerShared(options, on_run_over=lambda: os.kill(os.getpid(), signal.SIGTERM))
    node_kw: dict[str, Any] = {}
    target: str | Connect = connect
    if keys:
        node_kw["keys"] = Path(keys) / "worker.key_secret"
        target = Connect(connect, server_key=Path(keys) / "learner.key")
    node = Node.spec(
        options.name, connect=[target], types=TYPES,
        heartbeat_interval=options.heartbeat_interval,
        heartbeat_timeout=options.heartbeat_timeout, **node_kw,
    )  # fmt: skip

    def refused() -> tuple[int, str]:
        why = shared.exit_reason
        return 2, why if shared.setup_error else f"the learner refused this worker: {why}"

    try:
        reason = run(lambda: worker_tree(shared, node))
    except Exception:
        if shared.exit_reason:  # refused at join: the tree could not start
            return refused()
        raise
    if shared.exit_reason:
        return refused()
    if shared.stopping:
        return 0, "the run is over"
    return 1, f"the worker stopped before the run ended ({reason!r}); see the log above"
