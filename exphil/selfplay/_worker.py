"""A worker node: the actors of one ``exphil worker`` process.

::

    WorkerSupervisor (rest_for_one)
      Node "worker-..."     the runtime's connection to the learner node (heartbeats)
      Link                  joins the run, receives weights, reports health, fetches mixes
      InferenceServer       one batched forward pass per frame for every game of the node
      GamePool              DynamicSupervisor of GameRunners
        GameRunner x R      one env of k games each (a slice of the node's mock games)

**The unit of a GameRunner** is one env instance: for the mock, ``k = games / runners``
games stepped together (one Dolphin game each, later). A runner owns rows ``[r*k, (r+1)*k)``
of the server's batch. **What a crash costs**: the runner's unfinished chunk (at most
``rollout`` frames of its ``k`` games) and its unfinished games are dropped and counted
(``chunks_dropped``, ``frames_dropped``); GamePool restarts it with a fresh env and the
server resets its rows' recurrent state, delay FIFO and opponents; the other runners, the
server and the link never notice. An env step slower than ``nodes.step_timeout`` is a hung
env: the runner crashes (the stuck thread is abandoned) and is restarted the same way.

The server waits at most ``nodes.deadline_ms`` for late runners before running a frame batch
without them (they join the next one); the wait is measured and reported.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
import numpy as np
import structlog
import torch

from exphil._version import __version__
from exphil.envs import GameEnv, MockConfig, MockEnv
from exphil.errors import UserError
from exphil.game import Frames
from exphil.game.frames import concat_frames
from exphil.nets import Policy
from exphil.selfplay._chunks import ChunkBuilder
from exphil.selfplay._config import SelfPlayConfig
from exphil.selfplay._dolphin import DolphinEnvFactory, DolphinPaths, resolve_dolphin
from exphil.selfplay._play import NodePlay, frozen_copy, load_weights
from exphil.wire import (
    PROTOCOL,
    GameResult,
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
from supervisors import (
    NO_REPLY,
    Actor,
    ChildSpec,
    ChildType,
    DynamicSupervisor,
    From,
    Restart,
    Supervisor,
    call,
    cast,
    start_child,
)
from supervisors.remote import (
    NodeDown,
    NodeUp,
    RemoteRef,
    current_node,
    monitor_nodes,
    open_channel,
    wait_for_node,
)

__all__ = ["LEARNER", "WorkerOptions", "WorkerShared", "worker_tree", "JoinRefused"]

log = structlog.get_logger("exphil.worker")
Array = np.ndarray[Any, Any]

#: the learner node's name (workers address its actors by it)
LEARNER = "learner"


class JoinRefused(Exception):
    """The learner refused this worker (the message names the difference)."""


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker process was started (``exphil worker``)."""

    name: str
    games: int | None = None  # None: the run's nodes.games_per_worker
    runners: int | None = None
    config: SelfPlayConfig | None = None  # the worker's own config, checked against the run's
    env_factory: Callable[[int, int, SelfPlayConfig], GameEnv] | None = None  # tests: fakes
    #: what this worker was started to play (``--env``): None adopts the run's; a worker
    #: started for another kind than the run's is stopped at join (exit 2)
    env_kind: str | None = None
    #: this machine's Dolphin and ISO (``--dolphin``/``--iso``, checked by the CLI); None:
    #: resolved at join when the run plays Dolphin (environment, then the settings file)
    dolphin: DolphinPaths | None = None
    dolphin_flags: tuple[str | None, str | None] = (None, None)
    threads: int | None = None
    heartbeat_interval: float = 1.0  # its node's (the learner checks it against its timeout)
    heartbeat_timeout: float = 5.0


@dataclass
class WorkerShared:
    """What the worker's actors share in-process: the run it joined and its counters."""

    options: WorkerOptions
    welcome: Welcome | None = None
    config: SelfPlayConfig | None = None
    policy: Policy | None = None
    teacher: Policy | None = None
    games: int = 0
    runners: int = 0
    incarnation: int = 0
    runner_starts: dict[int, int] = field(default_factory=dict)
    frames: int = 0
    games_finished: int = 0
    runner_restarts: int = 0
    chunks_sent: int = 0
    chunks_dropped: int = 0
    frames_dropped: int = 0
    results_sent: int = 0
    stopping: bool = False
    exit_reason: str = ""
    #: ``exit_reason`` is this worker's own (it cannot play the run), not the learner's refusal
    setup_error: bool = False
    #: the runners' env factory once joined (``options.env_factory`` wins; None: the mock)
    env_factory: Callable[[int, int, SelfPlayConfig], GameEnv] | None = None
    #: called once when the learner says the run is over (``exphil worker``: SIGTERM to
    #: itself, so the whole tree stops gracefully); None: only ``stopping`` is set
    on_run_over: Callable[[], None] | None = None


