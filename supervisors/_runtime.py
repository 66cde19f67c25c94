"""The runtime: the process table every actor lives in, and ``run()``, the application entry.

All processes run as tasks of one runtime task group (BEAM's process table); the supervision
tree is logical (links and supervisors), not a nesting of task groups. That is what lets a
supervisor give up on a child that ignores cancellation — it stops waiting and moves on —
instead of hanging in a task group's exit.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio
import structlog
from anyio.abc import TaskGroup

from supervisors._actor import (
    TRACEBACK_LIMIT,
    Actor,
    ActorRef,
    _current,
    _Process,
    _runtime_var,
    format_exception,
)
from supervisors._links import SHUTDOWN, Crash, ExitReason
from supervisors._mailbox import OverflowPolicy
from supervisors._registry import Registry, Via
from supervisors._stats import RuntimeStatistics
from supervisors._supervisor import (
    INFINITY,
    ChildSpec,
    ChildType,
    ShutdownPolicy,
    SupervisorBase,
    stop_process,
)

if TYPE_CHECKING:
    from supervisors._timers import TimerRef

__all__ = ["Runtime", "run", "spawn", "exit_code"]

log = structlog.get_logger("supervisors")

CRASH_LOG_WINDOW: Final = 60.0
"""Seconds during which further crashes of one (actor, exception type) are logged as one line
without their traceback."""
CRASH_TRACEBACK_LIMIT: Final = TRACEBACK_LIMIT
"""Stack frames kept per traceback in a crash report (the innermost are the ones kept)."""
_CRASH_KEYS_MAX: Final = 4096


class _CrashLog:
    """Logs crashes cheaply: a crash storm must not stall the node on rendering.

    The first crash of a given (actor name, or class when unnamed; exception type) within
    ``CRASH_LOG_WINDOW`` seconds is logged with its traceback as a plain string formatted by
    ``traceback.format_exception`` (``exception=``, which structlog's renderers print as is;
    ``exc_info`` would make a ``ConsoleRenderer`` render it with rich, tens of milliseconds
    each). Repeats within the window get a one-line summary (``repeat=n``); the next full
    report says how many were summarised since the previous one.
    """

    __slots__ = ("_clock", "_seen", "summarised")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # key -> [time of the last full report, repeats summarised since]
        self._seen: dict[tuple[Hashable, str], list[float]] = {}
        self.summarised = 0

    def report(self, proc: _Process, reason: ExitReason) -> None:
        if not isinstance(reason, Crash):
            log.error("actor.exited", actor=repr(proc.ref), reason=repr(reason))
            return
        exc = reason.exception
        who: Hashable = proc.names[0][1] if proc.names else type(proc.actor).__qualname__
        key = (who, f"{type(exc).__module__}.{type(exc).__qualname__}")
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < CRASH_LOG_WINDOW:
            seen[1] += 1
            self.summarised += 1
            log.error(
                "actor.exited",
                actor=repr(proc.ref),
                reason=repr(reason),
                repeat=int(seen[1]),
                detail=f"traceback as in the first crash of {who!r} with this exception type",
            )
            return
        repeats = int(seen[1]) if seen is not None else 0
        if seen is None and len(self._seen) >= _CRASH_KEYS_MAX:
            self._prune(now)
        self._seen[key] = [now, 0]
        text = format_exception(exc)
        extra: dict[str, Any] = {"summarised_before": repeats} if repeats else {}
        log.error(
            "actor.exited", actor=repr(proc.ref), reason=repr(reason), exception=text, **extra
        )

    def _prune(self, now: float) -> None:
        stale = [k for k, (t, _) in self._seen.items() if now - t >= CRASH_LOG_WINDOW]
        for k in stale:
            del self._seen[k]
        if len(self._seen) >= _CRASH_KEYS_MAX:  # all recent: forget the oldest half
            for k in list(self._seen)[: _CRASH_KEYS_MAX // 2]:
                del self._seen[k]


class Runtime:
    """The process table: ``async with Runtime() as rt:`` then ``await rt.spawn(actor)``.

    On exit every actor still alive is stopped: the ones spawned here in reverse order, each
    with its shutdown policy, then anything left is killed. ``clock`` (monotonic seconds)
    drives restart intensity; tests inject a fake one.
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self.registry = Registry("default")
        self.clock: Callable[[], float] = clock or anyio.current_time
        self._tg: TaskGroup | None = None
        self._token: Any = None
        self._alive: dict[_Process, None] = {}
        self._top: dict[_Process, ShutdownPolicy] = {}
        self._spawned = 0
        self._exited = 0
        self._crashed = 0
        self._abandoned = 0
        self._timers: set[TimerRef] = set()
        self._crash_log = _CrashLog(self.clock)

    async def __aenter__(self) -> Runtime:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._token = _runtime_var.set(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        try:
            with anyio.CancelScope(shield=True):
                await self.shutdown()
        finally:
            _runtime_var.reset(self._token)
            self._tg.cancel_scope.cancel()
            result = await self._tg.__aexit__(exc_type, exc, tb)
            self._tg = None
        return result

    async def shutdown(self) -> None:
        """Stop every live actor: top-level ones in reverse spawn order, then the rest."""
        for proc, shutdown in reversed(list(self._top.items())):
            await stop_process(proc, shutdown, SHUTDOWN, by="runtime")
        for proc in reversed(list(self._alive)):
            await stop_process(proc, 0.0, SHUTDOWN, by="runtime")

    async def spawn(
        self,
        actor: Actor,
        *,
        name: Hashable | None = None,
        link: bool = False,
        mailbox_size: int | None = None,
        start_timeout: float | None = None,
        shutdown: ShutdownPolicy | None = None,
        mailbox_overflow: OverflowPolicy | None = None,
    ) -> ActorRef:
        """Start ``actor`` and return its ref once its ``init`` has finished.

        Raises ``StartError`` if ``init`` fails (or ``Ignore``s), ``AlreadyRegistered`` if
        ``name`` is taken. ``link=True`` links it to the calling actor. ``shutdown`` is the
        policy used when the runtime stops it (default: infinity for supervisors, else 5 s).
        ``mailbox_size`` and ``mailbox_overflow`` override the actor class's.
        """
        parent = _current.get()
        if link and parent is None:
            raise RuntimeError("spawn(link=True) must be called from inside an actor")
        proc = await self._spawn_process(
            actor,
            name=name,
            parent=parent if link else None,
            mailbox_size=mailbox_size,
            start_timeout=start_timeout,
            mailbox_overflow=mailbox_overflow,
        )
        if shutdown is None:
            shutdown = INFINITY if isinstance(actor, SupervisorBase) else 5.0
        if not proc.dead:
            self._top[proc] = shutdown
        return proc.ref

    async def _spawn_process(
        self,
        actor: Actor,
        *,
        name: Hashable | None,
        parent: _Process | None,
        mailbox_size: int | None,
        start_timeout: float | None,
        mailbox_overflow: OverflowPolicy | None = None,
    ) -> _Process:
        if self._tg is None:
            raise RuntimeError("the runtime is not running (use `async with Runtime():`)")
        proc = _Process(
            self,
            actor,
            parent=parent,
            mailbox_size=mailbox_size,
            start_timeout=start_timeout,
            mailbox_overflow=mailbox_overflow,
        )
        if name is not None:
            if isinstance(name, Via):
                name.registry._register(name.key, proc)
            else:
                self.registry._register(name, proc)
        if parent is not None:
            # Linked before init (as OTP start_link); a failed start signals nobody.
            proc.links.add(parent)
            parent.links.add(proc)
        self._alive[proc] = None
        self._spawned += 1
        self._tg.start_soon(proc.main)
        try:
            await proc.started.wait()
        except BaseException:
            proc.kill()  # the starter was cancelled: leave no orphan behind
            raise
        if proc.start_error is not None:
            raise proc.start_error
        log.debug("actor.started", actor=repr(proc.ref))
        return proc

    def _process_exited(self, proc: _Process) -> None:
        self._alive.pop(proc, None)
        self._top.pop(proc, None)
        self._exited += 1
        reason = proc.reason
        assert reason is not None
        if reason.is_abnormal and proc.start_error is None:
            self._crashed += 1
            self._crash_log.report(proc, reason)
        else:
            log.debug("actor.exited", actor=repr(proc.ref), reason=repr(reason))

    def statistics(self) -> RuntimeStatistics:
        return RuntimeStatistics(
            alive=len(self._alive),
            spawned_total=self._spawned,
            exited_total=self._exited,
            crashed_total=self._crashed,
            abandoned_total=self._abandoned,
            registered_names=len(self.registry),
            timers_active=len(self._timers),
            crash_reports_summarised=self._crash_log.summarised,
        )


async def spawn(
    actor: Actor,
    *,
    name: Hashable | None = None,
    link: bool = False,
    mailbox_size: int | None = None,
    start_timeout: float | None = None,
    mailbox_overflow: OverflowPolicy | None = None,
) -> ActorRef:
    """``Runtime.spawn`` on the current runtime (from an actor or inside ``async with``)."""
    rt = _runtime_var.get()
    if rt is None:
        raise RuntimeError("no supervisors runtime: use `async with Runtime():` or `run()`")
    return await rt.spawn(
        actor,
        name=name,
        link=link,
        mailbox_size=mailbox_size,
        start_timeout=start_timeout,
        mailbox_overflow=mailbox_overflow,
    )


def exit_code(reason: ExitReason) -> int:
    """A process exit status for an application's exit reason: 0 for normal/shutdown."""
    return 0 if not reason.is_abnormal else 1


def run(
    root: Actor | ChildSpec | Callable[[], Actor],
    *,
    backend: Literal["asyncio", "trio"] = "asyncio",
    backend_options: dict[str, Any] | None = None,
    handle_signals: bool = True,
) -> ExitReason:
    """Run an application: start ``root``, wait until it exits, and return its exit reason.

    ``root`` is an actor (``run(Supervisor([...]))``), a child spec (for its name and shutdown
    policy) or an actor factory. The root is not restarted: when it exits, the application
    ends. SIGINT/SIGTERM stop the tree gracefully (reverse order, shutdown timeouts honoured);
    a second signal kills whatever is left. When the root supervisor gives up (maximum restart
    intensity), the application ends with an error log line and reason ``shutdown``.
    """
    if isinstance(root, Actor):
        instance = root

        def start() -> Actor:
            return instance

        spec = ChildSpec(id="root", start=start)
    elif isinstance(root, ChildSpec):
        spec = root
    elif callable(root):
        spec = ChildSpec(id="root", start=root)
    else:
        raise TypeError(f"run() needs an Actor, a ChildSpec or an actor factory, not {root!r}")
    return anyio.run(
        _run_app, spec, handle_signals, backend=backend, backend_options=backend_options
    )


async def _run_app(spec: ChildSpec, handle_signals: bool) -> ExitReason:
    requested: list[str] = []
    async with Runtime() as rt:
        actor = spec.start()
        shutdown = spec.shutdown
        if isinstance(actor, SupervisorBase) and spec.type is ChildType.WORKER:
            shutdown = INFINITY
        ref = await rt.spawn(
            actor,
            name=spec.name,
            shutdown=shutdown,
            mailbox_size=spec.mailbox_size,
            mailbox_overflow=spec.mailbox_overflow,
        )
        log.info("application.started", root=repr(ref))
        async with anyio.create_task_group() as tg:
            if handle_signals and threading.current_thread() is threading.main_thread():
                tg.start_soon(_watch_signals, ref, shutdown or INFINITY, requested)
            reason = await ref.join()
            tg.cancel_scope.cancel()
    stats = ref.statistics().supervisor
    if stats is not None and stats.escalated and not requested:
        log.error(
            "application.exited",
            reason=repr(reason),
            detail="the root supervisor reached its maximum restart intensity "
            f"({stats.max_restarts} restarts in {stats.max_seconds:g} s)",
        )
    elif reason.is_abnormal:
        log.error("application.exited", reason=repr(reason))
    else:
        log.info("application.exited", reason=repr(reason), signal=requested or None)
    return reason


async def _watch_signals(ref: ActorRef, shutdown: ShutdownPolicy, requested: list[str]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not requested:
                requested.append(name)
                log.warning("application.stopping", signal=name, detail="again to force")
                # Stop the root in the background so a second signal can still be received.
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_stop_root, ref, shutdown)
                    async for again in signals:
                        log.error("application.killed", signal=signal.Signals(again).name)
                        ref._proc.kill()
                        _kill_tree(ref._proc.runtime)
                        break
                    tg.cancel_scope.cancel()
            return


async def _stop_root(ref: ActorRef, shutdown: ShutdownPolicy) -> None:
    await stop_process(ref._proc, shutdown, SHUTDOWN, by="application")


def _kill_tree(rt: Runtime) -> None:
    for proc in list(rt._alive):
        proc.kill()
