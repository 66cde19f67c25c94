"""Shutdown: grace periods, kills, abandoned children, reverse order, runtime exit and ``run()``.

Modelled on OTP's ``sup_stop_*`` and ``child_unlink`` cases: whatever a child does, its
supervisor stops waiting after the child's shutdown timeout (plus a short kill grace).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
import structlog

import supervisors
from supervisors import (
    BRUTAL_KILL,
    KILLED,
    SHUTDOWN,
    ChildSpec,
    Runtime,
    Shutdown,
    Supervisor,
    call,
    which_children,
)
from tests.supervisors.helpers import (
    EventLog,
    Recorder,
    capture_all_logs,
    events_named,
    refs,
    starts,
    stop_reasons,
    stops,
    worker,
)

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ["asyncio", "trio"]


async def stop_timed(ref: supervisors.ActorRef, limit: float = 5.0) -> float:
    start = time.monotonic()
    with anyio.fail_after(limit):
        assert await supervisors.stop(ref, SHUTDOWN) == SHUTDOWN
    return time.monotonic() - start


# -- grace periods ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cooperative_child_stops_at_once(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor([ChildSpec("c", worker(events, "c"), shutdown=2.0)]))
    child = (await refs(sup))["c"]
    with capture_all_logs() as logs:
        elapsed = await stop_timed(sup)
    assert elapsed < 0.5
    assert child is not None and child.exit_reason == SHUTDOWN
    assert stop_reasons(events, "c") == [SHUTDOWN]
    assert not events_named(logs, "supervisor.shutdown_timeout")


@pytest.mark.anyio
async def test_slow_child_within_grace_completes_terminate(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([ChildSpec("s", worker(events, "s", stop_delay=0.3), shutdown=2.0)])
    )
    child = (await refs(sup))["s"]
    with capture_all_logs() as logs:
        elapsed = await stop_timed(sup)
    assert 0.28 <= elapsed < 1.5, elapsed
    assert child is not None and child.exit_reason == SHUTDOWN
    assert stop_reasons(events, "s") == [SHUTDOWN]  # terminate ran to completion
    assert not events_named(logs, "supervisor.shutdown_timeout")


@pytest.mark.anyio
async def test_child_exceeding_grace_is_killed(rt: Runtime) -> None:
    """terminate sleeps longer than the shutdown timeout: it is cancelled at the timeout."""
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([ChildSpec("n", worker(events, "n", stop_delay=3.0), shutdown=0.3)])
    )
    child = (await refs(sup))["n"]
    with capture_all_logs() as logs:
        elapsed = await stop_timed(sup)
    assert 0.28 <= elapsed < 0.3 + 0.1 + 0.3, elapsed
    assert child is not None and child.exit_reason == KILLED
    assert ("stopping", "n", SHUTDOWN) in events
    assert stops(events) == []  # terminate did not complete
    [timeout] = events_named(logs, "supervisor.shutdown_timeout")
    assert timeout["grace"] == 0.3
    assert timeout["log_level"] == "warning"
    assert not events_named(logs, "supervisor.child_abandoned")  # the kill worked


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["handler", "terminate"])
async def test_non_cooperative_child_is_abandoned(rt: Runtime, where: str) -> None:
    """The child catches the cancellation and keeps running in a shielded scope for 1 s
    (in a handler, or in terminate): the supervisor gives up after the grace period plus the
    kill grace and does not wait for it."""
    events: EventLog = []
    if where == "handler":
        factory = worker(events, "n", block_seconds=1.0)
    else:
        factory = worker(events, "n", shield_terminate=1.0)
    sup = await rt.spawn(
        Supervisor([ChildSpec("n", factory, shutdown=0.2), ChildSpec("a", worker(events, "a"))])
    )
    child = (await refs(sup))["n"]
    assert child is not None
    if where == "handler":
        assert await call(child, "block") == "blocking"
    with capture_all_logs() as logs:
        elapsed = await stop_timed(sup)
    # grace 0.2 + kill grace 0.1; nowhere near the child's 1 s
    assert 0.28 <= elapsed < 0.6, elapsed
    assert child.exit_reason == KILLED
    assert stops(events) == ["a"]  # the next child (in reverse order) was still stopped
    assert events_named(logs, "supervisor.shutdown_timeout")
    [abandoned] = events_named(logs, "supervisor.child_abandoned")
    assert abandoned["log_level"] == "error"
    assert abandoned["child"].startswith(f"<ActorRef #{child.id} ")
    stats = sup.statistics().supervisor
    assert stats is not None and stats.abandoned_total == 1
    assert rt.statistics().abandoned_total == 1


@pytest.mark.anyio
async def test_brutal_kill_skips_terminate(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([ChildSpec("b", worker(events, "b", stop_delay=3.0), shutdown=BRUTAL_KILL)])
    )
    child = (await refs(sup))["b"]
    elapsed = await stop_timed(sup)
    assert elapsed < 0.2, elapsed
    assert child is not None and child.exit_reason == KILLED
    assert not any(e[0] in ("stopping", "stop") for e in events)


@pytest.mark.anyio
async def test_supervisor_never_hangs(rt: Runtime) -> None:
    """OTP's ``child_unlink`` analogue: a child that blocks for 1 s in a shielded scope under
    shutdown=0.1; the supervisor's stop returns well before the child unblocks."""
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([ChildSpec("n", worker(events, "n", block_seconds=1.0), shutdown=0.1)])
    )
    child = (await refs(sup))["n"]
    assert child is not None
    await call(child, "block")
    elapsed = await stop_timed(sup)
    assert elapsed < 0.6, elapsed
    assert ("cancelled", "n") in events
    assert ("unblocked", "n") not in events
    assert not sup.alive