def default_env(k: int, seed: int, config: SelfPlayConfig) -> GameEnv:
    """The mock games of a runner (its physics are deterministic: ``seed`` is unused; the
    players' sampling is where randomness lives)."""
    e = config.env
    return MockEnv(
        k,
        MockConfig(
            stage=e.stage, characters=e.characters, stocks=e.stocks,
            time_limit=e.time_limit, rewards=e.rewards,
        ),
    )  # fmt: skip


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


# --- InferenceServer -------------------------------------------------------------------------


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


# --- GameRunner and GamePool ----------------------------------------------------------------


class EnvHung(RuntimeError):
    pass


class GameRunner(Actor):
    """One env of ``k`` games, played frame by frame through the InferenceServer."""

    def __init__(self, shared: WorkerShared, index: int) -> None:
        self.shared = shared
        self.index = index
        self.chunk: ChunkBuilder | None = None

    async def init(self) -> None:
        sh = self.shared
        starts = sh.runner_starts.get(self.index, 0)
        sh.runner_starts[self.index] = starts + 1
        if starts:
            sh.runner_restarts += 1
            await anyio.sleep(0.1)  # a crash loop must not spin (the pool's intensity ends it)
        self.start_soon(self._play, starts)

    async def terminate(self, reason: Any) -> None:
        if self.chunk is not None and self.chunk.t:
            self.shared.chunks_dropped += 1
            self.shared.frames_dropped += self.chunk.t * self.chunk.k

    async def _play(self, incarnation: int) -> None:
        sh = self.shared
        cfg = sh.config
        assert cfg is not None and sh.policy is not None and sh.welcome is not None
        per, extra = divmod(sh.games, sh.runners)
        k = per + (1 if self.index < extra else 0)
        first = self.index * per + min(self.index, extra)
        rows = np.arange(first, first + k)
        seed = sh.welcome.seed * 1000 + self.index * 97 + incarnation
        factory = sh.options.env_factory or sh.env_factory or default_env
        made: list[GameEnv] = []  # closed on every way out, even a cancel during the launch

        def make() -> GameEnv:
            made.append(factory(k, seed, cfg))
            return made[0]

        try:
            # a Dolphin takes seconds to launch and go through the menus: not on the loop
            env = await anyio.to_thread.run_sync(make)
            await self._play_env(env, incarnation, k, rows)
        finally:
            if made:
                with anyio.CancelScope(shield=True):
                    # stops the emulator (its process group) before the runner is gone
                    await anyio.to_thread.run_sync(made[0].close)

    async def _play_env(self, env: GameEnv, incarnation: int, k: int, rows: Array) -> None:
        sh = self.shared
        cfg = sh.config
        assert cfg is not None and sh.policy is not None and sh.welcome is not None
        stream = f"{sh.options.name}/{sh.incarnation:x}/r{self.index}/{incarnation}"
        chunks = open_channel(RemoteRef(LEARNER, "collector"), "chunks", window=16)
        results = open_channel(RemoteRef(LEARNER, "matchmaker"), "results", window=256)
        policy = sh.policy
        dense_dim, id_cols = policy.dense_dim, len(policy.id_specs)
        frames = await anyio.to_thread.run_sync(env.reset)
        ended = np.arange(k)  # a (re)started runner starts new games in all its rows
        final_local = np.zeros(0, np.int64)
        final_frames: Frames | None = None
        resets: Array | None = None
        outcomes: list[Any] = []
        pending: ChunkBuilder | None = None
        ans_version_prev = 0
        last_t = 0
        seq = 0
        game_no = 0
        self.chunk = ChunkBuilder(cfg.rollout, k, dense_dim, id_cols)
        try:
            while True:
                want = self.chunk.t == 0
                ans: Acted = await call(
                    "inference",
                    Act(self.index, rows, frames, ended, final_local, final_frames, want),
                    timeout=None,
                )
                # the previous step's truncated games: their final values
                if len(final_local):
                    target = pending if pending is not None else self.chunk
                    target.set_final_values(last_t, final_local, ans.final_values)
                if outcomes:
                    for o, opp in zip(outcomes, ans.opponents, strict=True):
                        game_no += 1
                        await results.send(
                            GameResult(
                                result_id=f"{stream}/{game_no}",
                                worker=sh.options.name,
                                learner=f"v{ans_version_prev}",
                                # the mirror ("current") is the learner's own version
                                opponent=f"v{ans_version_prev}" if opp == "current" else opp,
                                winner=o.winner,
                                frames=o.frames,
                                reason=o.reason,
                            )
                        )
                        sh.results_sent += 1
                    sh.games_finished += len(outcomes)
                if pending is not None:
                    await chunks.send(
                        pending.close(stream, seq, sh.options.name, ans.decision.value)
                    )
                    seq += 1
                    sh.chunks_sent += 1
                    pending = None
                if want:
                    self.chunk.start(ans.state0, ans.teacher0)
                self.chunk.decided(ans.decision, ans.version, resets)
                ans_version_prev = ans.version
                with anyio.move_on_after(cfg.nodes.step_timeout) as scope:
                    step = await anyio.to_thread.run_sync(
                        env.step, ans.p0, ans.p1, abandon_on_cancel=True
                    )
                if scope.cancelled_caught:
                    raise EnvHung(f"env step took over {cfg.nodes.step_timeout:g} s")
                last_t = self.chunk.t
                self.chunk.stepped(step)
                sh.frames += k
                done = step.terminated | step.truncated
                ended = np.flatnonzero(done)
                cut = step.truncated & ~step.terminated
                final_local = np.flatnonzero(cut)
                # final_frames has one row per *ended* game (in game order)
                final_frames = (
                    step.final_frames.take(np.flatnonzero(cut[ended]))
                    if len(final_local) and step.final_frames is not None
                    else None
                )
                if final_frames is None:
                    final_local = np.zeros(0, np.int64)
                by_game = {r.game: r for r in step.results}
                outcomes = [by_game[int(g)] for g in ended if int(g) in by_game]
                if len(outcomes) != len(ended):  # an env that ends games without results
                    outcomes = []
                resets = done.astype(np.uint8)
                if self.chunk.full:
                    pending, self.chunk = (
                        self.chunk,
                        ChunkBuilder(cfg.rollout, k, dense_dim, id_cols),
                    )
                    resets = None  # a chunk starts from the state captured after the resets
                frames = step.frames
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await call("inference", ("detach", self.index), timeout=1.0)
                except Exception:
                    pass
            if pending is not None:
                sh.chunks_dropped += 1
                sh.frames_dropped += pending.t * pending.k


