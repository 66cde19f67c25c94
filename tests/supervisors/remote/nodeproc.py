"""A node in its own OS process, for tests/supervisors/remote/test_processes.py.

    python tests/supervisors/remote/nodeproc.py --name N [--bind EP] [--connect EP]
        [--backend asyncio|trio] [--hb-interval S] [--hb-timeout S] [--protocol-version V]
        [--keys FILE --authorized DIR [--secure]] [--server-key FILE]
        [--role basic|receiver|sender] [--log FILE] [--no-restore] [--handle-delay S]
        [--peer NAME] [--count N] [--window W] [--delay S] [--wait-peer NAME]

Prints exactly ``READY`` on stdout once started (for ``sender``, and with ``--wait-peer``,
once the peer node is up) and runs until killed. Logs (structlog, INFO and up) go to stderr.

Roles:

* ``basic``: "echo" (a call returns the request; "crash" raises ValueError; ["sleep", s]
  sleeps s seconds first) and "sink" (records casts in order; call "log" returns them), both
  under a one_for_one supervisor so a crashed echo comes back.
* ``receiver``: "collector" appends every message of an acknowledged channel, as the line
  ``SENDER INCARNATION CHANNEL SEQ``, to ``--log`` (flush + fsync per line) before its
  ``handle_cast`` returns; its init restores the node's channel positions from that log and
  it is registered only after that, so nothing already handled is handled twice
  (``--no-restore``: it starts from nothing, for at-least-once delivery;
  ``--handle-delay S``: each message takes S seconds).
* ``sender``: opens ``open_channel(RemoteRef(--peer, "collector"), window=--window)``, sends
  ``--count`` messages ``[name, incarnation, channel, seq]`` (``--delay`` seconds apart) and
  appends ``INCARNATION SEQ`` to ``--log`` for every seq once it is acknowledged, then
  ``DONE INCARNATION`` once all are.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import structlog

from supervisors import Actor, ChildSpec, From, Runtime, Supervisor, register
from supervisors.remote import (
    NODE_NAME,
    PROTOCOL_VERSION,
    Bind,
    Connect,
    Node,
    RemoteRef,
    current_node,
    open_channel,
    wait_for_node,
)

CHANNEL = "collector"


class Echo(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "crash":
            raise ValueError("echo was asked to crash")
        if isinstance(request, list) and len(request) == 2 and request[0] == "sleep":
            await anyio.sleep(float(request[1]))
        return request


class Sink(Actor):
    async def init(self) -> None:
        self.got: list[Any] = []

    async def handle_cast(self, request: Any) -> None:
        self.got.append(request)

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "log":
            return self.got
        if request == "count":
            return len(self.got)
        raise ValueError(f"sink: unknown call {request!r}")


def _open_append(path: str | Path) -> Any:
    return Path(path).open("a")  # closed by its owner


def _append_line(fh: Any, line: str) -> None:
    fh.write(line + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def read_positions(path: Path) -> dict[tuple[str, int, str], int]:
    """The last handled seq per (sender, incarnation, channel) in a collector log; drops a
    torn last line (a kill in the middle of a write)."""
    if not path.exists():
        return {}
    data = path.read_text()
    if data and not data.endswith("\n"):
        data = data[: data.rfind("\n") + 1]
        path.write_text(data)
    positions: dict[tuple[str, int, str], int] = {}
    for line in data.splitlines():
        sender, inc, channel, seq = line.split()
        key = (sender, int(inc), channel)
        positions[key] = max(positions.get(key, 0), int(seq))
    return positions


class Collector(Actor):
    def __init__(self, log_path: Path, *, restore: bool = True, delay: float = 0.0) -> None:
        self.log_path = log_path
        self.restore = restore
        self.delay = delay

    async def init(self) -> None:
        positions = read_positions(self.log_path)
        if self.restore:
            current_node().restore_channel_positions(positions)
        self.fh = _open_append(self.log_path)

    async def handle_cast(self, request: Any) -> None:
        if self.delay:
            await anyio.sleep(self.delay)
        sender, inc, channel, seq = request
        _append_line(self.fh, f"{sender} {inc} {channel} {seq}")

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "positions":
            return [[*key, seq] for key, seq in current_node().channel_positions().items()]
        raise ValueError(f"collector: unknown call {request!r}")

    async def terminate(self, reason: Any) -> None:
        self.fh.close()


async def run_sender(args: argparse.Namespace) -> None:
    assert args.peer and args.log
    channel = open_channel(RemoteRef(args.peer, "collector"), CHANNEL, window=args.window)
    inc = current_node().incarnation
    recorded = 0
    done = anyio.Event()

    async def record_acks(fh: Any) -> None:
        nonlocal recorded
        while True:
            acked = channel.statistics().acked  # acks are cumulative: seqs 1..acked
            if acked > recorded:
                fh.write("".join(f"{inc} {seq}\n" for seq in range(recorded + 1, acked + 1)))
                fh.flush()
                os.fsync(fh.fileno())
                recorded = acked
            if done.is_set() and recorded >= args.count:
                _append_line(fh, f"DONE {inc}")
                return
            await anyio.sleep(0.005)

    with _open_append(args.log) as fh:
        async with anyio.create_task_group() as tg:
            tg.start_soon(record_acks, fh)
            for _ in range(args.count):
                seq = channel.last_seq + 1
                got = await channel.send([args.name, inc, CHANNEL, seq])
                if got != seq:
                    raise AssertionError(f"send returned seq {got}, expected {seq}")
                if args.delay:
                    await anyio.sleep(args.delay)
            await channel.flush()
            done.set()


async def main(args: argparse.Namespace) -> None:
    binds: list[str | Bind] = [Bind(ep, secure=True) if args.secure else ep for ep in args.bind]
    connects = [Connect(ep, server_key=args.server_key) for ep in args.connect]
    node = Node(
        args.name,
        bind=binds,
        connect=connects,
        heartbeat_interval=args.hb_interval,
        heartbeat_timeout=args.hb_timeout,
        protocol_version=args.protocol_version,
        keys=args.keys,
        authorized_keys=args.authorized,
    )
    async with Runtime() as rt:
        await rt.spawn(node, name=NODE_NAME)
        if args.role == "basic":
            await rt.spawn(
                Supervisor(
                    [
                        ChildSpec("echo", Echo, name="echo"),
                        ChildSpec("sink", Sink, name="sink", mailbox_size=1 << 16),
                    ],
                    max_restarts=100,
                    max_seconds=1.0,
                )
            )
        elif args.role == "receiver":
            assert args.log, "--role receiver needs --log"
            # Registered only once init has restored the positions: until then channel data
            # for "collector" is refused (unknown target) and comes again later.
            collector = Collector(
                Path(args.log), restore=not args.no_restore, delay=args.handle_delay
            )
            register("collector", await rt.spawn(collector))
        for peer in [*args.wait_peer, *([args.peer] if args.role == "sender" else [])]:
            await wait_for_node(peer, 30)
        print("READY", flush=True)
        if args.role == "sender":
            await run_sender(args)
        await anyio.sleep_forever()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--bind", action="append", default=[])
    p.add_argument("--connect", action="append", default=[])
    p.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    p.add_argument("--hb-interval", type=float, default=0.2)
    p.add_argument("--hb-timeout", type=float, default=0.6)
    p.add_argument("--protocol-version", type=int, default=PROTOCOL_VERSION)
    p.add_argument("--keys")
    p.add_argument("--authorized")
    p.add_argument("--secure", action="store_true", help="Curve on the bound endpoints")
    p.add_argument("--server-key")
    p.add_argument("--role", default="basic", choices=["basic", "receiver", "sender"])
    p.add_argument("--log")
    p.add_argument(
        "--no-restore", action="store_true", help="receiver: do not restore channel positions"
    )
    p.add_argument("--handle-delay", type=float, default=0.0, help="receiver: per message")
    p.add_argument("--peer")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--wait-peer", action="append", default=[])
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S.%f"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    try:
        anyio.run(main, arguments, backend=arguments.backend)
    except KeyboardInterrupt:
        sys.exit(130)
