"""What one actor crash costs, logging included (a benchmark script, not a test).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_crash_log.py [--crashes 200] [--json]

A child under a one_for_one supervisor with a high restart intensity crashes ``--crashes``
times (each crash: the exception, the ``actor.exited`` error line, the restart). structlog
keeps its default configuration (a ``ConsoleRenderer``, which renders ``exc_info`` with rich
when rich is installed) with the output sent to /dev/null, so the figure is the cost of
producing the line, not of a terminal. ``--quiet`` drops everything below critical, for the
cost of a crash without its log line; ``--distinct`` raises a new exception type each time
(no crash is a repeat: the worst case).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from typing import Any

import anyio
import anyio.lowlevel
import structlog

from supervisors import Actor, ActorExited, ChildSpec, From, Runtime, Supervisor, call


class Crasher(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        i, distinct = request
        if distinct:  # a new exception type each time: every crash gets a full report
            raise type(f"Error{i}", (ValueError,), {})(f"crash {i}")
        raise ValueError(f"crash {i}")


async def crashes(n: int, distinct: bool) -> float:
    async with Runtime() as rt:
        await rt.spawn(
            Supervisor(
                [ChildSpec("crasher", Crasher, name="crasher")],
                max_restarts=n + 10,
                max_seconds=3600,
            )
        )
        t0 = time.perf_counter()
        for i in range(n):
            while True:  # the restart is asynchronous: wait for the next incarnation
                try:
                    await call("crasher", (i, distinct))
                except ActorExited:
                    break
                except Exception:
                    await anyio.lowlevel.checkpoint()
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crashes", type=int, default=200)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--distinct", action="store_true", help="a new exception type per crash")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    devnull = open(os.devnull, "w")  # noqa: SIM115
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(devnull),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.CRITICAL if args.quiet else logging.INFO
        ),
    )
    seconds = anyio.run(crashes, args.crashes, args.distinct, backend=args.backend)
    if args.json:
        print(json.dumps({
            "backend": args.backend, "crashes": args.crashes, "seconds": seconds,
            "ms_per_crash": seconds / args.crashes * 1000, "logging": not args.quiet,
            "distinct": args.distinct,
        }))  # fmt: skip
        return
    print(
        f"{args.backend}: {args.crashes} crashes in {seconds:.2f} s = "
        f"{seconds / args.crashes * 1000:.2f} ms per crash"
        + (" (logging off)" if args.quiet else "")
        + (" (a new exception type each)" if args.distinct else "")
    )


if __name__ == "__main__":
    main()
