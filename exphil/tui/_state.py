"""What a dashboard knows about a run: :class:`DashboardState` folds the items of a
:class:`~exphil.tui.DashboardSource` in (pure Python, no Textual: the app and the headless
printer share it).

It keeps the last :class:`~exphil.wire.Metrics`, one :class:`~exphil.wire.UpdateRecord` per
policy version (the loss curves, the win rates against the anchors), the last events, the
connection, and when the last Metrics came (its own clock) to judge staleness.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from exphil.tui._source import Connection, DashboardItem
from exphil.wire import Event, Metrics, UpdateRecord, Watching

__all__ = ["LOSS_KEYS", "Changes", "DashboardState", "Link", "Summary", "downsample"]

#: the loss curves a dashboard draws, in order
LOSS_KEYS: Final = (
    "policy_loss",
    "value_loss",
    "entropy",
    "teacher_kl",
    "approx_kl",
    "explained_variance",
)

Link = Literal["connecting", "live", "stale", "finished", "ended"]


def downsample(values: Sequence[float], width: int) -> list[float]:
    """``values`` as at most ``width`` points: unchanged when they fit, else cut into
    ``width // 2`` buckets of (nearly) equal length, each kept as its minimum and maximum in
    the order they occur, so a one-update spike survives any width. ``width`` 1: the
    maximum only; below 1: nothing."""
    n = len(values)
    if width < 1:
        return []
    if n <= width:
        return list(values)
    if width == 1:
        return [max(values)]
    buckets = width // 2
    out: list[float] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        chunk = values[lo:hi]
        i_min = min(range(len(chunk)), key=chunk.__getitem__)
        i_max = max(range(len(chunk)), key=chunk.__getitem__)
        first, second = sorted((i_min, i_max))
        out.append(chunk[first])
        if second != first:
            out.append(chunk[second])
    return out


def _same(a: UpdateRecord, b: UpdateRecord) -> bool:
    """The same update (not ``==``: a NaN loss never equals itself)."""
    return (a.version, a.frames, a.time) == (b.version, b.frames, b.time)


@dataclass(frozen=True)
class Summary:
    """One line's worth of the run, for the status line and the headless printer.

    ``link``: ``connecting`` (``detail`` says why), ``live``, ``stale`` (live, but no
    Metrics for ``staleness`` seconds, more than ``stale_after``), ``finished`` (the last
    Metrics said so) or ``ended`` (the source has nothing more to give)."""

    run: str
    label: str
    version: int
    max_updates: int
    frames: int
    env_fps: float
    losses: dict[str, float]
    link: Link
    detail: str
    staleness: float | None

    @property
    def link_text(self) -> str:
        """``connecting… (learner gone)``, ``live``, ``stale for 12 s``, ``finished``."""
        if self.link == "connecting":
            return "connecting…" + (f" ({self.detail})" if self.detail else "")
        if self.link == "stale":
            return f"stale for {int(self.staleness or 0)} s"
        if self.link == "ended":
            return "ended" + (f" ({self.detail})" if self.detail else "")
        return self.link


@dataclass
class Changes:
    """What the last :meth:`DashboardState.fold` s touched (the app redraws only that)."""

    metrics: bool = False
    history: bool = False
    events: bool = False
    connection: bool = False

    def any(self) -> bool:
        return self.metrics or self.history or self.events or self.connection


@dataclass
class DashboardState:
    """Everything a dashboard shows, folded in from a source's items (:meth:`fold`).

    ``max_events``: the events kept (oldest dropped); ``max_history``: the update records
    kept; ``clock``: seconds for staleness (``time.monotonic``; tests pass a fake)."""

    max_events: int = 500
    max_history: int = 20_000
    clock: Callable[[], float] = time.monotonic
    run: str = ""
    metrics: Metrics | None = None
    connection: Connection = field(default_factory=lambda: Connection("connecting"))
    ended: bool = False
    #: when (``clock``) the last Metrics arrived; None before the first
    metrics_at: float | None = None
    #: when (``clock``) the connection last became live
    live_since: float | None = None
    history: list[UpdateRecord] = field(default_factory=list)  # by version, ascending
    events: deque[Event] = field(default_factory=deque)
    #: events appended since the start, and how many times the events were rebuilt (merged
    #: with a reconnection's): a log appends the last ``events_added - shown`` events
    events_added: int = 0
    events_reset: int = 0
    #: messages folded in, per kind (tests and the headless printer use them)
    counts: dict[str, int] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)

    def __post_init__(self) -> None:
        if self.max_events < 1 or self.max_history < 1:
            raise ValueError("max_events and max_history must be at least 1")
        self._event_keys: set[tuple[float, str, str]] = set()

    # --- folding --------------------------------------------------------------------------

    def fold(self, item: DashboardItem) -> None:
        """Take one item from the source into account."""
        kind = type(item).__name__
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if isinstance(item, Metrics):
            self.metrics = item
            self.metrics_at = self.clock()
            self.run = item.run
            self.changes.metrics = True
        elif isinstance(item, UpdateRecord):
            self._add_record(item)
        elif isinstance(item, Event):
            self.add_event(item)
        elif isinstance(item, Watching):
            self.run = item.run or self.run
            self._merge_history(item.history)
            self._merge_events(item.events)
        elif isinstance(item, Connection):
            if item.state == "live" and self.connection.state != "live":
                self.live_since = self.clock()
            self.connection = item
            self.ended = False
            self.changes.connection = True
        else:  # pragma: no cover - the protocol allows nothing else
            raise TypeError(f"not a dashboard item: {item!r}")

    def end(self, detail: str = "") -> None:
        """The source ended: nothing more will come."""
        self.ended = True
        self.connection = Connection(self.connection.state, detail)
        self.changes.connection = True

    def take_changes(self) -> Changes:
        """What changed since the last call (and forget it)."""
        changes, self.changes = self.changes, Changes()
        return changes

    def _add_record(self, r: UpdateRecord) -> None:
        h = self.history
        if not h or r.version > h[-1].version:
            h.append(r)
        else:
            i = bisect.bisect_left(h, r.version, key=lambda x: x.version)
            if i < len(h) and _same(h[i], r):
                return  # already known (a Watching history and live records overlap)
            # the same or an earlier version, different: the run was resumed from an earlier
            # checkpoint; what came after that point is another timeline
            del h[i:]
            h.append(r)
        if len(h) > self.max_history:
            del h[: len(h) - self.max_history]
        self.changes.history = True

    def _merge_history(self, records: Sequence[UpdateRecord]) -> None:
        """A (re)connection's history: the learner's word from its first version on."""
        if not records:
            return
        first = records[0].version
        kept = [r for r in self.history if r.version < first]
        by_version = {r.version: r for r in records}  # oldest first: the last one wins
        self.history = (kept + sorted(by_version.values(), key=lambda r: r.version))[
            -self.max_history :
        ]
        self.changes.history = True

    def add_event(self, e: Event) -> None:
        """One event (also the dashboard's own: a control's reply); a known one is skipped."""
        key = (e.time, e.kind, e.text)
        if key in self._event_keys:
            return
        if len(self.events) >= self.max_events:
            old = self.events.popleft()
            self._event_keys.discard((old.time, old.kind, old.text))
        self.events.append(e)
        self._event_keys.add(key)
        self.events_added += 1
        self.changes.events = True

    def _merge_events(self, events: Iterable[Event]) -> None:
        new = [e for e in events if (e.time, e.kind, e.text) not in self._event_keys]
        if not new:
            return
        merged = sorted([*self.events, *new], key=lambda e: e.time)[-self.max_events :]
        self.events = deque(merged)
        self._event_keys = {(e.time, e.kind, e.text) for e in merged}
        self.events_added += len(new)
        self.events_reset += 1
        self.changes.events = True

    # --- reading --------------------------------------------------------------------------

    def series(self, key: str) -> list[float]:
        """One loss (``policy_loss``...) over the updates kept, oldest first; updates where it
        is missing or not finite (a value warm-up's policy loss) are skipped."""
        out = []
        for r in self.history:
            v = r.losses.get(key)
            if v is not None and math.isfinite(v):
                out.append(v)
        return out

    def reward_series(self) -> list[float]:
        return [r.reward_per_frame for r in self.history if math.isfinite(r.reward_per_frame)]

    def anchor_series(self) -> dict[str, list[float]]:
        """The win rate against each anchor over the updates (from the first update that
        knew of it), by anchor name in order of appearance."""
        out: dict[str, list[float]] = {}
        for r in self.history:
            for name, rate in r.anchors.items():
                if math.isfinite(rate):
                    out.setdefault(name, []).append(rate)
        return out

    def staleness(self) -> float | None:
        """Seconds without Metrics while live (counted from when it became live if none came
        since); None when not live."""
        if self.connection.state != "live" or self.ended:
            return None
        marks = [t for t in (self.metrics_at, self.live_since) if t is not None]
        if not marks:
            return None
        return max(0.0, self.clock() - max(marks))

    def summary(self, stale_after: float = 5.0, label: str = "") -> Summary:
        m = self.metrics
        stale = self.staleness()
        link: Link
        if m is not None and m.finished:
            link = "finished"
        elif self.ended:
            link = "ended"
        elif self.connection.state == "connecting":
            link = "connecting"
        elif stale is not None and stale > stale_after:
            link = "stale"
        else:
            link = "live"
        return Summary(
            run=self.run,
            label=label,
            version=m.version if m else (self.history[-1].version if self.history else 0),
            max_updates=m.max_updates if m else 0,
            frames=m.frames if m else (self.history[-1].frames if self.history else 0),
            env_fps=m.env_fps if m else 0.0,
            losses=dict(m.losses) if m else (dict(self.history[-1].losses) if self.history else {}),
            link=link,
            detail=self.connection.detail,
            staleness=stale,
        )
