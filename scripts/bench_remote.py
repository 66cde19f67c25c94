"""Benchmark remote actors: two processes on tcp loopback, against raw pyzmq as the floor.

    python scripts/bench_remote.py [--json] [--quick] [--backend asyncio|trio]

Measures, in one run: small-message call round trips/s (one caller, and 64 concurrent
callers), casts/s, acknowledged-channel messages/s, and bulk MB/s with 1 MiB and 16 MiB
float32 arrays; then the same transfers with bare pyzmq sockets (no envelope, no actors) and
prints the ratios. Targets: bulk >= 70% of raw pyzmq, casts >= 100k/s, calls >= 10k/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import anyio
import numpy as np
import zmq

from supervisors import Actor, From, Runtime, call, cast
from supervisors.remote import NODE_NAME, Node, RemoteRef, open_channel, wait_for_node

MiB = 1024 * 1024


# -- the server process -----------------------------------------------------------------------


class Sink(Actor):
    """Counts what it is sent; ``call(sink, "count")`` answers after everything before it."""

    async def init(self) -> None:
        self.count = 0
        self.nbytes = 0

    async def handle_cast(self, request: Any) -> None:
        self.count += 1
        if isinstance(request, np.ndarray):
            self.nbytes += request.nbytes

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "count":
            return [self.count, self.nbytes]
        if request == "reset":
            self.count = self.nbytes = 0
            return None
        return request


async def serve(endpoint: str) -> None:
    async with Runtime() as rt:
        await rt.spawn(Node("bench-server", bind=[endpoint]), name=NODE_NAME)
        await rt.spawn(Sink(), name="sink", mailbox_size=1 << 20)
        print("READY", flush=True)
        await anyio.sleep_forever()


def serve_raw(endpoint: str) -> None:
    """Bare ROUTER: echoes a message that starts with b"?", counts the rest."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.RCVHWM, 10_000)
    sock.bind(endpoint)
    print("READY", flush=True)
    count = 0
    while True:
        frames = sock.recv_multipart(copy=False)
        first = frames[1].bytes[:1]
        if first == b"?":
            sock.send_multipart([frames[0].bytes, str(count).encode()])
        elif first == b"0":
            count = 0
        else:
            count += 1


# -- measurements -----------------------------------------------------------------------------


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


async def bench_actors(endpoint: str, quick: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    n_calls = 2_000 if quick else 10_000
    n_casts = 20_000 if quick else 200_000
    n_acked = 10_000 if quick else 100_000
    bulk = {"1MiB": (1 * MiB, 100 if quick else 600), "16MiB": (16 * MiB, 8 if quick else 40)}
    async with Runtime() as rt:
        await rt.spawn(Node("bench-client", connect=[endpoint]), name=NODE_NAME)
        await wait_for_node("bench-server", 10)
        sink = RemoteRef("bench-server", "sink")
        for i in range(200):  # warm up
            await call(sink, i)

        t = time.perf_counter()
        for i in range(n_calls):
            await call(sink, i)
        out["call_sequential_per_s"] = rate(n_calls, time.perf_counter() - t)

        per_task = n_calls // 64

        async def caller() -> None:
            for i in range(per_task):
                await call(sink, i)

        t = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(caller)
        out["call_concurrent64_per_s"] = rate(per_task * 64, time.perf_counter() - t)

        await call(sink, "reset")
        t = time.perf_counter()
        for i in range(n_casts):
            await cast(sink, i)
        count, _ = await call(sink, "count", timeout=120)
        assert count == n_casts, (count, n_casts)
        out["cast_per_s"] = rate(n_casts, time.perf_counter() - t)

        await call(sink, "reset")
        channel = open_channel(sink, window=512)
        t = time.perf_counter()
        for i in range(n_acked):
            await channel.send(i)
        await channel.flush(timeout=120)
        out["acked_per_s"] = rate(n_acked, time.perf_counter() - t)

        for label, (size, n) in bulk.items():
            arr = np.ones(size // 4, dtype=np.float32)
            await call(sink, "reset")
            t = time.perf_counter()
            for _ in range(n):
                await cast(sink, arr)
            count, nbytes = await call(sink, "count", timeout=120)
            assert count == n and nbytes == n * size, (count, nbytes)
            out[f"bulk_{label}_MB_per_s"] = n * size / 1e6 / (time.perf_counter() - t)
        del rt
    return out


def bench_raw(endpoint: str, quick: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    n_calls = 2_000 if quick else 10_000
    n_casts = 20_000 if quick else 200_000
    bulk = {"1MiB": (1 * MiB, 100 if quick else 600), "16MiB": (16 * MiB, 8 if quick else 40)}
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.connect(endpoint)
    for _ in range(200):
        sock.send(b"?")
        sock.recv()

    t = time.perf_counter()
    for _ in range(n_calls):
        sock.send(b"?ping")
        sock.recv()
    out["call_sequential_per_s"] = rate(n_calls, time.perf_counter() - t)

    def count_after(n: int) -> None:
        while True:
            sock.send(b"?")
            if int(sock.recv()) >= n:
                return

    sock.send(b"0")
    t = time.perf_counter()
    msg = b"x" * 16
    for _ in range(n_casts):
        sock.send(msg)
    count_after(n_casts)
    out["cast_per_s"] = rate(n_casts, time.perf_counter() - t)

    for label, (size, n) in bulk.items():
        arr = np.ones(size // 4, dtype=np.float32)
        sock.send(b"0")
        t = time.perf_counter()
        for _ in range(n):
            sock.send_multipart([b"a", arr], copy=False)
        count_after(n)
        out[f"bulk_{label}_MB_per_s"] = n * size / 1e6 / (time.perf_counter() - t)
    sock.close(0)
    ctx.term()
    return out


def start_server(mode: str, endpoint: str, backend: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, mode, endpoint, "--backend", backend],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "EXPHIL_LOG_LEVEL": "warning"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "READY" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve", "raw"])
    parser.add_argument("endpoint", nargs="?")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    args = parser.parse_args()

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(40),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    if args.mode == "serve":
        anyio.run(serve, args.endpoint, backend=args.backend)
        return
    if args.mode == "raw":
        serve_raw(args.endpoint)
        return

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    server = start_server("serve", endpoint, args.backend)
    try:
        ours = anyio.run(bench_actors, endpoint, args.quick, backend=args.backend)
    finally:
        server.kill()
        server.wait()
    raw_endpoint = f"tcp://127.0.0.1:{free_port()}"
    raw_server = start_server("raw", raw_endpoint, args.backend)
    try:
        raw = bench_raw(raw_endpoint, args.quick)
    finally:
        raw_server.kill()
        raw_server.wait()

    ratios = {k: ours[k] / raw[k] for k in raw if k in ours}
    result = {
        "backend": args.backend,
        "cpus": os.cpu_count(),
        "ours": ours,
        "raw_pyzmq": raw,
        "ratio": ratios,
        "targets": {
            "bulk_ratio_min": 0.70,
            "cast_per_s_min": 100_000,
            "call_per_s_min": 10_000,
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"remote actors vs raw pyzmq, tcp loopback ({args.backend})")
    table.add_column("measure")
    table.add_column("supervisors.remote", justify="right")
    table.add_column("raw pyzmq", justify="right")
    table.add_column("ratio", justify="right")
    for key, value in ours.items():
        floor = raw.get(key)
        table.add_row(
            key,
            f"{value:,.0f}",
            "" if floor is None else f"{floor:,.0f}",
            "" if floor is None else f"{value / floor:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
