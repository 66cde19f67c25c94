"""Test helpers: a :class:`~exphil.tui.DashboardSource` that replays a recorded stream
(``data/stream.jsonl``, written by ``record_stream.py``), with scripted controls."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import anyio
import msgspec

from exphil.tui import Connection, DashboardItem
from exphil.wire import METRICS_TYPES, ControlReply, Event, Metrics, UpdateRecord

__all__ = ["STREAM", "Recorded", "ReplaySource", "load_stream"]

T = TypeVar("T", Metrics, UpdateRecord, Event)
STREAM = Path(__file__).resolve().parent / "data" / "stream.jsonl"


class _Row(msgspec.Struct):
    t: float
    topic: str
    item: Metrics | UpdateRecord | Event


@dataclass(frozen=True)
class Recorded:
    """The recorded stream: ``(seconds since start, item)`` in order of arrival."""

    rows: list[tuple[float, Metrics | UpdateRecord | Event]]

    @property
    def items(self) -> list[Metrics | UpdateRecord | Event]:
        return [item for _, item in self.rows]

    def of(self, kind: type[T]) -> list[T]:
        return [item for item in self.items if isinstance(item, kind)]

    @property
    def last_metrics(self) -> Metrics:
        return [item for item in self.items if isinstance(item, Metrics)][-1]

    @property
    def records(self) -> list[UpdateRecord]:
        return [item for item in self.items if isinstance(item, UpdateRecord)]


def load_stream(path: Path = STREAM) -> Recorded:
    decoder = msgspec.json.Decoder(_Row)
    rows = []
    for line in path.read_bytes().splitlines():
        row = decoder.decode(line)
        assert isinstance(row.item, METRICS_TYPES)
        rows.append((row.t, row.item))
    return Recorded(rows)


class ReplaySource:
    """Yields ``items`` (``times``: when, in recorded seconds, scaled by ``speed``; without
    them, or with ``speed`` 0, as fast as the consumer takes them), then what :meth:`feed`
    gives it, until :meth:`aclose` (or, with ``hold=False``, ends after the items).

    ``replies``: what :meth:`control` answers per action (a :class:`ControlReply`, or an
    exception to raise); every call is recorded in ``calls``."""

    def __init__(
        self,
        items: Sequence[DashboardItem],
        *,
        times: Sequence[float] | None = None,
        speed: float = 0.0,
        hold: bool = True,
        replies: dict[str, ControlReply | BaseException] | None = None,
        embedded: bool = False,
        label: str = "replay",
    ) -> None:
        self._items = list(items)
        self._times = list(times) if times is not None else None
        self.speed = speed
        self.hold = hold
        self.replies = replies or {}
        self.embedded = embedded
        self.label = label
        self.calls: list[str] = []
        self.yielded = 0
        self.replayed = False
        self.closed = False
        self._fed: deque[DashboardItem] = deque()
        self._wake: anyio.Event | None = None
        self._replayed: anyio.Event | None = None

    @classmethod
    def recorded(
        cls, recorded: Recorded | None = None, *, running: bool = False, **kwargs: object
    ) -> ReplaySource:
        """The recorded stream as a live connection would bring it (``running``: without its
        last, "finished" snapshot: a run still going)."""
        rec = recorded or load_stream()
        items: list[DashboardItem] = [Connection("connecting", "replay"), Connection("live")]
        rest = [i for i in rec.items if not (running and isinstance(i, Metrics) and i.finished)]
        return cls([*items, *rest], **kwargs)  # type: ignore[arg-type]

    def feed(self, *items: DashboardItem) -> None:
        """More items, after the replay (tests of live changes)."""
        self._fed.extend(items)
        if self._wake is not None:
            self._wake.set()

    async def items(self) -> AsyncIterator[DashboardItem]:
        start = anyio.current_time()
        for i, item in enumerate(self._items):
            if self._times is not None and self.speed > 0:
                await anyio.sleep_until(start + self._times[i] / self.speed)
            else:
                await anyio.lowlevel.checkpoint()
            self.yielded += 1
            yield item
        self.replayed = True
        self._replayed_event().set()
        while self.hold and not self.closed:
            while self._fed:
                self.yielded += 1
                yield self._fed.popleft()
            self._wake = anyio.Event()
            await self._wake.wait()

    def _replayed_event(self) -> anyio.Event:
        if self._replayed is None:
            self._replayed = anyio.Event()
        return self._replayed

    async def wait_replayed(self) -> None:
        """Until every recorded item was taken (call it in the consumer's event loop)."""
        await self._replayed_event().wait()

    async def control(self, action: Literal["checkpoint", "stop"]) -> ControlReply:
        self.calls.append(action)
        await anyio.lowlevel.checkpoint()
        reply = self.replies.get(action, ControlReply(ok=True, text=f"{action}: done"))
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def aclose(self) -> None:
        self.closed = True
        if self._wake is not None:
            self._wake.set()
