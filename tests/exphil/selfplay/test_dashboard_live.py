"""A dashboard attached to a live ``exphil selfplay --headless`` (a subprocess) over ZeroMQ:
it shows the run going (rising update counts), its checkpoint command reaches the learner,
and detaching leaves the run going to its end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from exphil.tui import Connection, DashboardApp, RemoteSource
from exphil.wire import Watching

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


def _spawn(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*EXPHIL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.anyio
async def test_the_remote_source_attaches_again_when_the_learner_comes_back(
    tmp_path: Path,
) -> None:
    """The learner stops (Ctrl-C: a checkpoint) and is resumed on the same address: the
    dashboard's source says "connecting" meanwhile, then "live" again with the run's history,
    by itself."""
    bind = f"tcp://127.0.0.1:{_free_port()}"
    args = ["--headless", "--bind", bind, "--max-updates", "100"]
    first = _spawn(["learner", "--preset", "demo", *args, "--name", "back",
                    "--checkpoints-dir", str(tmp_path)])  # fmt: skip
    procs = [first]
    source = RemoteSource(bind, probe_every=0.5)
    states: list[str] = []
    watchings = 0
    try:
        with anyio.fail_after(90):
            async for item in source.items():
                if isinstance(item, Watching):
                    watchings += 1
                if not isinstance(item, Connection):
                    continue
                states.append(item.state)
                if item.state == "live" and watchings == 1 and first.poll() is None:
                    first.send_signal(signal.SIGINT)  # the learner goes away...
                    first.wait(timeout=30)
                    # ...and comes back, resumed
                    procs.append(_spawn(["learner", "--resume", str(tmp_path / "back"), *args]))
                if item.state == "live" and watchings == 2:
                    break
    finally:
        await source.aclose()
        for p in procs:
            p.kill()
            p.wait()
    assert first.returncode == 130
    # live, then connecting while it was gone, then live again: attached twice
    assert states[-1] == "live" and "connecting" in states[states.index("live") :], states
    assert watchings == 2
