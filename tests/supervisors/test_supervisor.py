"""Static supervisors: start/stop order, start failures, the restart matrix, strategies,
restart intensity and escalation, restart loops, the management API and logging.

Modelled on OTP's ``supervisor_SUITE``. The restart-intensity clock is the ``clock`` fixture
(a FakeClock): time only moves when a test advances it.
"""

from __future__ import annotations

from typing import ClassVar

import anyio
import pytest

import supervisors
from supervisors import (
    KILLED,
    NORMAL,
    SHUTDOWN,
    ActorRef,
    AlreadyPresent,
    AlreadyStarted,
    ChildCounts,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    ChildSpec,
    ChildType,
    Crash,
    ExitReason,
    FailedToStartChild,
    Restart,
    Runtime,
    Shutdown,
    StartError,
    Strategy,
    Supervisor,
    call,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    whereis,
    which_children,
)
from tests.supervisors.conftest import FakeClock
from tests.supervisors.helpers import (
    EventLog,
    Flaky,
    Recorder,
    capture_all_logs,
    children,
    crash,
    events_named,
    exit_with,
    join,
    kill_and_join,
    refs,
    starts,
    stop_reasons,
    stops,
    wait_until_running,
    worker,
)

pytestmark = pytest.mark.anyio


def specs(events: EventLog, *ids: str, **kwargs: object) -> list[ChildSpec]:
    return [ChildSpec(i, worker(events, i), **kwargs) for i in ids]  # type: ignore[arg-type]


# -- start and stop order ---------------------------------------------------------------------


async def test_start_in_order_stop_in_reverse(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b", "c", "d")))
    assert starts(events) == ["a", "b", "c", "d"]
    infos = await which_children(sup)
    assert [i.id for i in infos] == ["a", "b", "c", "d"]
    assert all(i.status == "running" and i.ref is not None and i.ref.alive for i in infos)
    assert all(i.type is ChildType.WORKER and i.restart is Restart.PERMANENT for i in infos)

    assert await supervisors.stop(sup, SHUTDOWN) == SHUTDOWN
    assert stops(events) == ["d", "c", "b", "a"]
    assert all(r == SHUTDOWN for e in events if e[0] == "stop" for r in [e[2]])
    assert all(i.ref is not None and not i.ref.alive for i in infos)


async def test_start_failure_stops_started_children_in_reverse(rt: Runtime) -> None:
    events: EventLog = []
    children_ = [
        ChildSpec("a", worker(events, "a")),
        ChildSpec("b", worker(events, "b")),
        ChildSpec("c", worker(events, "c")),
        ChildSpec("bad", worker(events, "bad", fail_init=True)),
        ChildSpec("e", worker(events, "e")),
    ]
    alive_before = rt.statistics().alive
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(Supervisor(children_))
    err = info.value
    assert err.child_id == "bad"
    assert isinstance(err.reason, Crash)
    assert isinstance(err.reason.exception, RuntimeError)
    assert str(err.reason.exception) == "boom bad"
    assert "bad" in str(err)
    assert starts(events) == ["a", "b", "c"]  # "e" was never started
    assert stops(events) == ["c", "b", "a"]
    assert stop_reasons(events, "a") == [SHUTDOWN]
    assert rt.statistics().alive == alive_before


async def test_start_failure_of_first_child(rt: Runtime) -> None:
    events: EventLog = []
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(Supervisor([ChildSpec("x", worker(events, "x", fail_init=True))]))
    assert info.value.child_id == "x"
    assert events == []


async def test_nested_start_failure_names_the_nested_supervisor(rt: Runtime) -> None:
    events: EventLog = []
    middle = Supervisor.spec(
        "middle", [*specs(events, "m1"), ChildSpec("bad", worker(events, "bad", fail_init=True))]
    )
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(Supervisor([*specs(events, "a"), middle, *specs(events, "z")]))
    assert info.value.child_id == "middle"
    assert starts(events) == ["a", "m1"]
    assert stops(events) == ["m1", "a"]


async def test_failing_factory_is_a_failed_start(rt: Runtime) -> None:
    events: EventLog = []
    flaky = Flaky(events, "f", ok=0, mode="factory")
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(Supervisor([*specs(events, "a"), ChildSpec("f", flaky)]))
    assert info.value.child_id == "f"
    assert isinstance(info.value.reason, Crash)
    assert stops(events) == ["a"]


async def test_factory_returning_a_non_actor_is_a_failed_start(rt: Runtime) -> None:
    events: EventLog = []
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(Supervisor([*specs(events, "a"), ChildSpec("n", lambda: object())]))  # type: ignore[arg-type, return-value]
    assert info.value.child_id == "n"
    assert isinstance(info.value.reason, Crash)
    assert isinstance(info.value.reason.exception, TypeError)
    assert stops(events) == ["a"]


class SlowInit(Recorder):
    async def init(self) -> None:
        await anyio.sleep(0.05)
        await super().init()


class CrashAfterStart(Recorder):
    """Crashes right after its first incarnation has started."""

    crashed: ClassVar[set[int]] = set()

    async def init(self) -> None:
        await super().init()
        if id(self.events) not in self.crashed:
            self.crashed.add(id(self.events))
            self.start_soon(self._boom)

    async def _boom(self) -> None:
        raise RuntimeError("boom after start")


async def test_child_exit_during_supervisor_init_is_handled_after_init(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("x", lambda: CrashAfterStart(events, "x")),
                ChildSpec("slow", lambda: SlowInit(events, "slow")),
            ]
        )
    )
    infos = await wait_until_running(sup)
    assert starts(events) == ["x", "slow", "x"]
    assert infos["x"].ref is not None and infos["x"].ref.alive