@pytest.mark.anyio
async def test_terminate_child_honours_the_timeout(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([ChildSpec("n", worker(events, "n", stop_delay=3.0), shutdown=0.2)])
    )
    child = (await refs(sup))["n"]
    start = time.monotonic()
    with anyio.fail_after(3):
        await supervisors.terminate_child(sup, "n")
    assert time.monotonic() - start < 0.6
    assert child is not None and child.exit_reason == KILLED
    [info] = await which_children(sup)
    assert info.status == "stopped"


@pytest.mark.anyio
async def test_child_that_unlinks_itself_does_not_hang_shutdown(rt: Runtime) -> None:
    """OTP's ``child_unlink``: the supervisor waits for the child's exit, not for a link."""

    class Unlinker(Recorder):
        async def init(self) -> None:
            supervisors.unlink("unlink_sup")
            await super().init()

    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([ChildSpec("u", lambda: Unlinker(events, "u"), shutdown=1.0)]),
        name="unlink_sup",
    )
    child = (await refs(sup))["u"]
    assert child is not None
    assert child.statistics().links == 0
    elapsed = await stop_timed(sup)
    assert elapsed < 0.5
    assert child.exit_reason == SHUTDOWN
    assert stop_reasons(events, "u") == [SHUTDOWN]


# -- order ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_static_children_stop_sequentially_in_reverse(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("a", worker(events, "a", stop_delay=0.15), shutdown=1.0),
                ChildSpec("b", worker(events, "b", stop_delay=3.0), shutdown=0.2),  # killed
                ChildSpec("c", worker(events, "c"), shutdown=BRUTAL_KILL),
                ChildSpec("d", worker(events, "d", stop_delay=0.15), shutdown=1.0),
            ]
        )
    )
    r = await refs(sup)
    elapsed = await stop_timed(sup)
    # d 0.15 s, c at once, b 0.2 s (its timeout), a 0.15 s: the sum of the waits
    assert 0.48 <= elapsed < 0.5 + 0.45, elapsed
    assert [e[1] for e in events if e[0] == "stopping"] == ["d", "b", "a"]
    assert stops(events) == ["d", "a"]
    reasons = {k: v.exit_reason for k, v in r.items() if v is not None}
    assert reasons == {"a": SHUTDOWN, "b": KILLED, "c": KILLED, "d": SHUTDOWN}


@pytest.mark.anyio
async def test_runtime_exit_stops_tree_in_reverse_order() -> None:
    events: EventLog = []
    async with Runtime() as rt:
        first = await rt.spawn(
            Supervisor(
                [
                    ChildSpec("a", worker(events, "a")),
                    Supervisor.spec(
                        "mid",
                        [ChildSpec("b", worker(events, "b")), ChildSpec("c", worker(events, "c"))],
                    ),
                    ChildSpec("d", worker(events, "d", stop_delay=0.05)),
                ]
            )
        )
        second = await rt.spawn(Supervisor([ChildSpec("e", worker(events, "e"))]))
        loose = await rt.spawn(worker(events, "loose")())
        assert starts(events) == ["a", "b", "c", "d", "e", "loose"]
    # spawned last, stopped first; inside a tree, depth-first in reverse start order
    assert stops(events) == ["loose", "e", "d", "c", "b", "a"]
    assert all(e[2] == SHUTDOWN for e in events if e[0] == "stop")
    assert not first.alive and not second.alive and not loose.alive
    assert rt.statistics().alive == 0


@pytest.mark.anyio
async def test_runtime_exit_does_not_hang_on_abandoned_child() -> None:
    events: EventLog = []
    start = time.monotonic()
    with anyio.fail_after(5):
        async with Runtime() as rt:
            sup = await rt.spawn(
                Supervisor([ChildSpec("n", worker(events, "n", block_seconds=1.0), shutdown=0.1)])
            )
            child = (await refs(sup))["n"]
            assert child is not None
            await call(child, "block")
    # the runtime waits for the shielded task itself to end (~1 s), but no longer
    assert time.monotonic() - start < 2.0
    assert rt.statistics().abandoned_total == 1


