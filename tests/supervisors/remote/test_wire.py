"""The node-to-node codec: payload round trips, arrays on their own frames, and refusals."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
import torch
import zmq
from msgspec import Raw, Struct

from supervisors._links import (
    KILLED,
    NOPROC,
    NORMAL,
    Crash,
    Killed,
    NoConnection,
    NoProc,
    Normal,
    Shutdown,
)
from supervisors.remote import PROTOCOL_VERSION, RemoteException
from supervisors.remote._wire import (
    CallMsg,
    CastMsg,
    Codec,
    Envelope,
    Heartbeat,
    Hello,
    Refuse,
    ReplyMsg,
    WireError,
    WireReason,
    reason_from_wire,
    reason_to_wire,
    type_key,
)

THRESHOLD = zmq.COPY_THRESHOLD


class Point(Struct):
    x: int
    y: float
    label: str = ""


class Batch(Struct):
    obs: np.ndarray
    actions: torch.Tensor
    step: int
    tags: list[str] = []


class Unregistered(Struct):
    a: int


def codec(*types: type) -> Codec:
    return Codec(types, copy_threshold=THRESHOLD)


def send_recv(value: object, *, sender: Codec | None = None, receiver: Codec | None = None) -> Any:
    """Encode ``value`` as a call on one codec and decode it on another, like two nodes."""
    sender = sender or codec()
    receiver = receiver or codec()
    kind, data, arrays = sender.encode_payload(value)
    header = sender.encode(CallMsg(7, "echo", kind, Raw(data)))
    env = receiver.decode(header)
    assert env.version == PROTOCOL_VERSION
    body = env.body
    assert isinstance(body, CallMsg)
    assert (body.corr, body.target, body.kind) == (7, "echo", kind)
    # Frames as they come off a socket: one buffer per array, no copy made by the receiver.
    frames = [bytearray(memoryview(a).cast("B")) if a.nbytes else bytearray() for a in arrays]
    return receiver.decode_payload(body.kind, body.payload, frames)


def ext_payload(*exts: tuple[Any, ...], code: int = 1) -> Raw:
    """A plain payload holding hand-made array extensions ``(index, dtype, shape)``."""
    items = [msgspec.msgpack.Ext(code, msgspec.msgpack.encode(meta)) for meta in exts]
    return Raw(msgspec.msgpack.encode(items))


# -- plain data and Structs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        -(2**63),
        2**64 - 1,
        1.5,
        "héllo",
        b"\x00\xff",
        [1, [2, [3]]],
        {"a": 1, "b": [True, False, None]},
        {"nested": {"deep": {"deeper": "x" * 1000}}},
        [],
        {},
    ],
)
def test_plain_data_round_trip(value: object) -> None:
    assert send_recv(value) == value


def test_plain_data_has_empty_kind_and_no_arrays() -> None:
    kind, _, arrays = codec().encode_payload({"a": [1, 2]})
    assert kind == ""
    assert arrays == []


def test_registered_struct_round_trip() -> None:
    p = Point(1, 2.5, "here")
    kind, _, _ = codec(Point).encode_payload(p)
    assert kind == type_key(Point) == f"{__name__}.Point"
    back = send_recv(p, sender=codec(Point), receiver=codec(Point))
    assert type(back) is Point
    assert back == p


def test_struct_kind_is_sent_even_when_sender_did_not_register_it() -> None:
    back = send_recv(Point(3, 4.0), sender=codec(), receiver=codec(Point))
    assert back == Point(3, 4.0)


def test_struct_with_array_and_tensor_fields_round_trip() -> None:
    obs = np.arange(12, dtype=np.float32).reshape(3, 4)
    actions = torch.arange(5, dtype=torch.int64)
    b = Batch(obs=obs, actions=actions, step=9, tags=["x"])
    back = send_recv(b, sender=codec(Batch), receiver=codec(Batch))
    assert type(back) is Batch
    assert isinstance(back.obs, np.ndarray)
    assert back.obs.dtype == np.float32
    np.testing.assert_array_equal(back.obs, obs)
    assert isinstance(back.actions, torch.Tensor)
    assert back.actions.dtype == torch.int64
    assert torch.equal(back.actions, actions)
    assert (back.step, back.tags) == (9, ["x"])


def test_struct_array_fields_convert_between_numpy_and_torch() -> None:
    # A sender may put a tensor where the receiver's field says ndarray, and vice versa.
    b = Batch(obs=torch.ones(2, 2), actions=np.array([1, 2, 3], dtype=np.int32), step=0)  # type: ignore[arg-type]
    back = send_recv(b, sender=codec(Batch), receiver=codec(Batch))
    assert isinstance(back.obs, np.ndarray)
    np.testing.assert_array_equal(back.obs, np.ones((2, 2), dtype=np.float32))
    assert isinstance(back.actions, torch.Tensor)
    assert back.actions.tolist() == [1, 2, 3]


def test_unregistered_struct_kind_is_refused() -> None:
    sender = codec(Unregistered)
    kind, data, arrays = sender.encode_payload(Unregistered(1))
    with pytest.raises(WireError) as info:
        codec(Point).decode_payload(kind, Raw(data), arrays)
    assert info.value.cause == "unknown_type"
    assert type_key(Unregistered) in str(info.value)


def test_unknown_kind_string_is_refused() -> None:
    with pytest.raises(WireError) as info:
        codec().decode_payload("builtins.object", Raw(msgspec.msgpack.encode(1)), [])
    assert info.value.cause == "unknown_type"


def test_registered_struct_with_wrong_fields_is_a_decode_error() -> None:
    with pytest.raises(WireError) as info:
        codec(Point).decode_payload(type_key(Point), Raw(msgspec.msgpack.encode({"x": "no"})), [])
    assert info.value.cause == "decode"


@pytest.mark.parametrize("value", [object(), {"k": object()}, [1, complex], Ellipsis])
def test_unencodable_value_is_a_clear_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="cannot send"):
        codec().encode_payload(value)


def test_unencodable_payload_never_escapes_as_another_exception() -> None:
    # Whatever the exception type, encoding an unsupported object must fail loudly.
    with pytest.raises(Exception, match=r"unsupported type|cannot send"):
        codec().encode_payload(object())


# -- numpy arrays ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arr",
    [
        np.array(3.5),  # 0-d
        np.array(7, dtype=np.int8),
        np.zeros((0,), dtype=np.float32),  # empty
        np.zeros((3, 0, 2), dtype=np.int64),
        np.arange(10, dtype=np.uint8),
        np.arange(24, dtype=np.int16).reshape(2, 3, 4),
        np.linspace(0, 1, 7, dtype=np.float64),
        np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
        np.array([True, False, True]),
        np.arange(6, dtype=np.float16).reshape(3, 2),
        np.arange(5, dtype=">i4"),  # big-endian
        np.arange(5, dtype=">f8"),
        np.arange(THRESHOLD, dtype=np.float32),  # above the zero-copy threshold
    ],
    ids=lambda a: f"{a.dtype.str}{list(a.shape)}",
)
def test_numpy_round_trip(arr: np.ndarray) -> None:
    back = send_recv({"a": arr})["a"]
    assert isinstance(back, np.ndarray)
    assert back.dtype == arr.dtype  # byte order included
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_big_endian_values_survive() -> None:
    arr = np.array([1, 256, -2], dtype=">i4")
    back = send_recv(arr)
    assert back.dtype.str == ">i4"
    assert back.tolist() == [1, 256, -2]


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(20, dtype=np.int32)[::3],
        lambda: np.arange(12, dtype=np.float64).reshape(3, 4).T,
        lambda: np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        lambda: np.arange(60, dtype=np.int16).reshape(3, 4, 5)[:, 1:3, ::2],
    ],
    ids=["strided", "transposed", "fortran", "sliced"],
)
def test_non_contiguous_arrays_are_sent_contiguous(make: Any) -> None:
    arr = make()
    assert not arr.flags.c_contiguous
    _, _, arrays = codec().encode_payload(arr)
    assert len(arrays) == 1
    assert arrays[0].flags.c_contiguous
    back = send_recv(arr)
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_several_arrays_get_one_frame_each_in_order() -> None:
    a, b, c = np.arange(3), np.ones(4, dtype=np.float32), np.zeros((2, 2), dtype=np.uint8)
    _, _, arrays = codec().encode_payload([a, {"b": b}, (c, a)])
    assert len(arrays) == 4
    back = send_recv([a, {"b": b}, (c, a)])
    np.testing.assert_array_equal(back[0], a)
    np.testing.assert_array_equal(back[1]["b"], b)
    np.testing.assert_array_equal(back[2][0], c)
    np.testing.assert_array_equal(back[2][1], a)


@pytest.mark.parametrize("dtype", ["O", "U3", "S4", "M8[ns]", "V8"])
def test_non_numeric_arrays_are_not_sent(dtype: str) -> None:
    arr = np.zeros(2, dtype=dtype)
    with pytest.raises(TypeError, match="numeric"):
        codec().encode_payload(arr)


# -- torch ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tensor",
    [
        torch.arange(10, dtype=torch.float32),
        torch.tensor(2.0),
        torch.zeros(0, 3),
        torch.arange(12, dtype=torch.int32).reshape(3, 4).T,  # non-contiguous
        torch.tensor([True, False]),
        torch.randn(4, 4, requires_grad=True),
    ],
    ids=["float", "0-d", "empty", "transposed", "bool", "requires-grad"],
)
def test_cpu_tensors_come_back_as_tensors(tensor: torch.Tensor) -> None:
    back = send_recv({"t": tensor})["t"]
    assert isinstance(back, torch.Tensor)
    assert back.dtype == tensor.dtype
    assert back.shape == tensor.shape
    assert back.device.type == "cpu"
    assert torch.equal(back, tensor.detach())


def test_non_cpu_tensor_is_refused_with_a_clear_message() -> None:
    t = torch.empty(3, device="meta")
    with pytest.raises(TypeError) as info:
        codec().encode_payload({"t": t})
    msg = str(info.value)
    assert "meta" in msg
    assert "cpu" in msg.lower()


def test_non_cpu_tensor_in_struct_field_is_refused() -> None:
    b = Batch(obs=np.zeros(1), actions=torch.empty(2, device="meta"), step=0)
    with pytest.raises(TypeError, match="meta"):
        codec(Batch).encode_payload(b)


# -- zero copy on receive ------------------------------------------------------------------


def test_decoded_array_shares_the_bytearray_frame() -> None:
    c = codec()
    arr = np.arange(16, dtype=np.int32)
    kind, data, arrays = c.encode_payload(arr)
    frame = bytearray(arrays[0].tobytes())
    back = c.decode_payload(kind, Raw(data), [frame])
    assert np.shares_memory(back, np.frombuffer(frame, dtype=np.uint8))
    frame[0:4] = np.int32(-99).tobytes()
    assert back[0] == -99  # the write to the source buffer shows through


def test_decoded_array_shares_the_zmq_frame() -> None:
    c = codec()
    arr = np.arange(THRESHOLD, dtype=np.float64)
    kind, data, arrays = c.encode_payload(arr)
    frame = zmq.Frame(arrays[0])
    back = c.decode_payload(kind, Raw(data), [frame])
    np.testing.assert_array_equal(back, arr)
    assert np.shares_memory(back, np.frombuffer(frame.buffer, dtype=np.uint8))


def test_decoded_tensor_shares_the_frame() -> None:
    c = codec()
    t = torch.arange(8, dtype=torch.int64)
    kind, data, arrays = c.encode_payload(t)
    frame = bytearray(arrays[0].tobytes())
    back = c.decode_payload(kind, Raw(data), [frame])
    assert isinstance(back, torch.Tensor)
    frame[0:8] = np.int64(12345).tobytes()
    assert int(back[0]) == 12345


def test_encoding_contiguous_array_does_not_copy() -> None:
    arr = np.arange(THRESHOLD, dtype=np.float32)
    _, _, arrays = codec().encode_payload(arr)
    assert np.shares_memory(arrays[0], arr)


# -- inconsistent array metadata -----------------------------------------------------------


def _bad_array(payload: Raw, frames: list[Any]) -> WireError:
    with pytest.raises(WireError) as info:
        codec().decode_payload("", payload, frames)
    assert info.value.cause == "bad_array", info.value
    return info.value


def test_frame_length_mismatch_is_bad_array() -> None:
    err = _bad_array(ext_payload((0, "<f4", (3,))), [bytearray(8)])
    assert "8 bytes" in str(err)


def test_frame_too_long_is_bad_array() -> None:
    _bad_array(ext_payload((0, "<f4", (3,))), [bytearray(16)])


def test_index_out_of_range_is_bad_array() -> None:
    _bad_array(ext_payload((1, "<f4", (1,))), [bytearray(4)])
    _bad_array(ext_payload((0, "<f4", (1,))), [])
    _bad_array(ext_payload((-1, "<f4", (1,))), [bytearray(4)])


def test_reused_frame_is_bad_array() -> None:
    _bad_array(ext_payload((0, "<f4", (1,)), (0, "<f4", (1,))), [bytearray(4)])


def test_extra_unreferenced_frame_is_bad_array() -> None:
    _bad_array(ext_payload((0, "<f4", (1,))), [bytearray(4), bytearray(4)])
    # Plain data without any array, but an array frame came along.
    _bad_array(Raw(msgspec.msgpack.encode([1, 2])), [bytearray(4)])


@pytest.mark.parametrize("dtype", ["|O", "O", "<U2", "|S4", "|V8", "<M8[ns]", "<f4,<i4"])
def test_non_numeric_dtype_is_bad_array(dtype: str) -> None:
    _bad_array(ext_payload((0, dtype, (1,))), [bytearray(np.dtype(dtype).itemsize)])


def test_unparseable_dtype_is_bad_array() -> None:
    _bad_array(ext_payload((0, "not-a-dtype", (1,))), [bytearray(4)])


def test_negative_shape_is_bad_array() -> None:
    _bad_array(ext_payload((0, "<f4", (-1,))), [bytearray(4)])
    _bad_array(ext_payload((0, "<f4", (-2, -2))), [bytearray(16)])


def test_malformed_array_metadata_is_bad_array() -> None:
    _bad_array(ext_payload(("zero", "<f4", (1,))), [bytearray(4)])
    _bad_array(ext_payload((0, "<f4")), [bytearray(4)])


def test_unknown_extension_code_is_refused() -> None:
    with pytest.raises(WireError) as info:
        codec().decode_payload("", ext_payload((0, "<f4", (1,)), code=9), [bytearray(4)])
    assert info.value.cause == "decode"


def test_garbage_payload_is_decode_error() -> None:
    with pytest.raises(WireError) as info:
        codec().decode_payload("", Raw(b"\xc1"), [])
    assert info.value.cause == "decode"


# -- headers and protocol versions ---------------------------------------------------------


def test_header_round_trip() -> None:
    c = codec()
    for body in (
        Hello(PROTOCOL_VERSION, "a", 5),
        Heartbeat(3),
        CastMsg("echo", True, "", Raw(msgspec.msgpack.encode(1))),
        ReplyMsg(4, "exited", reason=WireReason("crash", "boom", "ValueError")),
    ):
        env = c.decode(c.encode(body))
        assert env == Envelope(PROTOCOL_VERSION, body)


def test_other_protocol_version_is_refused() -> None:
    c = codec()
    header = c.encode(Heartbeat(1), version=PROTOCOL_VERSION + 1)
    with pytest.raises(WireError) as info:
        c.decode(header)
    assert info.value.cause == "version"


def test_other_version_with_unknown_message_is_a_version_error() -> None:
    # A future protocol may add message types: the version, not the tag, is the reason.
    header = msgspec.msgpack.encode([PROTOCOL_VERSION + 1, ["brand-new", 1, 2]])
    with pytest.raises(WireError) as info:
        codec().decode(header)
    assert info.value.cause == "version"


def test_same_version_with_unknown_message_is_a_decode_error() -> None:
    header = msgspec.msgpack.encode([PROTOCOL_VERSION, ["brand-new", 1, 2]])
    with pytest.raises(WireError) as info:
        codec().decode(header)
    assert info.value.cause == "decode"


@pytest.mark.parametrize("version", [0, PROTOCOL_VERSION + 1, 99])
def test_hello_and_refuse_of_another_version_still_decode(version: int) -> None:
    c = codec()
    env = c.decode(c.encode(Hello(version, "old", 1), version=version))
    assert env.version == version
    assert env.body == Hello(version, "old", 1)
    env = c.decode(c.encode(Refuse(version, "old", "mismatch"), version=version))
    assert env.body == Refuse(version, "old", "mismatch")


@pytest.mark.parametrize("header", [b"", b"\xc1", b"\x93\x01", b"not msgpack at all", b"\x01"])
def test_garbage_header_is_decode_error(header: bytes) -> None:
    with pytest.raises(WireError) as info:
        codec().decode(header)
    assert info.value.cause == "decode"


@pytest.mark.parametrize(
    "header",
    [
        msgspec.msgpack.encode([PROTOCOL_VERSION, ["hello", 1, "x", 2]]).replace(b"x", b"\x9a"),
        b"\xa1\xff",  # not even an envelope: a bare invalid str
        msgspec.msgpack.encode([PROTOCOL_VERSION, ["hb", "\x01"]]).replace(b"\x01", b"\xc3"),
    ],
    ids=["hello-name", "bare-str", "wrong-field"],
)
def test_header_with_invalid_utf8_is_decode_error(header: bytes) -> None:
    with pytest.raises(WireError) as info:
        codec().decode(header)
    assert info.value.cause == "decode"


def test_payload_with_invalid_utf8_is_decode_error() -> None:
    with pytest.raises(WireError) as info:
        codec().decode_payload("", Raw(b"\xa1\x9a"), [])
    assert info.value.cause == "decode"


def test_decode_accepts_a_memoryview() -> None:
    c = codec()
    header = c.encode(Heartbeat(11))
    assert c.decode(memoryview(header)).body == Heartbeat(11)


# -- exit reasons ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason",
    [NORMAL, Shutdown(), KILLED, NOPROC, NoConnection("node-b")],
    ids=repr,
)
def test_simple_reasons_round_trip(reason: Any) -> None:
    wire = reason_to_wire(reason)
    assert isinstance(wire, WireReason)
    assert reason_from_wire(wire) == reason


def test_reason_types_survive() -> None:
    assert isinstance(reason_from_wire(reason_to_wire(NORMAL)), Normal)
    assert isinstance(reason_from_wire(reason_to_wire(KILLED)), Killed)
    assert isinstance(reason_from_wire(reason_to_wire(NOPROC)), NoProc)
    back = reason_from_wire(reason_to_wire(NoConnection("x")))
    assert isinstance(back, NoConnection)
    assert back.node == "x"


def test_shutdown_with_term_keeps_its_text() -> None:
    back = reason_from_wire(reason_to_wire(Shutdown("maintenance")))
    assert isinstance(back, Shutdown)
    assert back.is_shutdown
    assert "maintenance" in str(back.term)


def test_crash_becomes_remote_exception() -> None:
    back = reason_from_wire(reason_to_wire(Crash(ValueError("boom"))))
    assert isinstance(back, Crash)
    exc = back.exception
    assert isinstance(exc, RemoteException)
    assert exc.type_name == "ValueError"
    assert exc.message == "boom"
    assert "ValueError" in str(exc)
    assert "boom" in str(exc)
    assert back.is_abnormal


def test_crash_of_a_remote_exception_keeps_the_original_type() -> None:
    once = reason_from_wire(reason_to_wire(Crash(KeyError("k"))))
    assert isinstance(once, Crash)
    twice = reason_from_wire(reason_to_wire(once))
    assert isinstance(twice, Crash)
    assert isinstance(twice.exception, RemoteException)
    assert twice.exception.type_name == "KeyError"
    assert twice.exception.message == once.exception.message  # type: ignore[attr-defined]


def test_reason_survives_the_wire_inside_a_reply() -> None:
    c = codec()
    reply = ReplyMsg(1, "exited", reason=reason_to_wire(Crash(RuntimeError("down"))))
    body = c.decode(c.encode(reply)).body
    assert isinstance(body, ReplyMsg)
    assert body.reason is not None
    back = reason_from_wire(body.reason)
    assert isinstance(back, Crash)
    assert isinstance(back.exception, RemoteException)
    assert back.exception.type_name == "RuntimeError"
    assert back.exception.message == "down"


def test_unknown_wire_reason_kind_is_a_crash() -> None:
    back = reason_from_wire(WireReason("martian", "detail"))
    assert isinstance(back, Crash)
    assert isinstance(back.exception, RemoteException)
