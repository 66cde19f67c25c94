"""Where a dashboard's data comes from and where its commands go.

A :class:`DashboardSource` yields, in order of arrival, what the learner publishes
(:class:`~exphil.wire.Metrics` snapshots about once a second, one
:class:`~exphil.wire.UpdateRecord` per PPO update, :class:`~exphil.wire.Event` s), the
:class:`~exphil.wire.Watching` answer once per (re)connection (the run's history so far), and
:class:`Connection` changes. The dashboard never writes to the run except through
:meth:`DashboardSource.control`. Two sources exist: the learner in this process
(``exphil selfplay``'s foreground) and a remote learner (``exphil dashboard --connect``);
tests replay a recorded stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from exphil.wire import ControlReply, Event, Metrics, UpdateRecord, Watching

__all__ = ["Connection", "DashboardItem", "DashboardSource"]


@dataclass(frozen=True)
class Connection:
    """The link to the learner: ``connecting`` (no answer yet, or lost and retrying: ``detail``
    says why), ``live`` (attached). "Stale" is the dashboard's own judgement: live, but no
    metrics for a while."""

    state: Literal["connecting", "live"]
    detail: str = ""


DashboardItem = Metrics | UpdateRecord | Event | Watching | Connection


class DashboardSource(Protocol):
    #: what the header names: the learner's endpoint, or "this process"
    label: str
    #: True when the dashboard is the foreground of ``exphil selfplay``: closing it can stop
    #: the run or only detach (the run goes on, headless); False: closing only detaches
    embedded: bool

    def items(self) -> AsyncIterator[DashboardItem]:
        """Everything the dashboard shows, as it arrives, until :meth:`aclose`."""
        ...

    async def control(self, action: Literal["checkpoint", "stop"]) -> ControlReply:
        """Ask the learner to checkpoint now (after the current update) or stop the run."""
        ...

    async def aclose(self) -> None: ...
