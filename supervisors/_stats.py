"""Read-only snapshots returned by ``statistics()`` (the dashboard shows these)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["ActorStatistics", "SupervisorStatistics", "RuntimeStatistics"]


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    strategy: str
    specs: int
    active: int
    restarting: int
    workers: int
    supervisors: int
    restarts_total: int
    restarts_in_window: int
    max_restarts: int
    max_seconds: float
    max_children: int | None
    abandoned_total: int
    escalated: bool


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    id: int
    name: Hashable | None
    actor: str
    state: str  # "starting" | "running" | "stopping" | "dead"
    mailbox_depth: int
    mailbox_capacity: int
    mailbox_high_water: int
    waiting_senders: int
    """Callers waiting for room in the mailbox (casts and infos never wait)."""
    mailbox_overflow: str
    """The overflow policy: ``grow``, ``drop_newest`` or ``drop_oldest``."""
    mailbox_overflowed: int
    """Casts/infos that arrived at a full mailbox (and remote deliveries past the capacity)."""
    mailbox_dropped: int
    """Casts/infos dropped by the overflow policy."""
    messages_processed: int
    pending_calls: int
    links: int
    monitors: int
    monitored_by: int
    uptime: float
    supervisor: SupervisorStatistics | None = None


@dataclass(frozen=True, slots=True)
class RuntimeStatistics:
    alive: int
    spawned_total: int
    exited_total: int
    crashed_total: int
    abandoned_total: int
    registered_names: int
    timers_active: int = 0
    crash_reports_summarised: int = 0
