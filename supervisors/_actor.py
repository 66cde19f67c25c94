"""Actors (OTP GenServer) and the process that runs each incarnation.

An actor is one task with a bounded mailbox. Every message is one of:

* a **call** (``call(ref, request)``): ``handle_call`` returns the reply (or ``NO_REPLY``, and
  someone calls ``from_.reply(value)`` later);
* a **cast** (``cast(ref, request)``): ``handle_cast``, no reply;
* anything else (``send(ref, message)``, ``Exit``, ``Down``): ``handle_info``.

Messages from one sender are handled in the order they were sent. The mailbox and the state die
with the incarnation (as in OTP): a restarted actor starts empty, calls that were queued fail
with ``ActorExited``, queued casts are dropped.
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeAlias

import anyio
import structlog
from anyio import CancelScope
from anyio.lowlevel import checkpoint, checkpoint_if_cancelled

from supervisors._errors import ActorExited, CallTimeout, NoProcess, StartError
from supervisors._links import (
    KILLED,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    Crash,
    Down,
    Exit,
    ExitReason,
    MonitorRef,
)
from supervisors._mailbox import (
    Mailbox,
    OverflowPolicy,
    UserMessage,
    check_overflow_policy,
)
from supervisors._registry import Registry, Via
from supervisors._stats import ActorStatistics, SupervisorStatistics

if TYPE_CHECKING:
    from supervisors._runtime import Runtime
    from supervisors._timers import TimerRef

__all__ = [
    "Actor",
    "ActorRef",
    "From",
    "Target",
    "RemoteTarget",
    "NO_REPLY",
    "Ignore",
    "StopActor",
    "call",
    "cast",
    "send",
    "reply",
    "stop",
    "kill",
    "link",
    "unlink",
    "monitor",
    "demonitor",
    "current",
    "whereis",
    "register",
    "unregister",
    "DEFAULT_CALL_TIMEOUT",
]

log = structlog.get_logger("supervisors")

DEFAULT_CALL_TIMEOUT: Final = 5.0

TRACEBACK_LIMIT: Final = 32
"""Stack frames kept per traceback in logged reports (the innermost are the ones kept)."""


def format_exception(exc: BaseException) -> str:
    """A plain traceback string for a log line (``exception=``): cheap to produce, printed
    as is by structlog's renderers, unlike ``exc_info``, which a ``ConsoleRenderer`` renders
    with rich when rich is installed (tens of milliseconds each)."""
    return "".join(traceback.format_exception(exc, limit=-TRACEBACK_LIMIT))


Target: TypeAlias = "ActorRef | str | Via | RemoteTarget"
"""Where a message goes: an ``ActorRef``, a name in the runtime's registry, a ``Via``, or an
actor on another node (``supervisors.remote.RemoteRef``)."""

_current: ContextVar[_Process | None] = ContextVar("supervisors.current", default=None)
_runtime_var: ContextVar[Runtime | None] = ContextVar("supervisors.runtime", default=None)
# The process whose own task (its message loop) is running; None in its helper tasks, which may
# call their actor without deadlocking.
_loop_owner: ContextVar[_Process | None] = ContextVar("supervisors.loop_owner", default=None)
_pids = itertools.count(1)


class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_REPLY"


NO_REPLY: Final = _NoReply()
"""Return this from ``handle_call`` to reply later with ``from_.reply(value)``."""


class Ignore(Exception):
    """Raise from ``init`` to decline to start (OTP ``ignore``).

    A supervisor keeps the child's spec with no running actor; ``spawn`` raises ``StartError``
    with ``ignored=True``.
    """


class StopActor(Exception):
    """Raise from a handler to stop the actor with ``reason`` (OTP ``{stop, Reason, ...}``).

    From ``handle_call``, ``StopActor(reason, reply=value)`` replies to the caller first.
    """

    _UNSET: ClassVar[object] = object()

    def __init__(self, reason: ExitReason = NORMAL, *, reply: object = _UNSET) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply

    @property
    def has_reply(self) -> bool:
        return self.reply is not StopActor._UNSET


def _passthrough(exc: BaseException) -> bool:
    """Exceptions an actor must never swallow: cancellation and interpreter exits."""
    return isinstance(
        exc, (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit, GeneratorExit)
    )


class _Call(UserMessage):
    __slots__ = ("reply_to", "request")

    def __init__(self, request: object, reply_to: From) -> None:
        self.request = request
        self.reply_to = reply_to


class _Cast(UserMessage):
    __slots__ = ("request",)
    droppable = True

    def __init__(self, request: object) -> None:
        self.request = request


class _Info(UserMessage):
    __slots__ = ("message",)
    droppable = True

    def __init__(self, message: object) -> None:
        self.message = message


class _Tick(UserMessage):
    """A tick of an interval timer (``handle_info``); the timer knows whether it is queued."""

    __slots__ = ("message", "timer")
    droppable = True

    def __init__(self, message: object, timer: TimerRef) -> None:
        self.message = message
        self.timer = timer

    def discarded(self) -> None:
        self.timer._queued = False


class _AckedCast(UserMessage):
    """A cast from an acknowledged channel: ``on_done`` runs once ``handle_cast`` returned."""

    __slots__ = ("on_done", "request")

    def __init__(self, request: object, on_done: Callable[[], None]) -> None:
        self.request = request
        self.on_done = on_done


class RemoteTarget:
    """An actor on another node. ``call``, ``cast``, ``send``, ``monitor`` and ``demonitor``
    hand a remote target to these methods (implemented by ``supervisors.remote``).

    A plain base class (not an ABC): ``isinstance`` on it is on the message path.
    """

    __slots__ = ()

    async def _remote_call(self, request: object, timeout: float | None) -> Any:
        raise TypeError(f"{type(self).__name__} must override _remote_call")

    async def _remote_cast(self, request: object, *, info: bool) -> None:
        raise TypeError(f"{type(self).__name__} must override _remote_cast")

    def _remote_monitor(self, watcher: _Process, mref: MonitorRef) -> None:
        raise TypeError(f"{type(self).__name__} must override _remote_monitor")


# Remote monitors: MonitorRef -> the function that cancels it (set by supervisors.remote).
_remote_demonitors: dict[MonitorRef, Callable[[], None]] = {}


class From:
    """The pending caller of a ``call``. ``reply(value)`` answers it, once."""

    __slots__ = ("_done", "_error", "_event", "_server", "_value")

    def __init__(self, server: _Process) -> None:
        self._event = anyio.Event()
        self._value: Any = None
        self._error: ExitReason | None = None
        self._done = False
        self._server = server

    def reply(self, value: object) -> bool:
        """Send the reply. Returns False if the caller already gave up (timeout) or was answered."""
        if self._done:
            return False
        self._done = True
        self._value = value
        self._server.pending.discard(self)
        self._event.set()
        return True

    @property
    def answered(self) -> bool:
        return self._done

    def _fail(self, reason: ExitReason) -> None:
        if not self._done:
            self._done = True
            self._error = reason
            self._event.set()

    def _abandon(self) -> None:
        self._done = True
        self._server.pending.discard(self)


class ActorRef:
    """A reference to one incarnation of an actor (an Erlang pid).

    After a restart the supervisor's new incarnation has a new ``ActorRef``; names re-resolve
    to it. Refs compare by identity.
    """

    __slots__ = ("__weakref__", "_proc")

    def __init__(self, proc: _Process) -> None:
        self._proc = proc

    def __repr__(self) -> str:
        p = self._proc
        name = f" {p.names[0][1]!r}" if p.names else ""
        dead = "" if not p.dead else f" dead:{p.reason!r}"
        return f"<ActorRef #{p.id} {type(p.actor).__name__}{name}{dead}>"

    @property
    def id(self) -> int:
        return self._proc.id

    @property
    def name(self) -> Hashable | None:
        """The first name this incarnation is registered under, if any."""
        names = self._proc.names
        return names[0][1] if names else None

    @property
    def alive(self) -> bool:
        return not self._proc.dead

    @property
    def exit_reason(self) -> ExitReason | None:
        """The exit reason once dead, else None."""
        return self._proc.reason

    async def call(self, request: object, timeout: float | None = DEFAULT_CALL_TIMEOUT) -> Any:
        return await call(self, request, timeout)

    async def cast(self, request: object) -> None:
        await cast(self, request)

    async def send(self, message: object) -> None:
        await send(self, message)

    async def join(self) -> ExitReason:
        """Wait until this incarnation has exited; returns its exit reason."""
        await self._proc.exited.wait()
        reason = self._proc.reason
        assert reason is not None
        return reason

    def statistics(self) -> ActorStatistics:
        return self._proc.statistics()


class Actor:
    """A GenServer. Subclass it and override the callbacks you need.

    State lives in instance attributes. A supervisor builds a fresh instance (through the
    child spec's ``start`` factory) for every incarnation, so a restart starts from clean state.
    """

    mailbox_size: ClassVar[int] = 1024
    """Capacity for user messages. Callers wait while it is full; casts and infos never wait:
    ``mailbox_overflow`` decides what a full mailbox does with them."""

    mailbox_overflow: ClassVar[OverflowPolicy] = "grow"
    """What a full mailbox does with a cast or info: ``"grow"`` (accept it past the capacity,
    as Erlang does), ``"drop_newest"`` (drop it) or ``"drop_oldest"`` (drop the oldest queued
    cast or info). Each overflow is counted (``ActorStatistics``) and logged, rate-limited."""

    trap_exits: bool = False
    """When True, exit signals from linked actors arrive as ``Exit`` messages in ``handle_info``
    instead of stopping this actor. Settable in ``init``."""

    _process: _Process

    @property
    def ref(self) -> ActorRef:
        """This incarnation's reference (available from ``init`` on)."""
        return self._process.ref

    async def init(self) -> None:
        """Runs before the actor is reported started. Raise to fail the start, ``Ignore`` to
        decline it."""

    async def handle_call(self, request: Any, from_: From) -> Any:
        """Return the reply (or ``NO_REPLY`` and answer later through ``from_.reply``).

        The default crashes the actor, as an unhandled call does in Elixir."""
        raise TypeError(f"{type(self).__name__} got call {request!r} but defines no handle_call")

    async def handle_cast(self, request: Any) -> None:
        """Handle a cast. The default crashes the actor (no handler defined)."""
        raise TypeError(f"{type(self).__name__} got cast {request!r} but defines no handle_cast")

    async def handle_info(self, message: Any) -> None:
        """Handle any other message (``send``, ``Exit``, ``Down``). The default logs it."""
        log.warning("actor.unexpected_message", actor=repr(self.ref), message=repr(message))

    async def terminate(self, reason: ExitReason) -> None:
        """Runs when the actor stops for any reason but a kill; may await (bounded by the
        supervisor's shutdown timeout)."""

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` as a task of this incarnation: cancelled when the actor stops;
        if it raises, the actor crashes with that exception; if it raises
        ``StopActor(reason)``, the actor stops with ``reason`` (``NORMAL`` by default: no
        crash, no restart of a transient child), as from a handler."""
        self._process.start_helper(fn, *args)

    def _supervisor_statistics(self) -> SupervisorStatistics | None:
        return None


class _Process:
    """One incarnation of an actor: its task, mailbox, links, monitors and names."""

    __slots__ = (
        "__weakref__",
        "actor",
        "dead",
        "exit_signal",
        "exited",
        "id",
        "killed",
        "links",
        "mailbox",
        "monitored_by",
        "monitoring",
        "names",
        "parent",
        "pending",
        "processed",
        "reason",
        "ref",
        "runtime",
        "scope",
        "start_error",
        "start_timeout",
        "started",
        "started_at",
        "state",
        "terminate_scope",
        "helpers",
        "timers",
    )

    def __init__(
        self,
        runtime: Runtime,
        actor: Actor,
        *,
        parent: _Process | None,
        mailbox_size: int | None,
        start_timeout: float | None,
        mailbox_overflow: OverflowPolicy | None = None,
    ) -> None:
        self.id = next(_pids)
        self.runtime = runtime
        self.actor = actor
        self.ref = ActorRef(self)
        self.mailbox: Mailbox[object] = Mailbox(
            mailbox_size or actor.mailbox_size,
            check_overflow_policy(mailbox_overflow or actor.mailbox_overflow),
        )
        self.mailbox.on_overflow = self._report_overflow
        self.timers: set[TimerRef] = set()
        self.scope = CancelScope()
        self.terminate_scope: CancelScope | None = None
        self.helpers: dict[CancelScope, anyio.Event] = {}
        self.names: list[tuple[Registry, Hashable]] = []
        self.links: set[_Process] = set()
        self.monitoring: dict[MonitorRef, _Process] = {}
        self.monitored_by: dict[MonitorRef, _Process] = {}
        self.pending: set[From] = set()
        self.parent = parent
        self.started = anyio.Event()
        self.exited = anyio.Event()
        self.start_error: StartError | None = None
        self.start_timeout = start_timeout
        self.state = "starting"
        self.dead = False
        self.reason: ExitReason | None = None
        self.exit_signal: ExitReason | None = None
        self.killed = False
        self.processed = 0
        self.started_at = time.monotonic()
        actor._process = self

    def __repr__(self) -> str:
        return repr(self.ref)

    def _report_overflow(self, unreported: int) -> None:
        mb = self.mailbox
        log.warning(
            "actor.mailbox_overflow",
            actor=repr(self.ref),
            policy=mb.overflow,
            capacity=mb.capacity,
            depth=len(mb),
            overflowed_total=mb.overflowed,
            dropped_total=mb.dropped,
            since_last_report=unreported,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def main(self) -> None:
        _current.set(self)
        _loop_owner.set(self)
        _runtime_var.set(self.runtime)
        reason: ExitReason | None = None
        initialised = False
        try:
            with self.scope:
                reason = await self._init()
                if reason is None:
                    initialised = True
                    self.state = "running"
                    self.started.set()
                    reason = await self._loop()
        except BaseException as exc:
            if reason is None and self.exit_signal is None and not _passthrough(exc):
                reason = Crash(exc)
            raise
        finally:
            self.state = "stopping"  # from here on no new helper task may start
            if reason is None:
                reason = self.exit_signal or SHUTDOWN
            if self.helpers or (initialised and not self.killed):
                await self._terminate(reason, run_callback=initialised and not self.killed)
            if self.killed:
                reason = KILLED
            if not initialised and self.start_error is None:
                self.start_error = StartError(reason)
            self.finish(reason)

    async def _init(self) -> ExitReason | None:
        """Run ``init``; None on success, else the exit reason (``start_error`` is set)."""
        try:
            if self.start_timeout is None:
                await self.actor.init()
            else:
                with anyio.fail_after(self.start_timeout):
                    await self.actor.init()
        except Ignore:
            self.start_error = StartError(NORMAL, ignored=True)
            return NORMAL
        except StartError as exc:  # a supervisor's child failed: keep the precise error
            self.start_error = exc
            return Crash(exc)
        except BaseException as exc:
            if _passthrough(exc):
                raise
            self.start_error = StartError(Crash(exc))
            self.start_error.__cause__ = exc
            return Crash(exc)
        return None

    async def _loop(self) -> ExitReason:
        actor = self.actor
        mailbox = self.mailbox
        while True:
            msg = await mailbox.get()
            self.processed += 1
            cls = type(msg)
            try:
                if cls is _Call:
                    assert isinstance(msg, _Call)
                    result = await actor.handle_call(msg.request, msg.reply_to)
                    if result is not NO_REPLY:
                        msg.reply_to.reply(result)
                elif cls is _Cast:
                    assert isinstance(msg, _Cast)
                    await actor.handle_cast(msg.request)
                elif cls is _Info:
                    assert isinstance(msg, _Info)
                    await actor.handle_info(msg.message)
                elif cls is _Tick:
                    assert isinstance(msg, _Tick)
                    msg.timer._queued = False  # the next tick may be queued from now on
                    await actor.handle_info(msg.message)
                elif cls is _AckedCast:
                    assert isinstance(msg, _AckedCast)
                    await actor.handle_cast(msg.request)
                    msg.on_done()
                elif cls is Exit and self.parent is not None:
                    assert isinstance(msg, Exit)
                    if msg.ref._proc is self.parent:
                        return msg.reason  # our parent stopped: stop with it (OTP gen_server)
                    await actor.handle_info(msg)
                else:
                    await actor.handle_info(msg)
            except StopActor as stop:
                if isinstance(msg, _Call) and stop.has_reply:
                    msg.reply_to.reply(stop.reply)
                return stop.reason
            except BaseException as exc:
                if _passthrough(exc):
                    raise
                return Crash(exc)

    async def _terminate(self, reason: ExitReason, *, run_callback: bool) -> None:
        """Stop the helper tasks and wait for them (as a task group would: the incarnation is
        not over while one runs), then run ``terminate`` (shielded from outside cancellation;
        ``kill`` cancels it)."""
        if self.helpers:
            with CancelScope(shield=True):
                for helper_scope in list(self.helpers):
                    helper_scope.cancel()
                for done in list(self.helpers.values()):
                    await done.wait()
        if not run_callback or self.killed:
            return
        with CancelScope(shield=True) as scope:
            self.terminate_scope = scope
            try:
                await self.actor.terminate(reason)
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                if not isinstance(exc, anyio.get_cancelled_exc_class()):
                    log.error(
                        "actor.terminate_failed",
                        actor=repr(self.ref),
                        error=repr(exc),
                        exception=format_exception(exc),
                    )
        self.terminate_scope = None

    def start_helper(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn`` as a task of this incarnation (in the runtime's task group, so actors
        that never use helpers pay nothing); cancelled and awaited before ``terminate``."""
        tg = self.runtime._tg
        if tg is None or self.state not in ("starting", "running") or self.scope.cancel_called:
            raise RuntimeError(f"{self.ref!r} is stopping or dead: no new helper tasks")
        scope = CancelScope()
        done = anyio.Event()
        self.helpers[scope] = done

        async def helper() -> None:
            _loop_owner.set(None)
            try:
                with scope:
                    await fn(*args)
            except StopActor as stop:
                self.request_exit(stop.reason)
            except BaseException as exc:
                if _passthrough(exc):
                    raise
                self.request_exit(Crash(exc))
            finally:
                del self.helpers[scope]
                done.set()

        tg.start_soon(helper)

    def request_exit(self, reason: ExitReason) -> None:
        """Cooperative stop: cancel the task; ``terminate`` runs, the exit reason is ``reason``."""
        if self.dead:
            return
        if self.exit_signal is None:
            self.exit_signal = reason
        self.scope.cancel()

    def kill(self) -> None:
        """Stop without ``terminate``; also cancels a ``terminate`` already running."""
        if self.dead:
            return
        self.killed = True
        self.exit_signal = KILLED
        self.scope.cancel()
        if self.terminate_scope is not None:
            self.terminate_scope.cancel()

    def finish(self, reason: ExitReason) -> None:
        """The incarnation is over: release everything and notify links and monitors.

        Synchronous, idempotent: a supervisor calls it for a child it had to abandon.
        """
        if self.dead:
            return
        self.dead = True
        self.reason = reason
        self.state = "dead"
        for timer in list(self.timers):
            timer._stop("cancelled")
        self.mailbox.close()
        for from_ in list(self.pending):
            from_._fail(reason)
        self.pending.clear()
        for registry, key in self.names:
            registry._release(key, self)
        # A failed start is reported to the starter (its parent) by StartError, not a signal.
        spare = self.parent if self.start_error is not None else None
        for other in self.links:
            other.links.discard(self)
            if other is not spare:
                other.signal_exit(self, reason)
        self.links.clear()
        for mref, target in self.monitoring.items():
            target.monitored_by.pop(mref, None)
        self.monitoring.clear()
        for mref, watcher in self.monitored_by.items():
            watcher.monitoring.pop(mref, None)
            watcher.mailbox.put_system(Down(mref, self.ref, reason))
        self.monitored_by.clear()
        self.started.set()
        self.exited.set()
        self.runtime._process_exited(self)

    def signal_exit(self, sender: _Process, reason: ExitReason) -> None:
        """An exit signal from a linked process (OTP semantics)."""
        if self.dead:
            return
        if self.actor.trap_exits:
            self.mailbox.put_system(Exit(sender.ref, reason))
        elif not reason.is_normal:
            self.request_exit(reason)

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            id=self.id,
            name=self.names[0][1] if self.names else None,
            actor=type(self.actor).__name__,
            state=self.state,
            mailbox_depth=len(self.mailbox),
            mailbox_capacity=self.mailbox.capacity,
            mailbox_high_water=self.mailbox.high_water,
            waiting_senders=self.mailbox.waiting_senders,
            mailbox_overflow=self.mailbox.overflow,
            mailbox_overflowed=self.mailbox.overflowed,
            mailbox_dropped=self.mailbox.dropped,
            messages_processed=self.processed,
            pending_calls=len(self.pending),
            links=len(self.links),
            monitors=len(self.monitoring),
            monitored_by=len(self.monitored_by),
            uptime=time.monotonic() - self.started_at,
            supervisor=self.actor._supervisor_statistics(),
        )


# -- resolution -------------------------------------------------------------------------------


def _runtime() -> Runtime:
    rt = _runtime_var.get()
    if rt is None:
        raise RuntimeError("no supervisors runtime: use `async with Runtime():` or `run()`")
    return rt


def _resolve(target: Target) -> _Process | None:
    """The live process behind ``target``, or None."""
    if type(target) is ActorRef:
        proc = target._proc
        return None if proc.dead else proc
    if isinstance(target, str):
        return _runtime().registry._lookup(target)
    if isinstance(target, Via):
        return target.registry._lookup(target.key)
    if isinstance(target, RemoteTarget):
        return None
    raise TypeError(f"not an actor reference or name: {target!r}")


def _local_only(target: Target, what: str) -> None:
    if isinstance(target, RemoteTarget):
        raise TypeError(
            f"{what}() works on local actors only; {target!r} is remote (use monitor() and "
            "call() across nodes)"
        )


def _self(what: str) -> _Process:
    proc = _current.get()
    if proc is None:
        raise RuntimeError(f"{what}() must be called from inside an actor")
    return proc


# -- messaging --------------------------------------------------------------------------------


async def call(
    target: Target, request: object, timeout: float | None = DEFAULT_CALL_TIMEOUT
) -> Any:
    """Send ``request`` to ``handle_call`` and wait for the reply.

    Raises ``NoProcess`` if the target is dead or unknown, ``CallTimeout`` after ``timeout``
    seconds (``None``: wait forever; a reply arriving later is discarded, as in OTP 24+), and
    ``ActorExited`` if the server stops before replying (its reason is attached).
    """
    proc = _resolve(target)
    if proc is None:
        if isinstance(target, RemoteTarget):
            return await target._remote_call(request, timeout)
        await checkpoint()
        raise NoProcess(target)
    if proc is _loop_owner.get():
        raise RuntimeError(f"{target!r} called itself: that would deadlock")
    from_ = From(proc)
    proc.pending.add(from_)
    msg = _Call(request, from_)
    try:
        # Fast path: enqueue at once when there is room (waiting for the reply is the
        # checkpoint); a cancelled caller still delivers nothing.
        await checkpoint_if_cancelled()
        delivered = proc.mailbox.try_put(msg)
        if timeout is None:
            if not delivered:
                delivered = await proc.mailbox.put(msg)
            if delivered:
                await from_._event.wait()
        else:
            with anyio.move_on_after(timeout):
                if not delivered:
                    delivered = await proc.mailbox.put(msg)
                if delivered:
                    await from_._event.wait()
    except BaseException:
        from_._abandon()
        raise
    if not from_._done:
        from_._abandon()
        if delivered or (timeout is not None and not proc.dead):
            raise CallTimeout(target, timeout or 0.0)
        raise NoProcess(target)
    if from_._error is not None:
        raise ActorExited(target, from_._error)
    return from_._value


async def cast(target: Target, request: object) -> None:
    """Send ``request`` to ``handle_cast``. Never raises for a dead or unknown target (as in
    OTP, a cast is fire-and-forget) and never waits for room in the target's mailbox: a full
    mailbox applies the target's overflow policy (``Actor.mailbox_overflow``).

    A checkpoint: if it raises a cancellation, nothing was delivered.
    """
    proc = _resolve(target)
    if proc is None:
        if isinstance(target, RemoteTarget):
            await target._remote_cast(request, info=False)
            return
        await checkpoint()
        return
    await checkpoint()
    proc.mailbox.put_nowait(_Cast(request))


async def send(target: Target, message: object) -> None:
    """Send ``message`` to ``handle_info`` (Erlang's ``!``). Like ``cast``, never raises for a
    dead target and never waits on a full mailbox."""
    proc = _resolve(target)
    if proc is None:
        if isinstance(target, RemoteTarget):
            await target._remote_cast(message, info=True)
            return
        await checkpoint()
        return
    await checkpoint()
    proc.mailbox.put_nowait(_Info(message))


def reply(from_: From, value: object) -> bool:
    """Answer a call deferred with ``NO_REPLY`` (``gen_server:reply``)."""
    return from_.reply(value)


async def stop(
    target: Target, reason: ExitReason = NORMAL, timeout: float | None = None
) -> ExitReason:
    """Stop an actor with ``reason`` and wait until it has exited (``gen_server:stop``).

    Raises ``NoProcess`` if it is not alive and ``CallTimeout`` if it has not stopped in time.
    """
    _local_only(target, "stop")
    proc = _resolve(target)
    if proc is None:
        await checkpoint()
        raise NoProcess(target)
    proc.request_exit(reason)
    with anyio.move_on_after(timeout if timeout is not None else float("inf")):
        await proc.exited.wait()
    if not proc.dead:
        raise CallTimeout(target, timeout or 0.0)
    assert proc.reason is not None
    return proc.reason


def kill(target: Target) -> None:
    """Kill an actor: cancelled without ``terminate``; its exit reason is ``KILLED``.

    Python cancellation is cooperative: the task stops at its next checkpoint.
    """
    _local_only(target, "kill")
    proc = _resolve(target)
    if proc is not None:
        proc.kill()


def current() -> ActorRef:
    """The calling actor's own reference (Erlang ``self()``)."""
    return _self("current").ref


def link(target: Target) -> None:
    """Link the calling actor with ``target`` (bidirectional).

    When either dies with a reason other than normal, the other dies with the same reason
    unless it traps exits, in which case it gets an ``Exit`` message. Linking to a dead ref or
    to a name that resolves to nothing raises ``NoProcess`` at once (OTP sends the caller a
    ``noproc`` exit signal instead; see docs/supervisors.md).
    """
    me = _self("link")
    _local_only(target, "link")
    proc = _resolve(target)
    if proc is None:
        raise NoProcess(target)
    if proc is not me:
        me.links.add(proc)
        proc.links.add(me)


def unlink(target: Target) -> None:
    """Remove the link between the caller and ``target`` (no error if there is none)."""
    me = _self("unlink")
    proc = target._proc if isinstance(target, ActorRef) else _resolve(target)
    if proc is not None:
        me.links.discard(proc)
        proc.links.discard(me)


def monitor(target: Target) -> MonitorRef:
    """Monitor ``target`` from the calling actor: one ``Down`` message when it exits.

    Monitors are one-way and stack (each call makes a new one). A dead or unknown target gives
    an immediate ``Down`` with reason ``NOPROC`` (or the reason it died with, if known).
    """
    me = _self("monitor")
    mref = MonitorRef()
    proc = _resolve(target)
    if proc is None and isinstance(target, RemoteTarget):
        target._remote_monitor(me, mref)
        return mref
    if proc is None:
        ref = target if isinstance(target, ActorRef) else None
        reason = (ref._proc.reason if ref is not None else None) or NOPROC
        me.mailbox.put_system(Down(mref, ref, reason))
        return mref
    proc.monitored_by[mref] = me
    me.monitoring[mref] = proc
    return mref


def demonitor(mref: MonitorRef, *, flush: bool = False) -> None:
    """Remove a monitor. ``flush=True`` also drops its ``Down`` if already queued."""
    me = _self("demonitor")
    proc = me.monitoring.pop(mref, None)
    if proc is not None:
        proc.monitored_by.pop(mref, None)
    else:
        cancel = _remote_demonitors.pop(mref, None)
        if cancel is not None:
            cancel()
    if flush:
        me.mailbox.remove_if(lambda m: isinstance(m, Down) and m.monitor is mref)


def whereis(name: Hashable) -> ActorRef | None:
    """The live actor registered under ``name`` in the runtime's registry (or a ``Via``)."""
    if isinstance(name, Via):
        return name.registry.whereis(name.key)
    return _runtime().registry.whereis(name)


def register(name: Hashable, ref: ActorRef) -> None:
    """Register ``ref`` under ``name``; raises ``AlreadyRegistered`` if taken."""
    if isinstance(name, Via):
        name.registry.register(name.key, ref)
    else:
        _runtime().registry.register(name, ref)


def unregister(name: Hashable) -> None:
    if isinstance(name, Via):
        name.registry.unregister(name.key)
    else:
        _runtime().registry.unregister(name)
