"""Exit reasons, and the messages that links and monitors deliver.

Exit reasons are small immutable values, as in OTP:

=====================  ==========================  ==================  =======================
reason                 OTP term                    restarts transient  propagates through links
=====================  ==========================  ==================  =======================
``Normal()``           ``normal``                  no                  no
``Shutdown()``         ``shutdown``                no                  yes
``Shutdown(term)``     ``{shutdown, Term}``        no                  yes
``Crash(exc)``         any other term              yes                 yes
``Killed()``           ``killed``                  yes                 yes
``NoProc()``           ``noproc``                  yes                 yes
``NoConnection(node)`` ``noconnection``            yes                 yes
=====================  ==========================  ==================  =======================
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from supervisors._actor import ActorRef, RemoteTarget

__all__ = [
    "ExitReason",
    "Normal",
    "Shutdown",
    "Crash",
    "Killed",
    "NoProc",
    "NoConnection",
    "NORMAL",
    "SHUTDOWN",
    "KILLED",
    "NOPROC",
    "Exit",
    "Down",
    "MonitorRef",
]


class ExitReason:
    """Why an actor stopped. Compare with ``==`` or ``isinstance``."""

    __slots__ = ()

    @property
    def is_normal(self) -> bool:
        """``normal``: does not propagate through links, is not logged as an error."""
        return False

    @property
    def is_shutdown(self) -> bool:
        """``shutdown`` or ``shutdown(term)``: an orderly stop requested by someone."""
        return False

    @property
    def is_abnormal(self) -> bool:
        """Anything but normal or shutdown: a transient child is restarted for it."""
        return not (self.is_normal or self.is_shutdown)


@dataclass(frozen=True, slots=True)
class Normal(ExitReason):
    """The actor finished its work."""

    @property
    def is_normal(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "normal"


@dataclass(frozen=True, slots=True)
class Shutdown(ExitReason):
    """An orderly stop; ``Shutdown(term)`` carries extra information (OTP ``{shutdown, Term}``)."""

    term: object = None

    @property
    def is_shutdown(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "shutdown" if self.term is None else f"shutdown({self.term!r})"


@dataclass(frozen=True, slots=True, eq=False)
class Crash(ExitReason):
    """The actor raised ``exception``."""

    exception: BaseException

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Crash) and other.exception is self.exception

    def __hash__(self) -> int:
        return id(self.exception)

    def __repr__(self) -> str:
        return f"crash({type(self.exception).__name__}: {self.exception})"


@dataclass(frozen=True, slots=True)
class Killed(ExitReason):
    """The actor was killed without a chance to clean up (``kill()`` or ``brutal_kill``)."""

    def __repr__(self) -> str:
        return "killed"


@dataclass(frozen=True, slots=True)
class NoProc(ExitReason):
    """The target of a monitor or link did not exist (or was already dead)."""

    def __repr__(self) -> str:
        return "noproc"


@dataclass(frozen=True, slots=True)
class NoConnection(ExitReason):
    """The node that hosts a remote actor went down or was cut off (Erlang ``noconnection``).

    The actor itself may still be alive; this node can no longer see it.
    """

    node: str

    def __repr__(self) -> str:
        return f"noconnection({self.node})"


NORMAL: Final = Normal()
SHUTDOWN: Final = Shutdown()
KILLED: Final = Killed()
NOPROC: Final = NoProc()

_monitor_ids = itertools.count(1)


class MonitorRef:
    """The handle ``monitor()`` returns; ``Down.monitor`` carries the same object."""

    __slots__ = ("id",)

    def __init__(self) -> None:
        self.id = next(_monitor_ids)

    def __repr__(self) -> str:
        return f"<MonitorRef #{self.id}>"


@dataclass(frozen=True, slots=True)
class Exit:
    """A trapped exit signal: a linked actor stopped (delivered to ``handle_info``)."""

    ref: ActorRef
    reason: ExitReason


@dataclass(frozen=True, slots=True)
class Down:
    """A monitored actor stopped, or did not exist (``reason == NOPROC``).

    ``ref`` is ``None`` when the monitored name resolved to nothing; for a remote actor it is
    the ``RemoteRef`` that was monitored.
    """

    monitor: MonitorRef
    ref: ActorRef | RemoteTarget | None
    reason: ExitReason
