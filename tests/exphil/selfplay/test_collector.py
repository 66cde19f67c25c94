"""The ExperienceCollector's bookkeeping (Collector) and the BatchQueue between it and the
learner: lag, staleness, the sequence audit, bad chunks, batch assembly, backpressure."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import anyio
import msgspec
import numpy as np
import pytest

from exphil.selfplay import Collector
from exphil.selfplay._services import BatchQueue
from exphil.wire import Trajectory

T, D, K = 4, 6, 3  # frames per chunk, dense width, id columns


def chunk(
    stream: str = "w/0/r0/0", seq: int = 0, *, version: int = 0, k: int = 2, fill: float = 0.0,
    **replace: Any,
) -> Trajectory:  # fmt: skip
    """A well-formed chunk of ``k`` games; every float array holds ``fill`` (rewards 1.0)."""
    f32 = np.float32
    c = Trajectory(
        stream=stream, seq=seq, worker=stream.split("/")[0], version=version,
        version_max=version, dense=np.full((T, k, D), fill, f32),
        ids=np.zeros((T, k, K), np.int64), buttons=np.zeros((T, k, 8), np.uint8),
        sticks=np.zeros((T, k, 5), np.int64), log_prob=np.full((T, k), fill, f32),
        values=np.full((T, k), fill, f32), rewards=np.ones((T, k), f32),
        terminated=np.zeros((T, k), np.uint8), truncated=np.zeros((T, k), np.uint8),
        final_values=np.zeros((T, k), f32), resets=np.zeros((T, k), np.uint8),
        next_values=np.full(k, fill, f32), state0=[np.full((k, 1, 5), fill, f32)],
    )  # fmt: skip
    return msgspec.structs.replace(c, **replace) if replace else c


def collector(games: int = 4, lag: int = 2, **kw: Any) -> Collector:
    return Collector(games, max_policy_lag=lag, gamma=0.9, dense_dim=D, id_cols=K, **kw)


def test_lags_are_counted_and_stale_chunks_dropped_on_arrival() -> None:
    c = collector(games=100, lag=2)
    c.set_version(5)
    assert c.offer(chunk("a", 0, version=5)) == "accepted"
    assert c.offer(chunk("a", 1, version=3)) == "accepted"  # lag 2: still fine
    assert c.offer(chunk("a", 2, version=2)) == "stale"  # lag 3
    assert c.offer(chunk("b", 0, version=0)) == "stale"
    assert c.lags == {0: 1, 2: 1, 3: 1, 5: 1}
    s = c.statistics()
    assert (s.received, s.accepted, s.stale, s.streams) == (4, 4, 2, 2)
    assert c.pending_games == 4 and not c.duplicates and not c.gaps  # stale is not a gap


def test_chunks_waiting_go_stale_when_the_learner_moves_on() -> None:
    c = collector(games=4, lag=1)
    c.offer(chunk("a", 0, version=0))
    c.set_version(1)
    assert c.stale == 0 and c.pending_games == 2
    c.set_version(2)  # chunk a is now 2 behind: dropped while it waits
    assert c.stale == 1 and c.pending_games == 0
    c.offer(chunk("b", 0, version=1))
    assert c.take() is None
    c.offer(chunk("c", 0, version=2))
    b = c.take()
    assert b is not None and b.lags == [1, 0] and b.chunks == 2


def test_a_ready_batch_drops_what_became_stale_and_waits_for_more() -> None:
    c = collector(games=4, lag=1)
    c.offer(chunk("a", 0, version=0))
    c.offer(chunk("b", 0, version=1))  # a batch is assembled (4 games) ...
    c.set_version(2)  # ... then the learner moves on: take() checks its chunks again
    assert c.take() is None and c.stale == 1 and c.pending_games == 2
    c.offer(chunk("c", 0, version=2))
    b = c.take()
    assert b is not None and b.workers == {"b": 1, "c": 1}


def test_duplicates_are_dropped_and_gaps_counted() -> None:
    c = collector(games=100)
    assert c.offer(chunk("s", 0)) == "accepted"
    assert c.offer(chunk("s", 0)) == "duplicate"
    assert c.offer(chunk("s", 3)) == "accepted"  # 1 and 2 never came
    assert c.offer(chunk("s", 2)) == "duplicate"  # too late: its stream moved past it
    assert c.offer(chunk("t", 0)) == "accepted"  # another stream starts at 0
    assert (c.duplicates, c.gaps) == (2, 2)
    assert c.accepted_seqs == {"s": [0, 3], "t": [0]}
    assert c.pending_games == 6


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"rewards": np.full((T, 2), np.nan, np.float32)}, "rewards has non-finite"),
        ({"values": np.zeros((T, 3), np.float32)}, r"values has shape \(4, 3\), expected \(4, 2\)"),
        ({"dense": np.zeros((T, 2, D + 1), np.float32)}, "dense has shape"),
        ({"next_values": np.zeros(3, np.float32)}, "next_values has shape"),
        ({"state0": [np.zeros((5, 1, 5), np.float32)]}, "state0 has a tensor"),
        ({"rewards": np.zeros(T, np.float32)}, "rewards has shape"),
        ({"log_prob": np.full((T, 2), np.inf, np.float32)}, "log_prob has non-finite"),
    ],
)
def test_a_bad_chunk_is_counted_with_a_message_never_raised(bad: dict, message: str) -> None:
    c = collector(games=2)
    assert c.offer(chunk("s", 0, **bad)) == "bad"
    assert c.bad == 1 and c.accepted == 0 and c.pending_games == 0
    assert c.last_error.startswith("chunk s#0: ")
    assert re.search(message, c.last_error), c.last_error
    assert c.offer(chunk("s", 0)) == "accepted"  # the stream's seq 0 is still expected


def test_batches_join_chunks_side_by_side_in_arrival_order() -> None:
    c = collector(games=5, normalize=True)
    for i, (stream, k) in enumerate([("x", 2), ("y", 1), ("z", 3)]):
        assert c.offer(chunk(stream, 0, k=k, fill=float(i))) == "accepted"
        assert not c.full  # at most one batch ready, nothing behind it
    assert len(c.ready) == 1 and c.pending_games == 0
    b = c.take()
    assert b is not None and b.chunks == 3 and b.workers == {"x": 1, "y": 1, "z": 1}
    ro = b.rollout
    assert ro.rewards.shape == (T, 6) and ro.dense.shape == (T, 6, D)
    assert np.array_equal(ro.values[0], [0, 0, 1, 2, 2, 2])  # columns: x's 2, y's 1, z's 3
    assert np.array_equal(ro.next_values, [0, 0, 1, 2, 2, 2])
    assert np.array_equal(ro.state0[0][:, 0, 0].numpy(), [0, 0, 1, 2, 2, 2])
    assert ro.actions["buttons"].shape == (T, 6, 8) and ro.actions["shoulder"].shape == (T, 6)
    assert ro.terminated.dtype == bool and ro.teacher_state0 is None
    assert ro.policy_version == 0
    # rewards scaled by the running std of the return (the rollout keeps the raw ones)
    assert np.array_equal(ro.rewards, np.ones((T, 6), np.float32))
    np.testing.assert_allclose(b.rewards, 1.0 / c.ret_stats.std, rtol=1e-6)
    assert c.ret_stats.std != 1.0
    assert c.take() is None and c.batches == 1


def test_full_is_backpressure_a_ready_batch_and_a_full_one_pending() -> None:
    c = collector(games=2, max_ready=1)
    c.offer(chunk("a", 0))
    assert not c.full  # one batch ready, nothing pending
    c.offer(chunk("a", 1))
    assert c.full  # another whole batch waits behind it
    assert c.take() is not None and not c.full
    assert len(c.ready) == 1  # the pending chunk became the next ready batch


def test_state_dict_round_trip() -> None:
    c = collector(games=2)
    c.offer(chunk("a", 0))
    c.offer(chunk("a", 0))
    c.offer(chunk("a", 2, version=-9))
    c.offer(chunk("b", 0, rewards=np.full((T, 2), np.nan, np.float32)))
    c.take()
    state = msgspec.json.decode(msgspec.json.encode(c.state_dict()))  # JSON-able
    d = collector(games=2)
    d.load_state_dict(state)
    # counters, lags, each stream's position and the return statistics survive; pending
    # chunks do not
    assert d.statistics() == dataclasses.replace(c.statistics(), pending_games=0)
    for name in ("received", "accepted", "stale", "bad", "duplicates", "gaps", "batches"):
        assert getattr(d, name) == getattr(c, name), name
    assert d.lags == c.lags and d.next_seq == c.next_seq == {"a": 3}
    assert d.ret_stats.std == c.ret_stats.std


def test_after_a_resume_the_chunks_sent_past_the_checkpoint_are_counted_apart() -> None:
    c = collector(games=8)
    c.offer(chunk("a", 0))
    c.offer(chunk("a", 1))
    saved = c.state_dict()  # the checkpoint; the learner process then receives a#2 and dies
    d = collector(games=8)
    d.load_state_dict(saved)
    assert d.offer(chunk("a", 1)) == "duplicate"  # already trained before the checkpoint
    assert d.offer(chunk("a", 3)) == "accepted"  # a#2 died with the old learner process
    assert d.offer(chunk("new", 2)) == "accepted"  # a stream started after the checkpoint
    assert d.offer(chunk("a", 5)) == "accepted"  # a real gap, after the resume
    s = d.statistics()
    assert (s.lost_in_restart, s.gaps, s.duplicates) == (1 + 2, 1, 1)


async def test_batch_queue_waits_both_ways_and_closes(anyio_backend: str) -> None:
    q = BatchQueue(collector(games=2, max_ready=1))
    got: list[Any] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:

            async def take() -> None:
                got.append(await q.take())

            tg.start_soon(take)  # waits: no batch yet
            await anyio.wait_all_tasks_blocked()
            assert got == []
            assert await q.put(chunk("a", 0)) == "accepted"
        assert got and got[0] is not None and got[0].chunks == 1

        assert await q.put(chunk("a", 1)) == "accepted"  # ready
        assert await q.put(chunk("a", 2)) == "accepted"  # pending: now full
        assert q.collector.full
        puts: list[str] = []
        async with anyio.create_task_group() as tg:

            async def put() -> None:
                puts.append(await q.put(chunk("a", 3)))

            tg.start_soon(put)
            await anyio.wait_all_tasks_blocked()
            assert puts == []  # waits while full
            assert await q.take() is not None
        assert puts == ["accepted"]

        while q.collector.take() is not None:  # drain: the next take waits
            pass
        async with anyio.create_task_group() as tg:
            tg.start_soon(take)
            await anyio.wait_all_tasks_blocked()
            q.close()
        assert got[-1] is None
        assert await q.take() is None  # closed: returns at once
