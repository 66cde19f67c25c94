"""Record what a short ``exphil selfplay`` run publishes, for the dashboard's tests.

Not a test: run it by hand when the wire format changes, then commit the fixture::

    OMP_NUM_THREADS=1 .venv/bin/python tests/exphil/tui/record_stream.py

It runs ``exphil selfplay --preset demo --headless --workers 1 --max-updates 8`` in a
subprocess, subscribes to its metrics endpoint (every topic) and writes one JSON line per
message to ``tests/exphil/tui/data/stream.jsonl``::

    {"t": seconds since the subscription, "topic": "metrics", "item": {...the struct...}}

until the run has finished (the last ``Metrics`` says ``finished``, or the process ends).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from exphil.wire import METRICS_TYPES, Metrics
from supervisors.remote import Subscriber

__all__ = ["main", "record"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DEFAULT_OUT = HERE / "data" / "stream.jsonl"


async def _ready_endpoint(proc: Process, log: list[str]) -> str:
    """The metrics endpoint from the ``{"kind": "ready"}`` line of the run's stdout."""
    assert proc.stdout is not None
    buffer = ""
    async for text in TextReceiveStream(proc.stdout):
        buffer += text
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            log.append(line)
            try:
                record: Any = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("kind") == "ready":
                metrics = record.get("metrics")
                if not isinstance(metrics, str):
                    raise RuntimeError(f"the run publishes no metrics: {line}")
                return metrics
    raise RuntimeError("the run ended before it was ready:\n" + "\n".join(log))


async def _drain(proc: Process, log: list[str]) -> None:
    assert proc.stdout is not None
    async for text in TextReceiveStream(proc.stdout):
        log.extend(text.splitlines())


async def record(out: Path, *, max_updates: int, timeout: float) -> int:
    """Run the demo, record its stream into ``out``; returns the number of messages."""
    exe = ROOT / ".venv" / "bin" / "exphil"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    log: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(exe), "selfplay", "--preset", "demo", "--headless", "--workers", "1",
               "--max-updates", str(max_updates), "--checkpoints-dir", tmp]  # fmt: skip
        async with await anyio.open_process(cmd, env=env, stderr=None) as proc:
            with anyio.fail_after(timeout):
                endpoint = await _ready_endpoint(proc, log)
                sub = Subscriber(endpoint, topics=[""], types=METRICS_TYPES)
                start = time.monotonic()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_drain, proc, log)
                    with out.open("w") as f:
                        finished = False
                        while not finished:
                            try:
                                topic, value = await sub.receive(timeout=1.0)
                            except TimeoutError:
                                if proc.returncode is not None:
                                    break
                                continue
                            item = json.loads(msgspec.json.encode(value))
                            row = {"t": round(time.monotonic() - start, 3), "topic": topic,
                                   "item": item}  # fmt: skip
                            f.write(json.dumps(row, separators=(",", ":")) + "\n")
                            count += 1
                            finished = isinstance(value, Metrics) and value.finished
                    sub.close()
                    await proc.wait()
                    tg.cancel_scope.cancel()
        if proc.returncode != 0:
            raise RuntimeError(f"exphil selfplay exited {proc.returncode}:\n" + "\n".join(log))
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--max-updates", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    n = anyio.run(functools.partial(record, args.out, max_updates=args.max_updates,
                                    timeout=args.timeout))  # fmt: skip
    size = args.out.stat().st_size
    print(f"{n} messages, {size / 1024:.0f} KB -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
