"""Supervisors: child specs, strategies, restart intensity, orderly shutdown.

The semantics follow OTP's ``supervisor`` module; ``docs/supervisors.md`` lists every place
this differs and why.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import anyio
import structlog

from supervisors._actor import (
    Actor,
    ActorRef,
    From,
    StopActor,
    Target,
    _Process,
    call,
)
from supervisors._errors import (
    AlreadyPresent,
    AlreadyRegistered,
    AlreadyStarted,
    ChildError,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    FailedToStartChild,
    StartError,
)
from supervisors._links import KILLED, SHUTDOWN, Crash, Exit, ExitReason
from supervisors._mailbox import OverflowPolicy, check_overflow_policy
from supervisors._stats import SupervisorStatistics

__all__ = [
    "Restart",
    "ChildType",
    "Strategy",
    "BRUTAL_KILL",
    "INFINITY",
    "ShutdownPolicy",
    "ChildSpec",
    "ChildInfo",
    "ChildCounts",
    "Supervisor",
    "which_children",
    "count_children",
    "start_child",
    "terminate_child",
    "restart_child",
    "delete_child",
]

log = structlog.get_logger("supervisors")


class Restart(enum.StrEnum):
    """When a child is restarted (OTP ``restart``)."""

    PERMANENT = "permanent"
    """Always restarted."""
    TRANSIENT = "transient"
    """Restarted only after an abnormal exit (not normal, shutdown or shutdown(term))."""
    TEMPORARY = "temporary"
    """Never restarted; its spec is removed when it exits."""


class ChildType(enum.StrEnum):
    WORKER = "worker"
    SUPERVISOR = "supervisor"


class Strategy(enum.StrEnum):
    ONE_FOR_ONE = "one_for_one"
    """Restart only the child that exited."""
    ONE_FOR_ALL = "one_for_all"
    """Stop every other child (reverse order), then restart all (start order)."""
    REST_FOR_ONE = "rest_for_one"
    """Stop the children started after it (reverse order), then restart it and them."""


BRUTAL_KILL: Final = "brutal_kill"
INFINITY: Final = "infinity"
ShutdownPolicy: TypeAlias = "float | Literal['brutal_kill', 'infinity']"

DEFAULT_WORKER_SHUTDOWN: Final = 5.0
KILL_GRACE: Final = 0.1
"""Seconds a killed task gets to unwind its cancellation before it is abandoned."""


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts and treats one child (OTP child spec).

    ``start`` builds a fresh actor for every incarnation. ``shutdown`` is seconds of grace,
    ``"brutal_kill"`` or ``"infinity"``; by default 5 s for workers and infinity for
    supervisors. ``name`` registers every incarnation under that name. ``start_timeout`` bounds
    the child's ``init`` (None: no bound). ``mailbox_size`` and ``mailbox_overflow`` (``"grow"``,
    ``"drop_newest"``, ``"drop_oldest"``) override the actor class's.
    """

    id: Hashable
    start: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT
    shutdown: ShutdownPolicy | None = None
    type: ChildType = ChildType.WORKER
    name: Hashable | None = None
    start_timeout: float | None = 60.0
    mailbox_size: int | None = field(default=None, compare=False)
    mailbox_overflow: OverflowPolicy | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "restart", Restart(self.restart))
        object.__setattr__(self, "type", ChildType(self.type))
        if not callable(self.start):
            raise TypeError(f"child {self.id!r}: start must be callable, not {self.start!r}")
        sd = self.shutdown
        if sd is None:
            sd = INFINITY if self.type is ChildType.SUPERVISOR else DEFAULT_WORKER_SHUTDOWN
        elif isinstance(sd, str):
            if sd not in (BRUTAL_KILL, INFINITY):
                raise ValueError(
                    f"child {self.id!r}: shutdown must be seconds, 'brutal_kill' or 'infinity'"
                )
        elif not isinstance(sd, (int, float)) or sd < 0 or math.isnan(sd):
            raise ValueError(f"child {self.id!r}: shutdown must be >= 0 seconds, not {sd!r}")
        object.__setattr__(self, "shutdown", sd)
        if self.mailbox_overflow is not None:
            check_overflow_policy(self.mailbox_overflow)

    @property
    def shutdown_seconds(self) -> float:
        """The grace period as seconds (0 for brutal_kill, inf for infinity)."""
        sd = self.shutdown
        if sd == BRUTAL_KILL:
            return 0.0
        if sd == INFINITY:
            return math.inf
        assert isinstance(sd, (int, float))
        return float(sd)


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of ``which_children``: ``ref`` is None when not running."""

    id: Hashable
    ref: ActorRef | None
    status: Literal["running", "restarting", "stopped"]
    type: ChildType
    restart: Restart


@dataclass(frozen=True, slots=True)
class ChildCounts:
    specs: int
    active: int
    restarting: int
    workers: int
    supervisors: int


# -- stopping processes -----------------------------------------------------------------------


async def _wait_exit(proc: _Process, seconds: float) -> bool:
    if proc.dead:
        return True
    if seconds == math.inf:
        await proc.exited.wait()
        return True
    with anyio.move_on_after(seconds):
        await proc.exited.wait()
    return proc.dead


def _abandon(proc: _Process, by: str) -> None:
    log.error(
        "supervisor.child_abandoned",
        supervisor=by,
        child=repr(proc.ref),
        detail="the task did not stop after cancellation; it is detached from the tree",
    )
    proc.runtime._abandoned += 1
    proc.finish(KILLED)


async def stop_process(
    proc: _Process, shutdown: ShutdownPolicy, reason: ExitReason = SHUTDOWN, *, by: str = "?"
) -> bool:
    """Stop one process: cancel it, wait up to its grace period, then kill, then abandon.

    Returns False if the process had to be abandoned (it never reached a checkpoint).
    Always returns within ``grace + KILL_GRACE`` (unless the grace period is infinity).
    """
    if proc.dead:
        return True
    if shutdown == BRUTAL_KILL:
        proc.kill()
    else:
        grace = math.inf if shutdown == INFINITY else float(shutdown)
        proc.request_exit(reason)
        if await _wait_exit(proc, grace):
            return True
        log.warning("supervisor.shutdown_timeout", supervisor=by, child=repr(proc.ref), grace=grace)
        proc.kill()
    if await _wait_exit(proc, KILL_GRACE):
        return True
    _abandon(proc, by)
    return False


async def stop_processes_parallel(
    items: Sequence[tuple[_Process, ShutdownPolicy]],
    reason: ExitReason = SHUTDOWN,
    *,
    by: str = "?",
) -> int:
    """Stop many processes at once under one timer (the longest grace); returns abandoned."""
    live = [(p, sd) for p, sd in items if not p.dead]
    if not live:
        return 0
    grace = 0.0
    for proc, sd in live:
        if sd == BRUTAL_KILL:
            proc.kill()
        else:
            proc.request_exit(reason)
            grace = max(grace, math.inf if sd == INFINITY else float(sd))
    with anyio.move_on_after(grace):
        for proc, _ in live:
            await proc.exited.wait()
    left = [p for p, _ in live if not p.dead]
    for proc in left:
        proc.kill()
    if left:
        with anyio.move_on_after(KILL_GRACE):
            for proc in left:
                await proc.exited.wait()
    abandoned = 0
    for proc in left:
        if not proc.dead:
            _abandon(proc, by)
            abandoned += 1
    return abandoned


# -- supervisors ------------------------------------------------------------------------------


class _Child:
    __slots__ = ("key", "proc", "spec", "status")

    def __init__(self, key: Hashable, spec: ChildSpec) -> None:
        self.key = key
        self.spec = spec
        self.proc: _Process | None = None
        self.status: Literal["running", "restarting", "stopped"] = "stopped"

    def info(self) -> ChildInfo:
        ref = self.proc.ref if self.proc is not None else None
        return ChildInfo(self.spec.id, ref, self.status, self.spec.type, self.spec.restart)


@dataclass(frozen=True, slots=True)
class _TryAgainRestart:
    key: Hashable


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


@dataclass(frozen=True, slots=True)
class _WhichChildren:
    pass


@dataclass(frozen=True, slots=True)
class _CountChildren:
    pass


@dataclass(frozen=True, slots=True)
class _StartChild:
    spec: ChildSpec


@dataclass(frozen=True, slots=True)
class _TerminateChild:
    key: object


@dataclass(frozen=True, slots=True)
class _RestartChild:
    key: Hashable


@dataclass(frozen=True, slots=True)
class _DeleteChild:
    key: Hashable


class SupervisorBase(Actor):
    """What ``Supervisor`` and ``DynamicSupervisor`` share: child bookkeeping, restart
    intensity, restarts, shutdown and the management calls."""

    trap_exits = True
    strategy: Strategy = Strategy.ONE_FOR_ONE

    def __init__(self, *, max_restarts: int = 3, max_seconds: float = 5.0) -> None:
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, not {max_restarts}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, not {max_seconds}")
        self.max_restarts = max_restarts
        self.max_seconds = float(max_seconds)
        self._children: dict[Hashable, _Child] = {}
        self._by_proc: dict[_Process, _Child] = {}
        self._restarts: deque[float] = deque()
        self._restarts_total = 0
        self._abandoned = 0
        self._escalated = False

    # -- starting and stopping children --------------------------------------------------

    @property
    def _label(self) -> str:
        return repr(self.ref)

    async def _start(self, child: _Child) -> None:
        """Start one incarnation of ``child``; raises ``StartError``. Ignore leaves it stopped."""
        spec = child.spec
        rt = self._process.runtime
        try:
            actor: object = spec.start()
        except Exception as exc:  # the factory itself failed: a failed start, counted as such
            raise StartError(Crash(exc)) from exc
        if not isinstance(actor, Actor):
            bad = TypeError(f"start of child {spec.id!r} returned {actor!r}, not an Actor")
            raise StartError(Crash(bad)) from bad
        try:
            proc = await rt._spawn_process(
                actor,
                name=spec.name,
                parent=self._process,
                mailbox_size=spec.mailbox_size,
                start_timeout=spec.start_timeout,
                mailbox_overflow=spec.mailbox_overflow,
            )
        except StartError as exc:
            if exc.ignored:
                child.proc = None
                child.status = "stopped"
                return
            raise
        except AlreadyRegistered as exc:  # OTP: {already_started, Pid} for a taken name
            raise StartError(Crash(exc)) from exc
        child.proc = proc
        child.status = "running"
        self._by_proc[proc] = child
        log.debug(
            "supervisor.child_started", supervisor=self._label, child=spec.id, ref=repr(proc.ref)
        )

    async def _stop(self, child: _Child, reason: ExitReason = SHUTDOWN) -> None:
        proc = child.proc
        child.proc = None
        child.status = "stopped"
        if proc is None:
            return
        self._by_proc.pop(proc, None)
        if not await stop_process(proc, child.spec.shutdown or 0.0, reason, by=self._label):
            self._abandoned += 1

    async def _stop_reverse(self, children: Iterable[_Child]) -> None:
        for child in reversed(list(children)):
            await self._stop(child)
            if child.spec.restart is Restart.TEMPORARY:
                self._children.pop(child.key, None)

    # -- restart intensity --------------------------------------------------------------

    def _add_restart(self) -> bool:
        """Record a restart; False when more than max_restarts fall within max_seconds."""
        now = self._process.runtime.clock()
        restarts = self._restarts
        restarts.append(now)
        self._restarts_total += 1
        horizon = now - self.max_seconds
        while restarts and restarts[0] < horizon:
            restarts.popleft()
        return len(restarts) <= self.max_restarts

    def _restarts_in_window(self) -> int:
        horizon = self._process.runtime.clock() - self.max_seconds
        return sum(1 for t in self._restarts if t >= horizon)

    # -- exits and restarts -------------------------------------------------------------

    async def handle_info(self, message: Any) -> None:
        if type(message) is Exit:
            child = self._by_proc.pop(message.ref._proc, None)
            if child is not None:
                await self._child_exited(child, message.reason)
            return  # an exit of a process we already stopped ourselves: nothing to do
        if type(message) is _TryAgainRestart:
            child = self._children.get(message.key)
            if child is not None and child.status == "restarting":
                await self._restart(child)
            return
        await super().handle_info(message)

    async def _child_exited(self, child: _Child, reason: ExitReason) -> None:
        child.proc = None
        child.status = "stopped"
        restart = child.spec.restart
        if restart is Restart.PERMANENT or (restart is Restart.TRANSIENT and reason.is_abnormal):
            log.info(
                "supervisor.restarting",
                supervisor=self._label,
                child=child.spec.id,
                reason=repr(reason),
            )
            await self._restart(child)
        elif restart is Restart.TEMPORARY:
            self._children.pop(child.key, None)

    async def _restart(self, child: _Child) -> None:
        if not self._add_restart():
            self._escalated = True
            log.error(
                "supervisor.max_restart_intensity",
                supervisor=self._label,
                child=child.spec.id,
                max_restarts=self.max_restarts,
                max_seconds=self.max_seconds,
                detail="stopping all children and exiting with reason shutdown",
            )
            raise StopActor(SHUTDOWN)
        group = self._restart_group(child)
        try:
            await self._stop_reverse(c for c in group if c.proc is not None)
            group = [c for c in group if c.key in self._children]
            for c in group:
                c.status = "restarting"
            started: list[_Child] = []
            for c in group:
                await self._start(c)
                started.append(c)
        except StartError as exc:
            log.warning(
                "supervisor.restart_failed",
                supervisor=self._label,
                child=child.spec.id,
                reason=repr(exc.reason),
            )
            await self._stop_reverse(c for c in started if c.proc is not None)
            # As OTP: only the child being restarted is "restarting"; the rest of its group is
            # simply stopped (the retry restarts them too) and can be managed by hand meanwhile.
            for c in group:
                c.status = "stopped"
            child.status = "restarting"
            # Retry through our own mailbox, so calls (which_children, shutdown) are served
            # between attempts; each attempt counts towards the restart intensity (OTP).
            self._process.mailbox.put_system(_TryAgainRestart(child.key))

    def _restart_group(self, child: _Child) -> list[_Child]:
        """The children a restart of ``child`` touches, in start order."""
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [child]
        order = list(self._children.values())
        if self.strategy is Strategy.ONE_FOR_ALL:
            return [
                c for c in order if c is child or c.spec.restart is not Restart.TEMPORARY or c.proc
            ]
        idx = order.index(child)
        return order[idx:]

    async def terminate(self, reason: ExitReason) -> None:
        await self._stop_reverse(list(self._children.values()))

    # -- management calls ---------------------------------------------------------------

    async def handle_call(self, request: Any, from_: From) -> Any:
        try:
            return await self._management(request)
        except ChildError as exc:
            return _Failure(exc)
        except StartError as exc:
            return _Failure(exc)

    async def _management(self, request: Any) -> Any:
        if type(request) is _WhichChildren:
            return [c.info() for c in self._children.values()]
        if type(request) is _CountChildren:
            return self._counts()
        raise TypeError(f"{type(self).__name__} got unknown call {request!r}")

    def _counts(self) -> ChildCounts:
        active = restarting = workers = sups = 0
        for c in self._children.values():
            if c.proc is not None:
                active += 1
            if c.status == "restarting":
                restarting += 1
            if c.spec.type is ChildType.SUPERVISOR:
                sups += 1
            else:
                workers += 1
        return ChildCounts(len(self._children), active, restarting, workers, sups)

    def _max_children(self) -> int | None:
        return None

    def _supervisor_statistics(self) -> SupervisorStatistics:
        c = self._counts()
        return SupervisorStatistics(
            strategy=str(self.strategy),
            specs=c.specs,
            active=c.active,
            restarting=c.restarting,
            workers=c.workers,
            supervisors=c.supervisors,
            restarts_total=self._restarts_total,
            restarts_in_window=self._restarts_in_window(),
            max_restarts=self.max_restarts,
            max_seconds=self.max_seconds,
            max_children=self._max_children(),
            abandoned_total=self._abandoned,
            escalated=self._escalated,
        )


class Supervisor(SupervisorBase):
    """A supervisor with a static, ordered list of children.

    Children start in list order and stop in reverse order. If child *k* fails to start, the
    children before it are stopped (in reverse) and the supervisor's start fails with
    ``FailedToStartChild``. Restart intensity is counted per supervisor over all children:
    more than ``max_restarts`` restarts within ``max_seconds`` stop every child and exit the
    supervisor with reason ``shutdown``, for its own parent to handle.
    """

    def __init__(
        self,
        children: Iterable[ChildSpec],
        *,
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
    ) -> None:
        super().__init__(max_restarts=max_restarts, max_seconds=max_seconds)
        self.strategy = Strategy(strategy)
        self._specs = list(children)
        seen: set[Hashable] = set()
        for spec in self._specs:
            if not isinstance(spec, ChildSpec):
                raise TypeError(f"not a ChildSpec: {spec!r}")
            if spec.id in seen:
                raise ValueError(f"duplicate child id {spec.id!r}")
            seen.add(spec.id)

    @classmethod
    def spec(
        cls,
        id: Hashable,
        children: Iterable[ChildSpec],
        *,
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        restart: Restart | str = Restart.PERMANENT,
        shutdown: ShutdownPolicy | None = None,
        name: Hashable | None = None,
    ) -> ChildSpec:
        """A child spec for a nested supervisor (type supervisor, shutdown infinity)."""
        specs = list(children)
        return ChildSpec(
            id=id,
            start=lambda: cls(
                specs, strategy=strategy, max_restarts=max_restarts, max_seconds=max_seconds
            ),
            restart=Restart(restart),
            shutdown=shutdown,
            type=ChildType.SUPERVISOR,
            name=name,
            start_timeout=None,
        )

    async def init(self) -> None:
        started: list[_Child] = []
        for spec in self._specs:
            child = _Child(spec.id, spec)
            self._children[spec.id] = child
            try:
                await self._start(child)
            except StartError as exc:
                log.error(
                    "supervisor.start_failed",
                    supervisor=self._label,
                    child=spec.id,
                    reason=repr(exc.reason),
                )
                await self._stop_reverse(started)
                raise FailedToStartChild(spec.id, exc.reason) from exc
            if child.proc is None and spec.restart is Restart.TEMPORARY:
                del self._children[spec.id]  # ignored temporary child: nothing to keep
            started.append(child)

    async def _management(self, request: Any) -> Any:
        kind = type(request)
        if kind is _StartChild:
            spec = request.spec
            existing = self._children.get(spec.id)
            if existing is not None:
                if existing.proc is not None:
                    raise AlreadyStarted(spec.id, existing.proc.ref)
                raise AlreadyPresent(spec.id)
            child = _Child(spec.id, spec)
            await self._start(child)
            if child.proc is not None or spec.restart is not Restart.TEMPORARY:
                self._children[spec.id] = child
            return child.proc.ref if child.proc is not None else None
        if kind is _TerminateChild:
            child = self._get(request.key)
            await self._stop(child)
            if child.spec.restart is Restart.TEMPORARY:
                del self._children[child.key]
            return None
        if kind is _RestartChild:
            child = self._get(request.key)
            self._check_not_running(child)
            await self._start(child)
            return child.proc.ref if child.proc is not None else None
        if kind is _DeleteChild:
            child = self._get(request.key)
            self._check_not_running(child)
            del self._children[child.key]
            return None
        return await super()._management(request)

    def _get(self, key: object) -> _Child:
        if isinstance(key, Hashable):
            child = self._children.get(key)
            if child is not None:
                return child
        raise ChildNotFound(key)

    @staticmethod
    def _check_not_running(child: _Child) -> None:
        if child.proc is not None:
            raise ChildRunning(child.key)
        if child.status == "restarting":
            raise ChildRestarting(child.key)


# -- management API ---------------------------------------------------------------------------


async def _manage(sup: Target, request: object) -> Any:
    result = await call(sup, request, timeout=None)
    if isinstance(result, _Failure):
        raise result.error
    return result


async def which_children(sup: Target) -> list[ChildInfo]:
    """Every child in start order, with its ref (None when not running) and status."""
    result: list[ChildInfo] = await _manage(sup, _WhichChildren())
    return result


async def count_children(sup: Target) -> ChildCounts:
    result: ChildCounts = await _manage(sup, _CountChildren())
    return result


async def start_child(sup: Target, spec: ChildSpec) -> ActorRef | None:
    """Add and start a child; returns its ref (None if its ``init`` raised ``Ignore``).

    Raises ``AlreadyStarted``/``AlreadyPresent`` for a taken id, ``MaxChildren`` for a full
    ``DynamicSupervisor``, and ``StartError`` if it fails to start (the spec is not kept).
    """
    result: ActorRef | None = await _manage(sup, _StartChild(spec))
    return result


async def terminate_child(sup: Target, child: Hashable | ActorRef) -> None:
    """Stop a child (by id, or by ref for a ``DynamicSupervisor``). Its spec is kept, except
    for temporary children and dynamic children, which are removed."""
    await _manage(sup, _TerminateChild(child))


async def restart_child(sup: Target, child_id: Hashable) -> ActorRef | None:
    """Start a stopped child again from its kept spec."""
    result: ActorRef | None = await _manage(sup, _RestartChild(child_id))
    return result


async def delete_child(sup: Target, child_id: Hashable) -> None:
    """Remove the spec of a stopped child."""
    await _manage(sup, _DeleteChild(child_id))