async def test_start_timeout_is_a_failed_start(rt: Runtime) -> None:
    events: EventLog = []
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(
            Supervisor(
                [
                    *specs(events, "a"),
                    ChildSpec("slow", lambda: SlowInit(events, "slow"), start_timeout=0.01),
                ]
            )
        )
    assert info.value.child_id == "slow"
    assert isinstance(info.value.reason, Crash)
    assert isinstance(info.value.reason.exception, TimeoutError)
    assert stops(events) == ["a"]


async def test_ignore_keeps_spec_without_process(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("a", worker(events, "a")),
                ChildSpec("ign", worker(events, "ign", ignore=True)),
                ChildSpec("tmp", worker(events, "tmp", ignore=True), restart=Restart.TEMPORARY),
                ChildSpec("c", worker(events, "c")),
            ]
        )
    )
    assert starts(events) == ["a", "c"]
    infos = await children(sup)
    assert list(infos) == ["a", "ign", "c"]  # an ignored temporary child is not kept
    assert infos["ign"].ref is None
    assert infos["ign"].status == "stopped"
    assert await count_children(sup) == ChildCounts(
        specs=3, active=2, restarting=0, workers=3, supervisors=0
    )
    # restarting an ignored child ignores again: still no process, spec still kept
    assert await restart_child(sup, "ign") is None
    assert (await children(sup))["ign"].status == "stopped"


async def test_spawn_of_supervisor_with_duplicate_ids_fails() -> None:
    events: EventLog = []
    with pytest.raises(ValueError):
        Supervisor(specs(events, "a", "a"))


# -- the exit reason x restart type matrix ----------------------------------------------------

REASONS: dict[str, ExitReason | None] = {
    "normal": NORMAL,
    "shutdown": SHUTDOWN,
    "shutdown_term": Shutdown("maintenance"),
    "crash": None,  # raised exception
    "killed": KILLED,
}

EXPECT_RESTART: dict[Restart, set[str]] = {
    Restart.PERMANENT: {"normal", "shutdown", "shutdown_term", "crash", "killed"},
    Restart.TRANSIENT: {"crash", "killed"},
    Restart.TEMPORARY: set(),
}


async def make_exit(ref: ActorRef, how: str) -> None:
    if how == "crash":
        await crash(ref)
        assert isinstance(ref.exit_reason, Crash)
    elif how == "killed":
        assert await kill_and_join(ref) == KILLED
    else:
        reason = REASONS[how]
        assert reason is not None
        await exit_with(ref, reason)
        assert ref.exit_reason == reason


