"""The node: this process's connection actor, and remote references.

A ``Node`` actor owns one ZeroMQ context, a ROUTER socket per bound endpoint and a DEALER
socket per endpoint it connects to. A connection is a *session* between two named nodes: the
connecting side says ``Hello`` (protocol version, node name, incarnation), the bound side answers
``Welcome`` or ``Refuse``; from then on both sides send calls, casts, monitors and channel data
over it, in both directions. Liveness: application heartbeats every ``heartbeat_interval``
(any message counts), and a peer silent for ``heartbeat_timeout`` is declared down; ZMTP
heartbeats (libzmq's own) are enabled with the same figures so dead TCP connections are also
closed underneath. When a peer goes down, its pending calls fail with ``ActorExited`` (reason
``NoConnection``), monitors of its actors fire ``Down(..., NoConnection(node))``, and
``NodeDown`` goes to every ``monitor_nodes()`` subscriber. The connecting side keeps saying
hello; a peer that comes back (same process after a pause, or a restarted process: a new
incarnation) is welcomed as a new session.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import anyio
import structlog
import zmq
from msgspec import Raw

from supervisors._actor import (
    Actor,
    From,
    RemoteTarget,
    _AckedCast,
    _Call,
    _Cast,
    _Info,
    _Process,
    _remote_demonitors,
    _runtime,
)
from supervisors._errors import ActorError, ActorExited, CallTimeout, NoProcess
from supervisors._links import Down, ExitReason, MonitorRef, NoConnection
from supervisors._supervisor import ChildSpec, Restart
from supervisors.remote._security import (
    Authenticator,
    KeyPair,
    SecurityError,
    is_loopback,
    load_keypair,
    load_public_key,
)
from supervisors.remote._socket import SocketPump
from supervisors.remote._wire import (
    PROTOCOL_VERSION,
    AckMsg,
    Body,
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
    reason_from_wire,
    reason_to_wire,
)

__all__ = [
    "Node",
    "RemoteRef",
    "Bind",
    "Connect",
    "NodeUp",
    "NodeDown",
    "NodeStatistics",
    "PeerStatistics",
    "ChannelStatistics",
    "AckedChannel",
    "HandshakeRefused",
    "RemoteError",
    "NODE_NAME",
    "current_node",
]

log = structlog.get_logger("supervisors.remote")

NODE_NAME: Final = "supervisors.remote.node"
"""The registry name of this runtime's node (one node per runtime)."""

_LOG_EVERY: Final = 10.0  # seconds between two log lines for the same bad-input cause


class HandshakeRefused(ActorError):
    """The peer refused our hello (or we refused its): typically a protocol mismatch."""


class RemoteError(ActorError):
    """The remote node could not deliver a call (the request did not decode there, or its type
    is not registered there). The request was not handled."""


# -- public values ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bind:
    """A bound endpoint. ``secure``: use CurveZMQ (None: exactly when not loopback)."""

    endpoint: str
    secure: bool | None = None


@dataclass(frozen=True, slots=True)
class Connect:
    """An endpoint to connect to; ``server_key`` (Z85 or a key file) turns on CurveZMQ."""

    endpoint: str
    server_key: str | bytes | Path | None = None


@dataclass(frozen=True, slots=True)
class NodeUp:
    """A node joined (sent to ``monitor_nodes()`` subscribers)."""

    node: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class NodeDown:
    """A node left: ``reason`` is e.g. "heartbeat timeout", "reset", "new incarnation"."""

    node: str
    incarnation: int
    reason: str


class RemoteRef(RemoteTarget):
    """The actor registered as ``name`` on node ``node``: ``call``/``cast``/``send``/``monitor``
    it like a local one. Refs compare by value (they name, they do not pin an incarnation)."""

    __slots__ = ("name", "node")

    def __init__(self, node: str, name: str) -> None:
        self.node = node
        self.name = name

    def __repr__(self) -> str:
        return f"<RemoteRef {self.name!r} on {self.node!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemoteRef) and (other.node, other.name) == (
            self.node,
            self.name,
        )

    def __hash__(self) -> int:
        return hash((RemoteRef, self.node, self.name))

    async def _remote_call(self, request: object, timeout: float | None) -> Any:
        return await current_node()._call(self, request, timeout)

    async def _remote_cast(self, request: object, *, info: bool) -> None:
        await _cached_node()._cast(self, request, info=info)

    def _remote_monitor(self, watcher: _Process, mref: MonitorRef) -> None:
        current_node()._monitor(self, watcher, mref)


@dataclass(frozen=True, slots=True)
class PeerStatistics:
    node: str
    incarnation: int
    via: str
    up_for: float
    last_seen_ago: float
    pending_calls: int
    monitors_out: int
    monitors_in: int


@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    node: str
    channel: str
    target: str
    sent: int
    acked: int
    in_flight: int
    window: int
    resent: int


@dataclass(frozen=True, slots=True)
class NodeStatistics:
    name: str
    incarnation: int
    endpoints: tuple[str, ...]
    peers: tuple[PeerStatistics, ...]
    connecting: tuple[str, ...]
    messages_in: int
    messages_out: int
    bad_input: dict[str, int]
    duplicates_dropped: int
    late_replies: int
    casts_dropped: int
    channels: tuple[ChannelStatistics, ...]
    clients_refused: int
    fallback_wakeups: int


# -- internals --------------------------------------------------------------------------------


class _Pending:
    __slots__ = ("event", "reason", "reply", "reply_frames")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.reply: ReplyMsg | None = None
        self.reply_frames: list[Any] = []
        self.reason: ExitReason | None = None


class _Peer:
    """One session with another node."""

    def __init__(
        self, name: str, incarnation: int, pump: SocketPump, rid: bytes | None, via: str
    ) -> None:
        self.name = name
        self.incarnation = incarnation
        self.pump = pump
        self.rid = rid
        self.via = via
        self.up_at = time.monotonic()
        self.last_seen = time.monotonic()
        self.last_sent = self.last_seen
        self.pending: dict[int, _Pending] = {}
        self.out_monitors: dict[int, tuple[_Process, MonitorRef, RemoteRef]] = {}
        self.in_monitors: dict[int, MonitorRef] = {}
        self.alive = True

    def post(self, frames: Sequence[Any], copy: bool = True) -> bool:
        self.last_sent = time.monotonic()
        if self.rid is not None:
            return self.pump.post([self.rid, *frames], copy=copy)
        return self.pump.post(frames, copy=copy)

    async def send(self, frames: list[Any], *, zero_copy: bool) -> bool:
        """Send with backpressure; zero-copy frames return once libzmq released them."""
        self.last_sent = time.monotonic()
        full = [self.rid, *frames] if self.rid is not None else frames
        if zero_copy:
            await self.pump.send_tracked(full)
            return True
        ok = self.pump.post(full)
        if self.pump.backlog:
            await self.pump.wait_sendable()
        return ok


