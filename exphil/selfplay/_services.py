"""The learner node's service actors: ExperienceCollector, PopulationManager, Matchmaker.

Each wraps a plain object (``Collector``, ``Population``, ``Ratings``) that the Learner
shares in-process for checkpoints; the actors are what workers talk to over ZeroMQ.
Bad input (a malformed chunk, an unknown snapshot) is answered or counted, never a crash.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from exphil.selfplay._collector import Batch, Collector
from exphil.selfplay._population import Population
from exphil.selfplay._ratings import Ratings
from exphil.wire import GameResult, GetMix, GetSnapshot, OpponentMix, Snapshot, Trajectory
from supervisors import Actor, From

__all__ = ["BatchQueue", "ExperienceCollector", "Matchmaker", "PopulationManager"]

log = structlog.get_logger("exphil.learner")


class BatchQueue:
    """Where the collector puts chunks and the learner takes batches (in-process, shared by
    the two actors so neither waits in the other's mailbox). ``put`` waits while a batch
    is ready and another full one is pending: the collector's acknowledgement waits with it,
    so the workers' channel windows fill and they pause (backpressure, bounded memory)."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._changed = anyio.Event()
        self.waiting_for_data_s = 0.0
        self.closed = False

    def close(self) -> None:
        """Wake a waiting ``take`` (it returns None): the learner is stopping."""
        self.closed = True
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def put(self, chunk: Trajectory) -> str:
        while self.collector.full:
            await self._changed.wait()
        status = self.collector.offer(chunk)
        self._notify()
        return status

    async def take(self) -> Batch | None:
        t0 = anyio.current_time()
        while not self.closed:
            batch = self.collector.take()
            if batch is not None:
                self.waiting_for_data_s += anyio.current_time() - t0
                self._notify()
                return batch
            await self._changed.wait()
        return None

    def set_version(self, version: int) -> None:
        self.collector.set_version(version)
        self._notify()


class ExperienceCollector(Actor):
    """Receives trajectory chunks (the workers' acknowledged ``chunks`` channel)."""

    mailbox_size = 4096

    def __init__(self, queue: BatchQueue) -> None:
        self.queue = queue

    async def handle_cast(self, request: Any) -> None:
        if not isinstance(request, Trajectory):
            log.warning("collector.unexpected", kind=type(request).__name__)
            return
        status = await self.queue.put(request)
        if status == "bad":
            log.warning("collector.bad_chunk", error=self.queue.collector.last_error)

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "statistics":
            return self.queue.collector.statistics()
        raise TypeError(f"ExperienceCollector got call {request!r}")


class PopulationManager(Actor):
    """Answers workers' mix and snapshot requests from the shared :class:`Population`."""

    def __init__(self, population: Population) -> None:
        self.population = population

    async def handle_call(self, request: Any, from_: From) -> Any:
        if isinstance(request, GetMix):
            return OpponentMix(entries=self.population.mix(max(0, min(request.slots, 64))))
        if isinstance(request, GetSnapshot):
            try:
                weights = await anyio.to_thread.run_sync(self.population.weights, request.name)
            except (KeyError, OSError, ValueError) as exc:
                log.warning("population.no_snapshot", name=request.name, error=str(exc))
                return None
            return Snapshot(name=request.name, weights=weights)
        raise TypeError(f"PopulationManager got call {type(request).__name__}")


@dataclass
class MatchStats:
    results: int = 0
    duplicates: int = 0
    recent: dict[str, deque[float]] = field(default_factory=dict)  # anchor -> last scores


class Matchmaker(Actor):
    """Rates every game result once (the ``results`` channel; ``result_id`` dedups)."""

    mailbox_size = 8192

    def __init__(self, ratings: Ratings, stats: MatchStats, window: int = 200) -> None:
        self.ratings, self.stats, self.window = ratings, stats, window

    async def handle_cast(self, request: Any) -> None:
        if not isinstance(request, GameResult):
            log.warning("matchmaker.unexpected", kind=type(request).__name__)
            return
        r = self.ratings
        score = 1.0 if request.winner == 0 else 0.0 if request.winner == 1 else 0.5
        learner, opponent = request.learner, request.opponent
        if learner not in r:
            parent = _parent(r, learner)
            r.add(learner, parent=parent) if parent else r.add(learner)
        try:
            counted = r.record(request.result_id, learner, opponent, score)
        except ValueError as exc:
            log.warning("matchmaker.bad_result", error=str(exc))
            return
        if not counted:
            self.stats.duplicates += 1
            return
        self.stats.results += 1
        if r.is_anchor(opponent):
            q = self.stats.recent.setdefault(opponent, deque(maxlen=self.window))
            q.append(score)

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "leaderboard":
            return self.ratings.leaderboard()
        raise TypeError(f"Matchmaker got call {request!r}")


def _parent(r: Ratings, name: str) -> str | None:
    """A new learner version starts at the rating of the newest older version rated."""
    if not name.startswith("v") or not name[1:].isdigit():
        return None
    v = int(name[1:])
    older = [
        int(n[1:]) for n in r.names if n.startswith("v") and n[1:].isdigit() and int(n[1:]) < v
    ]
    if older:
        return f"v{max(older)}"
    return "initial" if "initial" in r else None