@pytest.mark.parametrize("how", list(REASONS))
@pytest.mark.parametrize("restart", list(Restart))
async def test_exit_reason_restart_matrix(rt: Runtime, restart: Restart, how: str) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("x", worker(events, "x"), restart=restart),
                ChildSpec("sib", worker(events, "sib")),
            ]
        )
    )
    before = await refs(sup)
    old = before["x"]
    assert old is not None
    await make_exit(old, how)

    infos = await children(sup)
    restarted = how in EXPECT_RESTART[restart]
    if restarted:
        assert infos["x"].status == "running"
        assert infos["x"].ref is not None and infos["x"].ref is not old
        assert infos["x"].ref.alive
        assert starts(events).count("x") == 2
        assert sup.statistics().supervisor is not None
        assert sup.statistics().supervisor.restarts_total == 1  # type: ignore[union-attr]
    elif restart is Restart.TEMPORARY:
        assert "x" not in infos  # a temporary child's spec is removed when it exits
        assert starts(events).count("x") == 1
    else:
        assert infos["x"].status == "stopped"
        assert infos["x"].ref is None
        assert starts(events).count("x") == 1
    if not restarted:
        stats = sup.statistics().supervisor
        assert stats is not None and stats.restarts_total == 0  # not counted either
    # the sibling is never touched (one_for_one)
    assert infos["sib"].ref is before["sib"]
    assert sup.alive


# -- strategies -------------------------------------------------------------------------------


async def test_one_for_one_restarts_only_the_failed_child(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b", "c")))
    before = await refs(sup)
    events.clear()
    await crash(before["b"])  # type: ignore[arg-type]
    after = await refs(sup)
    assert after["a"] is before["a"] and after["c"] is before["c"]
    assert after["b"] is not before["b"] and after["b"] is not None
    assert [e[:2] for e in events] == [("stopping", "b"), ("stop", "b"), ("start", "b")]
    assert await call(after["b"], "ping") == "pong"


async def test_one_for_all_restarts_everyone_in_order(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("a", worker(events, "a")),
                ChildSpec("tmp", worker(events, "tmp"), restart=Restart.TEMPORARY),
                ChildSpec("c", worker(events, "c"), restart=Restart.TRANSIENT),
                ChildSpec("d", worker(events, "d")),
            ],
            strategy=Strategy.ONE_FOR_ALL,
        )
    )
    before = await refs(sup)
    events.clear()
    await crash(before["c"])  # type: ignore[arg-type]
    after = await refs(sup)
    # the temporary bystander is stopped and not restarted: its spec is gone
    assert list(after) == ["a", "c", "d"]
    for cid in ("a", "c", "d"):
        assert after[cid] is not None and after[cid] is not before[cid]
    assert before["tmp"] is not None and not before["tmp"].alive
    assert stops(events) == ["c", "d", "tmp", "a"]  # c crashed; the others in reverse order
    assert starts(events) == ["a", "c", "d"]
    # every stop happened before any start
    last_stop = max(i for i, e in enumerate(events) if e[0] == "stop")
    first_start = min(i for i, e in enumerate(events) if e[0] == "start")
    assert last_stop < first_start
    assert stop_reasons(events, "a") == [SHUTDOWN]
    assert stop_reasons(events, "tmp") == [SHUTDOWN]
    stats = sup.statistics().supervisor
    assert stats is not None and stats.restarts_total == 1


async def test_one_for_all_temporary_child_exit_restarts_nothing(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("a", worker(events, "a")),
                ChildSpec("tmp", worker(events, "tmp"), restart=Restart.TEMPORARY),
            ],
            strategy=Strategy.ONE_FOR_ALL,
        )
    )
    before = await refs(sup)
    await crash(before["tmp"])  # type: ignore[arg-type]
    after = await refs(sup)
    assert list(after) == ["a"]
    assert after["a"] is before["a"]


async def test_rest_for_one_restarts_later_siblings(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("a", worker(events, "a")),
                ChildSpec("b", worker(events, "b")),
                ChildSpec("c", worker(events, "c")),
                ChildSpec("tmp", worker(events, "tmp"), restart=Restart.TEMPORARY),
                ChildSpec("e", worker(events, "e")),
            ],
            strategy="rest_for_one",
        )
    )
    before = await refs(sup)
    events.clear()
    await crash(before["b"])  # type: ignore[arg-type]
    after = await refs(sup)
    assert list(after) == ["a", "b", "c", "e"]
    assert after["a"] is before["a"]
    for cid in ("b", "c", "e"):
        assert after[cid] is not None and after[cid] is not before[cid]
    assert stops(events) == ["b", "e", "tmp", "c"]
    assert starts(events) == ["b", "c", "e"]