class _Conn:
    """An endpoint we connect to (DEALER); ``peer`` once the hello was welcomed."""

    def __init__(self, endpoint: str, sock: zmq.Socket[Any], pump: SocketPump) -> None:
        self.endpoint = endpoint
        self.sock = sock
        self.pump = pump
        self.peer: _Peer | None = None
        self.refused: str | None = None
        self.last_hello = -math.inf
        self.created = time.monotonic()


class _Listener:
    def __init__(self, endpoint: str, sock: zmq.Socket[Any], pump: SocketPump) -> None:
        self.endpoint = endpoint
        self.sock = sock
        self.pump = pump
        self.peers: dict[bytes, _Peer] = {}
        self.reset_sent: dict[bytes, float] = {}


class _ChannelOut:
    def __init__(self, node: str, name: str, target: str, window: int) -> None:
        self.node = node
        self.name = name
        self.target = target
        self.window = window
        self.seq = 0
        # seq -> (kind, payload bytes, arrays): the header is rebuilt at each (re)send so that
        # it carries the current oldest unacknowledged seq (``DataMsg.base``).
        self.unacked: OrderedDict[int, tuple[str, bytes, list[Any]]] = OrderedDict()
        self.credit = anyio.Event()
        self.flushed = anyio.Event()
        self.flushed.set()
        self.acked = 0
        self.resent = 0
        self.last_progress = time.monotonic()


@dataclass
class _ChannelIn:
    handled: int = 0  # every seq <= handled has been handled by the target
    delivered: int = 0  # every seq <= delivered is in (or went through) the target's mailbox
    proc: _Process | None = None  # the incarnation the undelivered ones were handed to
    peer: str = ""


class _RemoteFrom(From):
    """The pending caller of a call that came from another node: replies go on the wire."""

    __slots__ = ("_corr", "_node", "_peer")

    def __init__(self, server: _Process, node: Node, peer: _Peer, corr: int) -> None:
        super().__init__(server)
        self._node = node
        self._peer = peer
        self._corr = corr

    def reply(self, value: object) -> bool:
        if self._done:
            return False
        self._done = True
        self._server.pending.discard(self)
        self._node._send_reply(self._peer, self._corr, value)
        return True

    def _fail(self, reason: ExitReason) -> None:
        if not self._done:
            self._done = True
            self._node._send_reply_error(self._peer, self._corr, "exited", reason_to_wire(reason))


@dataclass
class _BadInput:
    counts: dict[str, int] = field(default_factory=dict)
    last_log: dict[str, float] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def record(self, node: str, cause: str, detail: str, source: str) -> None:
        self.counts[cause] = self.counts.get(cause, 0) + 1
        now = time.monotonic()
        if now - self.last_log.get(cause, -math.inf) >= _LOG_EVERY:
            log.warning(
                "node.bad_message",
                node=node,
                cause=cause,
                detail=detail[:300],
                source=source,
                suppressed=self.suppressed.get(cause, 0),
                total=self.counts[cause],
            )
            self.last_log[cause] = now
            self.suppressed[cause] = 0
        else:
            self.suppressed[cause] = self.suppressed.get(cause, 0) + 1


def current_node() -> Node:
    """This runtime's running node; raises ``RuntimeError`` if none was started."""
    proc = _runtime().registry._lookup(NODE_NAME)
    if proc is None or not isinstance(proc.actor, Node):
        raise RuntimeError(
            "no node is running in this runtime: start supervisors.remote.Node (Node.spec(...))"
        )
    return proc.actor


_node_cache: list[Any] = [None, None]  # [registry, node]: the last lookup


def _cached_node() -> Node:
    """``current_node()`` without the registry lookup when nothing changed (the cast path)."""
    registry = _runtime().registry
    node = _node_cache[1]
    if (
        _node_cache[0] is registry
        and node is not None
        and not node._closed
        and not node._process.dead
    ):
        assert isinstance(node, Node)
        return node
    node = current_node()
    _node_cache[0] = registry
    _node_cache[1] = node
    return node


# -- the node ---------------------------------------------------------------------------------


