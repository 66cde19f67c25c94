"""ChunkBuilder + rollout_from: chunks built the way a worker node builds them (two runners
sharing one NodePlay, chunks closed one frame late) and joined side by side are exactly the
rollouts the synchronous loop's ``collect`` records on the same games with the same seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from exphil.agent import Agent, Decision
from exphil.envs import ScriptedEnv
from exphil.game import Frames
from exphil.game.frames import concat_frames
from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.rl import OpponentConfig, OpponentPool, Rollout, SelfPlay, Teacher, collect
from exphil.selfplay import ChunkBuilder, NodePlay, rollout_from
from exphil.selfplay._play import frozen_copy
from exphil.wire import MixEntry, Trajectory

Array = np.ndarray[Any, Any]
STEPS = 5  # frames per chunk
ENV = {"start": 4.0, "edge": 5.0}  # port 0 starts a step from the edge: some games end there
LIMITS = [5, 3, 7, 10]  # games 0 and 3 end on a chunk's last frame when they last that long


@dataclass
class Runner:
    """A GameRunner's loop state (exphil/selfplay/_runners.py, GameRunner._play)."""

    env: ScriptedEnv
    rows: Array
    frames: Frames
    ended: Array
    chunk: ChunkBuilder
    final_local: Array = field(default_factory=lambda: np.zeros(0, np.int64))
    final_frames: Frames | None = None
    resets: Array | None = None
    pending: ChunkBuilder | None = None
    last_t: int = 0
    seq: int = 0
    sent: list[Trajectory] = field(default_factory=list)


def play_chunks(play: NodePlay, runners: list[Runner], chunks: int) -> None:
    """Step every runner in one frame batch per frame until each sent ``chunks`` chunks: the
    InferenceServer's ``_run`` (final values, ended games, chunk-start state, one act over
    all rows) then each runner's half of ``GameRunner._play``."""
    while min(len(r.sent) for r in runners) < chunks:
        served = []
        for r in runners:  # the server, per runner, before the batched act
            fv = np.zeros(0, np.float32)
            if r.final_frames is not None and len(r.final_local):
                fv = play.peek_values(r.final_frames, r.rows[r.final_local])
            if len(r.ended):
                play.end_games(r.rows[r.ended])
            want = r.chunk.t == 0
            state = play.state_rows(r.rows) if want else None
            served.append((fv, want, state))
        rows = np.concatenate([r.rows for r in runners])
        whole = len(rows) == play.n and bool((rows == np.arange(play.n)).all())
        step = play.act(concat_frames([r.frames for r in runners]), None if whole else rows)
        start = 0
        for r, (fv, want, state) in zip(runners, served, strict=True):  # each runner
            sl = np.arange(start, start + len(r.rows))
            start += len(r.rows)
            d = step.decision
            dec = Decision(
                rows=r.rows, dense=d.dense[sl], ids=d.ids[sl],
                actions={k: v[sl] for k, v in d.actions.items()},
                log_prob=d.log_prob[sl], value=d.value[sl],
            )  # fmt: skip
            if len(r.final_local):
                target = r.pending if r.pending is not None else r.chunk
                target.set_final_values(r.last_t, r.final_local, fv)
            if r.pending is not None:
                r.sent.append(r.pending.close(f"s{r.rows[0]}", r.seq, "w", dec.value))
                r.seq += 1
                r.pending = None
            if want:
                assert state is not None
                r.chunk.start(*state)
            r.chunk.decided(dec, step.version, r.resets)
            out = r.env.step(step.p0.take(sl), step.p1.take(sl))
            r.last_t = r.chunk.t
            r.chunk.stepped(out)
            done = out.terminated | out.truncated
            r.ended = np.flatnonzero(done)
            cut = out.truncated & ~out.terminated
            r.final_local = np.flatnonzero(cut)
            r.final_frames = None
            if len(r.final_local) and out.final_frames is not None:
                # final_frames has one row per *ended* game: its truncated ones' positions
                r.final_frames = out.final_frames.take(np.flatnonzero(cut[r.ended]))
            r.resets = done.astype(np.uint8)
            if r.chunk.full:
                k, dense_dim, id_cols = r.chunk.k, r.chunk.dense.shape[2], r.chunk.ids.shape[2]
                r.pending, r.chunk = r.chunk, ChunkBuilder(STEPS, k, dense_dim, id_cols)
                r.resets = None
            r.frames = out.frames


