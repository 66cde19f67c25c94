"""Shared test actors and helpers for the supervisor conformance tests.

Every ``Recorder`` appends to a shared *event log* (a plain list) when it starts and stops, so
tests can check the exact order in which a supervisor starts and stops its children:

* ``("start", id)`` at the end of a successful ``init``;
* ``("stopping", id, reason)`` when ``terminate`` begins;
* ``("stop", id, reason)`` when ``terminate`` completes (after its optional delay).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import anyio
import pytest
import structlog
from structlog.typing import EventDict

from supervisors import (
    Actor,
    ActorExited,
    ActorRef,
    ChildInfo,
    ExitReason,
    From,
    Ignore,
    StopActor,
    Target,
    call,
    kill,
    which_children,
)

EventLog = list[tuple[Any, ...]]

BlockMode = Literal["none", "handler", "terminate"]


class Recorder(Actor):
    """A worker that records its lifecycle in ``events`` and exits on request.

    Calls: ``"ping"`` -> ``"pong"``; ``"crash"`` raises (exit reason ``Crash``);
    ``("stop", reason)`` raises ``StopActor(reason)`` (no reply, so the caller gets
    ``ActorExited``); ``"block"`` starts a handler that catches the cancellation and keeps
    running inside a shielded scope for ``block_seconds`` (a non-cooperative child).
    """

    def __init__(
        self,
        events: EventLog,
        id: Hashable,
        *,
        stop_delay: float = 0.0,
        fail_init: bool = False,
        ignore: bool = False,
        shield_terminate: float = 0.0,
        block_seconds: float = 1.0,
    ) -> None:
        self.events = events
        self.id = id
        self.stop_delay = stop_delay
        self.fail_init = fail_init
        self.ignore = ignore
        self.shield_terminate = shield_terminate
        self.block_seconds = block_seconds

    async def init(self) -> None:
        if self.fail_init:
            raise RuntimeError(f"boom {self.id}")
        if self.ignore:
            raise Ignore
        self.events.append(("start", self.id))

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "ping":
            return "pong"
        if request == "crash":
            raise RuntimeError(f"crash {self.id}")
        if request == "block":
            # Reply first, then misbehave in a background task of this incarnation.
            self.start_soon(self._block)
            return "blocking"
        if isinstance(request, tuple) and request[0] == "stop":
            raise StopActor(request[1])
        raise TypeError(f"unexpected call {request!r}")

    async def _block(self) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.events.append(("cancelled", self.id))
            with anyio.CancelScope(shield=True):
                await anyio.sleep(self.block_seconds)
            self.events.append(("unblocked", self.id))
            raise

    async def terminate(self, reason: ExitReason) -> None:
        self.events.append(("stopping", self.id, reason))
        if self.shield_terminate:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(self.shield_terminate)
        if self.stop_delay:
            await anyio.sleep(self.stop_delay)
        self.events.append(("stop", self.id, reason))


def worker(events: EventLog, id: Hashable, **kwargs: Any) -> Callable[[], Actor]:
    """A child-spec ``start`` factory building a fresh ``Recorder`` per incarnation."""

    def start() -> Actor:
        return Recorder(events, id, **kwargs)

    return start


class Flaky:
    """A factory whose first ``ok`` incarnations start; the next ``fail`` ones (all the rest
    when None) fail to start, and any after those start again.

    ``mode="init"``: the actor's ``init`` raises; ``mode="factory"``: the factory raises.
    """

    def __init__(
        self,
        events: EventLog,
        id: Hashable,
        *,
        ok: int = 1,
        fail: int | None = None,
        mode: Literal["init", "factory"] = "init",
    ) -> None:
        self.events = events
        self.id = id
        self.ok = ok
        self.fail = fail
        self.mode = mode
        self.calls = 0

    def __call__(self) -> Actor:
        self.calls += 1
        if self.calls <= self.ok or (self.fail is not None and self.calls > self.ok + self.fail):
            return Recorder(self.events, self.id)
        if self.mode == "factory":
            raise RuntimeError(f"factory of {self.id} failed")
        return Recorder(self.events, self.id, fail_init=True)


def starts(events: EventLog) -> list[Hashable]:
    return [e[1] for e in events if e[0] == "start"]


def stops(events: EventLog) -> list[Hashable]:
    """Ids whose ``terminate`` completed, in order."""
    return [e[1] for e in events if e[0] == "stop"]


def stop_reasons(events: EventLog, id: Hashable) -> list[ExitReason]:
    return [e[2] for e in events if e[0] == "stop" and e[1] == id]


async def crash(ref: Target) -> None:
    """Make a child crash; returns once it has exited (its supervisor has the Exit queued)."""
    with pytest.raises(ActorExited):
        await call(ref, "crash")


async def exit_with(ref: ActorRef, reason: ExitReason) -> None:
    """Make a child exit with ``reason`` (``StopActor`` through a call)."""
    with pytest.raises(ActorExited) as info:
        await call(ref, ("stop", reason))
    assert info.value.reason == reason


async def kill_and_join(ref: ActorRef) -> ExitReason:
    kill(ref)
    with anyio.fail_after(5):
        return await ref.join()


async def join(ref: ActorRef, timeout: float = 5.0) -> ExitReason:
    with anyio.fail_after(timeout):
        return await ref.join()


async def waited(event: anyio.Event, timeout: float = 5.0) -> None:
    """``event.wait()``, bounded so that a regression fails the test instead of hanging it."""
    with anyio.fail_after(timeout):
        await event.wait()


async def wait_until_running(sup: Target, timeout: float = 5.0) -> dict[Hashable, ChildInfo]:
    """Poll ``which_children`` until every child is running (a retried restart finished)."""
    with anyio.fail_after(timeout):
        while True:
            infos = await children(sup)
            if all(i.status == "running" for i in infos.values()):
                return infos
            await anyio.sleep(0.005)


async def children(sup: Target) -> dict[Hashable, ChildInfo]:
    return {info.id: info for info in await which_children(sup)}


async def refs(sup: Target) -> dict[Hashable, ActorRef | None]:
    return {info.id: info.ref for info in await which_children(sup)}


@contextmanager
def capture_all_logs() -> Iterator[list[EventDict]]:
    """``structlog.testing.capture_logs`` with every level let through (the suite's
    configuration filters out anything below warning before processors run)."""
    config = structlog.get_config()
    old_wrapper = config["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(wrapper_class=old_wrapper)


def events_named(logs: list[EventDict], name: str) -> list[EventDict]:
    return [entry for entry in logs if entry.get("event") == name]
