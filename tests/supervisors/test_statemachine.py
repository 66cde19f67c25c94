"""A Hypothesis state machine for ``Supervisor``: a model predicts restarts and escalation.

Hypothesis rules are synchronous, so the runtime lives in a blocking portal (an event loop in
a thread) and every rule drives it with ``portal.call``. Restart intensity runs on a
``FakeClock`` that only the ``advance`` rule moves, so the window is exact.

The model keeps, per child id (in start order): restart type, whether it runs, and the ref of
its incarnation. For each exit it predicts whether the child is restarted (a new, never-seen
ref), kept stopped, or deleted; which bystanders the strategy restarts (new refs) or removes
(temporary ones); and whether the supervisor escalates (more than ``max_restarts`` restarts
with ``t >= now - max_seconds``, counted per supervisor, the escalating attempt included).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import structlog
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import supervisors as sv
from tests.supervisors.conftest import FakeClock

ExitKind = Literal["crash", "normal", "shutdown", "killed"]
ManageOp = Literal["terminate", "restart", "delete"]

IDS = ("a", "b", "c", "d")
CHILD_IDS = st.sampled_from(IDS)
RESTARTS = st.sampled_from([sv.Restart.PERMANENT, sv.Restart.TRANSIENT, sv.Restart.TEMPORARY])
EXIT_KINDS: st.SearchStrategy[ExitKind] = st.sampled_from(["crash", "normal", "shutdown", "killed"])
EXIT_REASONS: dict[str, sv.ExitReason] = {
    "normal": sv.NORMAL,
    "shutdown": sv.SHUTDOWN,
    "killed": sv.KILLED,
}
MANAGE_OPS: st.SearchStrategy[ManageOp] = st.sampled_from(["terminate", "restart", "delete"])
# The clock moves by fractions of the window (max_seconds is 1 or 2): every clock value and
# window edge is then exact in binary floats, and advancing by exactly max_seconds (often)
# lands a restart on the inclusive edge of the window.
WINDOW_FRACTIONS = st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.5])

SETTINGS = settings(
    max_examples=80,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class Boom(RuntimeError):
    pass


class Worker(sv.Actor):
    """A child that exits on request: ``"crash"`` raises, ``("stop", reason)`` stops."""

    async def handle_call(self, request: Any, from_: sv.From) -> Any:
        if request == "crash":
            raise Boom("crash requested")
        if isinstance(request, tuple) and request[0] == "stop":
            raise sv.StopActor(request[1])
        return request


def name_of(child_id: str) -> str:
    """Every child is registered, so that names are checked to follow restarts."""
    return f"sm-{child_id}"


async def make_exit(ref: sv.ActorRef, kind: ExitKind) -> sv.ExitReason:
    """Make the child exit with ``kind`` and wait until it is dead (its ``Exit`` is then in
    the supervisor's mailbox: ``finish`` enqueues it before setting ``exited``)."""
    if kind == "killed":
        sv.kill(ref)
    else:
        request: object = "crash"
        if kind == "normal":
            request = ("stop", sv.NORMAL)
        elif kind == "shutdown":
            request = ("stop", sv.SHUTDOWN)
        with pytest.raises(sv.ActorExited):
            await sv.call(ref, request)
    return await ref.join()


async def settle(sup: sv.ActorRef) -> bool:
    """Let the supervisor handle every queued exit; False if it is dead (escalated)."""
    try:
        await sv.which_children(sup)
    except (sv.ActorExited, sv.NoProcess):
        await sup.join()
        return False
    return True


async def observe(
    sup: sv.ActorRef,
) -> tuple[list[sv.ChildInfo], sv.ChildCounts, sv.SupervisorStatistics | None]:
    infos = await sv.which_children(sup)
    counts = await sv.count_children(sup)
    return infos, counts, sup.statistics().supervisor


@dataclass
class ModelChild:
    restart: sv.Restart
    running: bool
    ref: sv.ActorRef | None
    """The incarnation's ref; None while running means "restarted, ref not yet seen"."""


class SupervisorMachine(RuleBasedStateMachine):
    backend: str = "asyncio"
    strategy: sv.Strategy = sv.Strategy.ONE_FOR_ONE

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self._portal_cm = start_blocking_portal(self.backend)
        self.portal: BlockingPortal = self._portal_cm.__enter__()
        try:
            self._rt_cm = self.portal.wrap_async_context_manager(sv.Runtime(clock=self.clock))
            self.rt: sv.Runtime = self._rt_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self.sup: sv.ActorRef | None = None
        self.max_restarts = 0
        self.max_seconds = 1.0
        self.children: dict[str, ModelChild] = {}
        self.restarts: list[float] = []
        self.restarts_total = 0
        self.escalated = False
        self.seen: dict[int, sv.ActorRef] = {}  # every child incarnation ever observed

    def teardown(self) -> None:
        try:
            self._rt_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)

    # -- helpers ------------------------------------------------------------------------------

    def _see_new(self, ref: sv.ActorRef | None) -> sv.ActorRef:
        assert ref is not None, "a started child has no ref"
        assert ref.alive, f"new incarnation {ref!r} is not alive"
        assert ref.id not in self.seen, f"{ref!r} is not a new incarnation"
        self.seen[ref.id] = ref
        return ref

    def _restart_group(self, child_id: str) -> list[str]:
        ids = list(self.children)
        if self.strategy is sv.Strategy.ONE_FOR_ONE:
            return [child_id]
        if self.strategy is sv.Strategy.ONE_FOR_ALL:
            return ids
        return ids[ids.index(child_id) :]

    def _model_exit(self, child_id: str, kind: ExitKind) -> None:
        """What the supervisor must do when ``child_id`` exits with ``kind`` (OTP rules)."""
        child = self.children[child_id]
        child.running = False
        child.ref = None
        if child.restart is sv.Restart.TEMPORARY:
            del self.children[child_id]
            return
        abnormal = kind in ("crash", "killed")
        if child.restart is sv.Restart.TRANSIENT and not abnormal:
            return  # kept, stopped
        now = self.clock.now
        self.restarts.append(now)
        self.restarts_total += 1
        self.restarts = [t for t in self.restarts if t >= now - self.max_seconds]
        if len(self.restarts) > self.max_restarts:
            self.escalated = True
            return
        for gid in self._restart_group(child_id):
            member = self.children[gid]
            if member.restart is sv.Restart.TEMPORARY:
                # a temporary bystander is stopped and removed, never restarted
                assert member.running
                del self.children[gid]
            else:
                # restarted (stopped bystanders too, as OTP's start_children does)
                member.running = True
                member.ref = None

    # -- rules --------------------------------------------------------------------------------

    @initialize(max_restarts=st.integers(0, 3), max_seconds=st.sampled_from([1.0, 2.0]))
    def start_supervisor(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        sup = sv.Supervisor(
            [], strategy=self.strategy, max_restarts=max_restarts, max_seconds=max_seconds
        )
        self.sup = self.portal.call(functools.partial(self.rt.spawn, sup))

    @precondition(lambda self: self.sup is not None and not self.escalated)
    @rule(child_id=CHILD_IDS, restart=RESTARTS)
    def start_child(self, child_id: str, restart: sv.Restart) -> None:
        assert self.sup is not None
        spec = sv.ChildSpec(child_id, Worker, restart=restart, name=name_of(child_id))
        existing = self.children.get(child_id)
        if existing is not None:
            expected = sv.AlreadyStarted if existing.running else sv.AlreadyPresent
            with pytest.raises(expected):
                self.portal.call(sv.start_child, self.sup, spec)
            return
        ref = self.portal.call(sv.start_child, self.sup, spec)
        self.children[child_id] = ModelChild(restart, True, self._see_new(ref))

    @precondition(
        lambda self: (
            self.sup is not None
            and not self.escalated
            and any(c.running for c in self.children.values())
        )
    )
    @rule(data=st.data(), kind=EXIT_KINDS)
    def exit_child(self, data: st.DataObject, kind: ExitKind) -> None:
        assert self.sup is not None
        running = [cid for cid, c in self.children.items() if c.running]
        child_id = data.draw(st.sampled_from(running), label="child")
        ref = self.children[child_id].ref
        assert ref is not None
        reason = self.portal.call(make_exit, ref, kind)
        if kind == "crash":
            assert isinstance(reason, sv.Crash) and isinstance(reason.exception, Boom), reason
        else:
            assert reason == EXIT_REASONS[kind], reason
        self._model_exit(child_id, kind)
        alive = self.portal.call(settle, self.sup)
        assert alive == (not self.escalated), (
            "supervisor escalated unexpectedly"
            if alive is False
            else f"supervisor did not escalate: restarts at {self.restarts}, now {self.clock.now}"
        )

    @precondition(lambda self: self.sup is not None and not self.escalated)
    @rule(op=MANAGE_OPS, child_id=CHILD_IDS)
    def manage_child(self, op: ManageOp, child_id: str) -> None:
        """terminate_child, restart_child or delete_child (one rule, so that exits stay a
        good share of the steps)."""
        assert self.sup is not None
        child = self.children.get(child_id)
        if op == "terminate":
            self._terminate(child_id, child)
            return
        fn = sv.restart_child if op == "restart" else sv.delete_child
        if child is None or child.running:
            with pytest.raises(sv.ChildNotFound if child is None else sv.ChildRunning):
                self.portal.call(fn, self.sup, child_id)
            return
        result = self.portal.call(fn, self.sup, child_id)
        if op == "restart":  # a manual restart is not counted by the restart intensity
            child.running = True
            child.ref = self._see_new(result)
        else:
            assert result is None
            del self.children[child_id]

    def _terminate(self, child_id: str, child: ModelChild | None) -> None:
        assert self.sup is not None
        if child is None:
            with pytest.raises(sv.ChildNotFound):
                self.portal.call(sv.terminate_child, self.sup, child_id)
            return
        old = child.ref
        self.portal.call(sv.terminate_child, self.sup, child_id)
        if old is not None:
            assert not old.alive and old.exit_reason == sv.SHUTDOWN, old
        child.running = False
        child.ref = None
        if child.restart is sv.Restart.TEMPORARY:
            del self.children[child_id]  # a terminated temporary child's spec is removed

    @rule(fraction=WINDOW_FRACTIONS)
    def advance(self, fraction: float) -> None:
        """Always enabled (also after escalation, so Hypothesis can always make progress)."""
        self.clock.advance(fraction * self.max_seconds)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        if self.sup is None:
            return
        if self.escalated:
            self._check_escalated()
            return
        infos, counts, stats = self.portal.call(observe, self.sup)
        assert [i.id for i in infos] == list(self.children), (infos, self.children)
        for info, child in zip(infos, self.children.values(), strict=True):
            assert info.restart is child.restart, info
            assert info.type is sv.ChildType.WORKER
            if child.running:
                assert info.status == "running", info
                if child.ref is None:  # restarted by the supervisor: a fresh incarnation
                    child.ref = self._see_new(info.ref)
                else:
                    assert info.ref is child.ref, (info, child.ref)
                    assert child.ref.alive, child.ref
            else:
                assert info.status == "stopped" and info.ref is None, info
        for child_id in IDS:
            model = self.children.get(child_id)
            owner = self.rt.registry.whereis(name_of(child_id))
            expected_owner = model.ref if model is not None else None
            assert owner is expected_owner, (child_id, owner, expected_owner)
        running = {c.ref.id for c in self.children.values() if c.ref is not None}
        alive = {rid for rid, ref in self.seen.items() if ref.alive}
        assert alive == running, f"live incarnations {alive} but the model runs {running}"
        assert counts == sv.ChildCounts(
            specs=len(self.children),
            active=len(running),
            restarting=0,
            workers=len(self.children),
            supervisors=0,
        ), counts
        assert stats is not None
        assert stats.restarts_total == self.restarts_total, (stats, self.restarts_total)
        horizon = self.clock.now - self.max_seconds
        in_window = sum(1 for t in self.restarts if t >= horizon)
        assert stats.restarts_in_window == in_window, (stats, self.restarts, self.clock.now)
        assert not stats.escalated
        assert stats.strategy == str(self.strategy)

    def _check_escalated(self) -> None:
        assert self.sup is not None
        assert not self.sup.alive, self.sup
        assert self.sup.exit_reason == sv.SHUTDOWN, self.sup.exit_reason
        leaked = [ref for ref in self.seen.values() if ref.alive]
        assert not leaked, f"children alive after escalation: {leaked}"
        assert self.rt.registry.names() == [], self.rt.registry.names()
        stats = self.sup.statistics().supervisor
        assert stats is not None
        assert stats.escalated
        assert stats.restarts_total == self.restarts_total, (stats, self.restarts_total)


@pytest.fixture
def _silent_structlog() -> Iterator[None]:
    """Every crash logs an error with a rendered traceback, which would take most of the run
    time here; nothing in this test asserts on logs."""
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    yield
    structlog.configure(**old)


@pytest.mark.usefixtures("_silent_structlog")
@pytest.mark.parametrize("strategy", list(sv.Strategy), ids=str)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_supervisor_state_machine(backend: str, strategy: sv.Strategy) -> None:
    machine = type(
        f"SupervisorMachine_{backend}_{strategy}",
        (SupervisorMachine,),
        {"backend": backend, "strategy": strategy},
    )
    run_state_machine_as_test(machine, settings=SETTINGS)
