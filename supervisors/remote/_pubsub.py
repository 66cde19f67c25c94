"""Publish/subscribe for metrics over ZeroMQ PUB/SUB: lossy, non-blocking, msgspec-encoded.

A ``Publisher`` binds a PUB socket; ``publish(topic, value)`` hands the message to libzmq with
``NOBLOCK`` and returns: it never waits for a subscriber, needs no event loop, and never fails
because a subscriber is slow or absent. A ``Subscriber`` connects a SUB socket and yields
``(topic, value)`` pairs under asyncio or trio (readiness on ``ZMQ_FD``, as ``_socket.py``).

Wire format (three frames): ``[topic (UTF-8), header, value]``. The header is msgpack
``[version, publisher id, seq]``: ``seq`` counts per topic from 1 within one publisher (a
random 62-bit id per ``Publisher``), so a subscriber counts the messages it missed (``missed``)
without any help from libzmq, which drops silently and per subscriber once that subscriber's
queue reaches the high-water mark. The value is msgpack (msgspec): builtins and Structs; the
subscriber decodes it with the ``types`` it was given. Nothing is ever unpickled.

Security follows the node's rules (``_security.py``): binding anything but loopback or
``ipc://`` needs CurveZMQ keys and a directory of authorized subscriber keys, or
``insecure=True``.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import anyio
import msgspec
import numpy as np
import structlog
import zmq
from anyio.lowlevel import checkpoint

from supervisors.remote._node import Bind
from supervisors.remote._security import (
    Authenticator,
    KeyPair,
    SecurityError,
    is_loopback,
    load_keypair,
    load_public_key,
)

__all__ = [
    "PUBSUB_VERSION",
    "Publisher",
    "PublisherStatistics",
    "Subscriber",
    "SubscriberStatistics",
]

log = structlog.get_logger("supervisors.remote")

PUBSUB_VERSION: Final = 1
"""The header layout's version; a subscriber counts other versions as bad input."""

_HEARTBEAT_IVL_MS: Final = 1000  # ZMTP heartbeats: a dead peer's connection is closed (and a
_HEARTBEAT_TIMEOUT_MS: Final = 3000  # subscriber reconnects) within about 4 s
_RECONNECT_IVL_MS: Final = 100
_RECONNECT_IVL_MAX_MS: Final = 1000
_POLL_INTERVAL: Final = 0.25  # safety net: re-read EVENTS this often while waiting
_MAX_SUBSCRIPTION: Final = 64 * 1024  # a publisher only ever receives topic subscriptions
_LOG_EVERY: Final = 10.0  # seconds between two warnings for the same cause
_POLLIN: Final = int(zmq.POLLIN)


class _Header(msgspec.Struct, array_like=True, frozen=True):
    version: int
    publisher: int
    seq: int


KeySpec = str | os.PathLike[str] | KeyPair
"""This side's Curve key pair: a ``.key_secret`` file or a loaded ``KeyPair``."""


def _keypair(keys: KeySpec, who: str) -> KeyPair:
    if isinstance(keys, KeyPair):
        if keys.secret is None:
            raise SecurityError(f"{who}: the key pair holds no secret key")
        return keys
    return load_keypair(keys)


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.generic):  # np.float32(loss) and friends: as Python scalars
        return obj.item()
    raise NotImplementedError(f"unsupported type {type(obj).__qualname__}")


@dataclass(frozen=True, slots=True)
class PublisherStatistics:
    """``sent``: messages handed to libzmq (retained re-sends included); ``dropped``: messages
    libzmq refused or that were published after ``close()``; ``bytes``: bytes of the sent
    messages (all frames); ``refused``: Curve subscribers whose key is not authorized. Drops
    at a subscriber's high-water mark happen inside libzmq, per subscriber, and are counted by
    that subscriber (``SubscriberStatistics.missed``)."""

    sent: int
    dropped: int
    bytes: int
    refused: int = 0


@dataclass(frozen=True, slots=True)
class SubscriberStatistics:
    """``received``: messages decoded and returned; ``bad``: messages that did not decode (or
    did not match ``types``), skipped; ``missed``: gaps in the publisher's per-topic sequence
    numbers (messages dropped at the high-water mark or while disconnected)."""

    received: int
    bad: int
    missed: int
    fallback_wakeups: int