async def test_rest_for_one_last_child_restarts_alone(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b", "c"), strategy="rest_for_one"))
    before = await refs(sup)
    await crash(before["c"])  # type: ignore[arg-type]
    after = await refs(sup)
    assert after["a"] is before["a"] and after["b"] is before["b"]
    assert after["c"] is not before["c"]


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_other_child_fails_restart_is_retried(rt: Runtime, strategy: Strategy) -> None:
    """OTP's ``*_other_child_fails_restart``: a sibling fails to start during a group restart;
    the children restarted so far are stopped again and the whole restart is retried."""
    events: EventLog = []
    flaky = Flaky(events, "b", ok=1, fail=1)
    sup = await rt.spawn(
        Supervisor(
            [*specs(events, "a"), ChildSpec("b", flaky), *specs(events, "c")],
            strategy=strategy,
            max_restarts=5,
        )
    )
    before = await refs(sup)
    events.clear()
    await crash(before["a"])  # type: ignore[arg-type]
    after = await wait_until_running(sup)
    assert [e[:2] for e in events] == [
        ("stopping", "a"),
        ("stop", "a"),  # the crash
        ("stopping", "c"),
        ("stop", "c"),
        ("stopping", "b"),
        ("stop", "b"),
        ("start", "a"),  # first attempt: "b" fails to start ...
        ("stopping", "a"),
        ("stop", "a"),  # ... so "a" is stopped again
        ("start", "a"),  # the retry
        ("start", "b"),
        ("start", "c"),
    ]
    assert flaky.calls == 3
    assert all(after[i].ref is not before[i] for i in ("a", "b", "c"))
    stats = sup.statistics().supervisor
    assert stats is not None and stats.restarts_total == 2  # the retry counts too


# -- restart intensity ------------------------------------------------------------------------


async def test_max_restarts_within_window_survive(rt: Runtime, clock: FakeClock) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b"), max_restarts=3, max_seconds=5))
    for _ in range(3):
        await crash((await refs(sup))["a"])  # type: ignore[arg-type]
        await which_children(sup)  # the restart is recorded before time moves
        clock.advance(1.0)
    assert [i.status for i in await which_children(sup)] == ["running", "running"]
    assert sup.alive
    stats = sup.statistics().supervisor
    assert stats is not None
    assert stats.restarts_total == 3 and stats.restarts_in_window == 3
    assert not stats.escalated


async def test_one_restart_too_many_escalates(rt: Runtime, clock: FakeClock) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b", "c"), max_restarts=3, max_seconds=5))
    for _ in range(3):
        await crash((await refs(sup))["b"])  # type: ignore[arg-type]
        await which_children(sup)
        clock.advance(1.0)
    last = await refs(sup)
    events.clear()
    await crash(last["b"])  # type: ignore[arg-type]
    assert await join(sup) == SHUTDOWN
    # every child stopped, in reverse order, and "b" not restarted
    assert stops(events) == ["b", "c", "a"]
    assert starts(events) == []
    assert all(r is not None and not r.alive for r in last.values())
    stats = sup.statistics().supervisor
    assert stats is not None and stats.escalated and stats.restarts_total == 4


async def test_restart_window_slides(rt: Runtime, clock: FakeClock) -> None:
    """OTP's ``multiple_restarts``: intensity 1 per period, crash once per period, forever."""
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a"), max_restarts=1, max_seconds=2))
    for _ in range(6):
        await crash((await refs(sup))["a"])  # type: ignore[arg-type]
        assert (await children(sup))["a"].status == "running"
        clock.advance(2.1)
    stats = sup.statistics().supervisor
    assert stats is not None and stats.restarts_total == 6 and stats.restarts_in_window == 0
    # two within one window: escalates
    await crash((await refs(sup))["a"])  # type: ignore[arg-type]
    await which_children(sup)
    clock.advance(1.0)
    await crash((await refs(sup))["a"])  # type: ignore[arg-type]
    assert await join(sup) == SHUTDOWN


async def test_intensity_is_per_supervisor_across_children(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b", "c"), max_restarts=2))
    r = await refs(sup)
    await crash(r["a"])  # type: ignore[arg-type]
    await crash(r["b"])  # type: ignore[arg-type]
    assert (await children(sup))["b"].status == "running"
    await crash(r["c"])  # type: ignore[arg-type]
    assert await join(sup) == SHUTDOWN


async def test_max_restarts_zero_escalates_on_first_crash(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b"), max_restarts=0))
    r = await refs(sup)
    await crash(r["a"])  # type: ignore[arg-type]
    assert await join(sup) == SHUTDOWN
    assert starts(events) == ["a", "b"]
    assert r["b"] is not None and r["b"].exit_reason == SHUTDOWN


async def test_not_restarted_exits_do_not_count(rt: Runtime) -> None:
    """A transient child's normal exit and a temporary child's crash use no intensity."""
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                ChildSpec("tr", worker(events, "tr"), restart=Restart.TRANSIENT),
                ChildSpec("tmp", worker(events, "tmp"), restart=Restart.TEMPORARY),
                ChildSpec("p", worker(events, "p")),
            ],
            max_restarts=0,
        )
    )
    r = await refs(sup)
    await exit_with(r["tr"], NORMAL)  # type: ignore[arg-type]
    await crash(r["tmp"])  # type: ignore[arg-type]
    assert list(await refs(sup)) == ["tr", "p"]
    assert sup.alive


