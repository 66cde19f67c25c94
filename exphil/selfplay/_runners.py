"""The GameRunners and their GamePool: each runner plays one env of ``k`` games frame by frame
through the InferenceServer and sends the learner its chunks and results; a crashed or hung
runner is restarted alone (see ``exphil.selfplay._worker``)."""

from __future__ import annotations

import functools
from typing import Any

import anyio
import numpy as np

from exphil.envs import GameEnv, MockConfig, MockEnv
from exphil.game import Frames
from exphil.selfplay._chunks import ChunkBuilder
from exphil.selfplay._config import SelfPlayConfig
from exphil.selfplay._inference import Act, Acted
from exphil.selfplay._worker_shared import LEARNER, WorkerShared
from exphil.wire import GameResult
from supervisors import Actor, ChildSpec, DynamicSupervisor, Restart, call, start_child
from supervisors.remote import RemoteRef, open_channel

__all__ = ["EnvHung", "GamePool", "GameRunner", "default_env"]

Array = np.ndarray[Any, Any]


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
