"""The InferenceServer: one batched forward pass per frame for every game of a worker node
(its runners' frames, see ``exphil.selfplay._worker``); it waits at most ``nodes.deadline_ms``
for late runners."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import structlog
import torch

from exphil.game import Frames
from exphil.game.frames import concat_frames
from exphil.nets import Policy
from exphil.selfplay._play import NodePlay
from exphil.selfplay._worker_shared import WorkerShared
from exphil.wire import MixEntry, PolicyUpdate
from supervisors import NO_REPLY, Actor, From, call, cast

__all__ = ["Act", "Acted", "InferenceServer"]

log = structlog.get_logger("exphil.worker")
Array = np.ndarray[Any, Any]


@dataclass
class Act:
    """A runner's frame: act for ``rows`` (its games, in order) on ``frames``."""

    runner: int
    rows: Array
    frames: Frames
    ended: Array  # local indices of games that ended on the previous step (start new ones)
    final_local: Array  # local indices of truncated games to value on ``final_frames``
    final_frames: Frames | None
    want_state: bool  # a chunk starts with this frame: return the recurrent state first


@dataclass
class Acted:
    p0: Any
    p1: Any
    decision: Any
    version: int
    final_values: Array
    opponents: list[str]  # the opponent each game in ``ended`` had
    state0: Any = None
    teacher0: Any = None


class InferenceServer(Actor):
    """Batches every runner's frame into one forward pass per policy (see NodePlay)."""

    mailbox_size = 4096

    def __init__(self, shared: WorkerShared) -> None:
        self.shared = shared
        self.runners: set[int] = set()
        self.send, self.recv = anyio.create_memory_object_stream[tuple[Act, From]](1024)
        self.pending_weights: PolicyUpdate | None = None
        self.pending_mix: tuple[list[MixEntry], dict[str, Policy]] | None = None
        self.games_since_mix = 0
        self.batches = 0
        self.batched_games = 0
        self.wait_s = 0.0
        self.infer_s = 0.0
        self.deadline_misses = 0

    async def init(self) -> None:
        sh = self.shared
        assert sh.config is not None and sh.policy is not None and sh.welcome is not None
        torch.set_num_threads(sh.options.threads or sh.config.nodes.inference_threads)
        self.play = NodePlay(
            sh.policy, sh.games, delay=sh.welcome.delay, temperature=sh.config.temperature,
            seed=sh.welcome.seed, teacher=sh.teacher, version=sh.welcome.version,
            bf16=sh.config.nodes.inference_bf16,
        )  # fmt: skip
        entries, policies = await call("link", "mix", timeout=120.0)
        self.play.set_mix(entries, policies)
        self.deadline = sh.config.nodes.deadline_ms / 1000
        self.start_soon(self._batcher)

    async def handle_call(self, request: Any, from_: From) -> Any:
        if isinstance(request, Act):
            self.runners.add(request.runner)
            await self.send.send((request, from_))
            return NO_REPLY
        if request == "stats":
            b = max(self.batches, 1)
            return {
                "inference_batch": self.batched_games / b,
                "inference_wait_ms": 1000 * self.wait_s / b,
                "inference_ms": 1000 * self.infer_s / b,
                "deadline_misses": self.deadline_misses,
            }
        if isinstance(request, tuple) and request[0] == "detach":
            self.runners.discard(request[1])
            return None
        raise TypeError(f"InferenceServer got call {request!r}")

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, PolicyUpdate):
            self.pending_weights = request  # applied between two frame batches
        elif isinstance(request, tuple) and request[0] == "mix":
            self.pending_mix = (request[1], request[2])
        else:
            log.warning("inference.unexpected_cast", kind=type(request).__name__)

    async def _batcher(self) -> None:
        while True:
            first = await self.recv.receive()
            batch = [first]
            t0 = time.perf_counter()
            with anyio.move_on_after(self.deadline):
                while len({a.runner for a, _ in batch}) < len(self.runners):
                    batch.append(await self.recv.receive())
            while True:  # whatever else is already queued joins too
                try:
                    batch.append(self.recv.receive_nowait())
                except anyio.WouldBlock:
                    break
            waited = time.perf_counter() - t0
            if len({a.runner for a, _ in batch}) < len(self.runners):
                self.deadline_misses += 1
            batch.sort(key=lambda item: int(item[0].rows[0]) if len(item[0].rows) else 0)
            t1 = time.perf_counter()
            answers = await anyio.to_thread.run_sync(self._run, [a for a, _ in batch])
            self.infer_s += time.perf_counter() - t1
            self.wait_s += waited
            self.batches += 1
            self.batched_games += sum(len(a.rows) for a, _ in batch)
            for (_, from_), answer in zip(batch, answers, strict=True):
                from_.reply(answer)
            if self.games_since_mix >= self.shared.config.nodes.mix_every:  # type: ignore[union-attr]
                self.games_since_mix = 0
                await cast("link", "need_mix")

    def _run(self, acts: list[Act]) -> list[Acted]:
        """One frame batch (in a worker thread: the event loop keeps serving)."""
        play = self.play
        if self.pending_weights is not None:
            upd, self.pending_weights = self.pending_weights, None
            play.set_weights(upd.weights, upd.version)
        if self.pending_mix is not None:
            mix, self.pending_mix = self.pending_mix, None
            play.set_mix(*mix)
        out: list[Acted] = []
        for a in acts:
            fv = np.zeros(0, np.float32)
            if a.final_frames is not None and len(a.final_local):
                fv = play.peek_values(a.final_frames, a.rows[a.final_local])
            opponents = play.end_games(a.rows[a.ended]) if len(a.ended) else []
            self.games_since_mix += len(a.ended)
            state0 = teacher0 = None
            if a.want_state:
                state0, teacher0 = play.state_rows(a.rows)
            out.append(Acted(None, None, None, play.version, fv, opponents, state0, teacher0))
        rows = np.concatenate([a.rows for a in acts])
        frames = acts[0].frames if len(acts) == 1 else concat_frames([a.frames for a in acts])
        whole = len(rows) == play.n and bool((rows == np.arange(play.n)).all())
        step = play.act(frames, None if whole else rows)
        start = 0
        for a, o in zip(acts, out, strict=True):
            sl = np.arange(start, start + len(a.rows))
            start += len(a.rows)
            o.p0, o.p1 = step.p0.take(sl), step.p1.take(sl)
            d = step.decision
            o.decision = type(d)(
                rows=a.rows, dense=d.dense[sl], ids=d.ids[sl],
                actions={k: v[sl] for k, v in d.actions.items()},
                log_prob=d.log_prob[sl], value=d.value[sl],
            )  # fmt: skip
        return out