class Node(Actor):
    """This process's membership in the distributed runtime (one per runtime).

    ``bind``: endpoints to listen on (``"tcp://127.0.0.1:5555"``, ``"ipc:///tmp/x"``, or
    ``Bind(...)``). ``connect``: endpoints of other nodes. Non-loopback binds require
    ``keys`` (this node's ``.key_secret``) and ``authorized_keys`` (a directory of client
    ``.key`` files), unless ``insecure=True``. ``types`` are the msgspec Struct types this node
    accepts in messages (plain msgpack data is always accepted).
    """

    trap_exits = True
    mailbox_size = 65_536

    def __init__(
        self,
        name: str,
        *,
        bind: Iterable[str | Bind] = (),
        connect: Iterable[str | Connect] = (),
        types: Iterable[type] = (),
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 3.0,
        max_message_size: int = 256 * 1024 * 1024,
        keys: str | Path | None = None,
        authorized_keys: str | Path | None = None,
        insecure: bool = False,
        linger: float = 1.0,
        protocol_version: int = PROTOCOL_VERSION,
    ) -> None:
        if not name or "\x00" in name:
            raise ValueError(f"invalid node name {name!r}")
        if heartbeat_interval <= 0 or heartbeat_timeout <= heartbeat_interval:
            raise ValueError(
                "need 0 < heartbeat_interval < heartbeat_timeout, got "
                f"{heartbeat_interval} / {heartbeat_timeout}"
            )
        self.name = name
        self.binds = [b if isinstance(b, Bind) else Bind(b) for b in bind]
        self.connects = [c if isinstance(c, Connect) else Connect(c) for c in connect]
        self.types = tuple(types)
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.max_message_size = max_message_size
        self.keys_path = keys
        self.authorized_keys = Path(authorized_keys) if authorized_keys is not None else None
        self.insecure = insecure
        self.linger = linger
        self.protocol_version = protocol_version
        self.incarnation = 0
        self.endpoints: list[str] = []

    @classmethod
    def spec(cls, name: str, **options: Any) -> ChildSpec:
        """A child spec for a supervision tree (permanent, registered as ``NODE_NAME``)."""
        return ChildSpec(
            id=("node", name),
            start=lambda: cls(name, **options),
            restart=Restart.PERMANENT,
            name=NODE_NAME,
            shutdown=5.0,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def init(self) -> None:
        self.incarnation = random.getrandbits(62) | 1
        self.codec = Codec(self.types, copy_threshold=zmq.COPY_THRESHOLD)
        self.ctx: zmq.Context[Any] = zmq.Context()
        self._auth: Authenticator | None = None
        self._keypair: KeyPair | None = None
        self._sockets: list[zmq.Socket[Any]] = []  # every socket created, for closing
        self._listeners: list[_Listener] = []
        self._conns: list[_Conn] = []
        self._peers: dict[str, _Peer] = {}
        self._known: dict[str, int] = {}  # node name -> last incarnation seen
        self._subscribers: dict[_Process, None] = {}
        self._up_waiters: dict[str, anyio.Event] = {}
        self._in_mon: dict[MonitorRef, tuple[_Peer, int]] = {}
        self._corr = itertools.count(1)
        self._mon_ids = itertools.count(1)
        self._channels_out: dict[tuple[str, str], _ChannelOut] = {}
        self._channels_in: dict[tuple[str, int, str], _ChannelIn] = {}
        self._ack_dirty: dict[tuple[str, int, str], None] = {}
        self._ack_event = anyio.Event()
        self._bad = _BadInput()
        self._duplicates = 0
        self._late = 0
        self._casts_dropped = 0
        self._cast_burst = 0
        self._registry = _runtime().registry
        self._closed = False
        try:
            self._open_sockets()
        except BaseException:
            self._close_sockets(linger=0)
            self.ctx.term()
            raise
        if self._current_registration() is None:
            from supervisors._actor import register

            register(NODE_NAME, self.ref)
        for pump in self._pumps():
            self.start_soon(pump.run)
        self.start_soon(self._ticker)
        self.start_soon(self._ack_flusher)
        self.start_soon(self._close_if_killed)
        log.info(
            "node.started",
            node=self.name,
            incarnation=f"{self.incarnation:x}",
            bind=self.endpoints,
            connect=[c.endpoint for c in self.connects],
        )

    def _current_registration(self) -> _Process | None:
        return _runtime().registry._lookup(NODE_NAME)

    def _open_sockets(self) -> None:
        needs_keys = any(self._secure(b) for b in self.binds) or any(
            c.server_key is not None for c in self.connects
        )
        if needs_keys:
            if self.keys_path is None:
                raise SecurityError(
                    f"node {self.name!r}: Curve needs this node's key pair (keys=...); "
                    "create one with `exphil keys generate DIR`"
                )
            self._keypair = load_keypair(self.keys_path)

        for b in self.binds:
            sock = self._socket(zmq.ROUTER)
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            # A reconnecting peer (same routing id) takes over from its old connection, which
            # may still be draining after a pause.
            sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
            if self._secure(b):
                assert self._keypair is not None
                if self.authorized_keys is None:
                    raise SecurityError(
                        f"node {self.name!r}: binding {b.endpoint} with Curve needs "
                        "authorized_keys (a directory of client .key files)"
                    )
                if not self.authorized_keys.is_dir():
                    raise SecurityError(
                        f"authorized_keys {self.authorized_keys} is not a directory"
                    )
                if self._auth is None:
                    self._auth = Authenticator(self.ctx, self.authorized_keys, self.name)
                sock.curve_server = True
                sock.curve_secretkey = self._keypair.secret
                sock.curve_publickey = self._keypair.public
            try:
                sock.bind(b.endpoint)
            except zmq.ZMQError as exc:
                raise OSError(f"node {self.name!r} cannot bind {b.endpoint}: {exc}") from exc
            endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            listener = _Listener(endpoint, sock, None)  # type: ignore[arg-type]
            listener.pump = SocketPump(
                sock, functools.partial(self._on_router, listener), name=endpoint, head_frames=2
            )
            self._listeners.append(listener)
            self.endpoints.append(endpoint)
        self._server_keys = [
            load_public_key(c.server_key) if c.server_key is not None else None
            for c in self.connects
        ]
        for i, c in enumerate(self.connects):
            sock = self._dealer(i)
            conn = _Conn(c.endpoint, sock, None)  # type: ignore[arg-type]
            conn.pump = SocketPump(sock, functools.partial(self._on_dealer, conn), name=c.endpoint)
            self._conns.append(conn)

    def _socket(self, kind: int) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.ctx.socket(kind)
        self._sockets.append(sock)
        ms = int(self.heartbeat_interval * 1000)
        timeout_ms = int(self.heartbeat_timeout * 1000)
        sock.setsockopt(zmq.LINGER, int(self.linger * 1000))
        sock.setsockopt(zmq.HEARTBEAT_IVL, ms)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, timeout_ms)
        sock.setsockopt(zmq.HEARTBEAT_TTL, min(timeout_ms, 6_553_500))
        sock.setsockopt(
            zmq.MAXMSGSIZE, max(4 * self.max_message_size, self.max_message_size + (16 << 20))
        )
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.setsockopt(zmq.RCVHWM, 10_000)
        return sock

    def _dealer(self, i: int) -> zmq.Socket[Any]:
        c = self.connects[i]
        sock = self._socket(zmq.DEALER)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        sock.setsockopt(zmq.ROUTING_ID, f"{self.name}\x00{self.incarnation:x}\x00{i}".encode())
        server_key = self._server_keys[i]
        if server_key is not None:
            assert self._keypair is not None
            sock.curve_serverkey = server_key
            sock.curve_publickey = self._keypair.public
            sock.curve_secretkey = self._keypair.secret
        sock.connect(c.endpoint)
        return sock

    def _recreate(self, conn: _Conn) -> None:
        """A fresh DEALER for an endpoint that has not welcomed us for a while: libzmq does
        not reconnect after a refused Curve handshake, so a worker whose key is authorized
        later would otherwise never get in."""
        i = self._conns.index(conn)
        old = conn.sock
        anyio.notify_closing(int(old.getsockopt(zmq.FD)))
        conn.sock = self._dealer(i)
        conn.pump.replace(conn.sock)
        conn.created = time.monotonic()
        conn.last_hello = -math.inf
        self._sockets.remove(old)
        old.close(0)

    def _secure(self, b: Bind) -> bool:
        secure = b.secure if b.secure is not None else not is_loopback(b.endpoint)
        if secure and (self.keys_path is None or self.authorized_keys is None):
            if b.secure is None and self.insecure:
                log.warning(
                    "node.insecure_bind",
                    node=self.name,
                    endpoint=b.endpoint,
                    detail="reachable from the network without authentication (insecure=True)",
                )
                return False
            if self.keys_path is not None:
                raise SecurityError(
                    f"node {self.name!r}: binding {b.endpoint} with CurveZMQ needs "
                    "authorized_keys= (a directory of the client .key files allowed in)"
                )
            raise SecurityError(
                f"node {self.name!r}: refusing to bind {b.endpoint} without CurveZMQ keys: "
                "anyone who can reach it could drive this node. Pass keys= and "
                "authorized_keys= (see `exphil keys generate`), bind a loopback address, "
                "or pass insecure=True (--insecure) to accept the risk."
            )
        return secure

    def _pumps(self) -> list[SocketPump]:
        return [li.pump for li in self._listeners] + [c.pump for c in self._conns]

    async def terminate(self, reason: ExitReason) -> None:
        for peer in list(self._peers.values()):
            self._peer_down(peer, "node stopped", notify_peer=False)
        self._close_sockets(linger=self.linger)
        # term() waits up to `linger` for queued messages: not on the event loop.
        await anyio.to_thread.run_sync(self.ctx.term, abandon_on_cancel=True)
        log.info("node.stopped", node=self.name, reason=repr(reason))

    async def _close_if_killed(self) -> None:
        """``kill`` skips ``terminate``, but the sockets must still go (as the VM closes a
        killed process's ports): otherwise the restarted node cannot bind its endpoint."""
        try:
            await anyio.sleep_forever()
        finally:
            if self._process.killed and not self._closed:
                for peer in list(self._peers.values()):
                    self._peer_down(peer, "node killed", notify_peer=False)
                self._close_sockets(linger=0)
                self.ctx.term()  # nothing is queued any more (linger 0): returns at once

    def _close_sockets(self, *, linger: float) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in self._sockets:
            fd = sock.getsockopt(zmq.FD)
            anyio.notify_closing(int(fd))  # wakes a pump still waiting on it, if any
            sock.close(int(linger * 1000))
        self._sockets.clear()
        if self._auth is not None:
            self._auth.stop()

    # -- incoming ------------------------------------------------------------------------------

    def _on_router(self, listener: _Listener, frames: list[Any]) -> None:
        # frames: [routing id (bytes), header (bytes), array frames (zmq.Frame)...]
        if len(frames) < 2:
            self._bad.record(self.name, "decode", "empty message", listener.endpoint)
            return
        rid = frames[0]
        peer = listener.peers.get(rid)
        self._on_frames(frames[1], frames[2:], peer, listener=listener, rid=rid)

    def _on_dealer(self, conn: _Conn, frames: list[Any]) -> None:
        self._on_frames(frames[0], frames[1:], conn.peer, conn=conn)

    def _on_frames(
        self,
        header: bytes,
        arrays: list[zmq.Frame],
        peer: _Peer | None,
        *,
        listener: _Listener | None = None,
        rid: bytes = b"",
        conn: _Conn | None = None,
    ) -> None:
        try:
            buf = header
            size = len(buf)
            for f in arrays:
                size += len(f.buffer)
            if size > self.max_message_size:
                self._refuse_oversized(buf, size, peer)
                raise WireError(
                    "oversized", f"{size} bytes > max_message_size {self.max_message_size}"
                )
            env = self.codec.decode(buf)
            body = env.body
            if peer is not None:
                peer.last_seen = time.monotonic()
            if type(body) is Hello or type(body) is Welcome or type(body) is Refuse:
                self._handshake(body, env.version, listener, rid, conn)
            elif peer is None:
                if type(body) is Reset and conn is not None:
                    return
                source = conn.endpoint if conn else repr(rid)
                self._unknown_peer(body, listener, rid, conn, source)
            else:
                self._dispatch(peer, body, arrays)
        except WireError as exc:
            source = peer.name if peer is not None else (conn.endpoint if conn else repr(rid))
            self._bad.record(self.name, exc.cause, exc.detail, source)
        except Exception as exc:  # a bug or an unforeseen input: never kill the node
            source = peer.name if peer is not None else (conn.endpoint if conn else repr(rid))
            self._bad.record(self.name, "error", f"{type(exc).__name__}: {exc}", source)
            log.exception("node.handler_failed", node=self.name, source=source)

    def _refuse_oversized(self, header: bytes, size: int, peer: _Peer | None) -> None:
        """Tell the caller of an oversized call why it will get no answer."""
        if peer is None:
            return
        try:
            body = self.codec.decode(header).body
        except WireError:
            return
        if isinstance(body, CallMsg):
            detail = f"the request is {size} bytes, over max_message_size {self.max_message_size}"
            self._send_reply_error(peer, body.corr, "error", WireReason("error", detail))

    def _dispatch(self, peer: _Peer, body: Body, arrays: list[zmq.Frame]) -> None:
        t = type(body)
        if t is CastMsg:
            assert isinstance(body, CastMsg)
            self._deliver_cast(peer, body, arrays)
        elif t is CallMsg:
            assert isinstance(body, CallMsg)
            self._deliver_call(peer, body, arrays)
        elif t is ReplyMsg:
            assert isinstance(body, ReplyMsg)
            pending = peer.pending.get(body.corr)
            if pending is None:
                self._late += 1
                return
            pending.reply = body
            pending.reply_frames = arrays
            pending.event.set()
        elif t is Heartbeat:
            pass
        elif t is DataMsg:
            assert isinstance(body, DataMsg)
            self._deliver_data(peer, body, arrays)
        elif t is AckMsg:
            assert isinstance(body, AckMsg)
            self._on_ack(peer, body)
        elif t is MonitorMsg:
            assert isinstance(body, MonitorMsg)
            self._on_monitor(peer, body)
        elif t is DemonitorMsg:
            assert isinstance(body, DemonitorMsg)
            lref = peer.in_monitors.pop(body.mon, None)
            if lref is not None:
                self._drop_local_monitor(lref)
        elif t is DownMsg:
            assert isinstance(body, DownMsg)
            entry = peer.out_monitors.pop(body.mon, None)
            if entry is not None:
                watcher, mref, ref = entry
                _remote_demonitors.pop(mref, None)
                watcher.mailbox.put_system(Down(mref, ref, reason_from_wire(body.reason)))
        elif t is Reset:
            self._peer_down(peer, "reset by peer", notify_peer=False)
            for conn in self._conns:
                if conn.peer is None and conn.refused is None:
                    self._send_hello(conn)
        else:
            raise WireError("decode", f"unexpected {t.__name__}")

    def _unknown_peer(
        self,
        body: Body,
        listener: _Listener | None,
        rid: bytes,
        conn: _Conn | None,
        source: str,
    ) -> None:
        self._bad.record(
            self.name, "unknown_peer", f"{type(body).__name__} without a session", source
        )
        now = time.monotonic()
        if listener is not None:
            # Tell it to say hello again (it thinks a session exists: we restarted, or we
            # declared it down while it was paused). At most twice a heartbeat interval.
            if now - listener.reset_sent.get(rid, -math.inf) >= self.heartbeat_interval / 2:
                listener.reset_sent[rid] = now
                if len(listener.reset_sent) > 4096:
                    listener.reset_sent.clear()
                listener.pump.post([rid, self.codec.encode(Reset(self.name, self.incarnation))])
        elif conn is not None and conn.refused is None:
            self._send_hello(conn)

    # -- handshake -----------------------------------------------------------------------------

    def _handshake(
        self,
        body: Hello | Welcome | Refuse,
        version: int,
        listener: _Listener | None,
        rid: bytes,
        conn: _Conn | None,
    ) -> None:
        if isinstance(body, Hello):
            if listener is None:
                raise WireError("decode", "hello on a connecting socket")
            if body.version != self.protocol_version or version != self.protocol_version:
                reason = (
                    f"protocol version mismatch: node {body.node!r} speaks version "
                    f"{body.version}, node {self.name!r} speaks version {self.protocol_version}"
                )
                log.error("node.handshake_refused", node=self.name, peer=body.node, detail=reason)
                self._bad.counts["version"] = self._bad.counts.get("version", 0) + 1
                listener.pump.post(
                    [
                        rid,
                        self.codec.encode(
                            Refuse(self.protocol_version, self.name, reason),
                            self.protocol_version,
                        ),
                    ]
                )
                return
            old = self._peers.get(body.node)
            if (
                old is not None
                and old.incarnation == body.incarnation
                and rid[:1] == b"\x00"
                and old.rid is not None
                and old.rid[:1] != b"\x00"
            ):
                # A Hello queued on a connection that ROUTER_HANDOVER orphaned (libzmq gives
                # the orphan a generated id, starting with a zero byte; our DEALERs always set
                # theirs): it must not replace the live session of the same incarnation.
                self._bad.record(self.name, "stale_hello", f"from {body.node}", repr(rid))
                return
            if old is not None:
                why = "new incarnation" if old.incarnation != body.incarnation else "new session"
                self._peer_down(old, why, notify_peer=False)
            peer = _Peer(body.node, body.incarnation, listener.pump, rid, listener.endpoint)
            listener.peers[rid] = peer
            listener.reset_sent.pop(rid, None)
            peer.post(
                [self.codec.encode(Welcome(self.protocol_version, self.name, self.incarnation))]
            )
            self._peer_up(peer)
        elif isinstance(body, Welcome):
            if conn is None:
                raise WireError("decode", "welcome on a bound socket")
            if body.version != self.protocol_version:
                raise WireError("version", f"welcome with protocol version {body.version}")
            if conn.peer is not None:
                self._peer_down(conn.peer, "new session", notify_peer=False)
            old = self._peers.get(body.node)
            if old is not None:
                why = "new incarnation" if old.incarnation != body.incarnation else "new session"
                self._peer_down(old, why, notify_peer=False)
            peer = _Peer(body.node, body.incarnation, conn.pump, None, conn.endpoint)
            conn.peer = peer
            self._peer_up(peer)
        else:
            if conn is None:
                raise WireError("decode", "refuse on a bound socket")
            conn.refused = body.reason
            log.error(
                "node.handshake_refused",
                node=self.name,
                endpoint=conn.endpoint,
                peer=body.node,
                detail=body.reason,
            )
            for event in self._up_waiters.values():
                event.set()

    def _send_hello(self, conn: _Conn) -> None:
        now = time.monotonic()
        if now - conn.last_hello < self.heartbeat_interval / 4:
            return
        conn.last_hello = now
        header = self.codec.encode(
            Hello(self.protocol_version, self.name, self.incarnation), self.protocol_version
        )
        try:  # never queue hellos: IMMEDIATE makes this fail while nothing is connected
            conn.sock.send(header, zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def _peer_up(self, peer: _Peer) -> None:
        self._peers[peer.name] = peer
        previous = self._known.get(peer.name)
        self._known[peer.name] = peer.incarnation
        log.info(
            "node.up",
            node=self.name,
            peer=peer.name,
            incarnation=f"{peer.incarnation:x}",
            via=peer.via,
            new_incarnation=previous is not None and previous != peer.incarnation,
        )
        if previous is not None and previous != peer.incarnation:
            # The old incarnation is gone for good: its channel positions can never be used.
            for key in [k for k in self._channels_in if k[0] == peer.name and k[1] == previous]:
                del self._channels_in[key]
        for sub in list(self._subscribers):
            if not sub.mailbox.put_system(NodeUp(peer.name, peer.incarnation)):
                del self._subscribers[sub]
        waiter = self._up_waiters.pop(peer.name, None)
        if waiter is not None:
            waiter.set()
        # Re-send what the acknowledged channels to this node still hold (the receiver drops
        # what it already handled).
        for ch in self._channels_out.values():
            if ch.node == peer.name and ch.unacked:
                self._resend(peer, ch)

    def _peer_down(self, peer: _Peer, why: str, *, notify_peer: bool) -> None:
        if not peer.alive:
            return
        peer.alive = False
        if self._peers.get(peer.name) is peer:
            del self._peers[peer.name]
        rid = peer.rid
        for li in self._listeners:
            if rid is not None and li.peers.get(rid) is peer:
                del li.peers[rid]
                li.pump.drop_backlog(lambda frames: bool(frames) and frames[0] == rid)
        for conn in self._conns:
            if conn.peer is peer:
                conn.peer = None
                conn.pump.drop_backlog(lambda frames: True)
                conn.last_hello = -math.inf
                conn.created = time.monotonic()
        if notify_peer and peer.rid is not None:
            peer.pump.post([peer.rid, self.codec.encode(Reset(self.name, self.incarnation))])
        lost = NoConnection(peer.name)
        for pending in peer.pending.values():
            pending.reason = lost
            pending.event.set()
        peer.pending.clear()
        for watcher, mref, ref in peer.out_monitors.values():
            _remote_demonitors.pop(mref, None)
            watcher.mailbox.put_system(Down(mref, ref, lost))
        peer.out_monitors.clear()
        for lref in peer.in_monitors.values():
            self._drop_local_monitor(lref)
        peer.in_monitors.clear()
        (log.info if why == "node stopped" else log.warning)(
            "node.down",
            node=self.name,
            peer=peer.name,
            incarnation=f"{peer.incarnation:x}",
            reason=why,
        )
        for sub in list(self._subscribers):
            if not sub.mailbox.put_system(NodeDown(peer.name, peer.incarnation, why)):
                del self._subscribers[sub]

    # -- liveness ------------------------------------------------------------------------------

    async def _ticker(self) -> None:
        step = min(self.heartbeat_interval, self.heartbeat_timeout - self.heartbeat_interval) / 4
        hb = self.codec.encode(Heartbeat(self.incarnation))
        while True:
            now = time.monotonic()
            for conn in self._conns:
                if conn.peer is not None or conn.refused is not None:
                    continue
                if now - conn.created > max(2.0, 2 * self.heartbeat_interval):
                    self._recreate(conn)
                if now - conn.last_hello >= self.heartbeat_interval:
                    self._send_hello(conn)
            for peer in list(self._peers.values()):
                if now - peer.last_seen > self.heartbeat_timeout:
                    self._peer_down(peer, "heartbeat timeout", notify_peer=True)
                    continue
                if now - peer.last_sent >= self.heartbeat_interval and not peer.post([hb]):
                    self._peer_down(peer, "unreachable", notify_peer=False)
                    continue
                # Forget monitors whose watcher died (it can no longer demonitor).
                for mon, (watcher, mref, _ref) in list(peer.out_monitors.items()):
                    if watcher.dead:
                        del peer.out_monitors[mon]
                        _remote_demonitors.pop(mref, None)
                        peer.post([self.codec.encode(DemonitorMsg(mon))])
            for pump in self._pumps():
                pump.poke()
            for ch in self._channels_out.values():
                target = self._peers.get(ch.node)
                if (
                    target is not None
                    and ch.unacked
                    and now - ch.last_progress > self.heartbeat_timeout
                ):
                    self._resend(target, ch)
            await anyio.sleep(step)

    # -- calls, casts --------------------------------------------------------------------------

    def _encode_user(
        self, body_factory: Callable[[str, Raw], Body], value: object
    ) -> tuple[list[Any], bool]:
        kind, data, arrays = self.codec.encode_payload(value)
        header = self.codec.encode(body_factory(kind, Raw(data)))
        zero_copy = any(a.nbytes >= self.codec.copy_threshold for a in arrays)
        return [header, *arrays], zero_copy

    async def _call(self, ref: RemoteRef, request: object, timeout: float | None) -> Any:
        peer = self._peers.get(ref.node)
        if peer is None:
            await anyio.lowlevel.checkpoint()
            raise NoProcess(ref)
        corr = next(self._corr)
        frames, zero_copy = self._encode_user(
            lambda kind, raw: CallMsg(corr, ref.name, kind, raw), request
        )
        pending = _Pending()
        peer.pending[corr] = pending
        try:
            with anyio.move_on_after(math.inf if timeout is None else timeout):
                if not await peer.send(frames, zero_copy=zero_copy):
                    self._peer_down(peer, "unreachable", notify_peer=False)
                await pending.event.wait()
        finally:
            peer.pending.pop(corr, None)
        if pending.reason is not None:
            raise ActorExited(ref, pending.reason)
        reply = pending.reply
        if reply is None:
            raise CallTimeout(ref, timeout or 0.0)
        if reply.status == "ok":
            try:
                return self.codec.decode_payload(reply.kind, reply.payload, pending.reply_frames)
            except WireError as exc:
                self._bad.record(self.name, exc.cause, exc.detail, peer.name)
                raise RemoteError(f"the reply from {ref!r} cannot be decoded: {exc}") from exc
        if reply.status == "noproc":
            raise NoProcess(ref)
        reason = reason_from_wire(reply.reason or WireReason("crash"))
        if reply.status == "exited":
            raise ActorExited(ref, reason)
        detail = reply.reason.detail if reply.reason is not None else ""
        raise RemoteError(f"{ref!r} could not take the call: {detail}")

    async def _cast(self, ref: RemoteRef, request: object, *, info: bool) -> None:
        peer = self._peers.get(ref.node)
        if peer is None:
            self._casts_dropped += 1
            await anyio.lowlevel.checkpoint()
            return
        # A yield (and cancellation point) every 64 casts, as the local mailbox yields every
        # 32 messages: one per cast would cost an event-loop iteration each.
        self._cast_burst += 1
        if self._cast_burst >= 64:
            self._cast_burst = 0
            await anyio.lowlevel.checkpoint()
        kind, data, arrays = self.codec.encode_payload(request)
        header = self.codec.cast_header(ref.name, info, kind, data)
        if not arrays:  # the hot path: one small frame, posted in place
            if not peer.post([header]):
                self._casts_dropped += 1
            elif peer.pump.backlog:
                await peer.pump.wait_sendable()
            return
        zero_copy = any(a.nbytes >= self.codec.copy_threshold for a in arrays)
        if not await peer.send([header, *arrays], zero_copy=zero_copy):
            self._casts_dropped += 1

    def _target(self, name: str) -> _Process | None:
        """The local actor a peer addresses; the node itself is not addressable remotely."""
        proc = self._registry._lookup(name)
        return None if proc is self._process else proc

    def _deliver_cast(self, peer: _Peer, body: CastMsg, arrays: list[zmq.Frame]) -> None:
        proc = self._target(body.target)
        if proc is None:
            self._casts_dropped += 1
            raise WireError("unknown_target", f"no actor {body.target!r} (cast from {peer.name})")
        value = self.codec.decode_payload(body.kind, body.payload, arrays)
        # The target's overflow policy applies, as to a local cast (it never waits).
        proc.mailbox.put_nowait(_Info(value) if body.info else _Cast(value))

    def _deliver_call(self, peer: _Peer, body: CallMsg, arrays: list[zmq.Frame]) -> None:
        proc = self._target(body.target)
        if proc is None:
            peer.post([self.codec.encode(ReplyMsg(body.corr, "noproc"))])
            return
        try:
            value = self.codec.decode_payload(body.kind, body.payload, arrays)
        except WireError as exc:
            self._send_reply_error(peer, body.corr, "error", WireReason("error", str(exc)))
            raise
        from_ = _RemoteFrom(proc, self, peer, body.corr)
        proc.pending.add(from_)
        if not proc.mailbox.force_put(_Call(value, from_)):
            proc.pending.discard(from_)
            peer.post([self.codec.encode(ReplyMsg(body.corr, "noproc"))])

    def _send_reply(self, peer: _Peer, corr: int, value: object) -> None:
        if not peer.alive:
            return
        try:
            frames, _ = self._encode_user(lambda kind, raw: ReplyMsg(corr, "ok", kind, raw), value)
        except TypeError as exc:
            log.error("node.reply_not_encodable", node=self.name, peer=peer.name, error=str(exc))
            self._send_reply_error(peer, corr, "error", WireReason("error", str(exc)))
            return
        # Replies are posted (the replying actor cannot wait); zero-copy is safe because the
        # value's arrays are referenced by the frames until libzmq is done with them.
        peer.post(frames, copy=len(frames) == 1)

    def _send_reply_error(self, peer: _Peer, corr: int, status: str, reason: WireReason) -> None:
        if peer.alive:
            peer.post([self.codec.encode(ReplyMsg(corr, status, reason=reason))])

    # -- monitors ------------------------------------------------------------------------------

    def _monitor(self, ref: RemoteRef, watcher: _Process, mref: MonitorRef) -> None:
        peer = self._peers.get(ref.node)
        if peer is None:
            watcher.mailbox.put_system(Down(mref, ref, NoConnection(ref.node)))
            return
        mon = next(self._mon_ids)
        peer.out_monitors[mon] = (watcher, mref, ref)

        def cancel() -> None:
            if peer.out_monitors.pop(mon, None) is not None and peer.alive:
                peer.post([self.codec.encode(DemonitorMsg(mon))])

        _remote_demonitors[mref] = cancel
        peer.post([self.codec.encode(MonitorMsg(mon, ref.name))])

    def _on_monitor(self, peer: _Peer, body: MonitorMsg) -> None:
        proc = self._target(body.target)
        me = self._process
        if proc is None:
            peer.post([self.codec.encode(DownMsg(body.mon, WireReason("noproc")))])
            return
        lref = MonitorRef()
        proc.monitored_by[lref] = me
        me.monitoring[lref] = proc
        self._in_mon[lref] = (peer, body.mon)
        peer.in_monitors[body.mon] = lref

    def _drop_local_monitor(self, lref: MonitorRef) -> None:
        self._in_mon.pop(lref, None)
        proc = self._process.monitoring.pop(lref, None)
        if proc is not None:
            proc.monitored_by.pop(lref, None)

    async def handle_info(self, message: Any) -> None:
        if isinstance(message, Down):
            entry = self._in_mon.pop(message.monitor, None)
            if entry is not None:
                peer, mon = entry
                peer.in_monitors.pop(mon, None)
                if peer.alive:
                    peer.post([self.codec.encode(DownMsg(mon, reason_to_wire(message.reason)))])

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "statistics":
            return self.statistics_snapshot()
        if request == "nodes":
            return self.nodes()
        raise ValueError(f"the node answers 'statistics' and 'nodes', not {request!r}")

    # -- acknowledged channels -----------------------------------------------------------------

    def _open_channel(self, ref: RemoteRef, name: str, window: int) -> _ChannelOut:
        key = (ref.node, name)
        ch = self._channels_out.get(key)
        if ch is None:
            ch = self._channels_out[key] = _ChannelOut(ref.node, name, ref.name, window)
        elif ch.target != ref.name:
            raise ValueError(f"channel {name!r} to {ref.node!r} already targets {ch.target!r}")
        return ch

    async def _channel_send(self, ch: _ChannelOut, value: object) -> int:
        while len(ch.unacked) >= ch.window:
            if ch.credit.is_set():
                ch.credit = anyio.Event()
            await ch.credit.wait()
        ch.seq += 1
        seq = ch.seq
        entry = ch.unacked[seq] = self.codec.encode_payload(value)
        if ch.flushed.is_set():
            ch.flushed = anyio.Event()
        peer = self._peers.get(ch.node)
        if peer is not None:
            # Kept for re-sending until acked, so arrays are posted zero-copy but never waited
            # on: the channel owns them (the caller hands the value over).
            self._post_data(peer, ch, seq, entry)
            if peer.pump.backlog:
                await peer.pump.wait_sendable()
        else:
            await anyio.lowlevel.checkpoint()
        return seq

    def _post_data(
        self, peer: _Peer, ch: _ChannelOut, seq: int, entry: tuple[str, bytes, list[Any]]
    ) -> None:
        kind, data, arrays = entry
        base = next(iter(ch.unacked))  # the oldest unacknowledged
        header = self.codec.encode(
            DataMsg(ch.name, self.incarnation, seq, base, ch.target, kind, Raw(data))
        )
        peer.post([header, *arrays], copy=not arrays)

    def _resend(self, peer: _Peer, ch: _ChannelOut) -> None:
        ch.last_progress = time.monotonic()
        for seq, entry in ch.unacked.items():
            ch.resent += 1
            self._post_data(peer, ch, seq, entry)

    def _on_ack(self, peer: _Peer, body: AckMsg) -> None:
        if body.incarnation != self.incarnation:
            return  # for a previous incarnation of this node
        ch = self._channels_out.get((peer.name, body.channel))
        if ch is None:
            return
        unacked = ch.unacked
        progressed = False
        while unacked:
            seq = next(iter(unacked))
            if seq > body.upto:
                break
            del unacked[seq]
            ch.acked += 1
            progressed = True
        if progressed:
            ch.last_progress = time.monotonic()
            ch.credit.set()
            if not unacked:
                ch.flushed.set()

    def _deliver_data(self, peer: _Peer, body: DataMsg, arrays: list[zmq.Frame]) -> None:
        key = (peer.name, body.incarnation, body.channel)
        state = self._channels_in.get(key)
        if state is None:
            state = self._channels_in[key] = _ChannelIn(peer=peer.name)
        if state.proc is not None and state.proc.dead:
            state.delivered = state.handled  # what was in a dead mailbox must come again
            state.proc = None
        seq = body.seq
        if seq <= state.delivered:
            self._duplicates += 1
            if seq <= state.handled:
                self._ack_dirty[key] = None
                self._ack_event.set()
            return
        if seq != state.delivered + 1 and body.base > state.delivered + 1:
            # Everything before `base` was acknowledged, to this node before it restarted
            # without saved positions: start there (at-least-once), not wait forever.
            state.delivered = state.handled = body.base - 1
        if seq != state.delivered + 1:
            return  # a gap: an earlier one was lost; the sender re-sends in order
        proc = self._target(body.target)
        if proc is None:
            raise WireError("unknown_target", f"no actor {body.target!r} (channel data)")
        try:
            value = self.codec.decode_payload(body.kind, body.payload, arrays)
        except WireError as exc:
            # It would never decode: acknowledge it so the channel does not stall forever.
            log.error(
                "node.channel_message_dropped",
                node=self.name,
                peer=peer.name,
                channel=body.channel,
                seq=seq,
                error=str(exc),
            )
            state.delivered = state.handled = seq
            self._ack_dirty[key] = None
            self._ack_event.set()
            raise

        def done() -> None:
            if seq > state.handled:
                state.handled = seq
                self._ack_dirty[key] = None
                self._ack_event.set()

        if proc.mailbox.force_put(_AckedCast(value, done)):
            state.delivered = seq
            state.proc = proc

    async def _ack_flusher(self) -> None:
        while True:
            await self._ack_event.wait()
            self._ack_event = anyio.Event()
            dirty, self._ack_dirty = self._ack_dirty, {}
            for key in dirty:
                state = self._channels_in.get(key)
                peer = self._peers.get(key[0])
                if state is None or peer is None:
                    continue
                peer.post([self.codec.encode(AckMsg(key[2], key[1], state.handled))])

    def channel_positions(self) -> dict[tuple[str, int, str], int]:
        """``(sender node, sender incarnation, channel) -> last handled seq``: save it with
        the state the messages built, and ``restore_channel_positions`` it after a restart
        for exactly-once handling (without it, delivery is at-least-once)."""
        return {key: st.handled for key, st in self._channels_in.items()}

    def restore_channel_positions(self, positions: dict[tuple[str, int, str], int]) -> None:
        for key, seq in positions.items():
            st = self._channels_in.setdefault(key, _ChannelIn(peer=key[0]))
            st.handled = max(st.handled, seq)
            st.delivered = max(st.delivered, st.handled)

    # -- queries -------------------------------------------------------------------------------

    def nodes(self) -> list[str]:
        return sorted(self._peers)

    def subscribe(self, proc: _Process) -> None:
        self._subscribers[proc] = None

    async def wait_for(self, node: str, timeout: float | None) -> None:
        with anyio.fail_after(math.inf if timeout is None else timeout):
            while node not in self._peers:
                refused = [c for c in self._conns if c.refused is not None]
                if refused:
                    raise HandshakeRefused(refused[0].refused)
                event = self._up_waiters.get(node)
                if event is None:
                    event = self._up_waiters[node] = anyio.Event()
                await event.wait()

    def statistics_snapshot(self) -> NodeStatistics:
        now = time.monotonic()
        mono = time.monotonic()
        pumps = self._pumps()
        return NodeStatistics(
            name=self.name,
            incarnation=self.incarnation,
            endpoints=tuple(self.endpoints),
            peers=tuple(
                PeerStatistics(
                    node=p.name,
                    incarnation=p.incarnation,
                    via=p.via,
                    up_for=mono - p.up_at,
                    last_seen_ago=now - p.last_seen,
                    pending_calls=len(p.pending),
                    monitors_out=len(p.out_monitors),
                    monitors_in=len(p.in_monitors),
                )
                for p in self._peers.values()
            ),
            connecting=tuple(c.endpoint for c in self._conns if c.peer is None),
            messages_in=sum(p.received for p in pumps),
            messages_out=sum(p.sent for p in pumps),
            bad_input=dict(self._bad.counts),
            duplicates_dropped=self._duplicates,
            late_replies=self._late,
            casts_dropped=self._casts_dropped,
            channels=tuple(
                ChannelStatistics(
                    node=ch.node,
                    channel=ch.name,
                    target=ch.target,
                    sent=ch.seq,
                    acked=ch.acked,
                    in_flight=len(ch.unacked),
                    window=ch.window,
                    resent=ch.resent,
                )
                for ch in self._channels_out.values()
            ),
            clients_refused=self._auth.allow.refused if self._auth is not None else 0,
            fallback_wakeups=sum(p.fallback_wakeups for p in pumps),
        )


class AckedChannel:
    """An acknowledged, ordered channel to one remote actor (``open_channel``).

    ``send`` numbers each message and keeps it until the receiver's node acknowledges that the
    target's ``handle_cast`` returned; at most ``window`` messages are unacknowledged (``send``
    waits: backpressure). Unacknowledged messages are re-sent when the peer reconnects (or
    stays silent about them); the receiver drops what it already handled, by (sender
    incarnation, seq). The channel belongs to the node, so it outlives the actor using it.
    """

    def __init__(self, node: Node, ch: _ChannelOut) -> None:
        self._node = node
        self._ch = ch

    def __repr__(self) -> str:
        return f"<AckedChannel {self._ch.name!r} to {self._ch.target!r} on {self._ch.node!r}>"

    async def send(self, message: object) -> int:
        """Queue ``message``; returns its sequence number. Waits while the window is full."""
        if self._node._closed:
            raise RuntimeError(f"{self!r}: its node has stopped")
        return await self._node._channel_send(self._ch, message)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every message sent so far has been acknowledged."""
        with anyio.fail_after(math.inf if timeout is None else timeout):
            while self._ch.unacked:
                await self._ch.flushed.wait()

    @property
    def in_flight(self) -> int:
        return len(self._ch.unacked)

    @property
    def last_seq(self) -> int:
        return self._ch.seq

    def statistics(self) -> ChannelStatistics:
        ch = self._ch
        return ChannelStatistics(
            ch.node, ch.name, ch.target, ch.seq, ch.acked, len(ch.unacked), ch.window, ch.resent
        )
