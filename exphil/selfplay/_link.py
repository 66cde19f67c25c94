"""The Link: a worker node's membership in the run (joins, receives weights, reports its
health, fetches opponent mixes); see ``exphil.selfplay._worker``."""

from __future__ import annotations

import functools
import os
import socket
import time
from typing import Any

import anyio
import msgspec
import structlog
import torch

from exphil._version import __version__
from exphil.errors import UserError
from exphil.nets import Policy
from exphil.selfplay._config import SelfPlayConfig
from exphil.selfplay._dolphin import DolphinEnvFactory, resolve_dolphin
from exphil.selfplay._play import frozen_copy, load_weights
from exphil.selfplay._worker_shared import LEARNER, JoinRefused, WorkerShared
from exphil.wire import (
    PROTOCOL,
    GetMix,
    GetSnapshot,
    GetWeights,
    Join,
    MixEntry,
    OpponentMix,
    PolicyUpdate,
    Refused,
    Snapshot,
    Status,
    StatusReply,
    Welcome,
    WorkerReport,
)
from supervisors import Actor, From, call, cast
from supervisors.remote import (
    NodeDown,
    NodeUp,
    RemoteRef,
    current_node,
    monitor_nodes,
    wait_for_node,
)

__all__ = ["Link", "config_dict"]

log = structlog.get_logger("exphil.worker")


def config_dict(value: msgspec.Struct) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(value))
    return out


# --- Link ------------------------------------------------------------------------------------