class GamePool(DynamicSupervisor):
    """The node's GameRunners: a DynamicSupervisor (games can be added at run time; Dolphin
    runners later), each runner restarted alone when it crashes."""

    def __init__(self, shared: WorkerShared) -> None:
        super().__init__(max_restarts=60, max_seconds=60.0)
        self.shared = shared

    async def init(self) -> None:
        await super().init()
        self.start_soon(self._start_runners)

    async def _start_runners(self) -> None:
        for i in range(max(self.shared.runners, 1)):
            spec = ChildSpec(
                ("runner", i), functools.partial(GameRunner, self.shared, i),
                restart=Restart.PERMANENT, shutdown=5.0,
            )  # fmt: skip
            await start_child(self.ref, spec)


def worker_tree(shared: WorkerShared, node_spec: ChildSpec) -> Supervisor:
    """The worker's supervision tree (rest_for_one: a new Link means a new server and pool)."""
    return Supervisor(
        [
            node_spec,
            ChildSpec("link", lambda: Link(shared), name="link", start_timeout=None),
            ChildSpec(
                "inference", lambda: InferenceServer(shared), name="inference", start_timeout=None
            ),
            ChildSpec(
                "pool",
                lambda: GamePool(shared),
                name="pool",
                shutdown=10.0,
                type=ChildType.SUPERVISOR,
            ),
        ],
        strategy="rest_for_one",
        max_restarts=5,
        max_seconds=60.0,
    )