def node_rollouts(policy: Policy, teacher: Policy | None, seed: int, chunks: int) -> list[Rollout]:
    play = NodePlay(policy, len(LIMITS), delay=2, seed=seed, teacher=teacher)
    play.set_mix([MixEntry(name="cpu:0", kind="cpu", weight=1.0)], {})  # level 0: stands still
    runners = []
    for rows in (np.arange(0, 2), np.arange(2, 4)):
        env = ScriptedEnv(len(rows), time_limit=[LIMITS[i] for i in rows], **ENV)
        b = ChunkBuilder(STEPS, len(rows), policy.dense_dim, len(policy.id_specs))
        runners.append(Runner(env, rows, env.reset(), np.arange(len(rows)), b))
    play_chunks(play, runners, chunks)
    assert all(c.version == 0 and c.version_max == 0 for r in runners for c in r.sent)
    return [rollout_from([r.sent[i] for r in runners], 0) for i in range(chunks)]


def sync_rollouts(policy: Policy, teacher: Policy | None, seed: int, chunks: int) -> list[Rollout]:
    n = len(LIMITS)
    env = ScriptedEnv(n, time_limit=LIMITS, **ENV)
    learner = Agent(policy, n, 0, delay=2, seed=seed)
    pool = OpponentPool(OpponentConfig(fixed=("noop",)), n, current=policy, initial=None, delay=0)
    t = Teacher(teacher, n, torch.device("cpu")) if teacher is not None else None
    sp = SelfPlay(env, learner, pool, t, None, env.reset())
    return [collect(sp, STEPS) for _ in range(chunks)]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return bool(np.array_equal(a, b)) and np.asarray(a).dtype == np.asarray(b).dtype


@pytest.mark.parametrize("kind", ["gru", "mlp"])
def test_chunks_joined_equal_the_synchronous_rollouts(kind: str) -> None:
    torch.manual_seed(0)
    cfg = PolicyConfig(backbone=BackboneConfig(kind=kind, hidden=16, layers=1), head_hidden=16)
    policy = Policy(cfg).eval()
    teacher = frozen_copy(Policy(cfg)) if kind == "gru" else None
    chunks = 4
    node = node_rollouts(policy, teacher, seed=11, chunks=chunks)
    sync = sync_rollouts(policy, teacher, seed=11, chunks=chunks)
    for i, (a, b) in enumerate(zip(node, sync, strict=True)):
        for name in ("dense", "ids", "log_prob", "values", "rewards", "terminated",
                     "truncated", "resets", "next_values"):  # fmt: skip
            assert same(getattr(a, name), getattr(b, name)), (i, name)
        # a truncated game's final value is peeked per runner on the node (a batch of that
        # runner's truncated games), over all of them at once by collect: another batch
        # size, so float32 rounding may differ (seen: 6e-8); the zeros are exact
        assert same(a.final_values == 0, b.final_values == 0), i
        np.testing.assert_allclose(a.final_values, b.final_values, rtol=0, atol=1e-6)
        for k, v in b.actions.items():
            assert same(a.actions[k], v), (i, k)
        assert len(a.state0) == len(b.state0) == (1 if kind == "gru" else 0)
        for x, y in zip(a.state0, b.state0, strict=True):
            assert same(x, y), (i, "state0")
        if teacher is None:
            assert a.teacher_state0 is None
        else:
            assert a.teacher_state0 is not None and b.teacher_state0 is not None
            for x, y in zip(a.teacher_state0, b.teacher_state0, strict=True):
                assert same(x, y), (i, "teacher_state0")
    # what the comparison covered: games ended by both rules, a truncation on a chunk's last
    # frame (its final value came from the next frame batch), resets inside chunks
    trunc = np.stack([r.truncated for r in sync])  # [chunk, t, game]
    term = np.stack([r.terminated for r in sync])
    assert trunc[:, STEPS - 1].any() and term.any()
    last = np.stack([r.final_values[STEPS - 1] for r in sync])
    assert (last[trunc[:, STEPS - 1]] != 0).all()
    assert np.stack([r.resets for r in sync]).any()
    assert all(not r.resets[0].any() for r in sync)  # a chunk starts after its resets
