"""The MetricsPublisher: a snapshot of the run on a PUB socket about once a second (topic
``metrics``, :class:`exphil.wire.Metrics`) and every event as it happens (topic ``event``).
Any number of dashboards may subscribe (``supervisors.remote.Subscriber``); none is needed."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import anyio

from exphil.selfplay._learner import LearnerShared
from exphil.wire import Event, Metrics, Rating, WorkerMetrics
from supervisors import Actor
from supervisors.remote import Publisher

__all__ = ["MetricsPublisher", "metrics_snapshot"]

_LOSSES = ("policy_loss", "value_loss", "entropy", "teacher_kl", "approx_kl",
           "explained_variance", "clip_fraction", "grad_norm", "reward_per_frame")  # fmt: skip


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _rate(times: Sequence[float], now: float) -> float:
    """Updates per second over the last updates (up to 64), falling as the learner stalls:
    a run's whole history would hide that it slowed down, and survive no resume."""
    if len(times) < 2:
        return 0.0
    span = max(times[-1] - times[0], now - times[-1], 1e-9)
    return (len(times) - 1) / span


def metrics_snapshot(sh: LearnerShared) -> Metrics:
    now = time.monotonic()
    last = sh.records[-1] if sh.records else {}
    workers = []
    for w in sh.workers.values():
        r = w.report
        workers.append(
            WorkerMetrics(
                name=w.name,
                host=w.host,
                up=w.up,
                games=r.games if r else w.games,
                fps=r.fps if r and w.up else 0.0,
                frames=r.frames if r else 0,
                games_finished=r.games_finished if r else 0,
                restarts=r.runner_restarts if r else 0,
                joins=w.joins,
                heartbeat_age_s=now - w.last_seen,
                inference_batch=r.inference_batch if r else 0.0,
                inference_wait_ms=r.inference_wait_ms if r else 0.0,
                inference_ms=r.inference_ms if r else 0.0,
                deadline_misses=r.deadline_misses if r else 0,
                chunks_dropped=r.chunks_dropped if r else 0,
                version=r.version if r else 0,
            )
        )
    board = [
        Rating(
            name=s.name,
            rating=s.rating,
            games=s.games,
            win_rate=None if math.isnan(s.win_rate) else s.win_rate,
            anchor=s.anchor,
        )
        for s in sh.ratings.leaderboard()
    ]
    c = sh.queue.collector.statistics()
    elapsed = now - sh.started
    return Metrics(
        time=time.time(), run=sh.run.directory.name, version=sh.version,
        max_updates=sh.config.max_updates, frames=sh.frames, elapsed_s=elapsed,
        losses={k: _num(last[k]) for k in _LOSSES if k in last},
        env_fps=sum(w.fps for w in workers),
        updates_per_s=_rate(sh.update_times, now),
        samples_per_s=sh.samples / max(sh.update_s, 1e-9) if sh.update_s else 0.0,
        waiting_for_data_s=sh.queue.waiting_for_data_s, lags=c.lags,
        chunks={"received": c.received, "accepted": c.accepted, "stale": c.stale,
                "bad": c.bad, "duplicates": c.duplicates, "gaps": c.gaps,
                "lost_in_restart": c.lost_in_restart},
        workers=workers, leaderboard=board,
        anchors={k: sum(v) / len(v) for k, v in sh.match.recent.items() if v},
        finished=sh.finished,
    )  # fmt: skip


class MetricsPublisher(Actor):
    def __init__(self, shared: LearnerShared, bind: str | None, interval: float = 1.0) -> None:
        self.shared, self.bind, self.interval = shared, bind, interval
        self.pub: Publisher | None = None
        self.endpoints: list[str] = []

    async def init(self) -> None:
        if self.bind:
            cfg = self.shared.config.nodes
            keys = authorized = None
            if cfg.keys:
                from pathlib import Path

                keys = Path(cfg.keys) / "learner.key_secret"
                authorized = Path(cfg.keys) / "authorized"
            self.pub = Publisher(self.bind, keys=keys, authorized_keys=authorized)
            self.pub.retain("metrics")
            self.endpoints = list(self.pub.endpoints)
        previous = self.shared.on_event

        def forward(e: dict[str, Any]) -> None:
            if previous is not None:
                previous(e)
            if self.pub is not None:
                self.pub.publish("event", Event(time=e["time"], kind=e["kind"], text=e["text"]))

        self.shared.on_event = forward
        previous_update = self.shared.on_update

        def forward_update(r: dict[str, Any]) -> None:
            if previous_update is not None:
                previous_update(r)
            if self.pub is not None and self.shared.history:
                self.pub.publish("update", self.shared.history[-1])

        self.shared.on_update = forward_update
        self.start_soon(self._loop)

    async def _loop(self) -> None:
        while True:
            await anyio.sleep(self.interval)
            if self.pub is not None:
                self.pub.publish("metrics", metrics_snapshot(self.shared))

    async def terminate(self, reason: Any) -> None:
        if self.pub is not None:
            await self.pub.aclose()
