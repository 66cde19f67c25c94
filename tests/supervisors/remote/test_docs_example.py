"""The example at the top of docs/remote.md runs as written: ``learner.py`` and ``worker.py``
in two processes on tcp loopback (only the port is changed, to a free one).

The worker starts first (it says hello until the learner answers), its interval timer's casts
reach the learner's collector, and SIGINT stops each process gracefully (exit status 0).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "remote.md"
DOC_ENDPOINT = "tcp://127.0.0.1:5555"
WAIT = 20.0


def example(name: str) -> str:
    """The fenced python block of docs/remote.md whose first line is ``# NAME``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [code] = [b for b in blocks if b.startswith(f"# {name}\n")]
    assert DOC_ENDPOINT in code
    return code


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def start(tmp_path: Path, name: str, endpoint: str) -> tuple[subprocess.Popen[bytes], Path]:
    script = tmp_path / name
    script.write_text(example(name).replace(DOC_ENDPOINT, endpoint))
    out = tmp_path / f"{name}.out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    return proc, out


def wait_for(out: Path, pattern: str, count: int = 1) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        text = out.read_text()
        if len(re.findall(pattern, text)) >= count:
            return text
        assert time.monotonic() < deadline, f"no {pattern!r} x{count} in:\n{text}"
        time.sleep(0.05)


def interrupt(proc: subprocess.Popen[bytes], out: Path) -> str:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=WAIT)
    text = out.read_text()
    assert proc.returncode == 0, text
    assert "Traceback" not in text, text
    return text


def test_remote_md_example_runs_as_written(tmp_path: Path) -> None:
    endpoint = free_endpoint()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        worker, worker_out = start(tmp_path, "worker.py", endpoint)
        procs.append(worker)
        learner, learner_out = start(tmp_path, "learner.py", endpoint)
        procs.append(learner)
        # the learner came up after the worker subscribed (NodeUp) or before (already up)
        wait_for(worker_out, r"NodeUp\(node='learner'|already up: learner")
        collected = wait_for(learner_out, r"collected \{'worker': 'worker-1', 'chunk': \d+\}", 2)
        assert "application.started" in collected
        interrupt(worker, worker_out)
        interrupt(learner, learner_out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
