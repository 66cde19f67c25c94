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
from typing import Any, Literal

import anyio
import structlog
from anyio.abc import TaskGroup

from supervisors._actor import Actor, ActorRef, _current, _Process, _runtime_var
from supervisors._links import SHUTDOWN, Crash, ExitReason
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

__all__ = ["Runtime", "run", "spawn", "exit_code"]

log = structlog.get_logger("supervisors")


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
    ) -> ActorRef:
        """Start ``actor`` and return its ref once its ``init`` has finished.

        Raises ``StartError`` if ``init`` fails (or ``Ignore``s), ``AlreadyRegistered`` if
        ``name`` is taken. ``link=True`` links it to the calling actor. ``shutdown`` is the
        policy used when the runtime stops it (default: infinity for supervisors, else 5 s).
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
    ) -> _Process:
        if self._tg is None:
            raise RuntimeError("the runtime is not running (use `async with Runtime():`)")
        proc = _Process(
            self, actor, parent=parent, mailbox_size=mailbox_size, start_timeout=start_timeout
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
            exc = reason.exception if isinstance(reason, Crash) else None
            log.error("actor.exited", actor=repr(proc.ref), reason=repr(reason), exc_info=exc)
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
        )


async def spawn(
    actor: Actor,
    *,
    name: Hashable | None = None,
    link: bool = False,
    mailbox_size: int | None = None,
    start_timeout: float | None = None,
) -> ActorRef:
    """``Runtime.spawn`` on the current runtime (from an actor or inside ``async with``)."""
    rt = _runtime_var.get()
    if rt is None:
        raise RuntimeError("no supervisors runtime: use `async with Runtime():` or `run()`")
    return await rt.spawn(
        actor, name=name, link=link, mailbox_size=mailbox_size, start_timeout=start_timeout
    )


def exit_code(reason: ExitReason) -> int:
    """A process exit status for an application's exit reason: 0 for normal/shutdown."""
    return 0 if not reason.is_abnormal else 1


def run(
    root: ChildSpec | Callable[[], Actor],
    *,
    backend: Literal["asyncio", "trio"] = "asyncio",
    backend_options: dict[str, Any] | None = None,
    handle_signals: bool = True,
) -> ExitReason:
    """Run an application: start ``root`` (a child spec or an actor factory), wait until it
    exits, and return its exit reason.

    SIGINT/SIGTERM stop the tree gracefully (reverse order, shutdown timeouts honoured); a
    second signal kills whatever is left. When the root supervisor gives up (maximum restart
    intensity), the application ends with an error log line and reason ``shutdown``.
    """
    spec = root if isinstance(root, ChildSpec) else ChildSpec(id="root", start=root)
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
        ref = await rt.spawn(actor, name=spec.name, shutdown=shutdown)
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
