"""The Learner actor: PPO updates in a worker thread on batches from the collector, versioned
weights pushed to every worker, snapshots, ratings and checkpoints.

Its event loop stays free while torch trains (the update runs in ``anyio.to_thread``; torch
releases the GIL), so it keeps answering joins, status calls and heartbeats. Every
``checkpoint_every`` updates (and at the end, and on Ctrl-C) it saves ``RUN/last`` (policy,
optimizer, RNG, collector statistics, population, ratings); a Learner that crashes is
restarted by its supervisor from that checkpoint, and ``exphil selfplay --resume RUN``
continues from it in a new process.
"""

from __future__ import annotations

import copy
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import msgspec
import numpy as np
import structlog
import torch

from exphil._version import __version__
from exphil.nets import Policy, save_policy
from exphil.rl import Teacher, build_policy, gae, ppo_update
from exphil.selfplay._collector import Batch
from exphil.selfplay._config import SelfPlayConfig
from exphil.selfplay._play import frozen_copy, weights_of
from exphil.selfplay._population import Population
from exphil.selfplay._ratings import Ratings
from exphil.selfplay._services import BatchQueue, MatchStats
from exphil.train import Optimization, ResumePoint, Run, capture_rng, load_resume_point, restore_rng
from exphil.wire import (
    PROTOCOL,
    Control,
    ControlReply,
    Event,
    GetWeights,
    Join,
    PolicyUpdate,
    Refused,
    Status,
    StatusReply,
    UpdateRecord,
    Watch,
    Watching,
    Welcome,
    WorkerReport,
)
from supervisors import Actor, From, cast
from supervisors.remote import NodeDown, NodeUp, RemoteRef, monitor_nodes

__all__ = ["Learner", "LearnerShared", "WorkerInfo", "STATE_FORMAT"]

log = structlog.get_logger("exphil.learner")
STATE_FORMAT = "exphil-selfplay-state/1"


@dataclass
class WorkerInfo:
    name: str
    host: str
    pid: int
    games: int
    joined: float
    joins: int = 1
    up: bool = True
    last_seen: float = 0.0
    down_since: float | None = None
    report: WorkerReport | None = None


@dataclass
class LearnerShared:
    """The learner node's in-process state, shared by its actors and the command."""

    config: SelfPlayConfig
    run: Run[Any]
    resume: ResumePoint[Any] | None
    queue: BatchQueue
    population: Population
    ratings: Ratings
    match: MatchStats
    on_update: Callable[[dict[str, Any]], None] | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None
    stop_requested: bool = False
    checkpoint_requested: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)
    finished: bool = False
    version: int = 0
    frames: int = 0
    records: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    update_times: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # monotonic
    history: deque[UpdateRecord] = field(default_factory=lambda: deque(maxlen=1000))
    metrics_endpoint: str | None = None  # where MetricsPublisher publishes (dashboards)
    stopped_by: str = ""  # the dashboard that stopped the run
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    learner_starts: int = 0
    process_starts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    update_s: float = 0.0
    samples: int = 0
    error: str = ""

    def event(self, kind: str, text: str, **fields: Any) -> None:
        e = {"time": time.time(), "kind": kind, "text": text, **fields}
        self.events.append(e)
        log.info("selfplay.event", kind=kind, text=text)
        if self.on_event is not None:
            self.on_event(e)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: d}


