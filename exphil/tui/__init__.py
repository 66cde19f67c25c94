"""The ExPhil dashboard: a Textual app over a run's live metrics (``exphil dashboard``, and
the foreground of ``exphil selfplay``), and a plain-line printer for when there is no
terminal. See docs/dashboard.md."""

from __future__ import annotations

from exphil.tui._app import DashboardApp
from exphil.tui._headless import print_summaries
from exphil.tui._source import Connection, DashboardItem, DashboardSource
from exphil.tui._sources import InProcessSource, RemoteSource
from exphil.tui._state import DashboardState, Summary, downsample

__all__ = [
    "Connection",
    "DashboardApp",
    "DashboardItem",
    "DashboardSource",
    "DashboardState",
    "InProcessSource",
    "RemoteSource",
    "Summary",
    "downsample",
    "print_summaries",
]
