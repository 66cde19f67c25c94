"""Casts never block the sender (OTP semantics); a full mailbox applies its overflow policy.

``grow`` accepts past the capacity (as an Erlang mailbox), ``drop_newest`` drops the incoming
cast, ``drop_oldest`` drops the oldest queued cast or info (never a call). Every overflow is
counted in ``ActorStatistics`` and reported by a rate-limited warning. Calls still wait for
room, within their timeout.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from supervisors import (
    Actor,
    ActorRef,
    CallTimeout,
    ChildSpec,
    From,
    OverflowPolicy,
    Runtime,
    Supervisor,
    call,
    cast,
    send,
    whereis,
)
from tests.supervisors.helpers import capture_all_logs, events_named, waited

pytestmark = pytest.mark.anyio

POLICIES: list[OverflowPolicy] = ["grow", "drop_newest", "drop_oldest"]


class Chatter(Actor):
    """On ``("go", n)`` casts ``n`` messages to its peer from inside its handler."""

    mailbox_size = 2

    def __init__(self) -> None:
        self.peer: ActorRef | None = None
        self.received = 0
        self.done = False

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "state":
            return (self.done, self.received)
        self.peer = request
        return None

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, tuple) and request[0] == "go":
            assert self.peer is not None
            for i in range(request[1]):
                await cast(self.peer, i)
            self.done = True
        else:
            self.received += 1


@pytest.mark.parametrize("policy", POLICIES)
async def test_two_actors_casting_to_each_other_with_full_mailboxes_finish(
    rt: Runtime, policy: OverflowPolicy
) -> None:
    # With blocking casts this deadlocks: each handler waits for room in the other's mailbox.
    n = 300
    a = await rt.spawn(Chatter(), mailbox_overflow=policy)
    b = await rt.spawn(Chatter(), mailbox_overflow=policy)
    await call(a, b)
    await call(b, a)
    with anyio.fail_after(5):
        await cast(a, ("go", n))
        await cast(b, ("go", n))
        while True:
            (a_done, _), (b_done, _) = await call(a, "state"), await call(b, "state")
            if a_done and b_done:
                break
            await anyio.sleep(0.001)
        # each side's casts were all queued before its done flag: this call comes after them
        (_, a_got), (_, b_got) = await call(a, "state"), await call(b, "state")
    for ref, got in ((a, a_got), (b, b_got)):
        stats = ref.statistics()
        assert stats.mailbox_overflow == policy
        assert stats.mailbox_overflowed > 0  # the mailboxes really were full
        assert got + stats.mailbox_dropped == n  # nothing lost without being counted
        if policy == "grow":
            assert got == n and stats.mailbox_dropped == 0
        else:
            assert stats.mailbox_dropped == stats.mailbox_overflowed
            assert stats.mailbox_high_water <= 2


class Gate(Actor):
    """``"block"`` (cast) blocks until ``gate`` is set; everything else is recorded."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.entered = anyio.Event()
        self.seen: list[Any] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "seen":
            return list(self.seen)
        self.seen.append(("call", request))
        return request

    async def handle_cast(self, request: Any) -> None:
        if request == "block":
            self.entered.set()
            await self.gate.wait()
            return
        self.seen.append(request)

    async def handle_info(self, message: Any) -> None:
        self.seen.append(("info", message))


async def blocked(rt: Runtime, policy: OverflowPolicy, size: int = 2) -> tuple[Gate, ActorRef]:
    actor = Gate()
    ref = await rt.spawn(actor, mailbox_size=size, mailbox_overflow=policy)
    await cast(ref, "block")
    await waited(actor.entered)
    return actor, ref


