"""Benchmark the supervisors runtime against bare anyio primitives, on asyncio and on trio.

    python scripts/bench_supervisors.py [--json] [--quick]

Measured on each backend (asyncio, then trio, each in its own ``anyio.run``):

* **call**: sequential ``call`` round trips to one actor (default 5 s timeout, and with
  ``timeout=None``). Floor: one persistent memory-object stream of requests to a server task
  that answers on a persistent reply stream (the minimal equivalent of a call).
  An extra, tighter floor (info only): a deque plus ``anyio.Event`` wake-ups, which is what a
  mailbox and a ``From`` reduce to.
* **cast**: N casts to one actor, then one call that flushes and returns how many were handled.
  Floor: N sends on a memory-object stream, then a flush request answered with the count.
* **restart**: crash a supervised, registered child with a cast that raises and wait (no
  polling: the new incarnation's ``init`` sets an ``anyio.Event``) until ``whereis(name)``
  returns the new incarnation; then until that incarnation answers a first call. No floor; the
  target is a median under 1 ms. Logging is silenced for this one (see below).
* **10k children**: ``start_child`` on a ``DynamicSupervisor`` in a loop, then stop the
  supervisor. Floor: ``TaskGroup.start`` of as many tasks (each waits until the task reports
  started, as ``start_child`` waits for ``init``), then cancelling the task group.

Throughputs are the median of several rounds (after a warm-up round). ``ratio`` is how many
times slower the runtime is than the floor (target: call and cast within 2x).

structlog is filtered to WARNING so that debug/info events cost nothing. Every crash in the
restart benchmark logs ``actor.exited`` at error level with its traceback; rendering that is
the application's logging configuration, not the restart path, so that benchmark filters
structlog to CRITICAL while it runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import math
import platform
import statistics
import sys
import time
from collections import deque
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import anyio
import structlog
from anyio.abc import TaskStatus

import supervisors as sv

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

Backend = Literal["asyncio", "trio"]
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")
perf_counter = time.perf_counter


@dataclass(frozen=True)
class Config:
    calls: int
    casts: int
    crashes: int
    children: int
    rounds: int
    child_rounds: int


FULL = Config(calls=20_000, casts=50_000, crashes=500, children=10_000, rounds=5, child_rounds=3)
QUICK = Config(calls=2_000, casts=5_000, crashes=50, children=1_000, rounds=3, child_rounds=1)


@dataclass
class Metric:
    key: str
    label: str
    unit: str
    actor: float
    floor: float | None = None
    higher_is_better: bool = True
    target: str = ""
    ok: bool | None = None
    samples: list[float] = field(default_factory=list)
    floor_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """How many times slower than the floor (1.0: as fast; 2.0: half the speed)."""
        if self.floor is None or self.actor == 0 or self.floor == 0:
            return None
        return self.floor / self.actor if self.higher_is_better else self.actor / self.floor

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def percentile(xs: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(xs)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@contextmanager
def log_level(level: int) -> Iterator[None]:
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(level))
    try:
        yield
    finally:
        structlog.configure(**old)


# -- actors -------------------------------------------------------------------------------------

FLUSH: Hashable = "flush"
CRASH: Hashable = "crash"


class Echo(sv.Actor):
    """Answers every call with its request; counts casts (``FLUSH`` returns and resets)."""

    async def init(self) -> None:
        self.casts = 0

    async def handle_call(self, request: Any, from_: sv.From) -> Any:
        if request is FLUSH:
            n, self.casts = self.casts, 0
            return n
        return request

    async def handle_cast(self, request: Any) -> None:
        self.casts += 1


class Probe:
    """Told by every incarnation of ``Victim`` when its ``init`` is done."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.ref: sv.ActorRef | None = None

    def started(self, ref: sv.ActorRef) -> None:
        self.ref = ref
        self.event.set()


