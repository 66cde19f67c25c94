"""Exceptions raised by the runtime."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisors._actor import ActorRef
    from supervisors._links import ExitReason

__all__ = [
    "ActorError",
    "NoProcess",
    "CallTimeout",
    "ActorExited",
    "AlreadyRegistered",
    "StartError",
    "FailedToStartChild",
    "ChildError",
    "AlreadyStarted",
    "AlreadyPresent",
    "ChildNotFound",
    "ChildRunning",
    "ChildRestarting",
    "MaxChildren",
]


class ActorError(Exception):
    """Base class of every error the runtime raises."""


class NoProcess(ActorError):
    """The target is dead, or no actor is registered under that name (OTP ``noproc``)."""

    def __init__(self, target: object) -> None:
        super().__init__(f"no process: {target!r}")
        self.target = target


class CallTimeout(ActorError, TimeoutError):
    """``call()`` got no reply in time. A reply that arrives later is discarded."""

    def __init__(self, target: object, timeout: float) -> None:
        super().__init__(f"call to {target!r} timed out after {timeout:g} s")
        self.target = target
        self.timeout = timeout


class ActorExited(ActorError):
    """The server stopped before it replied; ``reason`` is its exit reason."""

    def __init__(self, target: object, reason: ExitReason) -> None:
        super().__init__(f"{target!r} exited before replying: {reason!r}")
        self.target = target
        self.reason = reason


class AlreadyRegistered(ActorError):
    """The name is taken by a live actor."""

    def __init__(self, name: Hashable, owner: ActorRef) -> None:
        super().__init__(f"name {name!r} is already registered to {owner!r}")
        self.name = name
        self.owner = owner


class StartError(ActorError):
    """An actor failed to start: its ``init`` raised, timed out, or asked to be ignored."""

    def __init__(self, reason: ExitReason, *, ignored: bool = False, what: str = "actor") -> None:
        msg = f"{what} ignored its start" if ignored else f"{what} failed to start: {reason!r}"
        super().__init__(msg)
        self.reason = reason
        self.ignored = ignored


class FailedToStartChild(StartError):
    """A supervisor could not start child ``child_id``; the children before it were stopped."""

    def __init__(self, child_id: Hashable, reason: ExitReason) -> None:
        super().__init__(reason, what=f"child {child_id!r}")
        self.child_id = child_id


class ChildError(ActorError):
    """A supervisor refused a child-management request."""


class AlreadyStarted(ChildError):
    def __init__(self, child_id: Hashable, ref: ActorRef) -> None:
        super().__init__(f"child {child_id!r} is already started as {ref!r}")
        self.child_id = child_id
        self.ref = ref


class AlreadyPresent(ChildError):
    def __init__(self, child_id: Hashable) -> None:
        super().__init__(f"child {child_id!r} is already present (not running)")
        self.child_id = child_id


class ChildNotFound(ChildError):
    def __init__(self, child_id: object) -> None:
        super().__init__(f"no child {child_id!r}")
        self.child_id = child_id


class ChildRunning(ChildError):
    def __init__(self, child_id: Hashable) -> None:
        super().__init__(f"child {child_id!r} is running")
        self.child_id = child_id


class ChildRestarting(ChildError):
    def __init__(self, child_id: Hashable) -> None:
        super().__init__(f"child {child_id!r} is restarting")
        self.child_id = child_id


class MaxChildren(ChildError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"max_children ({limit}) reached")
        self.limit = limit
