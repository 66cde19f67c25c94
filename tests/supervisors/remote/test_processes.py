"""Remote actors between real OS processes on tcp loopback.

The other nodes run ``nodeproc.py`` in a subprocess (with the same anyio backend as the test);
the test's side runs its own ``Runtime`` and ``Node`` in the pytest process. Liveness uses a
heartbeat interval of 0.2 s and a timeout of 0.6 s, so a dead or frozen peer must be noticed
well within ``DETECT_LIMIT``.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from supervisors import (
    NOPROC,
    Actor,
    ActorExited,
    CallTimeout,
    Crash,
    Down,
    From,
    NoConnection,
    NoProcess,
    Runtime,
    call,
    cast,
    demonitor,
    monitor,
)
from supervisors.remote import (
    NODE_NAME,
    PROTOCOL_VERSION,
    Connect,
    HandshakeRefused,
    Node,
    NodeDown,
    NodeUp,
    RemoteException,
    RemoteRef,
    generate_keypair,
    monitor_nodes,
    node_statistics,
    nodes,
    wait_for_node,
)

pytestmark = pytest.mark.anyio

NODEPROC = Path(__file__).with_name("nodeproc.py")
REPO = Path(__file__).resolve().parents[3]
HB_INTERVAL = 0.2
HB_TIMEOUT = 0.6
DETECT_LIMIT = 3.0  # seconds: heartbeat interval + timeout, with generous slack for CI
START_TIMEOUT = 30.0


# -- subprocesses -----------------------------------------------------------------------------


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class NodeProc:
    """One ``nodeproc.py`` process; ``restart()`` starts it again with the same arguments
    (a new incarnation). Output goes to files: ``NAME.N.out`` / ``NAME.N.err``."""

    def __init__(self, workdir: Path, backend: str, name: str, args: list[str]) -> None:
        self.workdir = workdir
        self.backend = backend
        self.name = name
        self.args = args
        self.starts = 0
        self.popen: subprocess.Popen[bytes] | None = None
        self.out = self.err = workdir / "unused"

    def start(self, extra: list[str] | None = None) -> NodeProc:
        assert self.popen is None or self.popen.poll() is not None, "already running"
        self.starts += 1
        self.out = self.workdir / f"{self.name}.{self.starts}.out"
        self.err = self.workdir / f"{self.name}.{self.starts}.err"
        cmd = [
            sys.executable,
            str(NODEPROC),
            "--name",
            self.name,
            "--backend",
            self.backend,
            "--hb-interval",
            str(HB_INTERVAL),
            "--hb-timeout",
            str(HB_TIMEOUT),
            *self.args,
            *(extra or []),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=REPO, env=env
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stdout(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def stderr(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def exited(self) -> int | None:
        assert self.popen is not None
        return self.popen.poll()

    async def ready(self, timeout: float = START_TIMEOUT) -> NodeProc:
        """Wait for its ``READY`` line; fail with its stderr if it exits or takes too long."""
        with anyio.move_on_after(timeout):
            while "READY" not in self.stdout().split():
                if self.exited() is not None:
                    pytest.fail(
                        f"{self.name} exited with {self.exited()} before READY:\n{self.stderr()}"
                    )
                await anyio.sleep(0.02)
            return self
        pytest.fail(f"{self.name} not READY after {timeout} s:\n{self.stderr()}")

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL and reap (a stopped process dies too)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)

    async def wait_exit(self, timeout: float) -> int:
        with anyio.move_on_after(timeout):
            while True:
                rc = self.exited()
                if rc is not None:
                    return rc
                await anyio.sleep(0.02)
        pytest.fail(f"{self.name} still running after {timeout} s:\n{self.stderr()}")


class Procs:
    def __init__(self, workdir: Path, backend: str) -> None:
        self.workdir = workdir
        self.backend = backend
        self.all: list[NodeProc] = []

    def node(self, name: str, *args: str) -> NodeProc:
        proc = NodeProc(self.workdir, self.backend, name, list(args))
        self.all.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.all:
            try:
                proc.kill()
            except Exception as exc:  # keep killing the others
                print(f"cleanup of {proc.name} failed: {exc!r}", file=sys.stderr)


@pytest.fixture
def procs(tmp_path: Path, anyio_backend: str) -> Iterator[Procs]:
    manager = Procs(tmp_path, anyio_backend)
    try:
        yield manager
    finally:
        manager.cleanup()


# -- the test's own node ----------------------------------------------------------------------


class Watcher(Actor):
    """Subscribes to NodeUp/NodeDown and records every info message with its arrival time."""

    async def init(self) -> None:
        self.events: list[tuple[float, Any]] = []
        monitor_nodes()

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "events":
            return list(self.events)
        if request[0] == "monitor":
            return monitor(request[1])
        if request[0] == "demonitor":
            demonitor(request[1])
            return None
        raise ValueError(request)

    async def handle_info(self, message: Any) -> None:
        self.events.append((time.monotonic(), message))


@asynccontextmanager
async def local_node(
    name: str, *, connect: Sequence[str] = (), bind: Sequence[str] = ()
) -> AsyncIterator[Any]:
    """A runtime with a node ``name`` (``bind``, ``connect``); yields a ``Watcher`` ref."""
    async with Runtime() as rt:
        await rt.spawn(
            Node(
                name,
                bind=bind,
                connect=connect,
                heartbeat_interval=HB_INTERVAL,
                heartbeat_timeout=HB_TIMEOUT,
                linger=0.0,
            ),
            name=NODE_NAME,
        )
        yield await rt.spawn(Watcher())


async def wait_event(
    watcher: Any,
    pred: Callable[[Any], bool],
    timeout: float,
    what: str,
    *,
    after: float = -math.inf,
) -> tuple[float, Any]:
    """The first (time, message) recorded after ``after`` that satisfies ``pred``."""
    events: list[tuple[float, Any]] = []
    with anyio.move_on_after(timeout):
        while True:
            events = await call(watcher, "events")
            for t, message in events:
                if t > after and pred(message):
                    return t, message
            await anyio.sleep(0.02)
    pytest.fail(f"no {what} within {timeout} s; events: {[m for _, m in events]}")


async def eventually(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """Retry the coroutine function ``fn`` until it returns without an ``ActorError``."""
    last: BaseException | None = None
    with anyio.move_on_after(timeout):
        while True:
            try:
                return await fn()
            except (NoProcess, ActorExited, CallTimeout) as exc:
                last = exc
            await anyio.sleep(0.05)
    pytest.fail(f"{what} did not succeed within {timeout} s; last error: {last!r}")


async def poll_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    with anyio.move_on_after(timeout):
        while True:
            if pred():
                return
            await anyio.sleep(0.02)
    pytest.fail(f"{what}: not within {timeout} s")


def peer_up(node: str) -> NodeUp:
    """The session with ``node`` as a ``NodeUp`` (its NodeUp may have gone out before our
    watcher subscribed)."""
    peers = [p for p in node_statistics().peers if p.node == node]
    assert len(peers) == 1, node_statistics()
    return NodeUp(node, peers[0].incarnation)


def is_node_up(node: str, incarnation: int | None = None) -> Callable[[Any], bool]:
    return lambda m: (
        isinstance(m, NodeUp)
        and m.node == node
        and (incarnation is None or m.incarnation == incarnation)
    )


def is_node_down(node: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, NodeDown) and m.node == node


async def start_basic(procs: Procs, name: str = "b") -> tuple[NodeProc, str]:
    ep = free_endpoint()
    proc = procs.node(name, "--bind", ep).start()
    await proc.ready()
    return proc, ep


# -- (1) call, cast, monitor ------------------------------------------------------------------


async def test_call_cast_monitor_between_processes(procs: Procs) -> None:
    _, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]) as w:
        await wait_for_node("b", 10)
        assert nodes() == ["b"]
        echo, sink = RemoteRef("b", "echo"), RemoteRef("b", "sink")

        request = {"x": 1, "nested": [1, 2.5, "three", None, {"k": b"bytes"}]}
        assert await call(echo, request, timeout=5) == request
        assert await call(echo, "hello", timeout=5) == "hello"

        await cast(sink, "first")
        await cast(sink, {"second": 2})
        assert await call(sink, "log", timeout=5) == ["first", {"second": 2}]

        # A monitor of an unknown remote name: Down(noproc) at once.
        ghost = RemoteRef("b", "ghost")
        mref_ghost = await call(w, ("monitor", ghost))
        _, down = await wait_event(w, lambda m: isinstance(m, Down), 5, "Down for ghost")
        assert (down.monitor, down.ref, down.reason) == (mref_ghost, ghost, NOPROC)

        # Two monitors of echo, one cancelled: only the other fires when echo crashes.
        cancelled = await call(w, ("monitor", echo))
        kept = await call(w, ("monitor", echo))
        await call(w, ("demonitor", cancelled))
        with pytest.raises(ActorExited) as exc_info:
            await call(echo, "crash", timeout=5)
        assert isinstance(exc_info.value.reason, Crash)
        _, down = await wait_event(
            w, lambda m: isinstance(m, Down) and m.monitor is kept, 5, "Down for echo"
        )
        assert down.ref == echo
        assert isinstance(down.reason, Crash)
        exc = down.reason.exception
        assert isinstance(exc, RemoteException)
        assert exc.type_name == "ValueError", exc
        assert "asked to crash" in exc.message
        await anyio.sleep(0.3)
        downs = [m for _, m in await call(w, "events") if isinstance(m, Down)]
        assert all(m.monitor is not cancelled for m in downs), downs

        # echo is under a supervisor: it comes back, under the same name.
        assert await eventually(lambda: call(echo, 42, timeout=2), 5, "call after restart") == 42
        assert node_statistics().bad_input == {}


# -- (2) ordering -----------------------------------------------------------------------------


async def test_ten_thousand_casts_arrive_in_order(procs: Procs) -> None:
    _, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]):
        await wait_for_node("b", 10)
        sink = RemoteRef("b", "sink")
        n = 10_000
        for i in range(n):
            await cast(sink, i)
        got = await call(sink, "log", timeout=30)
        assert len(got) == n, f"{n - len(got)} casts lost"
        assert got == list(range(n)), "casts from one sender were reordered"
        assert node_statistics().casts_dropped == 0


# -- (3) errors across nodes ------------------------------------------------------------------


async def test_call_errors_across_processes(procs: Procs) -> None:
    _, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]):
        await wait_for_node("b", 10)
        echo = RemoteRef("b", "echo")

        # CallTimeout; the late reply is counted and dropped, the next call still works.
        with pytest.raises(CallTimeout) as timeout_info:
            await call(echo, ["sleep", 1.0], timeout=0.3)
        assert timeout_info.value.target == echo
        assert await call(echo, "after", timeout=5) == "after"

        await poll_until(lambda: node_statistics().late_replies >= 1, 5, "late reply counted")

        # No process: an unregistered name on a live node, and an unknown node.
        with pytest.raises(NoProcess) as noproc_info:
            await call(RemoteRef("b", "nobody"), "hi", timeout=5)
        assert noproc_info.value.target == RemoteRef("b", "nobody")
        with pytest.raises(NoProcess):
            await call(RemoteRef("no-such-node", "echo"), "hi", timeout=5)
        await cast(RemoteRef("b", "nobody"), "dropped")  # a cast never raises

        # A crash in the server: ActorExited with the remote exception as text.
        with pytest.raises(ActorExited) as exited_info:
            await call(echo, "crash", timeout=5)
        reason = exited_info.value.reason
        assert isinstance(reason, Crash)
        assert isinstance(reason.exception, RemoteException)
        assert reason.exception.type_name == "ValueError"
        assert await eventually(lambda: call(echo, "back", timeout=2), 5, "echo") == "back"
        assert nodes() == ["b"]


# -- (4) node failure: SIGKILL, SIGSTOP/SIGCONT, restart ----------------------------------------


async def test_sigkill_detected_then_restart_is_new_incarnation(procs: Procs) -> None:
    b, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]) as w:
        await wait_for_node("b", 10)
        up = peer_up("b")
        echo = RemoteRef("b", "echo")
        mref = await call(w, ("monitor", echo))
        assert await call(echo, "ping", timeout=5) == "ping"

        pending: list[BaseException] = []

        async def pending_call() -> None:
            try:
                await call(echo, ["sleep", 30], timeout=20)
            except Exception as exc:
                pending.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pending_call)
            await anyio.sleep(0.1)  # the call is on the wire
            t0 = time.monotonic()
            b.signal(signal.SIGKILL)
            t_down, down = await wait_event(w, is_node_down("b"), 10, "NodeDown b")
            t_mon, mon_down = await wait_event(
                w, lambda m: isinstance(m, Down) and m.monitor is mref, 10, "Down for echo"
            )
        assert t_down - t0 < DETECT_LIMIT, f"NodeDown after {t_down - t0:.2f} s"
        assert t_mon - t0 < DETECT_LIMIT, f"monitor Down after {t_mon - t0:.2f} s"
        assert down.incarnation == up.incarnation
        assert mon_down.ref == echo
        assert mon_down.reason == NoConnection("b")
        assert len(pending) == 1
        assert isinstance(pending[0], ActorExited), pending
        assert pending[0].reason == NoConnection("b")
        assert "b" not in nodes()
        with pytest.raises(NoProcess):
            await call(echo, "while down", timeout=2)
        b.kill()

        # The same node restarted on the same endpoint: a new incarnation.
        t_restart = time.monotonic()
        await b.start().ready()
        await wait_for_node("b", 10)
        _, up2 = await wait_event(
            w,
            lambda m: isinstance(m, NodeUp) and m.node == "b" and m.incarnation != up.incarnation,
            10,
            "NodeUp of the new incarnation",
        )
        ups = [m for t, m in await call(w, "events") if t > t_restart and is_node_up("b")(m)]
        assert ups == [up2], ups
        assert await call(echo, "again", timeout=5) == "again"
        mref2 = await call(w, ("monitor", echo))
        with pytest.raises(ActorExited):
            await call(echo, "crash", timeout=5)
        _, crash_down = await wait_event(
            w, lambda m: isinstance(m, Down) and m.monitor is mref2, 5, "Down after crash"
        )
        assert isinstance(crash_down.reason, Crash)


async def freeze_and_wait_down(
    b: NodeProc, w: Any, up: NodeUp, mref: Any, during: Callable[[], Any] | None = None
) -> None:
    """SIGSTOP ``b`` (named "b"; ``mref`` monitors its echo) and check that it is declared
    down in time; ``during`` runs right after the signal (traffic while frozen)."""
    t0 = time.monotonic()
    b.signal(signal.SIGSTOP)
    if during is not None:
        await during()
    t_down, down = await wait_event(w, is_node_down("b"), 10, "NodeDown b", after=t0)
    t_mon, mon_down = await wait_event(
        w, lambda m: isinstance(m, Down) and m.monitor is mref, 10, "Down for echo", after=t0
    )
    assert t_down - t0 < DETECT_LIMIT, f"NodeDown after {t_down - t0:.2f} s"
    assert t_mon - t0 < DETECT_LIMIT, f"monitor Down after {t_mon - t0:.2f} s"
    assert down.incarnation == up.incarnation
    assert down.reason == "heartbeat timeout", down
    assert mon_down.reason == NoConnection("b")
    with pytest.raises(NoProcess):
        await call(RemoteRef("b", "echo"), "while stopped", timeout=2)
    await anyio.sleep(0.5)  # stay frozen a while after being declared down


async def check_recovered(w: Any, up: NodeUp, t_cont: float, *, strict: bool = True) -> None:
    """After SIGCONT: the same incarnation is up again as a new session, answers calls, and
    stays up over several heartbeat timeouts. ``strict``: the first call after the NodeUp
    succeeds and no NodeDown follows it; else the session only has to settle, then stay up."""
    echo = RemoteRef("b", "echo")
    _, up2 = await wait_event(w, is_node_up("b"), 5, "NodeUp after SIGCONT", after=t_cont)
    assert up2.incarnation == up.incarnation
    if strict:
        assert await call(echo, "resumed", timeout=5) == "resumed"
        settled = t_cont
    else:
        assert await eventually(lambda: call(echo, "resumed", timeout=2), 5, "call") == "resumed"
        settled = time.monotonic()
    for i in range(15):
        assert await call(echo, i, timeout=5) == i
        await anyio.sleep(0.1)
    after = [m for t, m in await call(w, "events") if t > settled]
    assert [m for m in after if isinstance(m, NodeDown)] == [], after
    assert nodes() == ["b"]


async def freeze_with_traffic(b: NodeProc, w: Any) -> tuple[NodeUp, float]:
    """Freeze node "b" while 3000 casts to it are in flight; thaw it once it was
    declared down. Returns its session (as before) and the time of the SIGCONT."""
    up = peer_up("b")
    echo = RemoteRef("b", "echo")
    mref = await call(w, ("monitor", echo))
    assert await call(echo, "ping", timeout=5) == "ping"

    async def traffic() -> None:
        for i in range(3000):
            await cast(RemoteRef("b", "sink"), i)

    try:
        await freeze_and_wait_down(b, w, up, mref, traffic)
    finally:
        t_cont = time.monotonic()
        b.signal(signal.SIGCONT)
    return up, t_cont


async def test_sigstop_detected(procs: Procs) -> None:
    """A frozen node (its TCP connection stays open) is declared down by heartbeat timeout."""
    b, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]) as w:
        await wait_for_node("b", 10)
        up = peer_up("b")
        mref = await call(w, ("monitor", RemoteRef("b", "echo")))
        assert await call(RemoteRef("b", "echo"), "ping", timeout=5) == "ping"
        try:
            await freeze_and_wait_down(b, w, up, mref)
        finally:
            b.signal(signal.SIGCONT)
        # Recovery of this direction (the frozen node is the bound one) is checked by
        # test_sigcont_recovers_bound_node_with_traffic_in_flight.


async def test_sigcont_recovers_connecting_node(procs: Procs) -> None:
    """The frozen node is the connecting one: after SIGCONT it says hello again."""
    ep = free_endpoint()
    async with local_node("a", bind=[ep]) as w:
        b = procs.node("b", "--connect", ep, "--wait-peer", "a").start()
        await b.ready()
        up, t_cont = await freeze_with_traffic(b, w)
        await check_recovered(w, up, t_cont)


async def test_sigcont_recovers_bound_node_with_traffic_in_flight(procs: Procs) -> None:
    """The frozen node is the bound one, and messages to it were in flight when it froze.

    While it is frozen, libzmq on our side times the connection out (ZMTP heartbeats) and
    reconnects; the kernel accepts the new connection. On SIGCONT the frozen node's ROUTER
    sees the new connection, with our routing id, before it has drained and closed the old
    one: without ROUTER_HANDOVER it ignores the new connection for good (a permanent
    partition; without the traffic the same happens in about half of the runs).
    """
    b, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]) as w:
        await wait_for_node("b", 10)
        up, t_cont = await freeze_with_traffic(b, w)
        await check_recovered(w, up, t_cont, strict=False)


async def test_sigcont_bound_node_no_spurious_reset(procs: Procs) -> None:
    """Three freeze/thaw cycles of the bound node: once it is up again, the session must
    stay up (the first call succeeds, no NodeDown follows)."""
    b, ep = await start_basic(procs)
    async with local_node("a", connect=[ep]) as w:
        await wait_for_node("b", 10)
        for _ in range(3):
            up, t_cont = await freeze_with_traffic(b, w)
            await check_recovered(w, up, t_cont, strict=True)


# -- (5) protocol version ---------------------------------------------------------------------


async def test_protocol_version_mismatch_is_refused(procs: Procs) -> None:
    other = PROTOCOL_VERSION + 1
    ep = free_endpoint()
    b = procs.node("b", "--bind", ep, "--protocol-version", str(other)).start()
    await b.ready()
    async with local_node("a", connect=[ep]):
        with pytest.raises(HandshakeRefused) as info:
            await wait_for_node("b", 10)
        message = str(info.value)
        assert f"version {PROTOCOL_VERSION}" in message, message
        assert f"version {other}" in message, message
        assert "'a'" in message and "'b'" in message, message
        assert "b" not in nodes()
        with pytest.raises(NoProcess):
            await call(RemoteRef("b", "echo"), "hi", timeout=2)

        await poll_until(lambda: "handshake_refused" in b.stderr(), 5, "refusal in b's log")
        err = b.stderr()
        assert f"version {PROTOCOL_VERSION}" in err and f"version {other}" in err, err


async def test_protocol_version_mismatch_connecting_side_gives_up(procs: Procs) -> None:
    """The other way round: an old node connecting to us is refused and its
    ``wait_for_node`` fails with ``HandshakeRefused`` (the subprocess dies with it)."""
    other = PROTOCOL_VERSION + 1
    ep = free_endpoint()
    async with Runtime() as rt:
        await rt.spawn(
            Node(
                "a",
                bind=[ep],
                heartbeat_interval=HB_INTERVAL,
                heartbeat_timeout=HB_TIMEOUT,
                linger=0.0,
            ),
            name=NODE_NAME,
        )
        b = procs.node(
            "b", "--connect", ep, "--protocol-version", str(other), "--wait-peer", "a"
        ).start()
        rc = await b.wait_exit(START_TIMEOUT)
        assert rc != 0
        assert "READY" not in b.stdout()
        err = b.stderr()
        assert "HandshakeRefused" in err, err
        assert f"version {PROTOCOL_VERSION}" in err and f"version {other}" in err, err
        assert nodes() == []
        assert node_statistics().bad_input.get("version", 0) >= 1


# -- (6) the acknowledged channel across restarts -----------------------------------------------


def read_received(path: Path) -> dict[int, list[int]]:
    """Collector log -> sender incarnation -> seqs in the order they were handled."""
    out: dict[int, list[int]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue  # a torn last line (the reader's restart truncates it)
        sender, inc, channel, seq = parts
        assert (sender, channel) == ("s", "collector"), line
        out.setdefault(int(inc), []).append(int(seq))
    return out


def read_acked(path: Path) -> tuple[int | None, list[int], bool]:
    """Sender log -> (its incarnation, seqs recorded as acknowledged, finished)."""
    inc: int | None = None
    acked: list[int] = []
    done = False
    if not path.exists():
        return inc, acked, done
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        if parts[0] == "DONE":
            done = True
            continue
        inc = int(parts[0])
        acked.append(int(parts[1]))
    return inc, acked, done


async def wait_acked(
    sender: NodeProc, log: Path, at_least: int, timeout: float, *, finished: bool = False
) -> tuple[int, list[int]]:
    """Wait until ``sender`` recorded ``at_least`` seqs as acknowledged (``finished``: and
    its ``DONE`` line: everything it sent was acknowledged)."""
    with anyio.move_on_after(timeout):
        while True:
            inc, acked, done = read_acked(log)
            if inc is not None and len(acked) >= at_least and (done or not finished):
                return inc, acked
            if sender.exited() is not None:
                pytest.fail(f"sender exited with {sender.exited()}:\n{sender.stderr()}")
            await anyio.sleep(0.01)
    pytest.fail(
        f"sender acked {len(read_acked(log)[1])} (wanted {at_least}, finished={finished}) "
        f"within {timeout} s:\n"
        f"{sender.stderr()[-3000:]}"
    )


def check_exactly_once(received: list[int], acked: list[int], what: str) -> None:
    assert acked == list(range(1, len(acked) + 1)), f"{what}: acks not cumulative"
    dupes = sorted({s for s in received if received.count(s) > 1})
    assert not dupes, f"{what}: handled twice: {dupes[:20]}"
    assert received == list(range(1, len(received) + 1)), f"{what}: gap or reorder"
    missing = sorted(set(acked) - set(received))
    assert not missing, f"{what}: acknowledged but never handled: {missing[:20]}"


COUNT = 1500
DELAY = "0.002"


async def test_acked_channel_survives_receiver_restarts(procs: Procs, tmp_path: Path) -> None:
    ep = free_endpoint()
    rlog, slog = tmp_path / "collector.log", tmp_path / "sender.log"
    r = procs.node("r", "--bind", ep, "--role", "receiver", "--log", str(rlog))
    await r.start().ready()
    s = procs.node(
        "s",
        "--connect",
        ep,
        "--role",
        "sender",
        "--peer",
        "r",
        "--log",
        str(slog),
        "--count",
        str(COUNT),
        "--window",
        "16",
        "--delay",
        DELAY,
    )
    await s.start().ready()

    # Kill the receiver mid-stream twice: restarted at once (the sender has not noticed yet),
    # then after a pause longer than the heartbeat timeout (the sender declared it down).
    handled_at_kill = []
    for threshold, pause in ((300, 0.0), (800, 1.0)):
        inc, acked = await wait_acked(s, slog, threshold, 30)
        r.kill()
        handled_at_kill.append(len(read_received(rlog).get(inc, [])))
        await anyio.sleep(pause)
        await r.start().ready()

    inc, acked = await wait_acked(s, slog, COUNT, 60, finished=True)
    assert all(n < COUNT for n in handled_at_kill), f"not mid-stream: {handled_at_kill}"
    received = read_received(rlog)
    assert list(received) == [inc], received.keys()
    check_exactly_once(received[inc], acked, "receiver restarts")
    assert received[inc] == list(range(1, COUNT + 1))


async def test_acked_channel_survives_sender_restart(procs: Procs, tmp_path: Path) -> None:
    ep = free_endpoint()
    rlog = tmp_path / "collector.log"
    r = procs.node("r", "--bind", ep, "--role", "receiver", "--log", str(rlog))
    await r.start().ready()
    sender_args = ["--connect", ep, "--role", "sender", "--peer", "r", "--window", "16"]

    slog1 = tmp_path / "sender1.log"
    s1 = procs.node("s", *sender_args, "--log", str(slog1), "--count", str(COUNT), "--delay", DELAY)
    await s1.start().ready()
    inc1, _ = await wait_acked(s1, slog1, 300, 30)
    s1.kill()
    _, acked1, done1 = read_acked(slog1)
    assert not done1

    # A new incarnation of the same node name streams its own sequence from 1.
    slog2 = tmp_path / "sender2.log"
    count2 = 500
    s2 = procs.node("s", *sender_args, "--log", str(slog2), "--count", str(count2))
    await s2.start().ready()
    inc2, acked2 = await wait_acked(s2, slog2, count2, 60, finished=True)
    assert inc2 != inc1

    received = read_received(rlog)
    assert set(received) == {inc1, inc2}, received.keys()
    check_exactly_once(received[inc1], acked1, "killed sender")
    assert len(received[inc1]) < COUNT, "the sender was not killed mid-stream"
    check_exactly_once(received[inc2], acked2, "restarted sender")
    assert received[inc2] == list(range(1, count2 + 1))


async def restart_receiver_without_positions(
    procs: Procs,
    tmp_path: Path,
    *,
    count: int,
    kill_after: int,
    receiver_args: Sequence[str] = (),
    sender_args: Sequence[str] = (),
) -> None:
    """A receiver without saved positions is killed after ``kill_after`` acks and restarts
    from nothing: every message must still be acknowledged and handled (at least once)."""
    ep = free_endpoint()
    rlog, slog = tmp_path / "collector.log", tmp_path / "sender.log"
    r_args = ["--bind", ep, "--role", "receiver", "--log", str(rlog), "--no-restore"]
    r = procs.node("r", *r_args, *receiver_args)
    await r.start().ready()
    s = procs.node(
        "s",
        *("--connect", ep, "--role", "sender", "--peer", "r", "--log", str(slog)),
        *("--count", str(count), *sender_args),
    )
    await s.start().ready()
    inc, acked = await wait_acked(s, slog, kill_after, 30)
    r.kill()
    assert len(read_received(rlog)[inc]) < count, "not mid-stream"
    await r.start().ready()

    inc, acked = await wait_acked(s, slog, count, 10, finished=True)
    assert acked == list(range(1, count + 1))
    received = read_received(rlog)[inc]
    assert set(received) == set(range(1, count + 1)), "a message was never handled"


async def test_acked_channel_without_saved_positions_is_at_least_once(
    procs: Procs, tmp_path: Path
) -> None:
    """``channel_positions`` documents that without restoring them delivery is at-least-once:
    a receiver that restarts from nothing may handle some messages twice, but the channel
    must go on and every message must be handled."""
    await restart_receiver_without_positions(
        procs,
        tmp_path,
        count=1000,
        kill_after=300,
        sender_args=("--window", "16", "--delay", DELAY),
    )


async def test_acked_channel_without_saved_positions_after_a_burst(
    procs: Procs, tmp_path: Path
) -> None:
    """As above, but the sender sent everything at once (within its window), so every
    message in flight was sent before any of them was acknowledged; the receiver (slow:
    50 ms a message) is killed halfway and restarts from nothing."""
    await restart_receiver_without_positions(
        procs,
        tmp_path,
        count=40,
        kill_after=10,
        receiver_args=("--handle-delay", "0.05"),
        sender_args=("--window", "64"),
    )


# -- Curve between processes -------------------------------------------------------------------


async def test_curve_between_processes_refuses_unknown_keys(procs: Procs, tmp_path: Path) -> None:
    """A Curve server in another process (loopback, Curve forced): a client whose public key
    is in the authorized directory gets a session and its calls work; one whose key is not
    never gets in, and the server logs the refusal."""
    keys, authorized = tmp_path / "keys", tmp_path / "authorized"
    authorized.mkdir()
    generate_keypair(keys, "server")
    generate_keypair(keys, "good")
    generate_keypair(keys, "rogue")
    shutil.copy(keys / "good.key", authorized / "good.key")
    ep = free_endpoint()
    b = procs.node(
        "b",
        "--bind", ep, "--secure",
        "--keys", str(keys / "server.key_secret"),
        "--authorized", str(authorized),
    ).start()  # fmt: skip
    await b.ready()

    async def attempt(name: str) -> object:
        async with Runtime() as rt:
            await rt.spawn(
                Node(
                    name,
                    connect=[Connect(ep, server_key=keys / "server.key")],
                    keys=keys / f"{name}.key_secret",
                    heartbeat_interval=HB_INTERVAL,
                    heartbeat_timeout=HB_TIMEOUT,
                    linger=0.0,
                ),
                name=NODE_NAME,
            )
            try:
                await wait_for_node("b", 3 if name == "rogue" else 10)
            except TimeoutError:
                return "refused"
            return await call(RemoteRef("b", "echo"), f"hello from {name}")

    assert await attempt("rogue") == "refused"
    assert await attempt("good") == "hello from good"
    await poll_until(lambda: "client_refused" in b.stderr(), 5, "refusal in b's log")