class Publisher:
    """A ZeroMQ PUB socket for metrics. ``publish`` never blocks and needs no event loop.

    ``bind``: one endpoint or several (``str`` or ``Bind``; ``"tcp://127.0.0.1:*"`` picks a
    port, see ``endpoints``). Non-loopback binds need ``keys`` (this publisher's
    ``.key_secret`` or a ``KeyPair``) and ``authorized_keys`` (a directory of subscriber
    ``.key`` files), unless ``insecure=True``: the same rule and error as a bound ``Node``.
    ``hwm``: messages queued per subscriber before libzmq drops that subscriber's new ones.
    ``retain_interval``: the minimum time between two re-sends of the retained topics by
    ``publish_retained()`` (see ``retain``). ``linger``: how long ``close()`` may wait for
    queued messages to go out.

    Use it as a context manager (``with`` or ``async with``), or own it from an actor: create
    it in ``init``, ``await pub.aclose()`` in ``terminate``, and optionally
    ``self.start_soon(pub.run)`` to re-send retained values and close it even on a kill.
    One thread at a time (ZeroMQ sockets are not thread-safe).
    """

    def __init__(
        self,
        bind: str | Bind | Sequence[str | Bind],
        *,
        keys: KeySpec | None = None,
        authorized_keys: str | os.PathLike[str] | None = None,
        insecure: bool = False,
        hwm: int = 1000,
        retain_interval: float = 1.0,
        linger: float = 1.0,
        name: str = "publisher",
    ) -> None:
        if hwm < 1:
            raise ValueError(f"hwm must be >= 1, not {hwm}")
        if retain_interval < 0:
            raise ValueError(f"retain_interval must be >= 0, not {retain_interval}")
        binds = [bind] if isinstance(bind, str | Bind) else list(bind)
        self.binds = [b if isinstance(b, Bind) else Bind(b) for b in binds]
        if not self.binds:
            raise ValueError("a publisher needs at least one endpoint to bind")
        self.name = name
        self.hwm = hwm
        self.retain_interval = retain_interval
        self.linger = linger
        self.publisher_id = random.getrandbits(62) | 1
        self.endpoints: tuple[str, ...] = ()
        self._authorized = Path(authorized_keys) if authorized_keys is not None else None
        self._keys = keys
        self._insecure = insecure
        self._seq: dict[str, int] = {}
        self._retained: dict[str, tuple[bytes, bytes] | None] = {}  # topic -> (b"topic", value)
        self._last_retained = -math.inf
        self._sent = 0
        self._dropped = 0
        self._bytes = 0
        self._refused = 0
        self._closed = False
        self._auth: Authenticator | None = None
        self._header_enc = msgspec.msgpack.Encoder()
        self._value_enc = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._socks: list[zmq.Socket[Any]] = []
        try:
            self._open()
        except BaseException:
            self._teardown(linger=0)
            raise

    def _open(self) -> None:
        secure = [self._secure(b) for b in self.binds]
        keypair: KeyPair | None = None
        if any(secure):
            assert self._keys is not None and self._authorized is not None
            keypair = _keypair(self._keys, f"publisher {self.name!r}")
            if not self._authorized.is_dir():
                raise SecurityError(f"authorized_keys {self._authorized} is not a directory")
            self._auth = Authenticator(self._ctx, self._authorized, self.name)
        endpoints = []
        # One PUB socket per endpoint, as a node has one ROUTER per bind: Curve is decided per
        # endpoint (a loopback endpoint next to a public one stays plain).
        for b, curve in zip(self.binds, secure, strict=True):
            sock: zmq.Socket[Any] = self._ctx.socket(zmq.PUB)
            self._socks.append(sock)
            sock.setsockopt(zmq.SNDHWM, self.hwm)
            sock.setsockopt(zmq.LINGER, int(self.linger * 1000))
            sock.setsockopt(zmq.HEARTBEAT_IVL, _HEARTBEAT_IVL_MS)
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, _HEARTBEAT_TIMEOUT_MS)
            sock.setsockopt(zmq.MAXMSGSIZE, _MAX_SUBSCRIPTION)  # inbound: subscriptions only
            if curve:
                assert keypair is not None
                sock.curve_server = True
                sock.curve_secretkey = keypair.secret
                sock.curve_publickey = keypair.public
            try:
                sock.bind(b.endpoint)
            except zmq.ZMQError as exc:
                raise OSError(f"publisher {self.name!r} cannot bind {b.endpoint}: {exc}") from exc
            endpoints.append(sock.getsockopt_string(zmq.LAST_ENDPOINT))
        self.endpoints = tuple(endpoints)

    def _secure(self, b: Bind) -> bool:
        """The node's rule (``Node._secure``): Curve exactly when not loopback, unless
        ``Bind.secure`` says otherwise; a non-loopback bind without keys is refused unless
        ``insecure=True``, which never overrides an explicit ``secure=True``."""
        secure = b.secure if b.secure is not None else not is_loopback(b.endpoint)
        if secure and (self._keys is None or self._authorized is None):
            if b.secure is None and self._insecure:
                log.warning(
                    "pubsub.insecure_bind",
                    publisher=self.name,
                    endpoint=b.endpoint,
                    detail="reachable from the network without authentication (insecure=True)",
                )
                return False
            if self._keys is not None:
                raise SecurityError(
                    f"publisher {self.name!r}: binding {b.endpoint} with CurveZMQ needs "
                    "authorized_keys= (a directory of the subscriber .key files allowed in)"
                )
            raise SecurityError(
                f"publisher {self.name!r}: refusing to bind {b.endpoint} without CurveZMQ "
                "keys: anyone who can reach it could read what it publishes. Pass keys= and "
                "authorized_keys= (see `exphil keys generate`), bind a loopback address, "
                "or pass insecure=True (--insecure) to accept the risk."
            )
        return secure

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, topic: str, value: Any) -> None:
        """Send ``value`` (msgspec-encodable: builtins, Structs; numpy scalars become Python
        scalars) on ``topic``. Never blocks; a subscriber that is slow loses messages past
        ``hwm``, one that is absent gets nothing. Raises ``TypeError`` only for a value that
        cannot be encoded."""
        try:
            data = self._value_enc.encode(value)
        except (TypeError, ValueError, OverflowError, NotImplementedError) as exc:
            raise TypeError(
                f"cannot publish {type(value).__qualname__} on {topic!r}: {exc} (values must "
                "be msgspec-encodable: Structs, builtins)"
            ) from exc
        raw_topic = topic.encode()
        if topic in self._retained:
            self._retained[topic] = (raw_topic, data)
        self._send(topic, raw_topic, data)

    def _send(self, topic: str, raw_topic: bytes, data: bytes) -> None:
        if self._closed:
            self._dropped += 1
            return
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        header = self._header_enc.encode(_Header(PUBSUB_VERSION, self.publisher_id, seq))
        frames = (raw_topic, header, data)
        ok = False
        for sock in self._socks:
            try:
                sock.send_multipart(frames, zmq.NOBLOCK)
                ok = True
            except zmq.ZMQError:  # Again cannot happen on PUB (it drops), but never raise
                pass
        if not ok:
            self._dropped += 1
            return
        self._sent += 1
        self._bytes += len(raw_topic) + len(header) + len(data)

    def retain(self, *topics: str) -> None:
        """Keep the last value published on each of ``topics`` (exact names) for
        ``publish_retained``, so that late subscribers get the current state. PUB/SUB drops
        whatever was sent before a subscriber connected; retained topics are re-sent."""
        for topic in topics:
            self._retained.setdefault(topic, None)

    def publish_retained(self, *, force: bool = False) -> int:
        """Re-send the last value of every retained topic, if ``retain_interval`` has passed
        since the previous re-send (or ``force``). Cheap to call on every tick of the owner's
        loop. Returns the number of messages re-sent. Every subscriber gets them again."""
        now = time.monotonic()
        if not force and now - self._last_retained < self.retain_interval:
            return 0
        self._last_retained = now
        n = 0
        for topic, last in self._retained.items():
            if last is not None:
                self._send(topic, *last)
                n += 1
        return n

    async def run(self) -> None:
        """Re-send retained values every ``retain_interval`` until cancelled, then close the
        publisher (without lingering): for ``Actor.start_soon(pub.run)``, so that the socket
        goes with the actor even when it is killed (``terminate`` does not run then)."""
        try:
            while True:
                self.publish_retained()
                await anyio.sleep(max(self.retain_interval, 0.01))
        finally:
            self.close(linger=0)

    def statistics(self) -> PublisherStatistics:
        return PublisherStatistics(
            sent=self._sent,
            dropped=self._dropped,
            bytes=self._bytes,
            refused=self._refused + (self._auth.allow.refused if self._auth is not None else 0),
        )

    # -- closing ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, linger: float | None = None) -> None:
        """Close the socket; queued messages may take up to ``linger`` (default: the
        constructor's) to go out, and this call blocks meanwhile: prefer ``aclose()`` on an
        event loop. Publishing afterwards counts the message as dropped."""
        if self._closed:
            return
        self._teardown(self.linger if linger is None else linger)

    async def aclose(self) -> None:
        """``close()`` with the lingering wait in a worker thread."""
        if self._closed:
            return
        self._close_sockets(self.linger)
        await anyio.to_thread.run_sync(self._ctx.term, abandon_on_cancel=True)

    def _teardown(self, linger: float) -> None:
        self._close_sockets(linger)
        self._ctx.term()

    def _close_sockets(self, linger: float) -> None:
        self._closed = True
        for sock in self._socks:
            sock.close(int(linger * 1000))
        if self._auth is not None:
            self._auth.stop()
            self._refused += self._auth.allow.refused
            self._auth = None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"<Publisher {self.name!r} {list(self.endpoints)}{' closed' if self._closed else ''}>"
        )


