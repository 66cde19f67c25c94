"""An actor's mailbox: one FIFO, bounded for user messages, never blocking for system signals.

One queue (not two) keeps the per-sender order between a sender's messages and its own exit
signal: a ``cast`` followed by the sender's death is always seen in that order, as in OTP.

User messages (call, cast, info) count against ``capacity``. Casts and infos never wait
(``put_nowait``): when the mailbox is full the owner's *overflow policy* decides:

* ``"grow"``: accept it past the capacity, as an Erlang mailbox would (counted);
* ``"drop_newest"``: drop the incoming message (counted);
* ``"drop_oldest"``: drop the oldest queued cast/info to make room (counted); calls are never
  dropped, so if only calls are queued the incoming message is dropped instead.

Calls wait (``put``), first come first served, until the number of queued user messages is
below the capacity (backpressure, bounded by the call's timeout). Runtime signals (``Exit``,
``Down``, supervisor retries) bypass the bound so the runtime itself can never block on a full
mailbox.

When the owner dies the mailbox is closed: queued messages are discarded (the owner fails the
pending calls) and waiting callers are released.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar, Final, Generic, Literal, TypeAlias, TypeVar, get_args

import anyio
from anyio.lowlevel import checkpoint, checkpoint_if_cancelled

__all__ = ["Mailbox", "UserMessage", "OverflowPolicy", "OVERFLOW_POLICIES"]

T = TypeVar("T")

YIELD_EVERY = 32

OverflowPolicy: TypeAlias = Literal["grow", "drop_newest", "drop_oldest"]
"""What a full mailbox does with a cast or info (see the module docstring)."""

OVERFLOW_POLICIES: Final[tuple[str, ...]] = get_args(OverflowPolicy)

OVERFLOW_REPORT_INTERVAL: Final = 10.0
"""Seconds between two overflow reports (log lines) of one mailbox."""


def check_overflow_policy(policy: str) -> OverflowPolicy:
    if policy not in OVERFLOW_POLICIES:
        raise ValueError(
            f"mailbox overflow policy must be one of {', '.join(OVERFLOW_POLICIES)}, not {policy!r}"
        )
    return policy  # type: ignore[return-value]


class UserMessage:
    """Base of the message wrappers that count against the mailbox capacity."""

    __slots__ = ()

    droppable: ClassVar[bool] = False
    """Whether the ``drop_oldest`` policy may drop it (casts and infos, never calls)."""

    def discarded(self) -> None:
        """Called when the mailbox drops this message undelivered (overflow, owner's death)."""


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
        "_report_at",
        "_reported",
        "_senders",
        "_user",
        "capacity",
        "closed",
        "dropped",
        "high_water",
        "on_overflow",
        "overflow",
        "overflowed",
    )

    def __init__(self, capacity: int, overflow: str = "grow") -> None:
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be >= 1, not {capacity}")
        self.capacity = capacity
        self.overflow: OverflowPolicy = check_overflow_policy(overflow)
        self._queue: deque[T] = deque()
        self._user = 0  # queued user messages, plus slots granted to waiting callers
        self._receiver: anyio.Event | None = None
        self._senders: deque[_Waiter] = deque()
        self.closed = False
        self.high_water = 0
        self._burst = 0
        self.overflowed = 0
        """User messages that arrived at a full mailbox (whatever the policy did with them)."""
        self.dropped = 0
        """User messages dropped by the overflow policy."""
        self.on_overflow: Callable[[int], None] | None = None
        """Called on an overflow at most once per ``OVERFLOW_REPORT_INTERVAL`` seconds, with
        the number of overflows not reported before (the owner logs it)."""
        self._report_at = 0.0
        self._reported = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def waiting_senders(self) -> int:
        """Callers waiting for room (casts and infos never wait)."""
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
        """Enqueue a user message if there is room right now and no caller is waiting for
        room (no checkpoint). The fast path of a call."""
        if self.closed or self._user >= self.capacity or self._senders:
            return False
        self._user += 1
        self._append(item)
        return True

    def put_nowait(self, item: T) -> bool:
        """Enqueue a cast or info without ever waiting; a full mailbox applies its overflow
        policy. True if ``item`` was queued (False: the owner is dead, or it was dropped)."""
        if self.closed:
            return False
        if self._user < self.capacity:
            self._user += 1
            self._append(item)
            return True
        policy = self.overflow
        if policy == "grow":
            self._overflow()
            self._user += 1
            self._append(item)
            return True
        if policy == "drop_oldest":
            q = self._queue
            for i, queued in enumerate(q):
                if isinstance(queued, UserMessage) and queued.droppable:
                    del q[i]
                    self.dropped += 1
                    self._overflow()
                    queued.discarded()
                    self._append(item)  # it takes the dropped message's slot
                    return True
        # drop_newest, or drop_oldest with nothing droppable queued (only calls)
        self.dropped += 1
        self._overflow()
        if isinstance(item, UserMessage):
            item.discarded()
        return False

    def force_put(self, item: T) -> bool:
        """Enqueue a user message now, even past ``capacity`` and whatever the policy (remote
        calls and acknowledged casts: a node never blocks on one slow mailbox, and these must
        not be dropped). Past the capacity it counts as an overflow."""
        if self.closed:
            return False
        if self._user >= self.capacity:
            self._overflow()
        self._user += 1
        self._append(item)
        return True

    def _overflow(self) -> None:
        self.overflowed += 1
        report = self.on_overflow
        if report is None:
            return
        now = time.monotonic()
        if now >= self._report_at:
            self._report_at = now + OVERFLOW_REPORT_INTERVAL
            unreported = self.overflowed - self._reported
            self._reported = self.overflowed
            report(unreported)

    async def put(self, item: T) -> bool:
        """Enqueue a user message, waiting while the mailbox is full (calls).

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
        """A user message left the queue: free its slot, and grant free slots to the waiting
        callers in order (none while a ``grow`` mailbox is still past its capacity)."""
        self._user -= 1
        senders = self._senders
        while senders and self._user < self.capacity:
            waiter = senders.popleft()
            waiter.granted = True
            self._user += 1
            waiter.event.set()

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
                    item.discarded()
                    self._release_slot()
            else:
                kept.append(item)
        self._queue = kept
        return dropped

    def close(self) -> list[T]:
        """Mark closed, release every waiting caller, and return what was still queued."""
        self.closed = True
        left = list(self._queue)
        self._queue.clear()
        self._user = 0
        while self._senders:
            self._senders.popleft().event.set()
        for item in left:
            if isinstance(item, UserMessage):
                item.discarded()
        return left
