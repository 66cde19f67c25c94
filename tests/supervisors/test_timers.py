"""Timers: ``send_after``, ``send_interval``, ``cancel_timer`` (Erlang's send_after /
timer:send_interval / cancel_timer).

Messages arrive in ``handle_info``; a timer started by an actor dies with it; an interval timer
never queues a tick while its previous one is still in the mailbox.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from supervisors import (
    Actor,
    From,
    RemoteTarget,
    Runtime,
    TimerRef,
    call,
    cancel_timer,
    send_after,
    send_interval,
    stop,
)
from tests.supervisors.helpers import waited

pytestmark = pytest.mark.anyio


class Inbox(Actor):
    """Records its infos; calls run timer functions inside the actor (so it owns them)."""

    def __init__(self) -> None:
        self.infos: list[Any] = []
        self.got = anyio.Event()
        self.gate: anyio.Event | None = None  # when set, handle_info blocks until it is set

    async def handle_call(self, request: Any, from_: From) -> Any:
        kind, *args = request
        if kind == "infos":
            return list(self.infos)
        if kind == "after":
            return send_after(args[0], args[1], args[2])
        if kind == "interval":
            return send_interval(args[0], args[1], args[2])
        raise TypeError(request)

    async def handle_info(self, message: Any) -> None:
        self.infos.append(message)
        self.got.set()
        if self.gate is not None:
            await self.gate.wait()


async def until(predicate: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while True:
            if predicate():
                return
            await anyio.sleep(0.005)


async def test_send_after_delivers_to_handle_info(rt: Runtime) -> None:
    inbox = Inbox()
    ref = await rt.spawn(inbox)
    t0 = anyio.current_time()
    timer = send_after(ref, "ding", 0.05)
    assert isinstance(timer, TimerRef) and timer.active
    await waited(inbox.got)
    assert anyio.current_time() - t0 >= 0.05
    assert inbox.infos == ["ding"]
    assert timer.state == "fired" and timer.sent == 1 and not timer.active
    assert cancel_timer(timer) is False  # already fired (Erlang: false)
    assert rt.statistics().timers_active == 0


async def test_cancel_timer_before_it_fires(rt: Runtime) -> None:
    inbox = Inbox()
    ref = await rt.spawn(inbox)
    timer = send_after(ref, "never", 0.05)
    assert cancel_timer(timer) is True
    assert cancel_timer(timer) is False
    assert timer.state == "cancelled"
    await anyio.sleep(0.1)
    assert inbox.infos == []


async def test_send_after_resolves_a_name_when_it_fires(rt: Runtime) -> None:
    first, second = Inbox(), Inbox()
    old = await rt.spawn(first, name="box")
    send_after("box", "hello", 0.05)
    await stop(old)  # the name is free when the timer is set...
    await rt.spawn(second, name="box")  # ...and taken by another actor when it fires
    await waited(second.got)
    assert (first.infos, second.infos) == ([], ["hello"])


async def test_send_after_to_a_dead_target_is_not_an_error(rt: Runtime) -> None:
    inbox = Inbox()
    ref = await rt.spawn(inbox)
    await stop(ref)
    timer = send_after(ref, "lost", 0.0)
    gone = send_after("nobody", "lost", 0.0)
    await until(lambda: not timer.active and not gone.active)
    assert timer.state == gone.state == "fired"
    assert timer.sent == gone.sent == 0


async def test_send_interval_repeats_until_cancelled(rt: Runtime) -> None:
    inbox = Inbox()
    ref = await rt.spawn(inbox)
    timer = send_interval(ref, "tick", 0.02)
    await until(lambda: len(inbox.infos) >= 3)
    assert set(inbox.infos) == {"tick"}
    assert cancel_timer(timer) is True
    assert cancel_timer(timer) is False
    count = len(inbox.infos)
    await anyio.sleep(0.08)
    assert len(inbox.infos) == count
    assert rt.statistics().timers_active == 0


async def test_interval_ticks_do_not_pile_up_behind_a_slow_receiver(rt: Runtime) -> None:
    inbox = Inbox()
    inbox.gate = anyio.Event()
    ref = await rt.spawn(inbox)
    timer = send_interval(ref, "tick", 0.01)
    await waited(inbox.got)  # the first tick is being handled, and blocks
    await anyio.sleep(0.15)  # ~15 intervals while the receiver is stuck
    stats = ref.statistics()
    assert stats.mailbox_depth == 1  # one tick queued, every other one skipped
    assert timer.skipped >= 5
    assert timer.sent == 2
    inbox.gate.set()
    inbox.gate = None
    cancel_timer(timer)
    await call(ref, ("infos",))
    assert inbox.infos == ["tick", "tick"]


async def test_interval_skips_ticks_missed_while_the_loop_was_blocked(rt: Runtime) -> None:
    inbox = Inbox()
    ref = await rt.spawn(inbox)
    timer = send_interval(ref, "tick", 0.01)
    time.sleep(0.1)  # noqa: ASYNC251 (the event loop is blocked for ~10 intervals)
    await waited(inbox.got)
    await anyio.sleep(0.005)
    cancel_timer(timer)
    assert timer.skipped >= 5  # not delivered as a burst
    assert len(inbox.infos) <= 3


async def test_interval_to_a_dead_ref_finishes(rt: Runtime) -> None:
    inbox = Inbox()
    ref = await rt.spawn(inbox)
    timer = send_interval(ref, "tick", 0.01)
    await waited(inbox.got)
    await stop(ref)
    await until(lambda: not timer.active)
    assert timer.state == "finished"
    assert cancel_timer(timer) is False


async def test_timers_started_by_an_actor_die_with_it(rt: Runtime) -> None:
    owner, target = Inbox(), Inbox()
    owner_ref = await rt.spawn(owner)
    target_ref = await rt.spawn(target)
    tasks_before = len(anyio.get_running_tasks())
    interval = await call(owner_ref, ("interval", target_ref, "tick", 0.01))
    later = await call(owner_ref, ("after", target_ref, "late", 0.05))
    assert len(anyio.get_running_tasks()) == tasks_before + 2
    assert rt.statistics().timers_active == 2
    await waited(target.got)
    await stop(owner_ref)
    assert interval.state == later.state == "cancelled"
    assert cancel_timer(interval) is False and cancel_timer(later) is False
    # no leaked task: the timers' tasks are gone with the owner's own
    await until(lambda: len(anyio.get_running_tasks()) == tasks_before - 1)
    assert rt.statistics().timers_active == 0
    seen = len(target.infos)
    await anyio.sleep(0.08)
    assert len(target.infos) == seen and "late" not in target.infos


async def test_a_timer_started_outside_actors_ends_with_the_runtime() -> None:
    async with Runtime() as rt:
        ref = await rt.spawn(Inbox())
        timer = send_interval(ref, "tick", 10.0)
        assert rt.statistics().timers_active == 1
    assert not timer.active


async def test_timer_arguments_are_checked(rt: Runtime) -> None:
    class Elsewhere(RemoteTarget):
        pass

    ref = await rt.spawn(Inbox())
    with pytest.raises(ValueError):
        send_after(ref, "x", -1)
    with pytest.raises(ValueError):
        send_after(ref, "x", float("nan"))
    with pytest.raises(ValueError):
        send_interval(ref, "x", 0)
    with pytest.raises(TypeError):
        send_interval(Elsewhere(), "x", 1.0)
    with pytest.raises(TypeError):
        send_after(42, "x", 1.0)  # type: ignore[arg-type]
    assert rt.statistics().timers_active == 0
