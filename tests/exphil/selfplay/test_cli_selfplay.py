"""``exphil selfplay`` end to end as a user runs it: learner + a local worker process + a
worker attached from "another machine" (``exphil worker --connect``), then ``--resume``;
a worker whose config differs is refused at join; Ctrl-C saves and exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

EXPHIL = [sys.executable, "-m", "exphil.cli"]
SMALL = [
    "--preset", "demo", "--headless", "--games-per-worker", "8",
    "--set", "policy.backbone.hidden=32", "--set", "nodes.runners=2", "--set", "rollout=16",
    "--set", "epochs=1", "--set", "minibatches=2", "--set", "opponents.snapshot_every=1",
    "--set", "checkpoint_every=1", "--set", "nodes.heartbeat_interval=0.25",
    "--set", "nodes.heartbeat_timeout=2",
]  # fmt: skip


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1")


def _ready(proc: subprocess.Popen[str], out: list[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        out.append(line)
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("kind") == "ready":
                return rec
    raise AssertionError(f"no ready line; output so far: {''.join(out)}")


def _finish(proc: subprocess.Popen[str], out: list[str], timeout: float = 150) -> int:
    rest, _ = proc.communicate(timeout=timeout)
    out.append(rest)
    return proc.returncode


def _spawn(args: list[str], stderr: int | IO[str] = subprocess.STDOUT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        EXPHIL + args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=_env()
    )


def test_selfplay_with_a_remote_worker_then_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "ck" / "sp"
    out: list[str] = []
    learner = _spawn(
        [
            "selfplay",
            *SMALL,
            "--max-updates",
            "3",
            "--name",
            "sp",
            "--checkpoints-dir",
            str(tmp_path / "ck"),
        ]
    )
    try:
        ready = _ready(learner, out)
        remote = _spawn(
            ["worker", "--connect", ready["endpoint"], "--name", "other-machine"],
            stderr=subprocess.STDOUT,
        )
        code = _finish(learner, out)
        remote_out, _ = remote.communicate(timeout=30)
    finally:
        for p in (learner,):
            if p.poll() is None:
                p.kill()
    text = "".join(out)
    assert code == 0, text
    done = [json.loads(x) for x in text.splitlines() if x.startswith('{"kind": "done"')]
    assert done and done[0]["updates"] == 3, text
    assert remote.returncode == 0, remote_out
    assert "the run is over" in remote_out
    for name in ("last.safetensors", "ratings.json", "initial.safetensors", "metrics.jsonl"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "population" / "index.json").read_text())["snapshots"]
    updates = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # both local workers and the remote one joined; what was trained on came from them
    events = [json.loads(x) for x in text.splitlines() if x.startswith('{"kind": "event"')]
    joined = {e["worker"] for e in events if e["event"] == "join"}
    assert joined == {"worker-0", "worker-1", "other-machine"}, events
    workers = set().union(*(u["workers"] for u in updates if u.get("kind") == "update"))
    assert workers and workers <= joined, workers

    # resume with no local worker: the run goes on with a worker attached from outside
    out = []
    again = _spawn(
        ["selfplay", "--resume", str(run_dir), "--headless", "--max-updates", "5", "--workers", "0"]
    )
    try:
        ready = _ready(again, out)
        remote = _spawn(["worker", "--connect", ready["endpoint"], "--name", "machine-2"])
        code = _finish(again, out)
        remote_out, _ = remote.communicate(timeout=30)
    finally:
        if again.poll() is None:
            again.kill()
    text = "".join(out)
    assert code == 0, text
    assert "resuming" in text
    done = [json.loads(x) for x in text.splitlines() if x.startswith('{"kind": "done"')]
    assert done and done[0]["updates"] == 5, text
    assert remote.returncode == 0 and "the run is over" in remote_out, remote_out
    updates = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    resumed = [u for u in updates if u.get("kind") == "update" and u["update"] > 3]
    assert [u["update"] for u in resumed] == [4, 5]
    assert all(set(u["workers"]) == {"machine-2"} for u in resumed), resumed


def test_a_mismatched_worker_is_refused_and_ctrl_c_saves(tmp_path: Path) -> None:
    out: list[str] = []
    learner = _spawn(
        [
            "learner",
            *SMALL,
            "--max-updates",
            "100",
            "--name",
            "lr",
            "--checkpoints-dir",
            str(tmp_path / "ck"),
        ]
    )
    try:
        ready = _ready(learner, out)
        bad = tmp_path / "bad.yaml"
        bad.write_text("env:\n  stage: battlefield\n")
        refused = subprocess.run(
            [*EXPHIL, "worker", "--connect", ready["endpoint"], "--config", str(bad)],
            capture_output=True, text=True, env=_env(), timeout=90,
        )  # fmt: skip
        learner.send_signal(signal.SIGINT)
        code = _finish(learner, out, timeout=60)
    finally:
        if learner.poll() is None:
            learner.kill()
    assert refused.returncode == 2, refused.stderr
    assert "env.stage" in refused.stderr and "battlefield" in refused.stderr, refused.stderr
    assert code == 130, "".join(out)
    assert (tmp_path / "ck" / "lr" / "last.safetensors").exists()
