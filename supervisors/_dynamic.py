"""DynamicSupervisor: children added at run time, one_for_one, stopped in parallel."""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from typing import Any

import structlog

from supervisors._actor import ActorRef
from supervisors._errors import ChildError, ChildNotFound, MaxChildren
from supervisors._links import ExitReason
from supervisors._supervisor import (
    ChildSpec,
    ChildType,
    Restart,
    ShutdownPolicy,
    Strategy,
    SupervisorBase,
    _Child,
    _DeleteChild,
    _RestartChild,
    _StartChild,
    _TerminateChild,
    stop_processes_parallel,
)

__all__ = ["DynamicSupervisor"]

log = structlog.get_logger("supervisors")


class DynamicSupervisor(SupervisorBase):
    """Starts children on demand (``start_child``); each is restarted on its own (one_for_one).

    ``max_children`` bounds how many it holds (``MaxChildren`` beyond). On shutdown every child
    is cancelled at once and all of them share one timer — the longest grace period among them —
    so stopping N children takes about the slowest child's time, not the sum. Children are
    addressed by ref: ``terminate_child(sup, ref)``. After a restart of the dynamic supervisor
    itself, it starts empty (dynamic children are not re-created, as in OTP).
    """

    strategy = Strategy.ONE_FOR_ONE

    def __init__(
        self, *, max_children: int | None = None, max_restarts: int = 3, max_seconds: float = 5.0
    ) -> None:
        super().__init__(max_restarts=max_restarts, max_seconds=max_seconds)
        if max_children is not None and max_children < 0:
            raise ValueError(f"max_children must be >= 0, not {max_children}")
        self.max_children = max_children
        self._keys = itertools.count()

    @classmethod
    def spec(
        cls,
        id: Hashable,
        *,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        restart: Restart | str = Restart.PERMANENT,
        shutdown: ShutdownPolicy | None = None,
        name: Hashable | None = None,
    ) -> ChildSpec:
        """A child spec for a dynamic supervisor inside another supervisor."""
        return ChildSpec(
            id=id,
            start=lambda: cls(
                max_children=max_children, max_restarts=max_restarts, max_seconds=max_seconds
            ),
            restart=Restart(restart),
            shutdown=shutdown,
            type=ChildType.SUPERVISOR,
            name=name,
            start_timeout=None,
        )

    def _max_children(self) -> int | None:
        return self.max_children

    async def _management(self, request: Any) -> Any:
        kind = type(request)
        if kind is _StartChild:
            if self.max_children is not None and len(self._children) >= self.max_children:
                raise MaxChildren(self.max_children)
            child = _Child(next(self._keys), request.spec)
            await self._start(child)
            if child.proc is None:
                return None  # ignored: a dynamic child that is not running is not kept
            self._children[child.key] = child
            return child.proc.ref
        if kind is _TerminateChild:
            ref = request.key
            found = self._by_proc.get(ref._proc) if isinstance(ref, ActorRef) else None
            if found is None:
                raise ChildNotFound(ref)
            await self._stop(found)
            del self._children[found.key]
            return None
        if kind in (_RestartChild, _DeleteChild):
            raise ChildError("a DynamicSupervisor supports neither restart_child nor delete_child")
        return await super()._management(request)

    async def _child_exited(self, child: _Child, reason: ExitReason) -> None:
        await super()._child_exited(child, reason)
        if child.key in self._children and child.status == "stopped":
            del self._children[child.key]  # transient child that ended normally: forget it

    async def terminate(self, reason: ExitReason) -> None:
        items = [
            (c.proc, c.spec.shutdown or 0.0) for c in self._children.values() if c.proc is not None
        ]
        for c in self._children.values():
            if c.proc is not None:
                self._by_proc.pop(c.proc, None)
            c.proc = None
            c.status = "stopped"
        self._children.clear()
        self._abandoned += await stop_processes_parallel(items, by=self._label)
