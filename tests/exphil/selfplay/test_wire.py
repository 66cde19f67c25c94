"""Every selfplay message round-trips through msgpack (numpy arrays by an ndarray hook, as
the node codec carries them as frames) and TYPES lists every message the module defines."""

from __future__ import annotations

from typing import Any, Union

import msgspec
import numpy as np
import pytest

from exphil import wire
from exphil.wire import TYPES


def enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"dtype": obj.dtype.str, "shape": list(obj.shape), "data": obj.tobytes()}
    raise NotImplementedError(type(obj))


def dec_hook(tp: type, obj: Any) -> Any:
    if tp is np.ndarray:
        return np.frombuffer(obj["data"], dtype=obj["dtype"]).reshape(obj["shape"]).copy()
    raise NotImplementedError(tp)


def arr(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return np.arange(int(np.prod(shape)), dtype=np.float64).astype(dtype).reshape(shape)


def trajectory(teacher: bool) -> wire.Trajectory:
    t, k = 3, 2
    u8 = np.uint8
    return wire.Trajectory(
        stream="w/1/r0/0", seq=4, worker="w", version=7, version_max=8,
        dense=arr((t, k, 5)), ids=arr((t, k, 2), np.int64), buttons=arr((t, k, 8), u8),
        sticks=arr((t, k, 5), np.int64), log_prob=-arr((t, k)), values=arr((t, k)) / 3,
        rewards=arr((t, k)), terminated=arr((t, k), u8) % 2, truncated=arr((t, k), u8) % 2,
        final_values=arr((t, k)), resets=arr((t, k), u8) % 2, next_values=arr((k,)),
        state0=[arr((k, 1, 4))], teacher_state0=[arr((k, 1, 4))] if teacher else None,
    )  # fmt: skip


weights = {"a.weight": arr((3, 2)), "b.bias": arr((4,), np.int64)}
report = wire.WorkerReport(
    worker="w", games=8, frames=100, fps=1.5, games_finished=2, runner_restarts=1,
    chunks_sent=3, chunks_dropped=0, frames_dropped=0, inference_batch=7.5,
    inference_wait_ms=0.2, inference_ms=1.0, deadline_misses=0, version=4,
)  # fmt: skip
entry = wire.MixEntry(name="cpu:7", kind="cpu", weight=0.04)
SAMPLES: list[Any] = [
    wire.Join(
        worker="w",
        protocol=wire.PROTOCOL,
        exphil_version="0.1",
        games=8,
        runners=2,
        host="h",
        pid=3,
        env={"games": 8},
        policy=None,
    ),
    wire.Welcome(run="r", config=b"{}", version=3, weights=weights, delay=2, seed=9),
    wire.Refused(reason="protocol 2, the learner speaks 1"),
    wire.PolicyUpdate(version=5, weights=weights),
    wire.GetWeights(have=4),
    wire.Status(report=report),
    wire.StatusReply(version=5, stopping=True),
    report,
    wire.GetMix(worker="w", slots=4),
    entry,
    wire.OpponentMix(entries=[entry, wire.MixEntry(name="v3", kind="snapshot", weight=0.4)]),
    wire.GetSnapshot(name="v3"),
    wire.Snapshot(name="v3", weights=weights),
    trajectory(teacher=False),
    trajectory(teacher=True),
    wire.GameResult(
        result_id="w/1/r0/0/1",
        worker="w",
        learner="v3",
        opponent="cpu:7",
        winner=-1,
        frames=600,
        reason="timeout",
    ),
    wire.Watch(client="dashboard-h-1", protocol=wire.PROTOCOL),
    wire.Control(client="dashboard-h-1", action="checkpoint"),
    wire.ControlReply(ok=True, text="checkpoint after update 4"),
    wire.Watching(
        run="r",
        metrics="tcp://127.0.0.1:5556",
        history=[
            wire.UpdateRecord(
                time=1.0,
                version=3,
                frames=4096,
                losses={"policy_loss": -0.01},
                samples_per_s=4e4,
                lag_max=1,
                reward_per_frame=0.001,
                anchors={"cpu:7": 0.25},
            )
        ],
        events=[wire.Event(time=2.0, kind="join", text="worker w joined")],
    ),
]


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, msgspec.Struct):
        return type(a) is type(b) and all(
            same(getattr(a, f), getattr(b, f)) for f in a.__struct_fields__
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return bool(a == b) and type(a) is type(b)


def test_types_lists_every_message_once() -> None:
    messages = {
        v for v in vars(wire).values()
        if isinstance(v, type) and issubclass(v, wire._Msg) and v is not wire._Msg
    }  # fmt: skip
    # a dashboard's Watch is answered with these (they travel in a call's reply too)
    defined = messages | {wire.Watching, wire.UpdateRecord, wire.Event}
    assert set(TYPES) == defined and len(TYPES) == len(defined)
    assert {type(s) for s in SAMPLES} == messages | {wire.Watching}  # samples cover them


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: Any) -> None:
    data = msgspec.msgpack.Encoder(enc_hook=enc_hook).encode(msg)
    decoder = msgspec.msgpack.Decoder(Union[TYPES], dec_hook=dec_hook)  # noqa: UP007
    out = decoder.decode(data)
    assert same(msg, out)


def test_metrics_round_trip_as_json() -> None:
    m = wire.Metrics(
        time=1.0, run="r", version=3, max_updates=10, frames=1000, elapsed_s=2.0,
        losses={"value_loss": 0.5}, env_fps=500.0, updates_per_s=1.5, samples_per_s=10.0,
        waiting_for_data_s=0.1, lags={0: 3, 2: 1}, chunks={"received": 4}, workers=[],
        leaderboard=[wire.Rating(name="v3", rating=1010.0, games=4, win_rate=None, anchor=False)],
        anchors={"cpu:7": 0.5},
    )  # fmt: skip
    e = wire.Event(time=1.0, kind="restart", text="runner 0")
    dec = msgspec.json.Decoder(wire.METRICS_TYPES)
    assert dec.decode(msgspec.json.encode(m)) == m
    assert dec.decode(msgspec.json.encode(e)) == e
