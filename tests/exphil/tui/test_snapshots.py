"""SVG snapshots of the Training, League and Nodes tabs on the recorded stream (120x40, the
clock frozen). After a deliberate change of the layout, review and regenerate them:
``.venv/bin/python -m pytest tests/exphil/tui/test_snapshots.py --snapshot-update``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from exphil.tui import DashboardApp
from exphil.tui._panels import SeriesRow

from .replay import ReplaySource

pytestmark = pytest.mark.timeout(60)

SIZE = (120, 40)
TABS = ("training", "league", "nodes")


async def _until(pilot: Pilot[Any], cond: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 20.0  # generous: the machine may be busy
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


@pytest.mark.parametrize("tab", TABS)
def test_tab_snapshot(snap_compare: Any, tab: str) -> None:
    source = ReplaySource.recorded()
    app = DashboardApp(source, clock=lambda: 1000.0)
    app.refresh_interval = 0.02

    async def shown(pilot: Pilot[Any]) -> None:
        await _until(pilot, lambda: source.replayed and not app.state.changes.any(), "the replay")
        await pilot.press(str(TABS.index(tab) + 1))
        panel = app.panel(tab)
        await _until(pilot, lambda: panel.redraws > 0 and tab not in app._dirty, "a redraw")
        await _until(pilot, lambda: all(r.values for r in panel.query(SeriesRow)), "sparklines")
        await pilot.pause(0.1)
        # the footer recomposes after a key changes the bindings: wait for its final style
        await _until(pilot, lambda: all(not k.compact for k in app.query(FooterKey)), "footer")
        # a DataTable sizes its columns when idle
        tables = list(app.query(DataTable))
        await _until(
            pilot, lambda: not any(t._require_update_dimensions for t in tables), "columns"
        )
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=shown)