class Link(Actor):
    """The node's membership in the run: joins, receives weights, reports, fetches mixes."""

    trap_exits = False

    def __init__(self, shared: WorkerShared, report_every: float = 1.0) -> None:
        self.shared = shared
        self.report_every = report_every
        self.learner = RemoteRef(LEARNER, "learner")
        self.population = RemoteRef(LEARNER, "population")
        self.version = 0
        self.last_frames = 0
        self.last_time = time.monotonic()
        self.joined_incarnation = 0
        self.learner_lost = False

    async def init(self) -> None:
        monitor_nodes()
        await wait_for_node(LEARNER, timeout=None)
        await self._join()
        self.start_soon(self._report_loop)

    async def _join(self) -> None:
        sh, opts = self.shared, self.shared.options
        own = opts.config
        req = Join(
            worker=opts.name,
            protocol=PROTOCOL,
            exphil_version=__version__,
            games=opts.games or 0,
            runners=opts.runners or 0,
            host=socket.gethostname(),
            pid=os.getpid(),
            env=None if own is None else config_dict(own.env),
            policy=None if own is None else config_dict(own.policy),
            heartbeat_interval=opts.heartbeat_interval,
        )
        answer = await call(self.learner, req, timeout=60.0)
        if isinstance(answer, Refused):
            sh.exit_reason = answer.reason
            raise JoinRefused(answer.reason)
        assert isinstance(answer, Welcome)
        config = msgspec.json.decode(answer.config, type=SelfPlayConfig)
        if sh.config is None:
            await self._setup_env(config)
            sh.config = config
            policy = Policy(config.policy).eval()
            for p in policy.parameters():
                p.requires_grad_(False)
            load_weights(policy, answer.weights)
            sh.policy = policy
            sh.games = opts.games or config.nodes.games_per_worker
            sh.runners = (
                sh.games
                if config.is_dolphin
                else min(opts.runners or config.nodes.runners, sh.games)
            )
            if config.loss.teacher_kl > 0 and policy.initial_state(1, device=torch.device("cpu")):
                snap = await call(self.population, GetSnapshot(name="initial"), timeout=60.0)
                teacher = frozen_copy(policy)
                load_weights(teacher, snap.weights)
                sh.teacher = teacher
        sh.welcome = answer
        sh.incarnation = current_node().incarnation
        self.version = answer.version
        self.joined_incarnation += 1
        # a re-join (learner restarted) brings the learner's current weights
        if self.joined_incarnation > 1:
            await cast("inference", PolicyUpdate(version=answer.version, weights=answer.weights))
        log.info("worker.joined", worker=opts.name, run=answer.run, version=answer.version)

    async def _setup_env(self, config: SelfPlayConfig) -> None:
        """What this node plays the run's games on: the mock, or one Dolphin per runner.
        A worker that cannot play the run (another ``--env``, no Dolphin here) stops with a
        message (exit 2)."""
        sh, opts = self.shared, self.shared.options

        def refuse(why: str) -> None:
            sh.exit_reason, sh.setup_error = why, True
            raise JoinRefused(why)

        if opts.env_kind is not None and opts.env_kind != config.env_kind:
            refuse(
                f"this worker was started with --env {opts.env_kind} but the run plays "
                f"{config.env_kind} games"
            )
        if not config.is_dolphin:
            return
        games = opts.games or config.nodes.games_per_worker
        if opts.runners is not None and opts.runners != games:
            refuse(
                f"this worker plays Dolphin games: one runner per instance, so --runners "
                f"({opts.runners}) must equal its games ({games}); use --instances N"
            )
        if opts.env_factory is not None:  # tests inject their own
            return
        paths = opts.dolphin
        if paths is None:
            try:
                paths = await anyio.to_thread.run_sync(
                    functools.partial(
                        resolve_dolphin, *opts.dolphin_flags, probe=True, config=config
                    )
                )
            except UserError as exc:
                refuse(f"this worker cannot play the run's Dolphin games: {exc}")
        assert paths is not None
        sh.env_factory = DolphinEnvFactory(paths)
        log.info("worker.dolphin", dolphin=str(paths.dolphin), iso=str(paths.iso), games=games)

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, PolicyUpdate):
            if request.version > self.version:
                self.version = request.version
                await cast("inference", request)
        elif request == "need_mix":
            await self._refresh_mix()
        else:
            log.warning("worker.unexpected_cast", kind=type(request).__name__)

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "mix":
            return await self._fetch_mix()
        raise TypeError(f"Link got call {request!r}")

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, NodeDown) and message.node == LEARNER:
            log.warning("worker.learner_down", reason=message.reason)
            self.learner_lost = True
        elif isinstance(message, NodeUp) and message.node == LEARNER and self.learner_lost:
            self.learner_lost = False
            log.info("worker.learner_up")
            await self._join()
            await self._refresh_mix()

    async def _fetch_mix(self) -> tuple[list[MixEntry], dict[str, Policy]]:
        sh = self.shared
        assert sh.config is not None and sh.policy is not None
        mix = await call(
            self.population,
            GetMix(worker=sh.options.name, slots=sh.config.nodes.opponent_slots),
            timeout=60.0,
        )
        assert isinstance(mix, OpponentMix)
        policies: dict[str, Policy] = {}
        for e in mix.entries:
            if e.kind == "snapshot":
                snap = await call(self.population, GetSnapshot(name=e.name), timeout=60.0)
                assert isinstance(snap, Snapshot)
                p = frozen_copy(sh.policy)
                load_weights(p, snap.weights)
                policies[e.name] = p
        return list(mix.entries), policies

    async def _refresh_mix(self) -> None:
        entries, policies = await self._fetch_mix()
        await cast("inference", ("mix", entries, policies))

    async def _report_loop(self) -> None:
        while True:
            await anyio.sleep(self.report_every)
            stats = await call("inference", "stats", timeout=30.0)
            sh = self.shared
            now = time.monotonic()
            fps = (sh.frames - self.last_frames) / max(now - self.last_time, 1e-9)
            self.last_frames, self.last_time = sh.frames, now
            report = WorkerReport(
                worker=sh.options.name, games=sh.games, frames=sh.frames, fps=fps,
                games_finished=sh.games_finished, runner_restarts=sh.runner_restarts,
                chunks_sent=sh.chunks_sent, chunks_dropped=sh.chunks_dropped,
                frames_dropped=sh.frames_dropped, version=self.version, **stats,
            )  # fmt: skip
            if LEARNER not in current_node().nodes():
                continue
            try:
                reply = await call(self.learner, Status(report=report), timeout=10.0)
            except Exception as exc:  # the learner went away mid-call: try again next tick
                log.info("worker.status_failed", error=str(exc))
                continue
            assert isinstance(reply, StatusReply)
            if reply.stopping:  # the run is over
                if not sh.stopping and sh.on_run_over is not None:
                    sh.on_run_over()
                sh.stopping = True
                return
            if reply.version > self.version:  # a PolicyUpdate was lost: fetch the weights
                upd = await call(self.learner, GetWeights(have=self.version), timeout=60.0)
                if isinstance(upd, PolicyUpdate) and upd.version > self.version:
                    self.version = upd.version
                    await cast("inference", upd)