def _differences(mine: dict[str, Any], theirs: dict[str, Any], what: str) -> list[str]:
    a, b = _flat(mine), _flat(theirs)
    return [
        f"{what}.{k}: worker has {b.get(k)!r}, the run has {a.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


class Learner(Actor):
    def __init__(self, shared: LearnerShared) -> None:
        self.shared = shared
        self.config = shared.config
        self.device = torch.device(shared.config.device)

    # --- start: a new run, a resumed one, or a restart after a crash --------------------------
    async def init(self) -> None:
        sh, cfg = self.shared, self.config
        monitor_nodes()
        sh.learner_starts += 1
        point = sh.resume
        if sh.learner_starts > 1:  # restarted by the supervisor: continue from `last`
            sh.run.wait()
            if (sh.run.directory / "last.safetensors").exists():
                point = load_resume_point(sh.run.directory, SelfPlayConfig)
            sh.event(
                "restart", f"learner restarted from update {point.state['version'] if point else 0}"
            )
        torch.manual_seed(cfg.seed)
        if point is not None:
            policy = point.policy.to(self.device)
            delay = int(point.state["delay"])
        else:
            policy, delay = build_policy(cfg.ppo(), self.device)
        self.policy: Policy = policy
        self.delay = delay
        initial = frozen_copy(policy)
        if point is not None:
            initial.load_state_dict(point.state["initial"])
        self.initial = initial
        if point is None:
            save_policy(
                initial, sh.run.directory / "initial.safetensors", metadata={"delay": delay}
            )
        self.optim = Optimization(
            policy, cfg.optim, device=self.device,
            total_steps=max(1, cfg.max_updates * cfg.epochs * cfg.minibatches_per_epoch),
        )  # fmt: skip
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.ppo = cfg.ppo()
        if point is not None:
            st = point.state
            if st.get("format") != STATE_FORMAT:
                raise ValueError(f"not a selfplay training state: format {st.get('format')!r}")
            self.optim.load_state_dict(st["optim"])
            self.rng.bit_generator.state = st["update_rng"]
            restore_rng(st["rng"], self.device)
            sh.version, sh.frames = int(st["version"]), int(st["frames"])
            if sh.learner_starts == 1:  # a restart in this process: the collector went on
                sh.queue.collector.load_state_dict(st["collector"])
            sh.population.load_state_dict(st["population"])
            restored = Ratings.from_state(json.loads(st["ratings"]))
            sh.ratings.__dict__.update(restored.__dict__)
        policy.eval()
        self.weights = weights_of(policy)
        sh.queue.set_version(sh.version)
        self.start_soon(self._train)

    # --- the workers' requests -----------------------------------------------------------
    async def handle_call(self, request: Any, from_: From) -> Any:
        sh = self.shared
        if isinstance(request, Join):
            return self._join(request)
        if isinstance(request, Status):
            r = request.report
            w = sh.workers.get(r.worker)
            if w is not None:
                w.report, w.last_seen = r, time.monotonic()
            return StatusReply(version=sh.version, stopping=sh.finished)
        if isinstance(request, GetWeights):
            return PolicyUpdate(version=sh.version, weights=self.weights)
        if request == "checkpoint":
            sh.checkpoint_requested = True
            return True
        if request == "ping":  # a dashboard checks that the learner still answers
            return sh.version
        if isinstance(request, Watch):
            sh.event("watch", f"dashboard {request.client} attached")
            events = [Event(time=e["time"], kind=e["kind"], text=e["text"])
                      for e in list(sh.events)[-200:]]  # fmt: skip
            return Watching(run=sh.run.directory.name, metrics=sh.metrics_endpoint,
                            history=list(sh.history), events=events)  # fmt: skip
        if isinstance(request, Control):
            return self._control(request)
        raise TypeError(f"Learner got call {type(request).__name__}")

    def _control(self, c: Control) -> ControlReply:
        sh = self.shared
        if sh.finished or sh.stop_requested:
            return ControlReply(ok=False, text="the run is already stopping")
        if c.action == "checkpoint":
            sh.checkpoint_requested = True
            sh.event("control", f"dashboard {c.client} asked for a checkpoint")
            return ControlReply(ok=True, text=f"checkpoint after update {sh.version + 1}")
        if c.action == "stop":
            sh.stopped_by = c.client
            sh.stop_requested = True
            sh.queue.close()
            sh.event("control", f"dashboard {c.client} stopped the run")
            return ControlReply(
                ok=True, text=f"stopping at update {sh.version} (with a checkpoint)"
            )
        return ControlReply(ok=False, text=f"unknown action {c.action!r} (checkpoint, stop)")

    def _join(self, j: Join) -> Welcome | Refused:
        sh, cfg = self.shared, self.config
        problems: list[str] = []
        if j.protocol != PROTOCOL:
            problems.append(f"protocol version: worker speaks {j.protocol}, the learner {PROTOCOL}")
        if j.exphil_version != __version__:
            problems.append(
                f"exphil version: worker {j.exphil_version}, learner {__version__} "
                "(install the same version on both machines)"
            )
        if j.env is not None:
            problems += _differences(_as_dict(cfg.env), j.env, "env")
        if j.policy is not None:
            problems += _differences(_as_dict(cfg.policy), j.policy, "policy")
        timeout = cfg.nodes.heartbeat_timeout
        if 2 * j.heartbeat_interval > timeout:  # it would be declared down between two beats
            problems.append(
                f"heartbeat: the worker sends one every {j.heartbeat_interval:g} s, the learner "
                f"declares a node down after {timeout:g} s of silence (start the worker with "
                f"--heartbeat-interval {timeout / 4:g} --heartbeat-timeout {timeout:g})"
            )
        if problems:
            reason = "; ".join(problems)
            sh.event("refused", f"worker {j.worker} refused: {reason}", worker=j.worker)
            return Refused(reason=reason)
        now = time.monotonic()
        w = sh.workers.get(j.worker)
        if w is None:
            sh.workers[j.worker] = WorkerInfo(j.worker, j.host, j.pid, j.games, now, last_seen=now)
            sh.event("join", f"worker {j.worker} joined ({j.host}, pid {j.pid})", worker=j.worker)
        else:
            w.joins += 1
            w.up, w.down_since, w.pid, w.host, w.last_seen = True, None, j.pid, j.host, now
            sh.event("rejoin", f"worker {j.worker} joined again (pid {j.pid})", worker=j.worker)
        seed = (
            cfg.seed * 1_000_003
            + sum(x.joins for x in sh.workers.values()) * 7_919
            + len(sh.workers)
        )
        return Welcome(
            run=str(sh.run.directory.name), config=msgspec.json.encode(cfg), version=sh.version,
            weights=self.weights, delay=self.delay, seed=seed % 2**62,
        )  # fmt: skip

    async def handle_info(self, message: Any) -> None:
        sh = self.shared
        if isinstance(message, NodeDown) and message.node in sh.workers and sh.finished:
            sh.workers[message.node].up = False  # the run is over: workers leave
        elif isinstance(message, NodeDown) and message.node in sh.workers:
            w = sh.workers[message.node]
            w.up, w.down_since = False, time.monotonic()
            silent = w.down_since - w.last_seen
            sh.event(
                "worker_down", f"worker {message.node} is down ({message.reason}; silent "
                f"{silent:.1f} s)", worker=message.node, silent_s=silent,
            )  # fmt: skip
        elif isinstance(message, NodeUp) and message.node in sh.workers:
            sh.event("worker_up", f"worker {message.node} reconnected", worker=message.node)

    # --- training -----------------------------------------------------------------------
    async def _train(self) -> None:
        sh, cfg = self.shared, self.config
        while sh.version < cfg.max_updates and not sh.stop_requested:
            batch = await sh.queue.take()
            if batch is None or sh.stop_requested:
                break
            t0 = time.perf_counter()
            value_only = sh.version + 1 <= cfg.loss.value_warmup
            stats, weights = await anyio.to_thread.run_sync(self._update, batch, value_only)
            dt = time.perf_counter() - t0
            sh.version += 1
            self.weights = weights
            sh.queue.set_version(sh.version)
            frames = batch.rollout.steps * batch.rollout.games
            sh.frames += frames
            sh.update_s += dt
            sh.samples += frames * stats.epochs
            await self._publish()
            if sh.version % cfg.opponents.snapshot_every == 0 and not cfg.opponents.fixed:
                name = await anyio.to_thread.run_sync(
                    lambda: sh.population.add_snapshot(
                        self.policy, sh.version, {"delay": self.delay}
                    )
                )
                sh.event("snapshot", f"snapshot {name} added to the population")
            record = {
                "kind": "update", "update": sh.version, "time": time.time(), "frames": sh.frames,
                "update_s": dt,
                "samples_per_s": frames * stats.epochs / max(dt, 1e-9),
                "chunks": batch.chunks, "lag_max": max(batch.lags, default=0),
                "lag_mean": float(np.mean(batch.lags)) if batch.lags else 0.0,
                "reward_per_frame": float(batch.rollout.rewards.mean()),
                "waiting_for_data_s": sh.queue.waiting_for_data_s,
                "workers": batch.workers,
            } | asdict(stats)  # fmt: skip
            sh.records.append(record)
            sh.update_times.append(time.monotonic())
            sh.history.append(update_record(sh, record))
            sh.run.log(record)
            if sh.on_update is not None:
                sh.on_update(record)
            if sh.version % cfg.checkpoint_every == 0 or sh.checkpoint_requested:
                sh.checkpoint_requested = False
                self.checkpoint()
        self.checkpoint()
        sh.run.wait()
        sh.finished = True
        sh.done.set()

    def _update(self, batch: Batch, value_only: bool) -> tuple[Any, dict[str, Any]]:
        cfg = self.config
        ro = batch.rollout
        ro.check_finite()
        adv, ret = gae(
            batch.rewards, ro.values, ro.terminated, ro.truncated, ro.final_values,
            ro.next_values, gamma=cfg.loss.gamma, lam=cfg.loss.lam,
        )  # fmt: skip
        teacher = self.initial if cfg.loss.teacher_kl > 0 else None
        if teacher is None:
            ro.teacher_state0 = None
        self.policy.train()
        stats = ppo_update(
            self.policy, self.optim, ro, adv, ret, self.ppo, teacher=teacher,
            value_only=value_only, rng=self.rng, device=self.device,
        )  # fmt: skip
        self.policy.eval()
        return stats, weights_of(self.policy)

    async def _publish(self) -> None:
        """Push the new weights to every connected worker (on change, not per request)."""
        sh = self.shared
        msg = PolicyUpdate(version=sh.version, weights=self.weights)
        for w in list(sh.workers.values()):
            if w.up:
                await cast(RemoteRef(w.name, "link"), msg)

    def training_state(self) -> dict[str, Any]:
        sh = self.shared
        return {
            "format": STATE_FORMAT,
            "version": sh.version,
            "frames": sh.frames,
            "delay": self.delay,
            "optim": self.optim.state_dict(),
            "rng": capture_rng(self.device),
            "update_rng": self.rng.bit_generator.state,
            "initial": {k: v.detach().cpu().clone() for k, v in self.initial.state_dict().items()},
            "collector": sh.queue.collector.state_dict(),
            "population": sh.population.state_dict(),
            "ratings": json.dumps(sh.ratings.state_dict()),
            "config": json.loads(msgspec.json.encode(self.config)),
        }

    def checkpoint(self) -> None:
        sh = self.shared
        meta = {"kind": "selfplay", "delay": self.delay, "update": sh.version,
                "frames": sh.frames, "seed": self.config.seed}  # fmt: skip
        sh.run.save("last", self.policy, self.training_state(), meta)
        text = json.dumps(sh.ratings.state_dict())
        (sh.run.directory / "ratings.json").write_text(text)
        sh.event("checkpoint", f"checkpoint at update {sh.version}", update=sh.version)


def _as_dict(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(msgspec.json.encode(value))
    return out


_ = (copy, Teacher)


LOSS_KEYS = ("policy_loss", "value_loss", "entropy", "teacher_kl", "approx_kl",
             "explained_variance", "clip_fraction", "grad_norm")  # fmt: skip


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def update_record(sh: LearnerShared, record: dict[str, Any]) -> UpdateRecord:
    """The dashboards' view of one update record (losses, pace, the anchors' win rates)."""
    return UpdateRecord(
        time=time.time(), version=int(record["update"]), frames=int(record["frames"]),
        losses={k: _float(record[k]) for k in LOSS_KEYS if k in record},
        samples_per_s=_float(record["samples_per_s"]), lag_max=int(record["lag_max"]),
        reward_per_frame=_float(record["reward_per_frame"]),
        anchors={k: sum(v) / len(v) for k, v in sh.match.recent.items() if v},
    )  # fmt: skip