# -- run() ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_returns_shutdown_when_root_escalates(backend: str) -> None:
    import tests.supervisors.helpers as helpers

    class CrashSoon(supervisors.Actor):
        async def init(self) -> None:
            self.start_soon(self.boom)

        async def boom(self) -> None:
            await anyio.lowlevel.checkpoint()
            raise RuntimeError("boom")

    root = Supervisor.spec("root", [ChildSpec("c", CrashSoon)], max_restarts=2, max_seconds=60)
    with helpers.capture_all_logs() as logs:
        reason = supervisors.run(root, backend=backend)  # type: ignore[arg-type]
    assert reason == SHUTDOWN
    assert supervisors.exit_code(reason) == 0
    assert events_named(logs, "supervisor.max_restart_intensity")
    [exited] = events_named(logs, "application.exited")
    assert exited["log_level"] == "error"
    assert "maximum restart intensity" in exited["detail"]
    assert "2 restarts in 60 s" in exited["detail"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_returns_root_reason(backend: str) -> None:
    class Quits(supervisors.Actor):
        async def init(self) -> None:
            self.start_soon(self.quit)

        async def quit(self) -> None:
            await anyio.sleep(0.01)
            await supervisors.stop(self.ref, Shutdown("done"))

    with structlog.testing.capture_logs():
        reason = supervisors.run(Quits, backend=backend)  # type: ignore[arg-type]
    assert reason == Shutdown("done")


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_takes_an_actor_instance(backend: str) -> None:
    # run(Supervisor([...])), as docs/remote.md writes it, and run(SomeActor())
    class Quits(supervisors.Actor):
        async def init(self) -> None:
            supervisors.send_after(self.ref, "quit", 0.01)

        async def handle_info(self, message: object) -> None:
            raise supervisors.StopActor(Shutdown(message))

    class Exits(supervisors.Actor):
        async def init(self) -> None:
            supervisors.send_after(self.ref, "quit", 0.01)

        async def handle_info(self, message: object) -> None:
            raise supervisors.StopActor(supervisors.NORMAL)

    with structlog.testing.capture_logs():
        assert supervisors.run(Quits(), backend=backend) == Shutdown("quit")  # type: ignore[arg-type]
        sup = Supervisor([ChildSpec("c", Exits)], max_restarts=0)
        assert supervisors.run(sup, backend=backend) == SHUTDOWN  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        supervisors.run(42)  # type: ignore[arg-type]


PROGRAM = textwrap.dedent(
    """
    import sys
    import anyio
    import structlog
    import supervisors
    from supervisors import Actor, ChildSpec, Supervisor

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    HANG = sys.argv[2] == "hang"

    class W(Actor):
        def __init__(self, name):
            self.name = name

        async def init(self):
            print("start", self.name, flush=True)
            if self.name == "d":
                self.start_soon(self.ready)

        async def ready(self):
            await anyio.sleep(0.2)  # run() has installed its signal handlers by now
            print("ready", flush=True)

        async def terminate(self, reason):
            if HANG and self.name == "d":
                print("hanging", self.name, flush=True)
                await anyio.sleep(60)
            print("stop", self.name, repr(reason), flush=True)

    def child(name):
        return ChildSpec(name, lambda: W(name), shutdown="infinity" if HANG else 5.0)

    root = Supervisor.spec(
        "root", [child("a"), Supervisor.spec("mid", [child("b"), child("c")]), child("d")]
    )
    reason = supervisors.run(root, backend=sys.argv[1])
    print("exit", repr(reason), flush=True)
    sys.exit(supervisors.exit_code(reason))
    """
)


def start_program(backend: str, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, backend, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(5)]
    assert lines == ["start a", "start b", "start c", "start d", "ready"], lines
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_signal_shuts_down_gracefully_in_reverse_order(backend: str, sig: signal.Signals) -> None:
    proc = start_program(backend, "graceful")
    try:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines() == [
        "stop d shutdown",
        "stop c shutdown",
        "stop b shutdown",
        "stop a shutdown",
        "exit shutdown",
    ], err
    assert "application.stopping" in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_sigint_kills_what_is_left(backend: str) -> None:
    proc = start_program(backend, "hang")
    try:
        assert proc.stdout is not None
        proc.send_signal(signal.SIGINT)
        assert proc.stdout.readline().strip() == "hanging d"  # terminate with infinity grace
        time.sleep(0.1)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert elapsed < 5.0
    assert "application.killed" in err
    assert out.splitlines()[-1] == "exit killed"
    assert "stop d shutdown" not in out
    assert proc.returncode == 1
