"""The ExperienceCollector's bookkeeping: accept trajectory chunks, drop stale ones, audit
sequence ids, normalise rewards, assemble PPO batches (no actors here: tested directly).

* **Lag.** A chunk's lag is the learner's version minus the oldest version that acted in it.
  Chunks lagging more than ``max_policy_lag`` are dropped and counted, on arrival and again
  when a batch is taken (the learner may have moved on while they waited). The lag of every
  chunk seen is counted in :attr:`Collector.lags` (published as a distribution).
* **Audit.** Every chunk names its stream (one runner incarnation) and its sequence number
  in it. Accepted chunks of a stream must be 0, 1, 2, ... : a repeated number is a
  duplicate (dropped and counted), a skipped one a gap (counted). Both must stay zero: the
  chaos test holds them there across crashes and SIGKILLs.
* **Rewards** are scaled by the running std of the discounted return, tracked per game
  column of each stream (the return of a game continues from one chunk to the next).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exphil.rl import Rollout, RunningMeanStd
from exphil.selfplay._chunks import check_chunk, rollout_from
from exphil.wire import Trajectory

__all__ = ["Batch", "Collector", "CollectorStatistics"]

Array = np.ndarray[Any, Any]


@dataclass
class Batch:
    rollout: Rollout
    rewards: Array  # scaled as the update uses them
    chunks: int
    lags: list[int]
    workers: dict[str, int] = field(default_factory=dict)  # chunks per worker


@dataclass(frozen=True)
class CollectorStatistics:
    received: int
    accepted: int
    stale: int
    bad: int
    duplicates: int
    gaps: int
    streams: int
    #: chunks a resumed run never received: sent after its checkpoint, before the learner
    #: process stopped (each stream's first chunk after ``--resume`` shows how many)
    lost_in_restart: int
    batches: int
    pending_games: int
    lags: dict[int, int]


class Collector:
    def __init__(
        self,
        games_per_batch: int,
        *,
        max_policy_lag: int,
        gamma: float,
        dense_dim: int,
        id_cols: int,
        normalize: bool = True,
        max_ready: int = 1,
    ) -> None:
        self.games_per_batch = games_per_batch
        self.max_lag = max_policy_lag
        self.gamma = gamma
        self.dense_dim, self.id_cols = dense_dim, id_cols
        self.normalize = normalize
        self.max_ready = max_ready
        self.version = 0
        self.pending: list[Trajectory] = []
        self.ready: deque[list[Trajectory]] = deque()
        self.ret_stats = RunningMeanStd()
        self._returns: dict[str, Array] = {}
        self.next_seq: dict[str, int] = {}
        self.accepted_seqs: dict[str, list[int]] = {}
        self.lags: Counter[int] = Counter()
        self.received = self.accepted = self.stale = self.bad = 0
        self.duplicates = self.gaps = self.batches = self.lost_in_restart = 0
        self.last_error = ""
        self.resumed = False  # loaded from a checkpoint: streams may continue past it
        self._since_resume: set[str] = set()

    @property
    def pending_games(self) -> int:
        return sum(c.rewards.shape[1] for c in self.pending)

    @property
    def full(self) -> bool:
        """Enough is waiting: further chunks should wait (backpressure to the workers)."""
        return len(self.ready) >= self.max_ready and self.pending_games >= self.games_per_batch

    def offer(self, chunk: Trajectory) -> str:
        """One chunk: "accepted", "stale", "duplicate" or "bad" (with :attr:`last_error`)."""
        self.received += 1
        problem = check_chunk(chunk, self.dense_dim, self.id_cols)
        if problem is not None:
            self.bad += 1
            self.last_error = f"chunk {chunk.stream}#{chunk.seq}: {problem}"
            return "bad"
        expected = self.next_seq.get(chunk.stream, 0)
        if chunk.seq < expected:
            self.duplicates += 1
            return "duplicate"
        if chunk.seq > expected:
            if self.resumed and chunk.stream not in self._since_resume:
                self.lost_in_restart += chunk.seq - expected
            else:
                self.gaps += chunk.seq - expected
        if self.resumed:
            self._since_resume.add(chunk.stream)
        self.next_seq[chunk.stream] = chunk.seq + 1
        self.accepted_seqs.setdefault(chunk.stream, []).append(chunk.seq)
        self.accepted += 1
        self._observe(chunk)
        lag = self.version - chunk.version
        self.lags[lag] += 1
        if lag > self.max_lag:
            self.stale += 1
            return "stale"
        self.pending.append(chunk)
        self._assemble()
        return "accepted"

    def _observe(self, c: Trajectory) -> None:
        ret = self._returns.get(c.stream)
        k = c.rewards.shape[1]
        if ret is None or len(ret) != k:
            ret = np.zeros(k, np.float64)
        done = (c.terminated | c.truncated).astype(bool)
        for t in range(c.rewards.shape[0]):
            ret = ret * self.gamma + c.rewards[t]
            self.ret_stats.update(ret)
            ret[done[t]] = 0.0
        self._returns[c.stream] = ret

    def set_version(self, version: int) -> None:
        """The learner moved to ``version``: drop what is now too old."""
        self.version = version
        keep = []
        for c in self.pending:
            if version - c.version > self.max_lag:
                self.stale += 1
            else:
                keep.append(c)
        self.pending = keep

    def _assemble(self) -> None:
        while self.pending_games >= self.games_per_batch and len(self.ready) < self.max_ready:
            take, games = [], 0
            while games < self.games_per_batch:
                c = self.pending.pop(0)
                take.append(c)
                games += c.rewards.shape[1]
            self.ready.append(take)

    def _batch(self, chunks: list[Trajectory]) -> Batch:
        ro = rollout_from(chunks, self.version)
        rewards = ro.rewards
        if self.normalize:
            rewards = np.clip(rewards / self.ret_stats.std, -10.0, 10.0).astype(np.float32)
        workers: Counter[str] = Counter(c.worker for c in chunks)
        self.batches += 1
        return Batch(
            ro, rewards, len(chunks), [self.version - c.version for c in chunks], dict(workers)
        )

    def take(self) -> Batch | None:
        """The next batch, or None. Chunks that became too old while waiting are dropped here
        (the learner moved on since they arrived); the rest wait for more."""
        self._assemble()
        while self.ready:
            chunks = self.ready.popleft()
            fresh = [c for c in chunks if self.version - c.version <= self.max_lag]
            self.stale += len(chunks) - len(fresh)
            if sum(c.rewards.shape[1] for c in fresh) >= self.games_per_batch:
                self._assemble()
                return self._batch(fresh)
            self.pending = fresh + self.pending
            self._assemble()
            if not self.ready or self.ready[0] is chunks:
                break
        return None

    def statistics(self) -> CollectorStatistics:
        return CollectorStatistics(
            self.received, self.accepted, self.stale, self.bad, self.duplicates, self.gaps,
            len(self.next_seq), self.lost_in_restart, self.batches, self.pending_games,
            dict(sorted(self.lags.items())),
        )  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"ret_stats": self.ret_stats.state_dict(), "counters": [
            self.received, self.accepted, self.stale, self.bad, self.duplicates, self.gaps,
            self.batches, self.lost_in_restart], "lags": {str(k): v for k, v in self.lags.items()},
            "next_seq": dict(self.next_seq)}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ret_stats.load_state_dict(state["ret_stats"])
        counters = [int(v) for v in state["counters"]] + [0]  # older states: 7 counters
        (self.received, self.accepted, self.stale, self.bad, self.duplicates, self.gaps,
         self.batches, self.lost_in_restart) = counters[:8]  # fmt: skip
        self.lags = Counter({int(k): int(v) for k, v in state["lags"].items()})
        self.next_seq = {str(k): int(v) for k, v in state.get("next_seq", {}).items()}
        self.resumed, self._since_resume = True, set()