@pytest.mark.parametrize(
    ("policy", "handled", "dropped"),
    [
        ("grow", [0, 1, 2, ("info", 3), 4], 0),
        ("drop_newest", [0, 1], 3),
        ("drop_oldest", [("info", 3), 4], 3),
    ],
)
async def test_each_policy_does_what_it_says(
    rt: Runtime, policy: OverflowPolicy, handled: list[Any], dropped: int
) -> None:
    actor, ref = await blocked(rt, policy)
    with anyio.fail_after(1):  # none of these waits
        await cast(ref, 0)
        await cast(ref, 1)  # full from here on
        await cast(ref, 2)
        await send(ref, 3)
        await cast(ref, 4)
    stats = ref.statistics()
    assert (stats.mailbox_overflowed, stats.mailbox_dropped) == (3, dropped)
    assert stats.mailbox_depth == (5 if policy == "grow" else 2)
    actor.gate.set()
    assert await call(ref, "seen") == handled


async def test_drop_oldest_never_drops_a_call(rt: Runtime) -> None:
    actor, ref = await blocked(rt, "drop_oldest")
    replies: list[Any] = []

    async def caller(request: str) -> None:
        replies.append(await call(ref, request))

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller, "first")
        await anyio.wait_all_tasks_blocked()
        await cast(ref, "a")  # [call first, cast a]: full
        await cast(ref, "b")  # drops a, not the call
        tg.start_soon(caller, "second")
        await anyio.wait_all_tasks_blocked()  # waits for room, as calls do
        assert ref.statistics().waiting_senders == 1
        actor.gate.set()
    assert replies == ["first", "second"]
    assert await call(ref, "seen") == [("call", "first"), "b", ("call", "second")]
    assert ref.statistics().mailbox_dropped == 1


async def test_drop_oldest_with_only_calls_queued_drops_the_new_cast(rt: Runtime) -> None:
    actor, ref = await blocked(rt, "drop_oldest", size=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(call, ref, "queued")
        await anyio.wait_all_tasks_blocked()
        await cast(ref, "dropped")
        actor.gate.set()
    assert await call(ref, "seen") == [("call", "queued")]
    assert ref.statistics().mailbox_dropped == 1


async def test_a_call_still_times_out_waiting_for_room(rt: Runtime) -> None:
    actor, ref = await blocked(rt, "grow", size=1)
    await cast(ref, "fills")
    with pytest.raises(CallTimeout):
        await call(ref, "waits", timeout=0.05)
    assert ref.statistics().waiting_senders == 0
    actor.gate.set()
    assert await call(ref, "seen") == ["fills"]  # the timed-out call was never delivered


async def test_overflow_warning_is_rate_limited(rt: Runtime) -> None:
    actor, ref = await blocked(rt, "drop_newest", size=1)
    with capture_all_logs() as logs:
        for i in range(100):
            await cast(ref, i)
    [warning] = events_named(logs, "actor.mailbox_overflow")
    assert warning["log_level"] == "warning"
    assert warning["policy"] == "drop_newest" and warning["capacity"] == 1
    assert warning["since_last_report"] == 1
    assert ref.statistics().mailbox_dropped == 99
    actor.gate.set()


class SmallDropper(Gate):
    mailbox_size = 1
    mailbox_overflow: OverflowPolicy = "drop_newest"


async def test_policy_from_the_class_the_child_spec_or_spawn(rt: Runtime) -> None:
    assert (await rt.spawn(Gate())).statistics().mailbox_overflow == "grow"  # the default
    assert (await rt.spawn(SmallDropper())).statistics().mailbox_overflow == "drop_newest"
    ref = await rt.spawn(SmallDropper(), mailbox_overflow="drop_oldest")
    assert ref.statistics().mailbox_overflow == "drop_oldest"
    await rt.spawn(
        Supervisor([ChildSpec("g", Gate, name="g", mailbox_size=3, mailbox_overflow="drop_oldest")])
    )
    g = whereis("g")
    assert g is not None
    stats = g.statistics()
    assert (stats.mailbox_capacity, stats.mailbox_overflow) == (3, "drop_oldest")
    with pytest.raises(ValueError):
        ChildSpec("bad", Gate, mailbox_overflow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await rt.spawn(Gate(), mailbox_overflow="bounce")  # type: ignore[arg-type]