class Subscriber:
    """A ZeroMQ SUB socket: ``await sub.receive()`` or ``async for topic, value in sub``.

    ``connect``: the publisher's endpoint; the subscriber may start first, and reconnects by
    itself when the publisher restarts (libzmq's reconnects). ``topics``: prefixes to receive
    (ZeroMQ matches the start of the topic: ``"loss"`` also gets ``"loss/eval"``; ``""`` is
    everything). ``types``: what values decode to (e.g. a tagged union of Structs; default
    ``Any``: plain msgpack data). A message that does not decode, or does not match ``types``,
    is counted (``statistics().bad``), logged (``pubsub.bad_message``, at most once per cause
    per 10 s) and skipped: it never raises out of ``receive`` or the iterator.
    ``server_key`` (the publisher's ``.key`` file or Z85 key) turns on CurveZMQ and then needs
    ``keys`` (this subscriber's ``.key_secret`` or ``KeyPair``), as a connecting ``Node``.
    ``hwm``: messages queued here before libzmq drops new ones (counted as ``missed``);
    ``max_message_size``: libzmq drops the connection on a larger message (and reconnects).
    One task receives at a time.
    """

    def __init__(
        self,
        connect: str,
        *,
        topics: Sequence[str] = ("",),
        types: Any = Any,
        server_key: str | bytes | os.PathLike[str] | None = None,
        keys: KeySpec | None = None,
        hwm: int = 1000,
        max_message_size: int = 16 * 1024 * 1024,
        name: str = "subscriber",
    ) -> None:
        if isinstance(topics, str):
            raise TypeError("topics is a sequence of prefixes: pass (topic,), not a string")
        if hwm < 1:
            raise ValueError(f"hwm must be >= 1, not {hwm}")
        self.endpoint = connect
        self.topics = tuple(topics)
        self.name = name
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(types)
        self._header_dec = msgspec.msgpack.Decoder(_Header)
        self._last: dict[str, tuple[int, int]] = {}  # topic -> (publisher id, last seq)
        self._received = 0
        self._bad = 0
        self._missed = 0
        self._fallback_wakeups = 0
        self._bad_log: dict[str, tuple[float, int]] = {}  # cause -> (last log, suppressed)
        self._receiving = False
        self._closed = False
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._sock: zmq.Socket[Any] = self._ctx.socket(zmq.SUB)
        try:
            self._open(server_key, keys, hwm, max_message_size)
        except BaseException:
            self._closed = True
            self._sock.close(0)
            self._ctx.term()
            raise
        self._fd = int(self._sock.getsockopt(zmq.FD))

    def _open(
        self,
        server_key: str | bytes | os.PathLike[str] | None,
        keys: KeySpec | None,
        hwm: int,
        max_message_size: int,
    ) -> None:
        sock = self._sock
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.MAXMSGSIZE, max_message_size)
        sock.setsockopt(zmq.RECONNECT_IVL, _RECONNECT_IVL_MS)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, _RECONNECT_IVL_MAX_MS)
        sock.setsockopt(zmq.HEARTBEAT_IVL, _HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, _HEARTBEAT_TIMEOUT_MS)
        if server_key is not None:
            if keys is None:
                raise SecurityError(
                    f"subscriber {self.name!r}: Curve needs this subscriber's key pair "
                    "(keys=...); create one with `exphil keys generate DIR`"
                )
            keypair = _keypair(keys, f"subscriber {self.name!r}")
            sock.curve_serverkey = load_public_key(server_key)
            sock.curve_publickey = keypair.public
            sock.curve_secretkey = keypair.secret
        for topic in self.topics:
            sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        sock.connect(self.endpoint)

    # -- receiving ----------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> tuple[str, Any]:
        """The next ``(topic, value)``. Raises ``TimeoutError`` after ``timeout`` seconds,
        ``anyio.ClosedResourceError`` once closed. Cancelling it never loses a message."""
        with anyio.fail_after(timeout):
            return await self._receive()

    async def _receive(self) -> tuple[str, Any]:
        if self._receiving:
            raise anyio.BusyResourceError("receiving from this subscriber")
        self._receiving = True
        try:
            await checkpoint()
            sock = self._sock
            while True:
                if self._closed:
                    raise anyio.ClosedResourceError
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    pass
                else:
                    item = self._decode(frames)
                    if item is not None:
                        return item
                    await checkpoint()  # a flood of bad input must not starve the loop
                    continue
                # ZMQ_FD is edge-triggered: wait only once EVENTS shows no input (_socket.py).
                if self._events() & _POLLIN:
                    continue
                with anyio.move_on_after(_POLL_INTERVAL) as scope:
                    try:
                        await anyio.wait_readable(self._fd)
                    except (anyio.ClosedResourceError, OSError):
                        if self._closed:
                            raise anyio.ClosedResourceError from None
                        raise
                if scope.cancelled_caught and not self._closed and self._events() & _POLLIN:
                    self._fallback_wakeups += 1
        finally:
            self._receiving = False

    def _events(self) -> int:
        return int(self._sock.getsockopt(zmq.EVENTS))

    def _decode(self, frames: list[bytes]) -> tuple[str, Any] | None:
        if len(frames) != 3:
            return self._reject("frames", f"{len(frames)} frames, expected 3", None)
        raw_topic, raw_header, raw_value = frames
        try:
            topic = raw_topic.decode()
        except UnicodeDecodeError as exc:
            return self._reject("topic", str(exc), None)
        try:
            header = self._header_dec.decode(raw_header)
        except msgspec.DecodeError as exc:
            return self._reject("header", str(exc), topic)
        if header.version != PUBSUB_VERSION:
            return self._reject(
                "version", f"version {header.version}, expected {PUBSUB_VERSION}", topic
            )
        try:
            value = self._decoder.decode(raw_value)
        except msgspec.DecodeError as exc:  # ValidationError included: not one of `types`
            return self._reject("decode", str(exc), topic)
        last = self._last.get(topic)
        if last is not None and last[0] == header.publisher and header.seq > last[1] + 1:
            self._missed += header.seq - last[1] - 1
        self._last[topic] = (header.publisher, header.seq)
        self._received += 1
        return topic, value

    def _reject(self, cause: str, detail: str, topic: str | None) -> tuple[str, Any] | None:
        """Count and (rate-limited) log a bad message; ``None``: it is skipped."""
        self._bad += 1
        now = time.monotonic()
        last, suppressed = self._bad_log.get(cause, (-math.inf, 0))
        if now - last >= _LOG_EVERY:
            log.warning(
                "pubsub.bad_message",
                subscriber=self.name,
                endpoint=self.endpoint,
                cause=cause,
                topic=topic,
                detail=detail[:300],
                suppressed=suppressed,
                total=self._bad,
            )
            self._bad_log[cause] = (now, 0)
        else:
            self._bad_log[cause] = (last, suppressed + 1)
        return None

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        try:
            return await self.receive()
        except anyio.ClosedResourceError:
            raise StopAsyncIteration from None

    def statistics(self) -> SubscriberStatistics:
        return SubscriberStatistics(
            received=self._received,
            bad=self._bad,
            missed=self._missed,
            fallback_wakeups=self._fallback_wakeups,
        )

    # -- closing ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the socket; a task waiting in ``receive`` gets ``ClosedResourceError`` (the
        iterator ends)."""
        if self._closed:
            return
        self._closed = True
        try:
            anyio.notify_closing(self._fd)  # wakes a receiver waiting on the FD
        except RuntimeError:  # not on an event loop: nobody can be waiting
            pass
        self._sock.close(0)
        self._ctx.term()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Subscriber:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Subscriber {self.name!r} {self.endpoint} topics={list(self.topics)}"
            f"{' closed' if self._closed else ''}>"
        )
