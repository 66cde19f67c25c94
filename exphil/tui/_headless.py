"""The dashboard without a terminal: a summary line every few seconds, events as they come.

For a dashboard whose output is a pipe or a log file (``exphil dashboard`` when stdout is not
a TTY): human lines, or JSON objects (one per line) a program can read.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import anyio

from exphil.tui._source import Connection, DashboardSource
from exphil.tui._state import LOSS_KEYS, DashboardState, Summary
from exphil.wire import Event, Metrics, Watching

__all__ = ["print_summaries", "summary_line", "summary_record"]

_SHORT = {"policy_loss": "policy", "value_loss": "value", "entropy": "entropy",
          "teacher_kl": "teacher_kl", "approx_kl": "kl", "explained_variance": "ev"}  # fmt: skip


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def summary_record(s: Summary) -> dict[str, Any]:
    """The JSON object of a summary (non-finite numbers become null)."""
    return {
        "kind": "summary",
        "run": s.run,
        "version": s.version,
        "max_updates": s.max_updates,
        "frames": s.frames,
        "env_fps": _finite(s.env_fps),
        "losses": {k: _finite(v) for k, v in s.losses.items()},
        "link": s.link,
        "detail": s.detail,
        "staleness_s": None if s.staleness is None else round(s.staleness, 1),
    }


def summary_line(s: Summary) -> str:
    """``update 7/8  frames 28,672  3,052 fps  policy -0.004669  value 0.1856 ...  live``"""
    parts = [f"update {s.version}/{s.max_updates}" if s.max_updates else f"update {s.version}",
             f"frames {s.frames:,}", f"{s.env_fps:,.0f} fps"]  # fmt: skip
    for key in LOSS_KEYS:
        v = s.losses.get(key)
        if v is not None and math.isfinite(v):
            parts.append(f"{_SHORT[key]} {v:.4g}")
    parts.append(s.link_text)
    return "  ".join(parts)


def _event_record(e: Event) -> dict[str, Any]:
    return {"kind": "event", "event": e.kind, "time": e.time, "text": e.text}


def _event_line(e: Event) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(e.time))
    return f"{stamp}  {e.kind:<12} {e.text}"


async def print_summaries(
    source: DashboardSource,
    *,
    json_lines: bool,
    every: float = 5.0,
    out: TextIO | None = None,
    stale_after: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
) -> Summary:
    """Print ``source`` as lines on ``out`` (default ``sys.stdout``): a summary every
    ``every`` seconds (update, frames, fps, losses, connection or staleness), each event and
    each connection change as it comes, and a last summary when the source ends or the run
    has finished (then it returns that summary). ``json_lines``: JSON objects instead
    (``{"kind": "summary" | "event" | "connection" | "attached", ...}``). The history a
    (re)connection brings is summed up in one line, not replayed."""
    stream = out if out is not None else sys.stdout
    state = DashboardState(clock=clock)

    def emit(record: dict[str, Any], line: str) -> None:
        stream.write((json.dumps(record) if json_lines else line) + "\n")
        stream.flush()

    def summary() -> Summary:
        s = state.summary(stale_after, label=source.label)
        emit(summary_record(s), summary_line(s))
        return s

    async def ticker() -> None:
        while True:
            await anyio.sleep(every)
            summary()

    items = source.items()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            async for item in items:
                state.fold(item)
                if isinstance(item, Event):
                    emit(_event_record(item), _event_line(item))
                elif isinstance(item, Connection):
                    s = state.summary(stale_after)
                    emit({"kind": "connection", "state": item.state, "detail": item.detail},
                         f"connection: {s.link_text}")  # fmt: skip
                elif isinstance(item, Watching):
                    emit({"kind": "attached", "run": item.run, "metrics": item.metrics,
                          "updates": len(item.history), "events": len(item.events)},
                         f"attached to {item.run}: {len(item.history)} updates, "
                         f"{len(item.events)} events so far")  # fmt: skip
                elif isinstance(item, Metrics) and item.finished:
                    break
            tg.cancel_scope.cancel()
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()
    if not (state.metrics is not None and state.metrics.finished):
        state.end("the source ended")
    return summary()
