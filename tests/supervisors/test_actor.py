"""Actors: the GenServer contract (call / cast / info, replies, stops, mailbox, lifecycle).

The semantics follow OTP's ``gen_server``: a call gets exactly its own reply or an error, a
cast is fire-and-forget, messages from one sender keep their order, the mailbox and state die
with the incarnation, and ``terminate`` runs on every stop but a kill.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog

import supervisors
from supervisors import (
    KILLED,
    NO_REPLY,
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorExited,
    CallTimeout,
    ChildSpec,
    Crash,
    ExitReason,
    From,
    Ignore,
    NoProcess,
    Runtime,
    Shutdown,
    StartError,
    StopActor,
    Supervisor,
    Via,
    call,
    cast,
    kill,
    send,
    stop,
    whereis,
    which_children,
)
from tests.supervisors.helpers import join as joined
from tests.supervisors.helpers import waited

pytestmark = pytest.mark.anyio


class PanicLike(BaseException):
    """A BaseException that is neither cancellation nor an interpreter exit."""


class Recorder(Actor):
    """Records every cast and info message; answers calls with ``("re", request)``."""

    def __init__(self) -> None:
        self.casts: list[Any] = []
        self.infos: list[Any] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "casts":
            return list(self.casts)
        if request == "infos":
            return list(self.infos)
        return ("re", request)

    async def handle_cast(self, request: Any) -> None:
        self.casts.append(request)

    async def handle_info(self, message: Any) -> None:
        self.infos.append(message)


class Gate(Actor):
    """Blocks in a handler until ``gate`` is set; ``entered`` is set when it starts blocking.

    ``block`` (cast) blocks then records; ``defer`` (call) keeps the caller pending;
    ``crash`` raises the exception given; anything else is recorded / echoed.
    """

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.entered = anyio.Event()
        self.seen: list[Any] = []
        self.deferred: list[From] = []
        self.late: list[bool] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "seen":
            return list(self.seen)
        if request == "late":
            return list(self.late)
        if request == "defer":
            self.deferred.append(from_)
            self.entered.set()
            return NO_REPLY
        if request == "slow":
            self.entered.set()
            await self.gate.wait()
            self.late.append(from_.reply("stale"))
            return NO_REPLY
        if isinstance(request, BaseException):
            raise request
        self.seen.append(request)
        return request

    async def handle_cast(self, request: Any) -> None:
        if request == "block":
            self.entered.set()
            await self.gate.wait()
        if isinstance(request, BaseException):
            raise request
        self.seen.append(request)


# -- call / cast / send -----------------------------------------------------------------------


async def test_call_returns_handle_call_value(rt: Runtime) -> None:
    ref = await rt.spawn(Recorder())
    assert await call(ref, 1) == ("re", 1)
    assert await ref.call({"k": "v"}) == ("re", {"k": "v"})


async def test_cast_reaches_handle_cast(rt: Runtime) -> None:
    ref = await rt.spawn(Recorder())
    await cast(ref, "a")
    await ref.cast(("b", 2))
    # the call is queued after the casts from this same sender
    assert await call(ref, "casts") == ["a", ("b", 2)]
    assert await call(ref, "infos") == []


async def test_send_reaches_handle_info_with_the_same_object(rt: Runtime) -> None:
    class Custom:
        pass

    ref = await rt.spawn(Recorder())
    payloads: list[Any] = ["text", ("tuple", 1), {"a": 1}, Custom(), None]
    for p in payloads:
        await send(ref, p)
    await ref.send(42)
    infos = await call(ref, "infos")
    assert len(infos) == len(payloads) + 1
    for got, want in zip(infos, payloads, strict=False):
        assert got is want
    assert infos[-1] == 42
    assert await call(ref, "casts") == []


async def test_default_handle_info_logs_and_keeps_running(rt: Runtime) -> None:
    class NoInfo(Actor):
        async def handle_call(self, request: Any, from_: From) -> Any:
            return request

    ref = await rt.spawn(NoInfo())
    with structlog.testing.capture_logs() as logs:
        await send(ref, "unexpected")
        assert await call(ref, "ping") == "ping"
    assert ref.alive
    assert any(e["event"] == "actor.unexpected_message" for e in logs)


async def test_default_handle_call_crashes_the_actor(rt: Runtime) -> None:
    ref = await rt.spawn(Actor())
    with pytest.raises(ActorExited) as ei:
        await call(ref, "anything", timeout=2)
    reason = ei.value.reason
    assert isinstance(reason, Crash) and isinstance(reason.exception, TypeError)
    assert await joined(ref) == reason


# -- call timeouts ----------------------------------------------------------------------------


async def test_call_timeout_late_reply_is_discarded(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor)
    with pytest.raises(CallTimeout) as ei:
        await call(ref, "slow", timeout=0.05)
    assert isinstance(ei.value, TimeoutError)
    assert ei.value.timeout == 0.05
    assert ref.statistics().pending_calls == 0
    actor.gate.set()
    # the server is still alive, and the next call gets its own reply, not "stale"
    assert await call(ref, "fresh", timeout=2) == "fresh"
    assert await call(ref, "fresh-2", timeout=2) == "fresh-2"
    # the abandoned caller could not be answered any more
    assert await call(ref, "late") == [False]
    assert ref.alive


async def test_call_timeout_while_queued_then_processed_late(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor)
    await cast(ref, "block")
    await waited(actor.entered)
    with pytest.raises(CallTimeout):
        await call(ref, "stale", timeout=0.05)
    actor.gate.set()
    # the timed-out call is still handled (like OTP), but its reply goes nowhere
    assert await call(ref, "mine", timeout=2) == "mine"
    assert await call(ref, "seen") == ["block", "stale", "mine"]
    assert ref.alive


async def test_from_reply_returns_false_for_abandoned_caller(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor)
    with pytest.raises(CallTimeout):
        await call(ref, "defer", timeout=0.05)
    [from_] = actor.deferred
    assert from_.answered
    assert from_.reply("too late") is False
    assert supervisors.reply(from_, "too late") is False
    assert await call(ref, "next", timeout=2) == "next"


# -- dead and unknown targets -----------------------------------------------------------------


async def test_call_to_dead_ref_raises_no_process(rt: Runtime) -> None:
    ref = await rt.spawn(Recorder())
    assert await stop(ref) == NORMAL
    assert not ref.alive
    with pytest.raises(NoProcess) as ei:
        await call(ref, "x")
    assert ei.value.target is ref
    # casts and sends are fire-and-forget
    await cast(ref, "x")
    await send(ref, "x")
    await ref.cast("x")
    await ref.send("x")


async def test_call_to_unknown_name_raises_no_process(rt: Runtime) -> None:
    with pytest.raises(NoProcess):
        await call("nobody-here", "x")
    with pytest.raises(NoProcess):
        await call(Via(supervisors.Registry("r"), "nobody"), "x")
    await cast("nobody-here", "x")
    await send("nobody-here", "x")


async def test_stop_dead_or_unknown_raises_no_process(rt: Runtime) -> None:
    ref = await rt.spawn(Recorder())
    await stop(ref)
    with pytest.raises(NoProcess):
        await stop(ref)
    with pytest.raises(NoProcess):
        await stop("nobody-here")
    kill("nobody-here")  # no error
    kill(ref)


# -- the server dies during a call ------------------------------------------------------------


async def test_handler_raises_caller_gets_actor_exited_with_crash(rt: Runtime) -> None:
    ref = await rt.spawn(Gate())
    boom = ValueError("boom")
    with pytest.raises(ActorExited) as ei:
        await call(ref, boom, timeout=2)
    assert ei.value.reason == Crash(boom)
    assert isinstance(ei.value.reason, Crash) and ei.value.reason.exception is boom
    assert await joined(ref) == Crash(boom)
    assert ref.exit_reason == Crash(boom)


class StopsFromHelper(Actor):
    def __init__(self, reason: ExitReason) -> None:
        self.stop_reason = reason

    async def init(self) -> None:
        self.start_soon(self._stop)

    async def _stop(self) -> None:
        await anyio.lowlevel.checkpoint()
        raise StopActor(self.stop_reason)


async def test_stop_actor_from_a_helper_stops_with_its_reason(rt: Runtime) -> None:
    for reason in (NORMAL, SHUTDOWN):
        ref = await rt.spawn(StopsFromHelper(reason))
        assert await joined(ref) == reason  # not a crash: a transient child is not restarted
        assert not isinstance(ref.exit_reason, Crash)


async def test_kill_during_deferred_call_caller_gets_killed(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor)

    async def killer() -> None:
        await waited(actor.entered)
        kill(ref)

    async with anyio.create_task_group() as tg:
        tg.start_soon(killer)
        with pytest.raises(ActorExited) as ei:
            await call(ref, "defer", timeout=5)
    assert ei.value.reason == KILLED
    assert await joined(ref) == KILLED


async def test_stop_during_deferred_call_caller_gets_reason(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor)
    result: list[BaseException] = []

    async def caller() -> None:
        try:
            await call(ref, "defer", timeout=5)
        except ActorExited as exc:
            result.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await waited(actor.entered)
        assert await stop(ref, Shutdown("bye")) == Shutdown("bye")
    [exc] = result
    assert isinstance(exc, ActorExited) and exc.reason == Shutdown("bye")


# -- deferred replies and StopActor -----------------------------------------------------------


class Deferring(Actor):
    """``wait`` defers; ``answer`` replies to the waiting caller through ``supervisors.reply``;
    ``later`` is answered by a helper task through ``from_.reply``."""

    def __init__(self) -> None:
        self.waiting: From | None = None

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "wait":
            self.waiting = from_
            return NO_REPLY
        if request == "answer":
            assert self.waiting is not None
            first = supervisors.reply(self.waiting, 42)
            second = supervisors.reply(self.waiting, 43)
            return (first, second)
        if request == "later":

            async def answer() -> None:
                await anyio.lowlevel.checkpoint()
                from_.reply("from helper")

            self.start_soon(answer)
            return NO_REPLY
        return request


async def test_deferred_reply_through_reply_function(rt: Runtime) -> None:
    ref = await rt.spawn(Deferring())
    got: list[Any] = []

    async def waiter() -> None:
        got.append(await call(ref, "wait", timeout=5))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert ref.statistics().pending_calls == 1
        assert got == []
        # reply() answers once: the second reply is refused
        assert await call(ref, "answer", timeout=5) == (True, False)
    assert got == [42]
    assert ref.statistics().pending_calls == 0


async def test_deferred_reply_through_from_reply_in_helper(rt: Runtime) -> None:
    ref = await rt.spawn(Deferring())
    assert await call(ref, "later", timeout=5) == "from helper"
    assert await call(ref, "plain", timeout=5) == "plain"


class Stopping(Actor):
    def __init__(self, reasons: list[ExitReason]) -> None:
        self.reasons = reasons

    async def handle_call(self, request: Any, from_: From) -> Any:
        kind, reason = request
        if kind == "stop-reply":
            raise StopActor(reason, reply="goodbye")
        raise StopActor(reason)

    async def handle_cast(self, request: Any) -> None:
        raise StopActor(request)

    async def terminate(self, reason: ExitReason) -> None:
        self.reasons.append(reason)


async def test_stop_actor_with_reply_replies_then_stops(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    ref = await rt.spawn(Stopping(reasons))
    assert await call(ref, ("stop-reply", Shutdown("done")), timeout=5) == "goodbye"
    assert await joined(ref) == Shutdown("done")
    assert reasons == [Shutdown("done")]


async def test_stop_actor_without_reply_fails_the_caller(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    ref = await rt.spawn(Stopping(reasons))
    with pytest.raises(ActorExited) as ei:
        await call(ref, ("stop", Shutdown("quiet")), timeout=5)
    assert ei.value.reason == Shutdown("quiet")
    assert await joined(ref) == Shutdown("quiet")
    assert reasons == [Shutdown("quiet")]


@pytest.mark.parametrize("reason", [NORMAL, SHUTDOWN, Shutdown("x")])
async def test_stop_actor_from_cast_stops(rt: Runtime, reason: ExitReason) -> None:
    reasons: list[ExitReason] = []
    ref = await rt.spawn(Stopping(reasons))
    await cast(ref, reason)
    assert await joined(ref) == reason
    assert reasons == [reason]
    assert not ref.alive


# -- ordering and backpressure ----------------------------------------------------------------


async def test_one_sender_order_is_preserved(rt: Runtime) -> None:
    ref = await rt.spawn(Recorder())
    for i in range(200):
        await cast(ref, i)
    assert await call(ref, "casts") == list(range(200))


@pytest.mark.parametrize("mailbox_size", [1, 3, 1024])
async def test_concurrent_senders_each_keep_their_order(rt: Runtime, mailbox_size: int) -> None:
    ref = await rt.spawn(Recorder(), mailbox_size=mailbox_size)
    senders, per_sender = 6, 60

    async def sender(s: int) -> None:
        for i in range(per_sender):
            if i % 2:
                await cast(ref, (s, i))
            else:
                await send(ref, (s, i))

    async with anyio.create_task_group() as tg:
        for s in range(senders):
            tg.start_soon(sender, s)
    casts = await call(ref, "casts")
    infos = await call(ref, "infos")
    assert len(casts) + len(infos) == senders * per_sender
    for s in range(senders):
        assert [i for (t, i) in casts if t == s] == list(range(1, per_sender, 2))
        assert [i for (t, i) in infos if t == s] == list(range(0, per_sender, 2))


async def test_calls_wait_for_room_but_casts_never_do(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor, mailbox_size=2)
    replies: list[Any] = []

    async def caller() -> None:
        replies.append(await call(ref, "called", timeout=5))

    await cast(ref, "block")
    await waited(actor.entered)
    await cast(ref, 0)
    await cast(ref, 1)  # full
    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        stats = ref.statistics()
        assert (stats.mailbox_depth, stats.waiting_senders) == (2, 1)  # the call waits
        with anyio.fail_after(1):
            for i in range(2, 10):
                await cast(ref, i)  # never waits: the default policy grows the mailbox
        stats = ref.statistics()
        assert stats.mailbox_capacity == 2 and stats.mailbox_overflow == "grow"
        assert (stats.mailbox_depth, stats.mailbox_overflowed, stats.mailbox_dropped) == (10, 8, 0)
        assert stats.waiting_senders == 1
        actor.gate.set()
    assert replies == ["called"]
    # the waiting call got room only once the grown mailbox was back under its capacity
    assert await call(ref, "seen") == ["block", *range(10), "called"]
    stats = ref.statistics()
    assert stats.waiting_senders == 0
    assert stats.mailbox_high_water == 10


async def test_bounded_mailbox_many_waiting_callers(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor, mailbox_size=1)
    await cast(ref, "block")
    await waited(actor.entered)
    await cast(ref, ("first", 0))  # fills the only slot

    async def caller(s: int) -> None:
        for i in range(5):
            await call(ref, (s, i))

    async with anyio.create_task_group() as tg:
        for s in range(4):
            tg.start_soon(caller, s)
        await anyio.wait_all_tasks_blocked()
        assert ref.statistics().waiting_senders == 4
        actor.gate.set()
    seen = await call(ref, "seen")
    assert seen[:2] == ["block", ("first", 0)]
    rest = seen[2:]
    assert sorted(rest) == sorted((s, i) for s in range(4) for i in range(5))
    for s in range(4):
        assert [i for (t, i) in rest if t == s] == list(range(5))


async def test_waiting_callers_are_served_first_come_first_served(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor, mailbox_size=1)
    await cast(ref, "block")
    await waited(actor.entered)
    await cast(ref, "fills")

    async def caller(s: int) -> None:
        await call(ref, ("waiter", s))

    async with anyio.create_task_group() as tg:
        for s in range(5):
            tg.start_soon(caller, s)
            await anyio.wait_all_tasks_blocked()  # caller s is queued before caller s + 1
        assert ref.statistics().waiting_senders == 5
        actor.gate.set()
        # a newcomer must not overtake the callers already waiting
        await call(ref, "newcomer")
    assert await call(ref, "seen") == [
        "block",
        "fills",
        *[("waiter", s) for s in range(5)],
        "newcomer",
    ]


# -- the mailbox dies with the incarnation ----------------------------------------------------


async def test_queued_calls_fail_and_casts_are_dropped_when_the_actor_dies(
    rt: Runtime,
) -> None:
    handled: list[Any] = []
    instances: list[Gate] = []

    class Worker(Gate):
        async def handle_cast(self, request: Any) -> None:
            handled.append(request)
            if request == "block":
                self.entered.set()
                await self.gate.wait()
                raise RuntimeError("boom")

        async def handle_call(self, request: Any, from_: From) -> Any:
            handled.append(request)
            return request

        async def handle_info(self, message: Any) -> None:
            handled.append(message)

    def factory() -> Worker:
        w = Worker()
        instances.append(w)
        return w

    sup = await rt.spawn(Supervisor([ChildSpec("w", factory, name="w")]))
    old = whereis("w")
    assert old is not None
    await cast("w", "block")
    await waited(instances[0].entered)
    await cast("w", "lost-cast-1")
    await send("w", "lost-info")
    await cast("w", "lost-cast-2")
    errors: list[ActorExited] = []

    async def queued_caller() -> None:
        try:
            await call(old, "lost-call", timeout=5)
        except ActorExited as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(queued_caller)
        await anyio.wait_all_tasks_blocked()
        assert old.statistics().mailbox_depth == 4
        assert old.statistics().pending_calls == 1
        instances[0].gate.set()
    reason = await joined(old)
    assert isinstance(reason, Crash) and str(reason.exception) == "boom"
    [err] = errors
    assert err.reason == reason
    # the supervisor handles the exit before this call: the new incarnation is running
    [info] = await which_children(sup)
    new = whereis("w")
    assert new is not None and new is not old and info.ref is new
    assert len(instances) == 2
    assert new.statistics().mailbox_depth == 0
    assert await call("w", "ping", timeout=5) == "ping"
    # nothing queued in the dead incarnation reached anyone
    assert handled == ["block", "ping"]


async def test_waiting_callers_released_when_actor_dies(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor, mailbox_size=1)
    await cast(ref, "block")
    await waited(actor.entered)
    await cast(ref, "fills")
    errors: list[BaseException] = []

    async def blocked_caller(request: str) -> None:
        try:
            await call(ref, request, timeout=5)
        except ActorExited as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(blocked_caller, "waits")
        tg.start_soon(blocked_caller, "waits-too")
        await anyio.wait_all_tasks_blocked()
        assert ref.statistics().waiting_senders == 2
        kill(ref)
    assert len(errors) == 2
    assert all(isinstance(err, ActorExited) and err.reason == KILLED for err in errors)
    assert actor.seen == []


# -- starting ---------------------------------------------------------------------------------


async def test_init_failure_raises_start_error(rt: Runtime) -> None:
    boom = ValueError("no init")

    class Failing(Actor):
        async def init(self) -> None:
            raise boom

    alive_before = rt.statistics().alive
    with pytest.raises(StartError) as ei:
        await rt.spawn(Failing(), name="failing")
    assert not ei.value.ignored
    assert ei.value.reason == Crash(boom)
    assert ei.value.__cause__ is boom
    assert rt.statistics().alive == alive_before
    assert whereis("failing") is None


async def test_init_ignore_raises_start_error_ignored(rt: Runtime) -> None:
    class Ignoring(Actor):
        async def init(self) -> None:
            raise Ignore()

    with pytest.raises(StartError) as ei:
        await rt.spawn(Ignoring(), name="ignoring")
    assert ei.value.ignored
    assert ei.value.reason == NORMAL
    assert whereis("ignoring") is None


async def test_start_timeout_raises_start_error(rt: Runtime) -> None:
    class Slow(Actor):
        async def init(self) -> None:
            await anyio.sleep(30)

    with anyio.fail_after(5):
        with pytest.raises(StartError) as ei:
            await rt.spawn(Slow(), start_timeout=0.05)
    reason = ei.value.reason
    assert isinstance(reason, Crash) and isinstance(reason.exception, TimeoutError)
    assert not ei.value.ignored


async def test_init_runs_before_spawn_returns(rt: Runtime) -> None:
    class Initialising(Actor):
        async def init(self) -> None:
            await anyio.lowlevel.checkpoint()
            self.ready = True
            self.me = self.ref

        async def handle_call(self, request: Any, from_: From) -> Any:
            return self.ready

    actor = Initialising()
    ref = await rt.spawn(actor)
    assert actor.ready and actor.me is ref
    assert ref.statistics().state == "running"
    assert await call(ref, "ready?") is True


# -- terminate --------------------------------------------------------------------------------


class Terminating(Actor):
    def __init__(self, reasons: list[ExitReason], *, fail: BaseException | None = None) -> None:
        self.reasons = reasons
        self.fail = fail
        self.entered = anyio.Event()

    async def handle_call(self, request: Any, from_: From) -> Any:
        return request

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, ExitReason):
            raise StopActor(request)
        if isinstance(request, BaseException):
            raise request
        if request == "hang":
            self.entered.set()
            await anyio.sleep_forever()

    async def terminate(self, reason: ExitReason) -> None:
        await anyio.lowlevel.checkpoint()
        self.reasons.append(reason)
        if self.fail is not None:
            raise self.fail


async def test_terminate_runs_on_normal_stop(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    ref = await rt.spawn(Terminating(reasons))
    await cast(ref, NORMAL)
    assert await joined(ref) == NORMAL
    assert reasons == [NORMAL]


async def test_terminate_runs_on_crash(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    ref = await rt.spawn(Terminating(reasons))
    boom = KeyError("k")
    await cast(ref, boom)
    assert await joined(ref) == Crash(boom)
    assert reasons == [Crash(boom)]


async def test_terminate_runs_on_stop(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    actor = Terminating(reasons)
    ref = await rt.spawn(actor)
    await cast(ref, "hang")  # stop() must interrupt a handler that is waiting
    await waited(actor.entered)
    assert await stop(ref, Shutdown("stopping")) == Shutdown("stopping")
    assert reasons == [Shutdown("stopping")]
    assert ref.exit_reason == Shutdown("stopping")


async def test_terminate_does_not_run_on_kill(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    actor = Terminating(reasons)
    ref = await rt.spawn(actor)
    await cast(ref, "hang")
    await waited(actor.entered)
    kill(ref)
    assert await joined(ref) == KILLED
    assert reasons == []


async def test_terminate_that_raises_is_logged_not_fatal(rt: Runtime) -> None:
    reasons: list[ExitReason] = []
    ref = await rt.spawn(Terminating(reasons, fail=RuntimeError("terminate broke")))
    other = await rt.spawn(Recorder())
    with structlog.testing.capture_logs() as logs:
        await cast(ref, Shutdown("x"))
        reason = await joined(ref)
    assert reason == Shutdown("x")  # the exit reason is not replaced by the failure
    assert reasons == [Shutdown("x")]
    failures = [e for e in logs if e["event"] == "actor.terminate_failed"]
    assert len(failures) == 1 and failures[0]["log_level"] == "error"
    # the runtime and the other actors carry on
    assert await call(other, "still here") == ("re", "still here")
    again = await rt.spawn(Recorder())
    assert await call(again, 1) == ("re", 1)


# -- helper tasks -----------------------------------------------------------------------------


class WithHelper(Actor):
    def __init__(self) -> None:
        self.running = anyio.Event()
        self.helper_cancelled = False
        self.helper_finished = False
        self.terminated: list[ExitReason] = []

    async def init(self) -> None:
        self.start_soon(self._forever)

    async def _forever(self) -> None:
        try:
            self.running.set()
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.helper_cancelled = True
            raise
        finally:
            self.helper_finished = True

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, BaseException):
            exc = request

            async def fail() -> None:
                await anyio.lowlevel.checkpoint()
                raise exc

            self.start_soon(fail)
        elif isinstance(request, ExitReason):
            raise StopActor(request)

    async def handle_call(self, request: Any, from_: From) -> Any:
        return request

    async def terminate(self, reason: ExitReason) -> None:
        self.terminated.append(reason)


async def test_helper_task_cancelled_when_actor_stops(rt: Runtime) -> None:
    actor = WithHelper()
    ref = await rt.spawn(actor)
    await waited(actor.running)
    assert await stop(ref, timeout=5) == NORMAL
    assert actor.helper_cancelled and actor.helper_finished


async def test_helper_task_cancelled_when_actor_returns_normally(rt: Runtime) -> None:
    actor = WithHelper()
    ref = await rt.spawn(actor)
    await waited(actor.running)
    await cast(ref, Shutdown("done"))
    assert await joined(ref) == Shutdown("done")
    assert actor.helper_cancelled and actor.helper_finished


async def test_helper_task_exception_crashes_the_actor(rt: Runtime) -> None:
    actor = WithHelper()
    ref = await rt.spawn(actor)
    await waited(actor.running)
    boom = ZeroDivisionError("helper failed")
    await cast(ref, boom)
    assert await joined(ref) == Crash(boom)
    assert actor.terminated == [Crash(boom)]
    assert actor.helper_cancelled  # the other helper was cancelled with the actor


async def test_helper_task_can_call_its_own_actor(rt: Runtime) -> None:
    """A helper is a separate task: its call is served by the actor's loop, so it cannot
    deadlock and must not be refused as a self-call (a helper pumping work into its actor
    with backpressure is the usual pattern; in OTP the helper is another process)."""

    class Pumping(Actor):
        def __init__(self) -> None:
            self.results: list[Any] = []
            self.done = anyio.Event()

        async def init(self) -> None:
            self.start_soon(self._pump)

        async def _pump(self) -> None:
            try:
                for i in range(3):
                    self.results.append(await call(self.ref, i, timeout=2))
            except Exception as exc:
                self.results.append(exc)
            finally:
                self.done.set()

        async def handle_call(self, request: Any, from_: From) -> Any:
            return request * 10

    actor = Pumping()
    ref = await rt.spawn(actor)
    with anyio.fail_after(5):
        await waited(actor.done)
    assert actor.results == [0, 10, 20]
    assert ref.alive


@pytest.mark.parametrize("how", ["stop_actor", "crash", "stop"])
async def test_helper_started_while_stopping_does_not_outlive_the_actor(
    rt: Runtime, how: str
) -> None:
    """A helper is "a task of this incarnation": one started from ``terminate`` must be
    refused or cancelled with the incarnation, however the actor stops."""

    class LateHelper(Actor):
        def __init__(self) -> None:
            self.orphan: list[str] = []
            self.refused: list[BaseException] = []
            self.entered = anyio.Event()

        async def handle_cast(self, request: Any) -> None:
            if request == "stop_actor":
                raise StopActor(Shutdown("done"))
            if request == "crash":
                raise RuntimeError("crash")
            self.entered.set()
            await anyio.sleep_forever()

        async def terminate(self, reason: ExitReason) -> None:
            async def orphan() -> None:
                self.orphan.append("running")
                try:
                    await anyio.sleep_forever()
                finally:
                    self.orphan.append("cancelled")

            try:
                self.start_soon(orphan)
            except RuntimeError as exc:
                self.refused.append(exc)

    actor = LateHelper()
    ref = await rt.spawn(actor)
    if how == "stop":
        await cast(ref, "hang")
        await waited(actor.entered)
        await stop(ref, timeout=5)
    else:
        await cast(ref, how)
    await joined(ref)
    await anyio.wait_all_tasks_blocked()
    assert actor.orphan in ([], ["running", "cancelled"]), "a helper outlived its actor"


async def test_start_soon_after_stop_raises(rt: Runtime) -> None:
    actor = WithHelper()
    ref = await rt.spawn(actor)
    await stop(ref, timeout=5)

    async def noop() -> None:
        pass

    with pytest.raises(RuntimeError):
        actor.start_soon(noop)


# -- statistics -------------------------------------------------------------------------------


async def test_statistics(rt: Runtime) -> None:
    actor = Gate()
    ref = await rt.spawn(actor, name="stats-actor", mailbox_size=16)
    s = ref.statistics()
    assert s.state == "running"
    assert s.id == ref.id
    assert s.name == "stats-actor"
    assert s.actor == "Gate"
    assert s.mailbox_depth == 0
    assert s.mailbox_capacity == 16
    assert s.messages_processed == 0
    assert s.pending_calls == 0

    assert await call(ref, "a") == "a"
    assert ref.statistics().messages_processed == 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, ref, "defer")
        await waited(actor.entered)
        actor.entered = anyio.Event()
        assert ref.statistics().pending_calls == 1
        await cast(ref, "block")
        await waited(actor.entered)
        await cast(ref, "q1")
        await send(ref, "q2")
        await cast(ref, "q3")
        s = ref.statistics()
        assert s.mailbox_depth == 3
        assert s.messages_processed == 3  # a, defer, block
        assert s.pending_calls == 1
        actor.deferred[0].reply("done")
        actor.gate.set()
    assert await call(ref, "b") == "b"
    s = ref.statistics()
    assert s.mailbox_depth == 0
    assert s.pending_calls == 0
    assert s.messages_processed == 7
    assert s.mailbox_high_water >= 3
    await stop(ref)
    s = ref.statistics()
    assert s.state == "dead"
    assert s.mailbox_depth == 0


# -- misuse and isolation ---------------------------------------------------------------------


async def test_calling_itself_raises_runtime_error(rt: Runtime) -> None:
    class SelfCaller(Actor):
        async def handle_call(self, request: Any, from_: From) -> Any:
            if request == "ping":
                return "pong"
            try:
                await call(request, "ping", timeout=1)
            except RuntimeError as exc:
                return type(exc).__name__
            return "no error"

    ref = await rt.spawn(SelfCaller(), name="self-caller")
    with anyio.fail_after(3):
        assert await call(ref, ref, timeout=2) == "RuntimeError"
        assert await call(ref, "self-caller", timeout=2) == "RuntimeError"
    assert ref.alive
    assert await call(ref, "ping") == "pong"


async def test_base_exception_in_handler_crashes_only_that_actor(rt: Runtime) -> None:
    bystander = await rt.spawn(Recorder())
    victim = await rt.spawn(Gate())
    panic = PanicLike("panic")
    with pytest.raises(ActorExited) as ei:
        await call(victim, panic, timeout=5)
    assert ei.value.reason == Crash(panic)
    assert await joined(victim) == Crash(panic)
    # the runtime and everyone else are unaffected
    assert bystander.alive
    assert await call(bystander, "ok") == ("re", "ok")
    fresh = await rt.spawn(Recorder())
    assert await call(fresh, "ok") == ("re", "ok")


async def test_base_exception_in_cast_and_helper_crashes_only_that_actor(rt: Runtime) -> None:
    bystander = await rt.spawn(Recorder())
    a = await rt.spawn(Gate())
    panic_a = PanicLike("in cast")
    await cast(a, panic_a)
    assert await joined(a) == Crash(panic_a)

    h = WithHelper()
    b = await rt.spawn(h)
    await waited(h.running)
    panic_b = PanicLike("in helper")
    await cast(b, panic_b)
    assert await joined(b) == Crash(panic_b)
    assert h.terminated == [Crash(panic_b)]
    assert await call(bystander, "ok") == ("re", "ok")


async def test_base_exception_in_init_is_a_start_error(rt: Runtime) -> None:
    panic = PanicLike("init")

    class Panicking(Actor):
        async def init(self) -> None:
            raise panic

    with pytest.raises(StartError) as ei:
        await rt.spawn(Panicking())
    assert ei.value.reason == Crash(panic)
    ok = await rt.spawn(Recorder())
    assert await call(ok, 1) == ("re", 1)


async def test_runtime_exits_cleanly_after_base_exception_crash() -> None:
    with anyio.fail_after(10):
        async with Runtime() as rt:
            victim = await rt.spawn(Gate())
            await cast(victim, PanicLike("x"))
            await joined(victim)
            survivor = await rt.spawn(Recorder())
            assert await call(survivor, 1) == ("re", 1)
    assert not survivor.alive
    assert survivor.exit_reason == SHUTDOWN
