"""An actor's mailbox: one FIFO, bounded for user messages, never blocking for system signals.

One queue (not two) keeps the per-sender order between a sender's messages and its own exit
signal: a ``cast`` followed by the sender's death is always seen in that order, as in OTP.
User messages (call, cast, info) count against ``capacity`` and their senders wait, first come
first served, when it is full (backpressure). Runtime signals (``Exit``, ``Down``, supervisor
retries) bypass the bound so the runtime itself can never block on a full mailbox.

When the owner dies the mailbox is closed: queued messages are handed back to the owner (it
fails the pending calls) and waiting senders are released.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio
from anyio.lowlevel import checkpoint, checkpoint_if_cancelled

__all__ = ["Mailbox", "UserMessage"]

T = TypeVar("T")

YIELD_EVERY = 32


class UserMessage:
    """Base of the message wrappers that count against the mailbox capacity."""

    __slots__ = ()


class _Waiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False


class Mailbox(Generic[T]):
    __slots__ = (
        "_burst",
        "_queue",
        "_receiver",
        "_senders",
        "_user",
        "capacity",
        "closed",
        "high_water",
    )

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self._queue: deque[T] = deque()
        self._user = 0
        self._receiver: anyio.Event | None = None
        self._senders: deque[_Waiter] = deque()
        self.closed = False
        self.high_water = 0
        self._burst = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def waiting_senders(self) -> int:
        return len(self._senders)

    def _append(self, item: T) -> None:
        q = self._queue
        q.append(item)
        if len(q) > self.high_water:
            self.high_water = len(q)
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            receiver.set()

    def put_system(self, item: T) -> bool:
        """Enqueue a runtime signal; never blocks. False if the owner is dead."""
        if self.closed:
            return False
        self._append(item)
        return True

    def try_put(self, item: T) -> bool:
        """Enqueue a user message if there is room right now (no checkpoint)."""
        if self.closed or self._user >= self.capacity or self._senders:
            return False
        self._user += 1
        self._append(item)
        return True

    def force_put(self, item: T) -> bool:
        """Enqueue a user message now, even past ``capacity`` (remote deliveries: a node never
        blocks on one slow mailbox; the acknowledged channel's credit bounds bulk senders)."""
        if self.closed:
            return False
        self._user += 1
        self._append(item)
        return True

    async def put(self, item: T) -> bool:
        """Enqueue a user message, waiting while the mailbox is full.

        Returns False (and delivers nothing) if the owner is or becomes dead. A checkpoint:
        if it raises a cancellation the message was not delivered.
        """
        await checkpoint()
        if self.closed:
            return False
        if self._user < self.capacity and not self._senders:
            self._user += 1
            self._append(item)
            return True
        waiter = _Waiter()
        self._senders.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self._release_slot()
            else:
                self._senders.remove(waiter)
            raise
        if not waiter.granted:  # closed while waiting
            return False
        self._append(item)
        return True

    def _release_slot(self) -> None:
        """A user slot became free: hand it to the first waiting sender, or free it."""
        if self._senders:
            waiter = self._senders.popleft()
            waiter.granted = True
            waiter.event.set()
        else:
            self._user -= 1

    async def get(self) -> T:
        """Next message, waiting if empty.

        Always a cancellation point; it yields to other tasks when it has to wait and at least
        every ``YIELD_EVERY`` messages otherwise (a yield per message would cost one event-loop
        iteration, i.e. one epoll call, per message).
        """
        if self._queue and self._burst < YIELD_EVERY:
            self._burst += 1
            await checkpoint_if_cancelled()
        else:
            self._burst = 0
            await checkpoint()
            while not self._queue:
                event = self._receiver = anyio.Event()
                await event.wait()
        item = self._queue.popleft()
        if isinstance(item, UserMessage):
            self._release_slot()
        return item

    def remove_if(self, predicate: Callable[[T], bool]) -> int:
        """Drop queued items for which ``predicate(item)`` is true (used by demonitor flush)."""
        kept: deque[T] = deque()
        dropped = 0
        for item in self._queue:
            if predicate(item):
                dropped += 1
                if isinstance(item, UserMessage):
                    self._release_slot()
            else:
                kept.append(item)
        self._queue = kept
        return dropped

    def close(self) -> list[T]:
        """Mark closed, release every waiting sender, and return what was still queued."""
        self.closed = True
        left = list(self._queue)
        self._queue.clear()
        self._user = 0
        while self._senders:
            self._senders.popleft().event.set()
        return left