@pytest.mark.parametrize("mode", ["init", "factory"])
async def test_failed_restart_attempts_count(rt: Runtime, mode: str) -> None:
    events: EventLog = []
    flaky = Flaky(events, "f", ok=1, mode=mode)  # type: ignore[arg-type]
    sup = await rt.spawn(
        Supervisor([*specs(events, "a"), ChildSpec("f", flaky)], max_restarts=3, max_seconds=5)
    )
    r = await refs(sup)
    await crash(r["f"])  # type: ignore[arg-type]
    assert await join(sup) == SHUTDOWN
    stats = sup.statistics().supervisor
    assert stats is not None
    # the crash's restart and two retries failed (3 restarts); the 4th goes over the limit
    assert stats.restarts_total == 4
    assert stats.escalated
    assert flaky.calls == 4  # 1 good incarnation + 3 failed attempts
    assert stops(events) == ["f", "a"]


# -- escalation through a tree ----------------------------------------------------------------


async def test_escalation_through_three_levels(rt: Runtime) -> None:
    events: EventLog = []
    leaf = Supervisor.spec("leaf", specs(events, "w"), max_restarts=0, name="leaf")
    middle = Supervisor.spec("middle", [leaf], max_restarts=1, max_seconds=60, name="middle")
    top = await rt.spawn(Supervisor([middle, *specs(events, "other")], max_restarts=0))

    top_before = await refs(top)
    leaf1 = whereis("leaf")
    assert leaf1 is not None

    # 1. the worker crashes: leaf gives up (intensity 0), middle restarts leaf
    await crash((await refs(leaf1))["w"])  # type: ignore[arg-type]
    assert await join(leaf1) == SHUTDOWN
    mid_children = await children("middle")
    leaf2 = mid_children["leaf"].ref
    assert leaf2 is not None and leaf2 is not leaf1 and leaf2.alive
    assert mid_children["leaf"].type is ChildType.SUPERVISOR
    assert await refs(top) == top_before  # nothing above middle moved
    assert starts(events) == ["w", "other", "w"]

    # 2. again: middle's own intensity (1) is exhausted, it escalates; top (intensity 0)
    #    gives up too, and the whole tree stops
    middle1 = whereis("middle")
    assert middle1 is not None
    await crash((await refs(leaf2))["w"])  # type: ignore[arg-type]
    assert await join(leaf2) == SHUTDOWN
    assert await join(middle1) == SHUTDOWN
    assert await join(top) == SHUTDOWN
    assert top_before["other"] is not None and not top_before["other"].alive


