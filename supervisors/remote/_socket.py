"""Driving a ZeroMQ socket from anyio (asyncio and trio alike) by readiness on its ``ZMQ_FD``.

Why not ``zmq.asyncio``: it is asyncio-only, and it costs one Future per message. Why not a
dedicated I/O thread: every message would pay a thread hop in each direction, and the node's
state would need locks. ``ZMQ_FD`` is a plain file descriptor that ``anyio.wait_readable``
waits on under both backends; the catch is that it is *edge-triggered* and signals any change
of the socket's state, so the rules are:

* after waking, drain with ``NOBLOCK`` until ``recv`` says ``Again``, then read ``EVENTS``;
  only when ``EVENTS`` has no ``POLLIN`` is it safe to wait on the FD again;
* a ``send`` processes the socket's pending commands and can consume the edge that announced
  new input, so after each send we read ``EVENTS`` and wake the reader if input is waiting;
* one task waits on the FD (the pump); senders that hit the high-water mark queue their frames
  in order and the pump flushes them when ``EVENTS`` reports ``POLLOUT``.

The node's ticker pokes every pump a few times a second, a safety net should an edge ever be
missed; ``fallback_wakeups`` counts the times that found work (it should stay 0).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import zmq
from anyio import CancelScope
from anyio.lowlevel import checkpoint

__all__ = ["SocketPump"]

_DRAIN_BATCH = 512
_POLLIN = int(zmq.POLLIN)


class SocketPump:
    """Reads every message of one socket into ``on_message`` and sends in order.

    ``on_message`` is synchronous and must not raise (the node catches and counts errors).
    Sends never block the event loop: ``post`` sends now or queues behind earlier frames.
    """

    def __init__(
        self,
        sock: zmq.Socket[Any],
        on_message: Callable[[list[Any]], None],
        *,
        name: str,
        head_frames: int = 1,
        max_backlog: int = 10_000,
    ) -> None:
        self.sock = sock
        self.name = name
        self.fd: int = int(sock.getsockopt(zmq.FD))
        self.on_message = on_message
        self.head_frames = head_frames
        self.max_backlog = max_backlog
        self.backlog: deque[tuple[Sequence[Any], bool]] = deque()
        self._wait_scope: CancelScope | None = None
        self._sends_asleep = 0  # sends since the pump went to sleep
        self._poked = False
        self._drained = anyio.Event()
        self._closed = False
        # statistics
        self.received = 0
        self.sent = 0
        self.bytes_sent = 0
        self.fallback_wakeups = 0
        self.send_errors = 0

    # -- receiving ---------------------------------------------------------------------------

    async def run(self) -> None:
        """The pump: drain, flush, wait for the FD; forever (until cancelled)."""
        recv = self._recv
        on_message = self.on_message
        try:
            while True:
                n = 0
                while True:
                    try:
                        frames = recv()
                    except zmq.Again:
                        break
                    self.received += 1
                    on_message(frames)
                    n += 1
                    if n >= _DRAIN_BATCH:  # let the actors run; then keep draining
                        n = 0
                        await checkpoint()
                if self.backlog:
                    self._flush()
                events = self._events()
                if events & zmq.POLLIN or (self.backlog and events & zmq.POLLOUT):
                    await checkpoint()
                    continue
                with CancelScope() as scope:
                    self._wait_scope = scope
                    self._sends_asleep = 0
                    try:
                        await anyio.wait_readable(self.fd)
                    except (anyio.ClosedResourceError, OSError):
                        # the socket was replaced (or is closing): go round with the new one
                        await checkpoint()
                self._wait_scope = None
                if self._poked:
                    self._poked = False
                    if self._events() & _POLLIN:
                        self.fallback_wakeups += 1
        finally:
            self._closed = True
            self._drained.set()

    def _recv(self) -> list[Any]:
        """One message: the first ``head_frames`` (routing id, header: small) as bytes, which
        is cheaper than ``zmq.Frame`` objects; array frames as ``zmq.Frame`` (no copy)."""
        sock = self.sock
        frames: list[Any] = [sock.recv(zmq.NOBLOCK)]
        head = self.head_frames
        while sock.getsockopt(zmq.RCVMORE):
            if len(frames) < head:
                frames.append(sock.recv(zmq.NOBLOCK))
            else:
                frames.append(sock.recv(zmq.NOBLOCK, copy=False))
        return frames

    def _events(self) -> int:
        return int(self.sock.getsockopt(zmq.EVENTS))

    def replace(self, sock: zmq.Socket[Any]) -> None:
        """Continue with a new socket (the caller closes the old one); the backlog is dropped."""
        self.sock = sock
        self.fd = int(sock.getsockopt(zmq.FD))
        self.backlog.clear()
        self._drained.set()
        self.kick()

    def poke(self) -> None:
        """The periodic safety net (the node's ticker): wake the pump so it re-reads ``EVENTS``
        even if an edge were ever missed; ``fallback_wakeups`` counts the times it mattered."""
        if self._wait_scope is not None:
            self._poked = True
            self.kick()

    def kick(self) -> None:
        """Wake the pump now (new input may be waiting, or frames were queued)."""
        scope = self._wait_scope
        if scope is not None:
            self._wait_scope = None
            scope.cancel()

    # -- sending -----------------------------------------------------------------------------

    def post(self, frames: Sequence[Any], *, copy: bool = True) -> bool:
        """Send ``frames`` now if possible, else queue them behind earlier ones (in order).

        Returns False when the message cannot be sent at all (ROUTER: peer unknown) or the
        backlog is over ``max_backlog`` (the message is dropped and counted).
        """
        if self._closed:
            return False
        if self.backlog:
            if len(self.backlog) >= self.max_backlog:
                self.send_errors += 1
                return False
            self.backlog.append((frames, copy))
            return True
        try:
            if len(frames) == 1:
                self.sock.send(frames[0], zmq.NOBLOCK, copy=copy)
            else:
                self.sock.send_multipart(frames, zmq.NOBLOCK, copy=copy)
        except zmq.Again:
            self.backlog.append((frames, copy))
            if self._drained.is_set():
                self._drained = anyio.Event()
            self.kick()
            return True
        except zmq.ZMQError:  # EHOSTUNREACH: a ROUTER peer that is gone
            self.send_errors += 1
            return False
        self.sent += 1
        if self._wait_scope is not None:
            self._after_send()
        return True

    def _after_send(self) -> None:
        """A send processes the socket's pending commands and may eat the edge that announced
        new input, while the pump sleeps on the FD. The first send while it sleeps checks
        ``EVENTS`` (cheap for one-off sends such as calls); a second one wakes the pump, which
        re-checks ``EVENTS`` itself once the sender yields (cheap for bursts)."""
        self._sends_asleep += 1
        if self._sends_asleep > 1 or self._events() & _POLLIN:
            self.kick()

    def _flush(self) -> None:
        backlog = self.backlog
        sock = self.sock
        while backlog:
            frames, copy = backlog[0]
            try:
                sock.send_multipart(frames, zmq.NOBLOCK, copy=copy)
            except zmq.Again:
                return
            except zmq.ZMQError:
                self.send_errors += 1
            else:
                self.sent += 1
            backlog.popleft()
        self._drained.set()

    async def send_tracked(self, frames: Sequence[Any]) -> None:
        """Send zero-copy and return only once libzmq has released every buffer, so the
        caller may reuse or mutate them afterwards (a buffer is never mutated in flight)."""
        await self.wait_sendable()
        while True:
            if self._closed:
                return
            try:
                tracker = self.sock.send_multipart(frames, zmq.NOBLOCK, copy=False, track=True)
            except zmq.Again:
                await anyio.sleep(0.001)
                continue
            except zmq.ZMQError:
                self.send_errors += 1
                return
            break
        self.sent += 1
        if self._wait_scope is not None:
            self._after_send()
        if tracker is None or tracker.done:
            return
        # pyzmq releases the buffer from its own thread, which needs the GIL: a plain spin on
        # the event loop would starve it. Yield to the loop and hand the GIL over
        # (time.sleep(0)) for a short while; past that, block in a worker thread.
        deadline = time.monotonic() + 0.002
        while not tracker.done:
            if time.monotonic() > deadline:
                await anyio.to_thread.run_sync(tracker.wait)
                return
            time.sleep(0)  # noqa: ASYNC251 -- releases the GIL for pyzmq, 0 s
            await checkpoint()

    async def wait_sendable(self) -> None:
        """Wait until the backlog is empty (backpressure for bulk senders)."""
        while self.backlog and not self._closed:
            if self._drained.is_set():
                self._drained = anyio.Event()
            await self._drained.wait()

    def drop_backlog(self, predicate: Callable[[Sequence[Any]], bool]) -> int:
        """Forget queued messages for which ``predicate(frames)`` is true (a dead peer's)."""
        kept = deque(item for item in self.backlog if not predicate(item[0]))
        dropped = len(self.backlog) - len(kept)
        self.backlog = kept
        if not kept:
            self._drained.set()
        return dropped
