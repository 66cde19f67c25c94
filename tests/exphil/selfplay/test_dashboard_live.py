"""A dashboard attached to a live ``exphil selfplay --headless`` (a subprocess) over ZeroMQ:
it shows the run going (rising update counts), its checkpoint command reaches the learner,
and detaching leaves the run going to its end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from exphil.tui import DashboardApp, RemoteSource

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

EXPHIL = [sys.executable, "-m", "exphil.cli"]
SMALL = [
    "--preset", "demo", "--headless", "--workers", "1", "--games-per-worker", "8",
    "--set", "policy.backbone.hidden=32", "--set", "nodes.runners=1", "--set", "rollout=16",
    "--set", "epochs=1", "--set", "minibatches=2",
]  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio only


def _learner(tmp_path: Path, updates: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*EXPHIL, "selfplay", *SMALL, "--max-updates", str(updates), "--name", "live",
         "--checkpoints-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            rec: dict[str, Any] = json.loads(line)
            if rec.get("kind") == "ready":
                return proc, str(rec["endpoint"])
    raise AssertionError("the learner printed no ready line")


@pytest.mark.anyio
async def test_a_dashboard_attached_to_a_live_run_sees_it_progress(tmp_path: Path) -> None:
    proc, endpoint = _learner(tmp_path, updates=400)
    try:
        app = DashboardApp(RemoteSource(endpoint))
        seen: list[int] = []
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(set(seen)) < 3:
                await pilot.pause(0.5)
                m = app.state.metrics
                if m is not None and (not seen or m.version != seen[-1]):
                    seen.append(m.version)
            summary = app.state.summary(label=endpoint)
            assert summary.link == "live", summary
            assert len(set(seen)) >= 3 and seen == sorted(seen), seen  # rising updates
            status = str(app.query_one("#status").render())
            assert "live" in status and f"/{400}" in status, status
            await pilot.press("s")  # a checkpoint, asked over the wire
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(
                e.kind == "control" for e in app.state.events
            ):
                await pilot.pause(0.3)
            assert any("asked for a checkpoint" in e.text for e in app.state.events)
            await pilot.press("q")
            await pilot.pause(0.3)
            await pilot.click("#detach")
            await pilot.pause(0.3)
        assert app.return_value == "detach"
        version = app.state.metrics.version if app.state.metrics else 0
        await anyio.sleep(2.0)  # detached: the run goes on
        updates = [
            json.loads(x) for x in (tmp_path / "live" / "metrics.jsonl").read_text().splitlines()
        ]
        assert max(u["update"] for u in updates if u.get("kind") == "update") > version
    finally:
        proc.kill()
        proc.wait()