async def test_permanent_middle_supervisor_is_restarted_by_top(rt: Runtime) -> None:
    events: EventLog = []
    middle = Supervisor.spec("middle", specs(events, "w1", "w2"), max_restarts=0, name="middle")
    top = await rt.spawn(Supervisor([middle, *specs(events, "other")]))
    before = await refs(top)
    m1 = before["middle"]
    assert m1 is not None
    w1 = (await refs(m1))["w1"]
    await crash(w1)  # type: ignore[arg-type]
    assert await join(m1) == SHUTDOWN
    after = await refs(top)
    assert after["other"] is before["other"]
    m2 = after["middle"]
    assert m2 is not None and m2 is not m1 and whereis("middle") is m2
    new = await refs(m2)
    assert new["w1"] is not None and new["w1"] is not w1
    assert starts(events) == ["w1", "w2", "other", "w1", "w2"]


@pytest.mark.parametrize("restart", [Restart.TRANSIENT, Restart.TEMPORARY])
async def test_non_permanent_middle_not_restarted_after_escalation(
    rt: Runtime, restart: Restart
) -> None:
    events: EventLog = []
    middle = Supervisor.spec("middle", specs(events, "w"), max_restarts=0, restart=restart)
    top = await rt.spawn(Supervisor([middle, *specs(events, "other")], max_restarts=0))
    before = await refs(top)
    m1 = before["middle"]
    assert m1 is not None
    await crash((await refs(m1))["w"])  # type: ignore[arg-type]
    assert await join(m1) == SHUTDOWN
    after = await children(top)
    if restart is Restart.TRANSIENT:
        assert after["middle"].status == "stopped" and after["middle"].ref is None
    else:
        assert "middle" not in after
    assert after["other"].ref is before["other"]
    assert top.alive  # shutdown of a non-permanent child is not a restart: no intensity used
    assert starts(events) == ["w", "other"]


# -- hanging restart loop ---------------------------------------------------------------------


async def test_restart_loop_still_answers_and_stops(rt: Runtime) -> None:
    events: EventLog = []
    flaky = Flaky(events, "f", ok=1)
    sup = await rt.spawn(
        Supervisor([*specs(events, "a"), ChildSpec("f", flaky)], max_restarts=10**9)
    )
    r = await refs(sup)
    await crash(r["f"])  # type: ignore[arg-type]
    for _ in range(3):
        with anyio.fail_after(2):
            infos = await children(sup)
            counts = await count_children(sup)
        assert infos["f"].status == "restarting" and infos["f"].ref is None
        assert infos["a"].ref is r["a"]
        assert counts == ChildCounts(specs=2, active=1, restarting=1, workers=2, supervisors=0)
        await anyio.sleep(0.01)
    assert flaky.calls > 2  # it really is retrying
    with pytest.raises(ChildRestarting):
        await delete_child(sup, "f")
    with pytest.raises(ChildRestarting):
        await restart_child(sup, "f")
    with pytest.raises(AlreadyPresent):
        await start_child(sup, ChildSpec("f", flaky))
    # stopping the supervisor is prompt
    with anyio.fail_after(2):
        assert await supervisors.stop(sup, SHUTDOWN) == SHUTDOWN
    assert stops(events) == ["f", "a"]


async def test_terminate_child_ends_a_restart_loop(rt: Runtime) -> None:
    events: EventLog = []
    flaky = Flaky(events, "f", ok=1)
    sup = await rt.spawn(Supervisor([ChildSpec("f", flaky)], max_restarts=10**9))
    await crash((await refs(sup))["f"])  # type: ignore[arg-type]
    assert (await children(sup))["f"].status == "restarting"
    await terminate_child(sup, "f")
    assert (await children(sup))["f"].status == "stopped"
    calls = flaky.calls
    await anyio.sleep(0.05)
    assert (await count_children(sup)).restarting == 0
    assert flaky.calls == calls  # no more attempts
    await delete_child(sup, "f")
    assert await which_children(sup) == []


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_terminate_child_ends_a_group_restart_loop(rt: Runtime, strategy: Strategy) -> None:
    """A group restart keeps failing because the crashed child itself cannot start. Once
    ``terminate_child`` ends the loop, no restart is pending any more: no child may still
    report ``restarting`` (OTP: the siblings are simply not running), and the siblings can be
    restarted by hand."""
    events: EventLog = []
    flaky = Flaky(events, "a", ok=1)
    sup = await rt.spawn(
        Supervisor(
            [ChildSpec("a", flaky), *specs(events, "b", "c")],
            strategy=strategy,
            max_restarts=10**9,
        )
    )
    await crash((await refs(sup))["a"])  # type: ignore[arg-type]
    assert (await children(sup))["a"].status == "restarting"
    await terminate_child(sup, "a")
    calls = flaky.calls
    await anyio.sleep(0.05)
    assert flaky.calls == calls  # the loop is over
    infos = await children(sup)
    assert {cid: i.status for cid, i in infos.items()} == {
        "a": "stopped",
        "b": "stopped",
        "c": "stopped",
    }
    assert (await count_children(sup)).restarting == 0
    ref = await restart_child(sup, "c")
    assert ref is not None and ref.alive


