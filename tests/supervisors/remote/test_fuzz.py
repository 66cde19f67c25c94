"""A node facing hostile input: random and mutated frames from raw ZeroMQ sockets.

Whatever arrives, the node must count it under ``node_statistics().bad_input`` (by cause),
log it (rate limited), keep running, and keep serving well-formed peers.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import anyio.from_thread
import msgspec
import numpy as np
import pytest
import structlog
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from msgspec import Raw

from supervisors import Actor, ActorRef, From, Runtime, call
from supervisors.remote import (
    NODE_NAME,
    PROTOCOL_VERSION,
    Node,
    RemoteError,
    RemoteRef,
    wait_for_node,
)
from supervisors.remote._wire import (
    AckMsg,
    CallMsg,
    CastMsg,
    Codec,
    DataMsg,
    DemonitorMsg,
    DownMsg,
    Heartbeat,
    Hello,
    MonitorMsg,
    Refuse,
    ReplyMsg,
    Reset,
    Welcome,
    WireError,
    WireReason,
)

pytestmark = pytest.mark.timeout(90)

KNOWN_CAUSES = {
    "decode",
    "version",
    "unknown_type",
    "bad_array",
    "oversized",
    "unknown_peer",
    "unknown_target",
    "stale_hello",
}
MAX_MESSAGE = 4096  # the node's max_message_size: anything bigger is "oversized"
HB = {"heartbeat_interval": 0.25, "heartbeat_timeout": 2.0}
CODEC = Codec(copy_threshold=zmq.COPY_THRESHOLD)


class Echo(Actor):
    async def init(self) -> None:
        self.casts = 0

    async def handle_call(self, request: Any, from_: From) -> Any:
        if isinstance(request, str) and request == "casts":
            return self.casts
        return request

    async def handle_cast(self, request: Any) -> None:
        self.casts += 1

    async def handle_info(self, message: Any) -> None:
        pass


def server_node() -> Node:
    return Node("srv", bind=["tcp://127.0.0.1:*"], max_message_size=MAX_MESSAGE, **HB)


def encode(body: Any) -> bytes:
    return CODEC.encode(body)


def payload(value: object) -> tuple[str, Raw, list[bytes]]:
    kind, data, arrays = CODEC.encode_payload(value)
    return kind, Raw(data), [a.tobytes() for a in arrays]


def call_frames(corr: int, target: str, value: object) -> list[bytes]:
    kind, raw, arrays = payload(value)
    return [encode(CallMsg(corr, target, kind, raw)), *arrays]


def cast_frames(target: str, value: object, *, info: bool = False) -> list[bytes]:
    kind, raw, arrays = payload(value)
    return [encode(CastMsg(target, info, kind, raw)), *arrays]


def hello(name: str) -> bytes:
    return encode(Hello(PROTOCOL_VERSION, name, 12345))


def make(cls: type[Any], **fields: Any) -> Any:
    """A message struct from the fields it has (the protocol may gain or drop some)."""
    return cls(**{k: v for k, v in fields.items() if k in cls.__struct_fields__})


# -- a raw client ------------------------------------------------------------------------------


class RawClient:
    """A blocking DEALER that speaks (or garbles) the protocol by hand."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str) -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDTIMEO, 2000)
        self.sock.connect(endpoint)

    def close(self) -> None:
        self.sock.close(0)

    def send(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def recv_until(self, want: Any, timeout: float = 3.0) -> tuple[Any, list[bytes]]:
        """Receive (skipping whatever else comes) until ``want(body)`` holds."""
        deadline = timeout * 1000
        while deadline > 0:
            if not self.sock.poll(min(deadline, 100)):
                deadline -= 100
                continue
            frames = self.sock.recv_multipart()
            try:
                body = CODEC.decode(frames[0]).body
            except Exception:
                continue
            if want(body):
                return body, frames[1:]
        raise TimeoutError("no matching answer from the node")

    def probe(self, corr: int, value: object) -> Any:
        """A full, well-formed exchange on this connection: hello, then a call to "echo"."""
        self.send([hello("prober")])
        self.send(call_frames(corr, "echo", value))
        body, arrays = self.recv_until(lambda b: isinstance(b, ReplyMsg) and b.corr == corr)
        assert body.status == "ok", body
        return CODEC.decode_payload(body.kind, body.payload, arrays)


# -- a node in its own thread (for the synchronous Hypothesis test) ---------------------------


class NodeThread:
    """A runtime with a node and an "echo" actor on its own event loop in another thread."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.node = server_node()
        self.ref: ActorRef | None = None

    async def _host(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        self._stop = anyio.Event()
        async with Runtime() as rt:
            self.ref = await rt.spawn(self.node, name=NODE_NAME)
            await rt.spawn(Echo(), name="echo")
            task_status.started()
            await self._stop.wait()

    @contextmanager
    def running(self) -> Iterator[NodeThread]:
        with anyio.from_thread.start_blocking_portal(self.backend) as portal:
            self.portal = portal
            future, _ = portal.start_task(self._host)
            try:
                yield self
            finally:
                portal.call(self._stop.set)
                future.result(timeout=10)

    @property
    def endpoint(self) -> str:
        return self.node.endpoints[0]

    def alive(self) -> bool:
        assert self.ref is not None
        return bool(self.portal.call(lambda: self.ref is not None and self.ref.alive))

    def bad_input(self) -> dict[str, int]:
        return dict(self.portal.call(self.node.statistics_snapshot).bad_input)


# -- what Hypothesis throws at the node ------------------------------------------------------

NUMBERS = np.arange(8, dtype=np.float32)

VALID: list[list[bytes]] = [
    [hello("fuzzer")],
    call_frames(1, "echo", {"a": [1, 2, 3], "b": "text"}),
    call_frames(2, "echo", [NUMBERS, "x"]),
    call_frames(3, "nobody", 1),
    call_frames(4, NODE_NAME, "statistics"),  # the node itself is not addressable remotely
    cast_frames(NODE_NAME, "x"),
    [encode(MonitorMsg(2, NODE_NAME))],
    cast_frames("echo", "hi"),
    cast_frames("echo", {"arr": NUMBERS}, info=True),
    [
        encode(
            make(
                DataMsg,
                channel="ch",
                incarnation=5,
                seq=1,
                base=1,
                target="echo",
                kind="",
                payload=Raw(msgspec.msgpack.encode(7)),
            )
        )
    ],
    [encode(AckMsg("ch", 5, 3))],
    [encode(MonitorMsg(1, "echo"))],
    [encode(DemonitorMsg(1))],
    [encode(DownMsg(9, WireReason("crash", "boom", "ValueError")))],
    [encode(ReplyMsg(77, "ok", "", Raw(msgspec.msgpack.encode(1))))],
    [encode(Heartbeat(1))],
    [encode(Reset("fuzzer", 3))],
    [encode(Welcome(PROTOCOL_VERSION, "fuzzer", 1))],
    [encode(Refuse(PROTOCOL_VERSION, "fuzzer", "no"))],
    [CODEC.encode(Hello(PROTOCOL_VERSION + 1, "future", 1), PROTOCOL_VERSION + 1)],
    [CODEC.encode(Heartbeat(1), PROTOCOL_VERSION + 1)],
]


@st.composite
def mutation(draw: st.DrawFn, data: bytes) -> bytes:
    op = draw(st.sampled_from(["flip", "truncate", "extend", "insert", "delete", "set"]))
    if not data:
        return draw(st.binary(min_size=1, max_size=16))
    i = draw(st.integers(0, len(data) - 1))
    if op == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    if op == "truncate":
        return data[:i]
    if op == "extend":
        return data + draw(st.binary(min_size=1, max_size=32))
    if op == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if op == "delete":
        return data[:i] + data[i + draw(st.integers(1, 8)) :]
    # "set": an interesting msgpack byte (type markers, lengths, ext codes)
    b = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0x90, 0xA0, 0xC0, 0xC1, 0xC7, 0xD4, 0xFF]))
    return data[:i] + bytes([b]) + data[i + 1 :]


@st.composite
def fuzz_message(draw: st.DrawFn) -> list[bytes]:
    how = draw(
        st.sampled_from(["valid", "random", "mutated", "frame_count", "bogus_array", "oversized"])
    )
    if how == "random":
        return draw(st.lists(st.binary(max_size=256), min_size=1, max_size=4))
    base = list(draw(st.sampled_from(VALID)))
    if how == "valid":  # well-formed messages in between change the session state
        return base
    if how == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(base) - 1))
            base[i] = draw(mutation(base[i]))
        return base
    if how == "frame_count":
        if len(base) > 1 and draw(st.booleans()):
            return base[: draw(st.integers(1, len(base) - 1))]  # array frames missing
        extra = draw(st.lists(st.binary(max_size=64), min_size=1, max_size=3))
        return base + extra  # unreferenced frames
    if how == "bogus_array":
        arrays = draw(st.lists(st.binary(max_size=80), min_size=1, max_size=2))
        return [call_frames(9, "echo", [NUMBERS])[0], *arrays]
    # oversized: beyond the node's max_message_size (far below libzmq's own limit)
    size = draw(st.integers(MAX_MESSAGE + 1, 3 * MAX_MESSAGE))
    if draw(st.booleans()):
        return [base[0], b"\x00" * size]
    return [base[0] + b"\x00" * size]


@st.composite
def fuzz_case(draw: st.DrawFn) -> tuple[bool, list[list[bytes]]]:
    """(say a proper hello first, so messages reach a session; the messages)."""
    return draw(st.booleans()), draw(st.lists(fuzz_message(), min_size=1, max_size=6))


async def _client_call(endpoint: str, backend_check: list[object]) -> None:
    async with Runtime() as rt:
        await rt.spawn(Node("proper", connect=[endpoint], **HB), name=NODE_NAME)
        await wait_for_node("srv", 10)
        echo = RemoteRef("srv", "echo")
        backend_check.append(await call(echo, {"still": "alive"}, timeout=5))
        back = await call(echo, np.arange(100, dtype=np.int64), timeout=5)  # < MAX_MESSAGE
        backend_check.append(back.sum())


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fuzzed_frames_never_break_the_node(backend: str) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    corr = itertools.count(1_000_000)
    try:
        with NodeThread(backend).running() as srv:
            before = srv.bad_input()

            # No shrinking: the node's state carries over between examples, so the first
            # failing example (the one during which the node broke) is the informative one.
            @settings(
                max_examples=80,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(fuzz_case())
            def throw(case: tuple[bool, list[list[bytes]]]) -> None:
                handshake, messages = case
                client = RawClient(ctx, srv.endpoint)
                try:
                    if handshake:
                        client.send([hello("fuzzer")])
                    for frames in messages:
                        client.send(frames)
                    # The same connection still gets a well-formed call answered, after
                    # everything above (one connection is handled in order).
                    n = next(corr)
                    assert client.probe(n, ["probe", n]) == ["probe", n]
                finally:
                    client.close()

            # Captured, not rendered: a handler failure would log a traceback per message.
            with structlog.testing.capture_logs() as logs:
                throw()

            assert srv.alive()
            bad = [e for e in logs if e["event"] == "node.bad_message"]
            assert bad, "bad input was never logged"
            assert {e["cause"] for e in bad} <= KNOWN_CAUSES
            assert not [e for e in logs if e["event"] == "node.handler_failed"]
            after = srv.bad_input()
            assert sum(after.values()) > sum(before.values())
            assert after.get("decode", 0) > before.get("decode", 0)
            assert after.get("oversized", 0) > before.get("oversized", 0)
            # Only known causes: "error" would mean a handler raised on some input.
            assert set(after) <= KNOWN_CAUSES, after

            # A proper node still gets its calls answered.
            results: list[object] = []
            anyio.run(_client_call, srv.endpoint, results, backend=backend)
            assert results == [{"still": "alive"}, sum(range(100))]
            assert srv.alive()
    finally:
        ctx.destroy(0)


# -- per-cause accounting (in-process, both backends) ----------------------------------------


@asynccontextmanager
async def node_in_task() -> AsyncIterator[tuple[Node, ActorRef]]:
    node = server_node()
    stop = anyio.Event()
    refs: list[ActorRef] = []

    async def host(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with Runtime() as rt:
            refs.append(await rt.spawn(node, name=NODE_NAME))
            await rt.spawn(Echo(), name="echo")
            task_status.started()
            await stop.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(host)
        try:
            yield node, refs[0]
        finally:
            stop.set()


async def wait_counts(node: Node, expected: dict[str, int], timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while True:
            counts = node.statistics_snapshot().bad_input
            if all(counts.get(k, 0) >= v for k, v in expected.items()):
                break
            await anyio.sleep(0.01)
    assert {k: counts.get(k, 0) for k in expected} == expected, counts


@pytest.fixture
def zctx() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(0)


@pytest.mark.anyio
async def test_bad_input_is_counted_by_cause(zctx: zmq.Context[Any]) -> None:
    async with node_in_task() as (node, ref):
        client = RawClient(zctx, node.endpoints[0])
        try:

            async def exchange(frames: list[bytes], want: Any) -> Any:
                client.send(frames)
                body, _ = await anyio.to_thread.run_sync(client.recv_until, want)
                return body

            expect: dict[str, int] = {}

            def bump(cause: str) -> dict[str, int]:
                expect[cause] = expect.get(cause, 0) + 1
                return dict(expect)

            # Without a session: not msgpack; a call from a stranger (answered by a Reset).
            client.send([b"\xc1 not msgpack"])
            await wait_counts(node, bump("decode"))
            await exchange(call_frames(1, "echo", 1), lambda b: isinstance(b, Reset))
            await wait_counts(node, bump("unknown_peer"))
            # Another protocol version: refused with a reason, counted.
            refuse = await exchange(
                [CODEC.encode(Hello(99, "old", 1), 99)], lambda b: isinstance(b, Refuse)
            )
            assert "version" in refuse.reason
            await wait_counts(node, bump("version"))
            client.send([CODEC.encode(Heartbeat(1), PROTOCOL_VERSION + 1)])
            await wait_counts(node, bump("version"))

            # With a session.
            await exchange([hello("raw")], lambda b: isinstance(b, Welcome))
            reply = await exchange(
                [encode(CallMsg(2, "echo", "no.such.Type", Raw(b"\x01")))],
                lambda b: isinstance(b, ReplyMsg) and b.corr == 2,
            )
            assert reply.status == "error"
            await wait_counts(node, bump("unknown_type"))
            header = call_frames(3, "echo", [NUMBERS])[0]
            reply = await exchange(
                [header, b"\x00" * 5], lambda b: isinstance(b, ReplyMsg) and b.corr == 3
            )
            assert reply.status == "error"
            assert "bad_array" in reply.reason.detail
            await wait_counts(node, bump("bad_array"))
            client.send([header])  # its array frame is missing
            await wait_counts(node, bump("bad_array"))
            client.send([*cast_frames("echo", 1), b"extra"])
            await wait_counts(node, bump("bad_array"))
            client.send([header, b"\x00" * (MAX_MESSAGE + 1)])
            await wait_counts(node, bump("oversized"))
            client.send(cast_frames("nobody", 1))
            await wait_counts(node, bump("unknown_target"))
            client.send([encode(Welcome(PROTOCOL_VERSION, "x", 1))])  # not for a bound socket
            await wait_counts(node, bump("decode"))

            # None of it hurt: a proper call on the same connection is answered.
            assert await anyio.to_thread.run_sync(client.probe, 50, "fine") == "fine"
            assert ref.alive
            assert node.statistics_snapshot().bad_input == expect
        finally:
            client.close()


@pytest.mark.anyio
async def test_bad_input_logging_is_rate_limited(zctx: zmq.Context[Any]) -> None:
    with structlog.testing.capture_logs() as logs:
        async with node_in_task() as (node, _):
            client = RawClient(zctx, node.endpoints[0])
            try:
                for i in range(50):
                    client.send([b"\xc1" + bytes([i])])
                client.send([b"\x00" * (MAX_MESSAGE + 1)])
                await wait_counts(node, {"decode": 50, "oversized": 1})
            finally:
                client.close()
    bad = [e for e in logs if e["event"] == "node.bad_message"]
    by_cause = {e["cause"]: e for e in bad}
    assert sorted(by_cause) == ["decode", "oversized"]
    assert [e["cause"] for e in bad].count("decode") == 1  # one line, not fifty
    assert all(e["log_level"] == "warning" for e in bad)
    assert by_cause["decode"]["node"] == "srv"


def _bad_utf8_hello() -> bytes:
    header = hello("fu\x01zer")
    return header.replace(b"\x01", b"\xa7")  # the node name is no longer valid UTF-8


@pytest.mark.anyio
async def test_header_with_invalid_utf8_is_a_decode_error(zctx: zmq.Context[Any]) -> None:
    with structlog.testing.capture_logs() as logs:
        async with node_in_task() as (node, ref):
            client = RawClient(zctx, node.endpoints[0])
            try:
                client.send([_bad_utf8_hello()])
                with anyio.fail_after(5):
                    while True:
                        if node.statistics_snapshot().bad_input:
                            break
                        await anyio.sleep(0.01)
                assert ref.alive
                assert node.statistics_snapshot().bad_input == {"decode": 1}
            finally:
                client.close()
    assert not [e for e in logs if e["event"] == "node.handler_failed"]


@pytest.mark.anyio
async def test_a_peer_cannot_crash_the_node_by_calling_it(zctx: zmq.Context[Any]) -> None:
    async with node_in_task() as (node, ref):
        client = RawClient(zctx, node.endpoints[0])
        try:
            client.send([hello("evil")])
            client.send(call_frames(1, NODE_NAME, "hi"))
            client.send(cast_frames(NODE_NAME, "hi"))
            await anyio.sleep(0.2)
            assert ref.alive
            assert await anyio.to_thread.run_sync(client.probe, 2, "ok") == "ok"
        finally:
            client.close()


class Unencodable(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        return object()  # cannot go on the wire


@pytest.mark.anyio
async def test_unencodable_reply_is_reported_to_the_caller() -> None:
    node = server_node()
    stop = anyio.Event()
    refs: list[ActorRef] = []

    async def host(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with Runtime() as rt:
            await rt.spawn(node, name=NODE_NAME)
            refs.append(await rt.spawn(Unencodable(), name="bad"))
            task_status.started()
            await stop.wait()

    async with anyio.create_task_group() as tg:
        await tg.start(host)
        try:
            async with Runtime() as rt:
                await rt.spawn(Node("cli", connect=[node.endpoints[0]], **HB), name=NODE_NAME)
                await wait_for_node("srv", 10)
                with pytest.raises(RemoteError):
                    await call(RemoteRef("srv", "bad"), 1, timeout=1)
                assert refs[0].alive
        finally:
            stop.set()


@pytest.mark.anyio
async def test_oversized_call_gets_remote_error() -> None:
    async with node_in_task() as (node, ref), Runtime() as rt:
        await rt.spawn(Node("cli", connect=[node.endpoints[0]], **HB), name=NODE_NAME)
        await wait_for_node("srv", 10)
        with pytest.raises(RemoteError):
            await call(RemoteRef("srv", "echo"), b"x" * (2 * MAX_MESSAGE), timeout=1)
        assert node.statistics_snapshot().bad_input == {"oversized": 1}
        assert ref.alive


def test_probe_detects_a_dead_node() -> None:
    """The fuzz test's liveness probe can fail: nothing answers once the node is gone."""
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with NodeThread("asyncio").running() as srv:
            endpoint = srv.endpoint
            assert probe_once(ctx, endpoint, timeout=3.0) == "up"
        assert probe_once(ctx, endpoint, timeout=0.3) == "down"
    finally:
        ctx.destroy(0)


def probe_once(ctx: zmq.Context[Any], endpoint: str, *, timeout: float) -> str:
    client = RawClient(ctx, endpoint)
    try:
        client.send([hello("prober")])
        client.send(call_frames(1, "echo", "x"))
        client.recv_until(lambda b: isinstance(b, ReplyMsg) and b.corr == 1, timeout=timeout)
        return "up"
    except TimeoutError:
        return "down"
    finally:
        client.close()


# -- the codec alone, under Hypothesis -------------------------------------------------------


def attempt(fn: Any, *args: Any) -> tuple[Any, WireError | None]:
    """``(result, None)``, or ``(None, the WireError)``; any other exception propagates."""
    try:
        return fn(*args), None
    except WireError as exc:
        return None, exc


DTYPES = st.one_of(
    st.sampled_from(["<f4", ">f8", "|u1", "|b1", "<c8", "<i8", "|O", "<U3", "|V4", "<M8[s]"]),
    st.sampled_from(["(2,)<f4", "<f4,<i4", "(99999999999999999999,)f4", "f4 ", "S0", "|S4"]),
    st.text(max_size=12),
)
DIMS = st.one_of(st.integers(-3, 6), st.integers(-(2**63), 2**64 - 1))


@settings(max_examples=300, deadline=None, database=None)
@given(
    index=st.one_of(st.integers(-2, 3), st.integers(-(2**63), 2**64 - 1)),
    dtype=DTYPES,
    shape=st.lists(DIMS, max_size=70),
    frame_len=st.integers(0, 64),
    extra_frames=st.integers(0, 2),
    code=st.sampled_from([1, 2, 3]),
)
def test_array_metadata_fuzz_only_raises_wire_errors(
    index: int, dtype: str, shape: list[int], frame_len: int, extra_frames: int, code: int
) -> None:
    meta = msgspec.msgpack.encode((index, dtype, tuple(shape)))
    data = Raw(msgspec.msgpack.encode([msgspec.msgpack.Ext(code, meta)]))
    frames = [bytearray(frame_len)] + [bytearray(4)] * extra_frames
    result, err = attempt(CODEC.decode_payload, "", data, frames)
    if err is not None:
        assert err.cause in KNOWN_CAUSES
        return
    (arr,) = result
    # Accepted: then everything was consistent.
    assert code in (1, 2)
    assert extra_frames == 0
    assert index == 0
    assert tuple(arr.shape) == tuple(shape)
    assert arr.nbytes == frame_len
    assert np.dtype(dtype).kind in "biufc"


@settings(max_examples=300, deadline=None, database=None)
@given(
    data=st.one_of(
        st.binary(max_size=128),
        st.sampled_from([v[0] for v in VALID]).flatmap(mutation),
        st.builds(
            lambda v: msgspec.msgpack.encode(v),
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers(-(2**63), 2**64 - 1)
                | st.text()
                | st.binary(),
                lambda inner: (
                    st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=4)
                ),
                max_leaves=10,
            ),
        ),
    ),
    frames=st.lists(st.binary(max_size=16), max_size=2),
)
def test_payload_fuzz_only_raises_wire_errors(data: bytes, frames: list[bytes]) -> None:
    _, err = attempt(CODEC.decode_payload, "", Raw(data), frames)
    assert err is None or err.cause in {"decode", "bad_array"}


@settings(max_examples=300, deadline=None, database=None)
@given(
    header=st.one_of(
        st.binary(max_size=64),
        st.sampled_from([v[0] for v in VALID]).flatmap(mutation),
    )
)
def test_header_fuzz_only_raises_wire_errors(header: bytes) -> None:
    env, err = attempt(CODEC.decode, header)
    if err is not None:
        assert err.cause in {"decode", "version"}
    else:
        assert env.version == PROTOCOL_VERSION or isinstance(env.body, (Hello, Refuse))