class Victim(sv.Actor):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def init(self) -> None:
        self.probe.started(self.ref)

    async def handle_call(self, request: Any, from_: sv.From) -> Any:
        return request

    async def handle_cast(self, request: Any) -> None:
        raise RuntimeError("crash requested by the benchmark")


class Idle(sv.Actor):
    async def handle_call(self, request: Any, from_: sv.From) -> Any:
        return request


# -- call and cast ------------------------------------------------------------------------------


async def actor_calls(n: int, rounds: int, timeout: float | None) -> list[float]:
    async with sv.Runtime() as rt:
        ref = await rt.spawn(Echo())
        rates: list[float] = []
        for r in range(rounds + 1):
            count = n // 10 if r == 0 else n  # round 0 warms up
            t0 = perf_counter()
            for i in range(count):
                await sv.call(ref, i, timeout)
            if r:
                rates.append(count / (perf_counter() - t0))
        return rates


async def floor_calls(n: int, rounds: int) -> list[float]:
    req_send, req_recv = anyio.create_memory_object_stream[int](1024)
    rep_send, rep_recv = anyio.create_memory_object_stream[int](1)

    async def server() -> None:
        async with req_recv, rep_send:
            async for item in req_recv:
                await rep_send.send(item)

    rates: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(server)
        async with req_send, rep_recv:
            for r in range(rounds + 1):
                count = n // 10 if r == 0 else n
                t0 = perf_counter()
                for i in range(count):
                    await req_send.send(i)
                    await rep_recv.receive()
                if r:
                    rates.append(count / (perf_counter() - t0))
    return rates


class _Request:
    __slots__ = ("done", "value")

    def __init__(self, value: int) -> None:
        self.value = value
        self.done = anyio.Event()


async def event_floor_calls(n: int, rounds: int) -> list[float]:
    """A tighter floor than streams: a deque plus one ``anyio.Event`` to wake the server and
    one per request for the reply (what a mailbox and a ``From`` boil down to)."""
    queue: deque[_Request | None] = deque()
    wakeup: list[anyio.Event] = [anyio.Event()]

    async def server() -> None:
        while True:
            while not queue:
                wakeup[0] = anyio.Event()
                await wakeup[0].wait()
            req = queue.popleft()
            if req is None:
                return
            req.done.set()

    def put(req: _Request | None) -> None:
        queue.append(req)
        wakeup[0].set()

    rates: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(server)
        for r in range(rounds + 1):
            count = n // 10 if r == 0 else n
            t0 = perf_counter()
            for i in range(count):
                req = _Request(i)
                put(req)
                await req.done.wait()
            if r:
                rates.append(count / (perf_counter() - t0))
        put(None)
    return rates


async def actor_casts(n: int, rounds: int) -> list[float]:
    async with sv.Runtime() as rt:
        ref = await rt.spawn(Echo())
        rates: list[float] = []
        for r in range(rounds + 1):
            count = n // 10 if r == 0 else n
            t0 = perf_counter()
            for i in range(count):
                await sv.cast(ref, i)
            handled = await sv.call(ref, FLUSH)
            elapsed = perf_counter() - t0
            assert handled == count, (handled, count)
            if r:
                rates.append(count / elapsed)
        return rates


async def floor_casts(n: int, rounds: int) -> list[float]:
    req_send, req_recv = anyio.create_memory_object_stream[int](1024)
    rep_send, rep_recv = anyio.create_memory_object_stream[int](1)

    async def server() -> None:
        count = 0
        async with req_recv, rep_send:
            async for item in req_recv:
                if item < 0:
                    await rep_send.send(count)
                    count = 0
                else:
                    count += 1

    rates: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(server)
        async with req_send, rep_recv:
            for r in range(rounds + 1):
                count = n // 10 if r == 0 else n
                t0 = perf_counter()
                for i in range(count):
                    await req_send.send(i)
                await req_send.send(-1)
                handled = await rep_recv.receive()
                elapsed = perf_counter() - t0
                assert handled == count, (handled, count)
                if r:
                    rates.append(count / elapsed)
    return rates


# -- restart latency ----------------------------------------------------------------------------