async def test_restart_loop_runtime_exit_is_prompt(clock: FakeClock) -> None:
    events: EventLog = []
    flaky = Flaky(events, "f", ok=1)
    with anyio.fail_after(3):
        async with Runtime(clock=clock) as rt:
            sup = await rt.spawn(
                Supervisor([*specs(events, "a"), ChildSpec("f", flaky)], max_restarts=10**9)
            )
            await crash((await refs(sup))["f"])  # type: ignore[arg-type]
            assert (await children(sup))["f"].status == "restarting"
    assert not sup.alive
    assert stops(events) == ["f", "a"]


# -- management API ---------------------------------------------------------------------------


async def test_start_child_errors(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a")))
    ref = await start_child(sup, ChildSpec("b", worker(events, "b")))
    assert ref is not None and ref.alive
    assert (await refs(sup)) == {"a": (await refs(sup))["a"], "b": ref}
    assert list(await refs(sup)) == ["a", "b"]  # appended at the end

    with pytest.raises(AlreadyStarted) as started:
        await start_child(sup, ChildSpec("b", worker(events, "b2")))
    assert started.value.ref is ref
    await terminate_child(sup, "b")
    with pytest.raises(AlreadyPresent):
        await start_child(sup, ChildSpec("b", worker(events, "b2")))

    # a failing start is reported and its spec is not kept
    with pytest.raises(StartError) as failed:
        await start_child(sup, ChildSpec("bad", worker(events, "bad", fail_init=True)))
    assert isinstance(failed.value.reason, Crash)
    assert "bad" not in await refs(sup)
    # an ignored temporary child is not kept either; an ignored permanent one is
    assert (
        await start_child(
            sup, ChildSpec("ti", worker(events, "ti", ignore=True), restart=Restart.TEMPORARY)
        )
        is None
    )
    assert await start_child(sup, ChildSpec("pi", worker(events, "pi", ignore=True))) is None
    assert list(await refs(sup)) == ["a", "b", "pi"]
    assert starts(events) == ["a", "b"]


async def test_terminate_child_keeps_spec_and_restart_child(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b")))
    old = (await refs(sup))["a"]
    assert old is not None
    events.clear()
    await terminate_child(sup, "a")
    assert not old.alive and old.exit_reason == SHUTDOWN
    assert stop_reasons(events, "a") == [SHUTDOWN]
    info = (await children(sup))["a"]
    assert info.status == "stopped" and info.ref is None
    assert starts(events) == []  # not restarted
    stats = sup.statistics().supervisor
    assert stats is not None and stats.restarts_total == 0
    # terminating a stopped child is fine
    await terminate_child(sup, "a")

    with pytest.raises(ChildRunning):
        await restart_child(sup, "b")
    with pytest.raises(ChildNotFound):
        await restart_child(sup, "nope")
    with pytest.raises(ChildNotFound):
        await terminate_child(sup, "nope")

    new = await restart_child(sup, "a")
    assert new is not None and new is not old and new.alive
    assert (await refs(sup))["a"] is new
    assert list(await refs(sup)) == ["a", "b"]  # position kept


async def test_terminate_temporary_child_removes_spec(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor([*specs(events, "a"), *specs(events, "t", restart=Restart.TEMPORARY)])
    )
    await terminate_child(sup, "t")
    assert list(await refs(sup)) == ["a"]


async def test_delete_child(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a", "b")))
    with pytest.raises(ChildRunning):
        await delete_child(sup, "a")
    with pytest.raises(ChildNotFound):
        await delete_child(sup, "nope")
    await terminate_child(sup, "a")
    await delete_child(sup, "a")
    assert list(await refs(sup)) == ["b"]
    with pytest.raises(ChildNotFound):
        await delete_child(sup, "a")
    with pytest.raises(ChildNotFound):
        await restart_child(sup, "a")
    # the id can be reused after deletion
    ref = await start_child(sup, ChildSpec("a", worker(events, "a")))
    assert ref is not None
    assert list(await refs(sup)) == ["b", "a"]


async def test_count_children(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(
        Supervisor(
            [
                *specs(events, "a", "b", "c"),
                Supervisor.spec("s1", specs(events, "x")),
                Supervisor.spec("s2", []),
            ]
        )
    )
    assert await count_children(sup) == ChildCounts(
        specs=5, active=5, restarting=0, workers=3, supervisors=2
    )
    await terminate_child(sup, "b")
    await terminate_child(sup, "s2")
    assert await count_children(sup) == ChildCounts(
        specs=5, active=3, restarting=0, workers=3, supervisors=2
    )
    stats = sup.statistics().supervisor
    assert stats is not None
    assert (stats.specs, stats.active, stats.workers, stats.supervisors) == (5, 3, 3, 2)
    assert stats.strategy == "one_for_one"


# -- names ------------------------------------------------------------------------------------


async def test_named_child_reregisters_after_restart(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor([ChildSpec("w", worker(events, "w"), name="worker")]))
    first = whereis("worker")
    assert first is not None and (await refs(sup))["w"] is first
    assert first.name == "worker"
    await crash("worker")
    second = (await refs(sup))["w"]
    assert second is not None and second is not first
    assert whereis("worker") is second
    assert await call("worker", "ping") == "pong"
    # a kill re-registers too
    await kill_and_join(second)
    third = (await refs(sup))["w"]
    assert whereis("worker") is third and third is not second


async def test_name_conflict_is_a_failed_start(rt: Runtime) -> None:
    events: EventLog = []
    await rt.spawn(Supervisor([ChildSpec("w", worker(events, "w"), name="taken")]))
    with pytest.raises(FailedToStartChild) as info:
        await rt.spawn(Supervisor([ChildSpec("w2", worker(events, "w2"), name="taken")]))
    assert info.value.child_id == "w2"


# -- logging ----------------------------------------------------------------------------------


async def test_restart_and_intensity_are_logged(rt: Runtime) -> None:
    events: EventLog = []
    with capture_all_logs() as logs:
        sup = await rt.spawn(Supervisor(specs(events, "a"), max_restarts=1))
        await crash((await refs(sup))["a"])  # type: ignore[arg-type]
        await refs(sup)
        restarting = events_named(logs, "supervisor.restarting")
        assert len(restarting) == 1
        assert restarting[0]["child"] == "a"
        assert "crash" in restarting[0]["reason"]
        assert not events_named(logs, "supervisor.max_restart_intensity")

        await crash((await refs(sup))["a"])  # type: ignore[arg-type]
        assert await join(sup) == SHUTDOWN
    intensity = events_named(logs, "supervisor.max_restart_intensity")
    assert len(intensity) == 1
    assert intensity[0]["log_level"] == "error"
    assert intensity[0]["child"] == "a"
    assert intensity[0]["max_restarts"] == 1


async def test_start_failure_is_logged(rt: Runtime) -> None:
    events: EventLog = []
    with capture_all_logs() as logs, pytest.raises(FailedToStartChild):
        await rt.spawn(Supervisor([ChildSpec("bad", worker(events, "bad", fail_init=True))]))
    [entry] = events_named(logs, "supervisor.start_failed")
    assert entry["child"] == "bad"


async def test_stop_returns_reason_given(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(Supervisor(specs(events, "a")))
    a = (await refs(sup))["a"]
    assert await supervisors.stop(sup, NORMAL) == NORMAL
    # children are always stopped with reason shutdown
    assert a is not None and a.exit_reason == SHUTDOWN
