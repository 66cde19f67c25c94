"""Timers: ``send_after`` and ``send_interval`` (Erlang's ``erlang:send_after`` and
``timer:send_interval``), ``cancel_timer``.

A timer delivers its message to the target's ``handle_info``, as ``send`` would: a name is
resolved when the timer fires (so it reaches the incarnation alive then), a dead or unknown
target is not an error. A timer is one task of the runtime; a timer started by an actor (from
``init``, a handler or one of its helper tasks) belongs to that incarnation and is cancelled when
it exits, so actors leak no timer tasks.

An interval timer keeps a fixed grid (start + k·interval, no drift) and **never piles up
messages**: at a tick, if its previous message is still in the target's mailbox (not yet taken
by the actor), the tick is skipped and counted (``TimerRef.skipped``); so is a tick missed
because the event loop was blocked past it. A slow receiver therefore sees at most one queued
tick at any time, and every tick it handles is a current one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import anyio
import structlog
from anyio import CancelScope

from supervisors._actor import (
    ActorRef,
    RemoteTarget,
    Target,
    _current,
    _Info,
    _loop_owner,
    _Process,
    _runtime,
    _Tick,
)
from supervisors._registry import Via

if TYPE_CHECKING:
    from supervisors._runtime import Runtime

__all__ = ["TimerRef", "send_after", "send_interval", "cancel_timer"]

log = structlog.get_logger("supervisors")

TimerState = Literal["pending", "fired", "cancelled", "finished"]


class TimerRef:
    """The handle ``send_after`` and ``send_interval`` return (Erlang's TimerRef).

    ``state``: ``"pending"`` until a one-shot timer fires (an interval timer stays pending until
    it is cancelled), then ``"fired"``, ``"cancelled"`` (by ``cancel_timer`` or its owner's
    exit) or ``"finished"`` (an interval timer whose target ref died: it can never deliver
    again). ``sent`` counts deliveries, ``skipped`` the interval ticks skipped because the
    previous one was still queued or the tick was missed.
    """

    __slots__ = (
        "_owner",
        "_queued",
        "_runtime",
        "_scope",
        "deadline",
        "interval",
        "message",
        "sent",
        "skipped",
        "state",
        "target",
    )

    def __init__(
        self,
        runtime: Runtime,
        owner: _Process | None,
        target: Target,
        message: object,
        deadline: float,
        interval: float | None,
    ) -> None:
        self._runtime = runtime
        self._owner = owner
        self._scope = CancelScope()
        self._queued = False
        self.target = target
        self.message = message
        self.deadline = deadline
        """The event-loop time (``anyio.current_time()``) of the next firing."""
        self.interval = interval
        self.state: TimerState = "pending"
        self.sent = 0
        self.skipped = 0

    def __repr__(self) -> str:
        kind = "interval" if self.interval is not None else "after"
        return f"<TimerRef {kind} -> {self.target!r} {self.state}>"

    @property
    def active(self) -> bool:
        """True while the timer may still deliver (``cancel_timer`` would return True)."""
        return self.state == "pending"

    def cancel(self) -> bool:
        """``cancel_timer(self)``."""
        if self.state != "pending":
            return False
        self._stop("cancelled")
        return True

    def _stop(self, state: TimerState) -> None:
        if self.state == "pending":
            self.state = state
        self._scope.cancel()
        self._detach()

    def _detach(self) -> None:
        if self._owner is not None:
            self._owner.timers.discard(self)
            self._owner = None
        self._runtime._timers.discard(self)

    # -- the timer task ----------------------------------------------------------------------

    async def _run(self) -> None:
        _loop_owner.set(None)  # not the owner's message loop: it may call the owner
        try:
            with self._scope:
                if self.interval is None:
                    await anyio.sleep_until(self.deadline)
                    self.state = "fired"
                    self._detach()
                    await self._deliver()
                else:
                    await self._ticks(self.interval)
        finally:
            if self.state == "pending":
                self.state = "finished"
            self._detach()

    async def _ticks(self, interval: float) -> None:
        while True:
            await anyio.sleep_until(self.deadline)
            if not await self._tick():
                self.state = "finished"
                return
            now = anyio.current_time()
            self.deadline += interval
            if self.deadline <= now:  # the loop was blocked past whole ticks: skip them
                missed = math.floor((now - self.deadline) / interval) + 1
                self.skipped += missed
                self.deadline += missed * interval

    def _resolve(self) -> _Process | None:
        target = self.target
        if type(target) is ActorRef:
            proc = target._proc
            return None if proc.dead else proc
        if isinstance(target, Via):
            return target.registry._lookup(target.key)
        if isinstance(target, RemoteTarget):
            return None
        return self._runtime.registry._lookup(target)

    async def _deliver(self) -> None:
        """A one-shot timer fires: ``send`` semantics."""
        proc = self._resolve()
        if proc is not None:
            if proc.mailbox.put_nowait(_Info(self.message)):
                self.sent += 1
        elif isinstance(self.target, RemoteTarget):
            try:
                await self.target._remote_cast(self.message, info=True)
            except Exception as exc:  # e.g. not encodable: the timer's own failure, logged
                log.error("timer.send_failed", timer=repr(self), error=repr(exc))
                return
            self.sent += 1

    async def _tick(self) -> bool:
        """One interval tick; False when the timer can never deliver again (dead ref)."""
        proc = self._resolve()
        if proc is None:
            return type(self.target) is not ActorRef  # a name may be registered again
        if self._queued:
            self.skipped += 1
            return True
        self._queued = True
        if proc.mailbox.put_nowait(_Tick(self.message, self)):
            self.sent += 1
        else:
            self._queued = False  # dropped by the overflow policy
            self.skipped += 1
        return True


def _start(target: Target, message: object, delay: float, interval: float | None) -> TimerRef:
    rt = _runtime()
    tg = rt._tg
    if tg is None:
        raise RuntimeError("the runtime is not running (use `async with Runtime():`)")
    if not isinstance(target, (ActorRef, str, Via, RemoteTarget)):
        raise TypeError(f"not an actor reference or name: {target!r}")
    owner = _current.get()
    timer = TimerRef(rt, owner, target, message, anyio.current_time() + delay, interval)
    if owner is not None and owner.dead:
        timer.state = "cancelled"  # started by a dead incarnation (an abandoned task)
        return timer
    if owner is not None:
        owner.timers.add(timer)
    rt._timers.add(timer)
    tg.start_soon(timer._run)
    return timer


def send_after(target: Target, message: object, delay: float) -> TimerRef:
    """Send ``message`` to ``target``'s ``handle_info`` in ``delay`` seconds
    (``erlang:send_after``).

    ``target`` is resolved when the timer fires; nothing happens if it is dead or unknown then.
    Called from an actor, the timer is cancelled when that actor exits. Returns a ``TimerRef``
    for ``cancel_timer``.
    """
    if not (delay >= 0 and math.isfinite(delay)):
        raise ValueError(f"delay must be finite and >= 0 seconds, not {delay!r}")
    return _start(target, message, float(delay), None)


def send_interval(target: Target, message: object, interval: float) -> TimerRef:
    """Send ``message`` to ``target``'s ``handle_info`` every ``interval`` seconds, first after
    one interval (``timer:send_interval``), until ``cancel_timer`` or, when called from an
    actor, that actor's exit.

    Ticks never pile up: a tick whose previous message is still in the target's mailbox is
    skipped (counted in ``TimerRef.skipped``). A name is resolved at each tick; an ``ActorRef``
    target that died ends the timer. Remote targets are refused (the skip needs the target's
    mailbox): run the interval on a local actor that casts.
    """
    if not (interval > 0 and math.isfinite(interval)):
        raise ValueError(f"interval must be finite and > 0 seconds, not {interval!r}")
    if isinstance(target, RemoteTarget):
        raise TypeError(
            f"send_interval() works on local actors only; {target!r} is remote (send the "
            "ticks to a local actor that casts to it)"
        )
    return _start(target, message, float(interval), float(interval))


def cancel_timer(timer: TimerRef) -> bool:
    """Cancel a timer (``erlang:cancel_timer``). True if it was still pending (a one-shot timer
    that had not fired, or an interval timer still running); False otherwise. A message already
    delivered stays in the mailbox."""
    return timer.cancel()