async def restart_latency(crashes: int) -> tuple[list[float], list[float]]:
    """Seconds from the crash being triggered until (a) ``whereis`` returns the new, initialised
    incarnation and (b) that incarnation has answered a first call."""
    probe = Probe()
    spec = sv.ChildSpec("victim", lambda: Victim(probe), name="victim")
    registered: list[float] = []
    answered: list[float] = []
    with log_level(logging.CRITICAL):
        async with sv.Runtime() as rt:
            await rt.spawn(sv.Supervisor([spec], max_restarts=10**9, max_seconds=1.0))
            old = sv.whereis("victim")
            assert old is not None
            warmup = max(5, crashes // 10)
            for i in range(warmup + crashes):
                probe.event = anyio.Event()
                t0 = perf_counter()
                await sv.cast("victim", CRASH)
                await probe.event.wait()
                new = sv.whereis("victim")
                t1 = perf_counter()
                assert new is not None and new is not old and new is probe.ref, (old, new)
                assert not old.alive
                await sv.call(new, "ping")
                t2 = perf_counter()
                if i >= warmup:
                    registered.append(t1 - t0)
                    answered.append(t2 - t0)
                old = new
    return registered, answered


# -- many children ------------------------------------------------------------------------------


async def actor_children(n: int, rounds: int) -> tuple[list[float], list[float]]:
    spec = sv.ChildSpec("idle", Idle)
    starts: list[float] = []
    stops: list[float] = []
    async with sv.Runtime() as rt:
        for _ in range(rounds):
            dsup = await rt.spawn(sv.DynamicSupervisor())
            t0 = perf_counter()
            for _ in range(n):
                await sv.start_child(dsup, spec)
            t1 = perf_counter()
            counts = await sv.count_children(dsup)
            assert counts.active == n, counts
            t2 = perf_counter()
            reason = await sv.stop(dsup, sv.SHUTDOWN)
            t3 = perf_counter()
            assert reason == sv.SHUTDOWN, reason
            assert rt.statistics().alive == 0, rt.statistics()
            starts.append(t1 - t0)
            stops.append(t3 - t2)
    return starts, stops


async def floor_children(n: int, rounds: int) -> tuple[list[float], list[float]]:
    async def idle(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await anyio.sleep_forever()

    starts: list[float] = []
    stops: list[float] = []
    for _ in range(rounds):
        t0 = perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                await tg.start(idle)
            t1 = perf_counter()
            tg.cancel_scope.cancel()
        t2 = perf_counter()
        starts.append(t1 - t0)
        stops.append(t2 - t1)
    return starts, stops


# -- one backend --------------------------------------------------------------------------------


async def run_backend(cfg: Config) -> list[Metric]:
    metrics: list[Metric] = []

    floor = await floor_calls(cfg.calls, cfg.rounds)
    actor = await actor_calls(cfg.calls, cfg.rounds, sv.DEFAULT_CALL_TIMEOUT)
    m = Metric("call", "call round trips", "/s", median(actor), median(floor), target="<= 2x")
    m.samples, m.floor_samples = actor, floor
    metrics.append(m)
    actor = await actor_calls(cfg.calls, cfg.rounds, None)
    m = Metric("call_no_timeout", "call (timeout=None)", "/s", median(actor), median(floor))
    m.samples, m.floor_samples = actor, floor
    metrics.append(m)
    floor = await event_floor_calls(cfg.calls, cfg.rounds)
    m = Metric(
        "call_vs_event_floor",
        "call vs deque+Event floor (info)",
        "/s",
        metrics[0].actor,
        median(floor),
    )
    m.samples, m.floor_samples = metrics[0].samples, floor
    metrics.append(m)

    floor = await floor_casts(cfg.casts, cfg.rounds)
    actor = await actor_casts(cfg.casts, cfg.rounds)
    m = Metric("cast", "casts (+1 flush call)", "/s", median(actor), median(floor), target="<= 2x")
    m.samples, m.floor_samples = actor, floor
    metrics.append(m)

    registered, answered = await restart_latency(cfg.crashes)
    us = [x * 1e6 for x in registered]
    metrics.append(
        Metric(
            "restart_p50",
            "restart: crash -> re-registered, p50",
            "µs",
            median(us),
            higher_is_better=False,
            target="< 1000 µs",
            samples=us,
        )
    )
    metrics.append(
        Metric(
            "restart_p99",
            "restart: crash -> re-registered, p99",
            "µs",
            percentile(us, 99),
            higher_is_better=False,
        )
    )
    us_answer = [x * 1e6 for x in answered]
    metrics.append(
        Metric(
            "restart_answer_p50",
            "restart: crash -> first reply, p50",
            "µs",
            median(us_answer),
            higher_is_better=False,
            samples=us_answer,
        )
    )

    f_start, f_stop = await floor_children(cfg.children, cfg.child_rounds)
    a_start, a_stop = await actor_children(cfg.children, cfg.child_rounds)
    n = f"{cfg.children // 1000}k" if cfg.children >= 1000 else str(cfg.children)
    metrics.append(
        Metric(
            "children_start",
            f"start {n} dynamic children",
            "s",
            median(a_start),
            median(f_start),
            higher_is_better=False,
            samples=a_start,
            floor_samples=f_start,
        )
    )
    metrics.append(
        Metric(
            "children_stop",
            f"stop {n} dynamic children",
            "s",
            median(a_stop),
            median(f_stop),
            higher_is_better=False,
            samples=a_stop,
            floor_samples=f_stop,
        )
    )

    for m in metrics:
        ratio = m.ratio
        if m.target == "<= 2x" and ratio is not None:
            m.ok = ratio <= 2.0
        elif m.target.startswith("< 1000"):
            m.ok = m.actor < 1000.0
    return metrics


# -- output -------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value * 1000:,.0f} ms"
    return f"{value:,.0f} {unit}"


def print_table(results: dict[str, list[Metric]], cfg: Config, elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=(
            f"supervisors benchmark — median of {cfg.rounds} rounds; "
            f"{cfg.calls:,} calls, {cfg.casts:,} casts, {cfg.crashes} crashes, "
            f"{cfg.children:,} children x {cfg.child_rounds}"
        )
    )
    table.add_column("backend")
    table.add_column("metric")
    table.add_column("supervisors", justify="right")
    table.add_column("anyio floor", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target")
    table.add_column("ok", justify="center")
    for backend, metrics in results.items():
        for i, m in enumerate(metrics):
            ratio = m.ratio
            ok = {True: "[green]yes[/]", False: "[red]NO[/]", None: ""}[m.ok]
            table.add_row(
                backend if i == 0 else "",
                m.label,
                fmt(m.actor, m.unit),
                fmt(m.floor, m.unit),
                f"{ratio:.2f}x" if ratio is not None else "—",
                m.target,
                ok,
            )
        table.add_section()
    console = Console()
    if not console.is_terminal:  # piped or captured: do not wrap at 80 columns
        console = Console(width=max(console.width, 120))
    console.print(table)
    console.print(
        f"python {platform.python_version()}, anyio {importlib.metadata.version('anyio')}, "
        f"trio {importlib.metadata.version('trio')}; total {elapsed:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small N: a fast smoke run")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL

    t0 = perf_counter()
    results: dict[str, list[Metric]] = {}
    for backend in BACKENDS:
        results[backend] = anyio.run(run_backend, cfg, backend=backend)
    elapsed = perf_counter() - t0

    if args.json:
        out = {
            "config": asdict(cfg),
            "python": platform.python_version(),
            "anyio": importlib.metadata.version("anyio"),
            "trio": importlib.metadata.version("trio"),
            "elapsed_s": elapsed,
            "backends": {b: {m.key: m.to_json() for m in ms} for b, ms in results.items()},
            "ok": all(m.ok is not False for ms in results.values() for m in ms),
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(results, cfg, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
