"""Links, monitors and exit reasons (Erlang semantics).

Links are bidirectional and carry exit signals: an abnormal exit (anything but ``normal``)
takes a non-trapping linked actor down with the same reason, and a trapping one gets an
``Exit`` message instead. Monitors are one-way, stack, and deliver exactly one ``Down``.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from supervisors import (
    KILLED,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorExited,
    ActorRef,
    Crash,
    Down,
    Exit,
    ExitReason,
    From,
    Killed,
    MonitorRef,
    NoProc,
    NoProcess,
    Normal,
    Runtime,
    Shutdown,
    StartError,
    StopActor,
    call,
    cast,
    demonitor,
    kill,
    link,
    monitor,
    spawn,
    stop,
    unlink,
)
from tests.supervisors.helpers import join as joined
from tests.supervisors.helpers import waited

pytestmark = pytest.mark.anyio


class Watcher(Actor):
    """Links, monitors and records every info message (``Exit``, ``Down``) it receives.

    Calls: ``("link", t)``, ``("unlink", t)``, ``("monitor", t)``, ``("demonitor", m, flush)``,
    ``("monitor-stop-demonitor", t, flush)``, ``("spawn-linked",)``, ``"messages"``.
    Casts: an ``ExitReason`` stops it with that reason; an exception is raised.
    """

    def __init__(self, *, trap: bool = False) -> None:
        self.trap_exits = trap
        self.messages: list[Any] = []
        self.children: list[Watcher] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "messages":
            return list(self.messages)
        kind, *args = request
        if kind == "link":
            try:
                link(args[0])
            except NoProcess as exc:
                return exc
            return None
        if kind == "cast-then-crash":
            target, note = args
            await cast(target, ("note", note))
            raise RuntimeError("sender crashed")
        if kind == "unlink":
            unlink(args[0])
            return None
        if kind == "monitor":
            return monitor(args[0])
        if kind == "demonitor":
            mref, flush = args
            demonitor(mref, flush=flush)
            return None
        if kind == "monitor-stop-demonitor":
            # a Down is queued in our own mailbox while this handler still runs
            target, flush = args
            m1 = monitor(target)
            m2 = monitor(target)
            await stop(target, Shutdown("gone"))
            demonitor(m1, flush=flush)
            return (m1, m2)
        if kind == "spawn-linked":
            (trap_child,) = args
            child = Watcher(trap=trap_child)
            self.children.append(child)
            return await spawn(child, link=True)
        raise ValueError(f"unknown request {request!r}")

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, tuple) and request[0] == "note":
            self.messages.append(request)
        elif isinstance(request, ExitReason):
            raise StopActor(request)
        elif isinstance(request, BaseException):
            raise request

    async def handle_info(self, message: Any) -> None:
        self.messages.append(message)


async def _watchers(rt: Runtime, *traps: bool) -> list[ActorRef]:
    return [await rt.spawn(Watcher(trap=t)) for t in traps]


# -- links ------------------------------------------------------------------------------------


async def test_link_crash_propagates_to_non_trapping_actor(rt: Runtime) -> None:
    a, b = await _watchers(rt, False, False)
    await call(b, ("link", a))
    assert a.statistics().links == 1 and b.statistics().links == 1
    boom = ValueError("boom")
    await cast(a, boom)
    assert await joined(a) == Crash(boom)
    assert await joined(b) == Crash(boom)


async def test_link_is_bidirectional(rt: Runtime) -> None:
    a, b = await _watchers(rt, False, False)
    await call(b, ("link", a))  # b links, then b crashes: a dies too
    boom = ValueError("from b")
    await cast(b, boom)
    assert await joined(b) == Crash(boom)
    assert await joined(a) == Crash(boom)


async def test_trapping_actor_gets_exit_message_and_keeps_running(rt: Runtime) -> None:
    a, b = await _watchers(rt, False, True)
    await call(b, ("link", a))
    boom = ValueError("boom")
    await cast(a, boom)
    reason = await joined(a)
    assert reason == Crash(boom)
    messages = await call(b, "messages")
    assert messages == [Exit(a, Crash(boom))]
    assert messages[0].ref is a
    assert b.alive
    assert b.statistics().links == 0


@pytest.mark.parametrize("reason", [SHUTDOWN, Shutdown("term"), Shutdown(("nested", 1))], ids=repr)
async def test_shutdown_propagates_through_links(rt: Runtime, reason: ExitReason) -> None:
    a, b, trapper = await _watchers(rt, False, False, True)
    await call(b, ("link", a))
    await call(trapper, ("link", a))
    await cast(a, reason)
    assert await joined(a) == reason
    assert await joined(b) == reason
    assert await call(trapper, "messages") == [Exit(a, reason)]
    assert trapper.alive


async def test_kill_propagates_as_killed(rt: Runtime) -> None:
    a, b, trapper = await _watchers(rt, False, False, True)
    await call(b, ("link", a))
    await call(trapper, ("link", a))
    kill(a)
    assert await joined(a) == KILLED
    assert await joined(b) == KILLED
    assert await call(trapper, "messages") == [Exit(a, KILLED)]


async def test_stop_with_reason_propagates_that_reason(rt: Runtime) -> None:
    a, b = await _watchers(rt, False, False)
    await call(b, ("link", a))
    assert await stop(a, Shutdown("custom")) == Shutdown("custom")
    assert await joined(b) == Shutdown("custom")


async def test_normal_exit_does_not_propagate(rt: Runtime) -> None:
    a, b, trapper = await _watchers(rt, False, False, True)
    await call(b, ("link", a))
    await call(trapper, ("link", a))
    await cast(a, NORMAL)
    assert await joined(a) == NORMAL
    # the trapping actor sees the normal exit; the other is unaffected
    assert await call(trapper, "messages") == [Exit(a, NORMAL)]
    assert await call(b, "messages") == []
    assert b.alive
    assert b.statistics().links == 0


async def test_link_propagates_along_a_chain(rt: Runtime) -> None:
    a, b, c = await _watchers(rt, False, False, False)
    await call(b, ("link", a))
    await call(c, ("link", b))
    boom = RuntimeError("chain")
    await cast(a, boom)
    assert await joined(a) == Crash(boom)
    assert await joined(b) == Crash(boom)
    assert await joined(c) == Crash(boom)


async def test_unlink_removes_propagation(rt: Runtime) -> None:
    a, b, trapper = await _watchers(rt, False, False, True)
    await call(b, ("link", a))
    await call(trapper, ("link", a))
    await call(b, ("unlink", a))
    await call(trapper, ("unlink", a))
    assert a.statistics().links == 0
    await cast(a, ValueError("boom"))
    await joined(a)
    assert await call(b, "messages") == []
    assert await call(trapper, "messages") == []
    assert b.alive and trapper.alive


async def test_unlink_from_the_other_side(rt: Runtime) -> None:
    a, b = await _watchers(rt, False, False)
    await call(b, ("link", a))
    await call(a, ("unlink", b))  # the link is one relation: either side removes it
    await cast(b, ValueError("boom"))
    await joined(b)
    assert a.alive
    assert await call(a, "messages") == []


async def test_unlink_without_link_is_harmless(rt: Runtime) -> None:
    a, b = await _watchers(rt, False, False)
    await call(b, ("unlink", a))
    await call(b, ("unlink", "no-such-name"))
    assert a.alive and b.alive


@pytest.mark.parametrize("trap", [False, True])
@pytest.mark.parametrize("what", ["dead ref", "unknown name"])
async def test_link_to_a_dead_or_unknown_process_raises_no_process(
    rt: Runtime, trap: bool, what: str
) -> None:
    # OTP would send the caller a noproc exit signal; we raise at once (docs/supervisors.md)
    a, b = await _watchers(rt, False, trap)
    await stop(a)
    target = a if what == "dead ref" else "no-such-name"
    err = await call(b, ("link", target))
    assert isinstance(err, NoProcess) and err.target == target
    assert await call(b, "messages") == []
    assert b.alive
    assert b.statistics().links == 0


async def test_senders_cast_arrives_before_its_exit_and_down(rt: Runtime) -> None:
    sender, watcher = await _watchers(rt, False, True)
    await call(watcher, ("link", sender))
    mref = await call(watcher, ("monitor", sender))
    with pytest.raises(ActorExited):
        await call(sender, ("cast-then-crash", watcher, "last words"))
    reason = await joined(sender)
    assert isinstance(reason, Crash)
    messages = await call(watcher, "messages")
    assert messages[0] == ("note", "last words")
    assert set(map(type, messages[1:])) == {Exit, Down}
    assert Exit(sender, reason) in messages and Down(mref, sender, reason) in messages


async def test_link_outside_an_actor_is_an_error(rt: Runtime) -> None:
    (a,) = await _watchers(rt, False)
    with pytest.raises(RuntimeError):
        link(a)
    with pytest.raises(RuntimeError):
        monitor(a)


# -- spawn(link=True) -------------------------------------------------------------------------


async def test_spawn_link_child_crash_kills_parent(rt: Runtime) -> None:
    (parent,) = await _watchers(rt, False)
    child = await call(parent, ("spawn-linked", False))
    assert isinstance(child, ActorRef) and child.alive
    assert parent.statistics().links == 1 and child.statistics().links == 1
    boom = ValueError("child")
    await cast(child, boom)
    assert await joined(child) == Crash(boom)
    assert await joined(parent) == Crash(boom)


async def test_spawn_link_trapping_parent_gets_exit(rt: Runtime) -> None:
    (parent,) = await _watchers(rt, True)
    child = await call(parent, ("spawn-linked", False))
    boom = ValueError("child")
    await cast(child, boom)
    await joined(child)
    assert await call(parent, "messages") == [Exit(child, Crash(boom))]
    assert parent.alive


async def test_spawn_link_parent_crash_kills_child(rt: Runtime) -> None:
    (parent,) = await _watchers(rt, False)
    child = await call(parent, ("spawn-linked", False))
    boom = ValueError("parent")
    await cast(parent, boom)
    assert await joined(parent) == Crash(boom)
    assert await joined(child) == Crash(boom)


@pytest.mark.parametrize("reason", [NORMAL, Shutdown("parent done")], ids=repr)
async def test_spawn_link_trapping_child_stops_with_its_parent(
    rt: Runtime, reason: ExitReason
) -> None:
    (parent,) = await _watchers(rt, False)
    child = await call(parent, ("spawn-linked", True))
    await cast(parent, reason)
    assert await joined(parent) == reason
    # a trapping child stops with its parent's reason (gen_server), even a normal one
    assert await joined(child) == reason


async def test_spawn_link_non_trapping_child_survives_parent_normal_exit(rt: Runtime) -> None:
    (parent,) = await _watchers(rt, False)
    child = await call(parent, ("spawn-linked", False))
    await cast(parent, NORMAL)
    assert await joined(parent) == NORMAL
    assert await call(child, "messages") == []
    assert child.alive


class FailingInit(Actor):
    """Links to ``peer`` in ``init`` and then fails to start."""

    def __init__(self, peer: ActorRef | None, exc: BaseException) -> None:
        self.peer = peer
        self.exc = exc
        self.me: list[ActorRef] = []

    async def init(self) -> None:
        self.me.append(self.ref)
        if self.peer is not None:
            link(self.peer)
        raise self.exc


async def test_failed_linked_spawn_does_not_signal_the_starter(rt: Runtime) -> None:
    class Starter(Watcher):
        async def handle_call(self, request: Any, from_: From) -> Any:
            if request == "spawn-failing":
                try:
                    await spawn(FailingInit(None, ValueError("init")), link=True)
                except StartError as exc:
                    return exc
                return None
            return await super().handle_call(request, from_)

    for trap in (False, True):
        starter = await rt.spawn(Starter(trap=trap))
        err = await call(starter, "spawn-failing")
        assert isinstance(err, StartError)
        # the starter gets StartError instead of an exit signal, and keeps no dangling link
        assert starter.alive
        assert starter.statistics().links == 0
        assert await call(starter, "messages") == []


async def test_init_failure_signals_peers_linked_during_init(rt: Runtime) -> None:
    """Only the starter is spared the exit signal of a failed start (docs, difference 3);
    another actor that the failing actor linked to in ``init`` is an ordinary link and must
    get the exit signal, as in OTP."""
    trapper, plain = await _watchers(rt, True, False)
    boom = ValueError("init failed after linking")
    failing = FailingInit(trapper, boom)
    with pytest.raises(StartError):
        await rt.spawn(failing)
    [dead] = failing.me
    assert not dead.alive
    assert await call(trapper, "messages") == [Exit(dead, Crash(boom))]

    boom2 = ValueError("again")
    with pytest.raises(StartError):
        await rt.spawn(FailingInit(plain, boom2))
    assert await joined(plain) == Crash(boom2)


async def test_failed_linked_spawn_signals_peers_but_not_the_starter(rt: Runtime) -> None:
    (peer,) = await _watchers(rt, True)
    boom = ValueError("child init failed")
    failing = FailingInit(peer, boom)

    class Starter(Watcher):
        async def handle_call(self, request: Any, from_: From) -> Any:
            if request == "spawn-failing":
                try:
                    await spawn(failing, link=True)
                except StartError as exc:
                    return exc
                return None
            return await super().handle_call(request, from_)

    starter = await rt.spawn(Starter(trap=True))
    assert isinstance(await call(starter, "spawn-failing"), StartError)
    [dead] = failing.me
    assert await call(peer, "messages") == [Exit(dead, Crash(boom))]
    assert await call(starter, "messages") == []
    assert starter.alive


async def test_trap_exits_settable_in_init(rt: Runtime) -> None:
    class LateTrapper(Watcher):
        async def init(self) -> None:
            self.trap_exits = True

    a = await rt.spawn(Watcher())
    t = await rt.spawn(LateTrapper())
    await call(t, ("link", a))
    boom = ValueError("x")
    await cast(a, boom)
    await joined(a)
    assert await call(t, "messages") == [Exit(a, Crash(boom))]
    assert t.alive


async def test_exit_and_down_bypass_a_full_mailbox(rt: Runtime) -> None:
    class Busy(Watcher):
        def __init__(self) -> None:
            super().__init__(trap=True)
            self.gate = anyio.Event()
            self.entered = anyio.Event()

        async def handle_cast(self, request: Any) -> None:
            if request == "block":
                self.entered.set()
                await self.gate.wait()
                return
            await super().handle_cast(request)

    busy_actor = Busy()
    busy = await rt.spawn(busy_actor, mailbox_size=1)
    linked, monitored = await _watchers(rt, False, False)
    await call(busy, ("link", linked))
    mref = await call(busy, ("monitor", monitored))
    await cast(busy, "block")
    await waited(busy_actor.entered)
    await cast(busy, ("note", "fills the mailbox"))
    assert busy.statistics().mailbox_depth == 1
    boom = ValueError("linked")
    await cast(linked, boom)
    with anyio.fail_after(5):  # the dying actors never wait for room in busy's mailbox
        assert await joined(linked) == Crash(boom)
        assert await stop(monitored) == NORMAL
    assert busy.statistics().mailbox_depth == 3
    busy_actor.gate.set()
    assert await call(busy, "messages") == [
        ("note", "fills the mailbox"),
        Exit(linked, Crash(boom)),
        Down(mref, monitored, NORMAL),
    ]


async def test_spawn_link_outside_an_actor_is_an_error(rt: Runtime) -> None:
    with pytest.raises(RuntimeError):
        await spawn(Watcher(), link=True)


# -- monitors ---------------------------------------------------------------------------------


async def test_monitor_delivers_down_with_reason(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    mref = await call(watcher, ("monitor", target))
    assert isinstance(mref, MonitorRef)
    assert target.statistics().monitored_by == 1
    assert watcher.statistics().monitors == 1
    boom = KeyError("k")
    await cast(target, boom)
    assert await joined(target) == Crash(boom)
    messages = await call(watcher, "messages")
    assert messages == [Down(mref, target, Crash(boom))]
    assert messages[0].monitor is mref and messages[0].ref is target
    assert watcher.statistics().monitors == 0


@pytest.mark.parametrize("reason", [NORMAL, SHUTDOWN, Shutdown("x"), KILLED, NOPROC], ids=repr)
async def test_down_carries_every_reason(rt: Runtime, reason: ExitReason) -> None:
    target, watcher = await _watchers(rt, False, False)
    mref = await call(watcher, ("monitor", target))
    if reason == KILLED:
        kill(target)
    else:
        await cast(target, reason)
    assert await joined(target) == reason
    assert await call(watcher, "messages") == [Down(mref, target, reason)]
    assert watcher.alive  # a Down never stops the watcher, whatever the reason


async def test_monitor_is_one_way(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    await call(watcher, ("monitor", target))
    await cast(watcher, ValueError("watcher dies"))
    await joined(watcher)
    assert target.alive
    assert await call(target, "messages") == []
    assert target.statistics().monitored_by == 0  # cleaned up with the watcher


async def test_monitors_stack(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    m1 = await call(watcher, ("monitor", target))
    m2 = await call(watcher, ("monitor", target))
    assert m1 is not m2 and m1.id != m2.id
    assert target.statistics().monitored_by == 2
    await stop(target, Shutdown("bye"))
    messages = await call(watcher, "messages")
    assert len(messages) == 2
    assert {id(m.monitor) for m in messages} == {id(m1), id(m2)}
    assert all(m == Down(m.monitor, target, Shutdown("bye")) for m in messages)


async def test_monitor_dead_target_gives_immediate_down_with_its_reason(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    boom = ValueError("earlier")
    await cast(target, boom)
    await joined(target)
    mref = await call(watcher, ("monitor", target))
    assert await call(watcher, "messages") == [Down(mref, target, Crash(boom))]
    assert watcher.statistics().monitors == 0


async def test_monitor_unknown_name_gives_immediate_noproc_down(rt: Runtime) -> None:
    (watcher,) = await _watchers(rt, False)
    mref = await call(watcher, ("monitor", "no-such-name"))
    assert await call(watcher, "messages") == [Down(mref, None, NOPROC)]


async def test_monitor_by_name(rt: Runtime) -> None:
    target = await rt.spawn(Watcher(), name="monitored")
    (watcher,) = await _watchers(rt, False)
    mref = await call(watcher, ("monitor", "monitored"))
    await stop("monitored")
    assert await call(watcher, "messages") == [Down(mref, target, NORMAL)]


async def test_monitor_does_not_link(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    await call(watcher, ("monitor", target))
    await cast(target, ValueError("boom"))
    await joined(target)
    await call(watcher, "messages")
    assert watcher.alive


async def test_demonitor_stops_delivery(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    m1 = await call(watcher, ("monitor", target))
    m2 = await call(watcher, ("monitor", target))
    await call(watcher, ("demonitor", m1, False))
    assert target.statistics().monitored_by == 1
    assert watcher.statistics().monitors == 1
    await stop(target)
    assert await call(watcher, "messages") == [Down(m2, target, NORMAL)]


async def test_demonitor_unknown_ref_is_harmless(rt: Runtime) -> None:
    target, watcher = await _watchers(rt, False, False)
    mref = await call(watcher, ("monitor", target))
    await call(watcher, ("demonitor", mref, False))
    await call(watcher, ("demonitor", mref, True))  # twice: no error
    assert watcher.alive


@pytest.mark.parametrize("flush", [True, False])
async def test_demonitor_flush_removes_queued_down(rt: Runtime, flush: bool) -> None:
    target, watcher = await _watchers(rt, False, False)
    m1, m2 = await call(watcher, ("monitor-stop-demonitor", target, flush))
    assert not target.alive
    messages = await call(watcher, "messages")
    if flush:
        # only the Down of the flushed monitor is removed
        assert messages == [Down(m2, target, Shutdown("gone"))]
    else:
        # as in OTP, demonitor without flush leaves an already-queued Down in the mailbox
        assert len(messages) == 2
        assert {id(m.monitor) for m in messages} == {id(m1), id(m2)}


# -- exit reasons -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "normal", "shutdown", "abnormal"),
    [
        (Normal(), True, False, False),
        (NORMAL, True, False, False),
        (Shutdown(), False, True, False),
        (SHUTDOWN, False, True, False),
        (Shutdown("x"), False, True, False),
        (Crash(ValueError("v")), False, False, True),
        (Killed(), False, False, True),
        (KILLED, False, False, True),
        (NoProc(), False, False, True),
        (NOPROC, False, False, True),
    ],
    ids=repr,
)
async def test_exit_reason_properties(
    reason: ExitReason, normal: bool, shutdown: bool, abnormal: bool
) -> None:
    assert reason.is_normal is normal
    assert reason.is_shutdown is shutdown
    assert reason.is_abnormal is abnormal


async def test_exit_reason_equality() -> None:
    assert Normal() == NORMAL
    assert Shutdown() == SHUTDOWN
    assert Shutdown("x") == Shutdown("x")
    assert Shutdown("x") != Shutdown("y")
    assert Shutdown("x") != SHUTDOWN
    assert Killed() == KILLED and NoProc() == NOPROC
    distinct: list[ExitReason] = [NORMAL, SHUTDOWN, KILLED, NOPROC, Shutdown("x")]
    assert len(set(distinct)) == len(distinct)
    exc = ValueError("v")
    assert Crash(exc) == Crash(exc)
    assert Crash(exc) != Crash(ValueError("v"))  # a crash is its exception, by identity
    assert hash(Crash(exc)) == hash(Crash(exc))
    assert {NORMAL, Normal(), SHUTDOWN, Shutdown()} == {NORMAL, SHUTDOWN}
    assert isinstance(Crash(exc), ExitReason)
    assert repr(NORMAL) == "normal" and repr(Shutdown("x")) == "shutdown('x')"
