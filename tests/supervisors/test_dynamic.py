"""DynamicSupervisor: children added at run time, addressed by ref, stopped in parallel.

Modelled on OTP's ``simple_one_for_one`` cases in ``supervisor_SUITE`` and on Elixir's
DynamicSupervisor (``max_children``).
"""

from __future__ import annotations

import time

import anyio
import pytest

import supervisors
from supervisors import (
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorRef,
    ChildCounts,
    ChildError,
    ChildNotFound,
    ChildSpec,
    ChildType,
    Crash,
    DynamicSupervisor,
    MaxChildren,
    Restart,
    Runtime,
    StartError,
    Supervisor,
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
    Recorder,
    crash,
    exit_with,
    join,
    kill_and_join,
    starts,
    stop_reasons,
    stops,
    worker,
)

pytestmark = pytest.mark.anyio


def spec(events: EventLog, id: str, **kwargs: object) -> ChildSpec:
    return ChildSpec(id, worker(events, id), **kwargs)  # type: ignore[arg-type]


async def dyn_refs(sup: ActorRef) -> list[ActorRef]:
    out = []
    for info in await which_children(sup):
        assert info.ref is not None
        out.append(info.ref)
    return out


async def test_start_child_returns_ref(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    assert await which_children(sup) == []
    r1 = await start_child(sup, spec(events, "w"))
    r2 = await start_child(sup, spec(events, "w"))  # the same spec id may be used many times
    assert isinstance(r1, ActorRef) and isinstance(r2, ActorRef) and r1 is not r2
    assert await supervisors.call(r1, "ping") == "pong"
    infos = await which_children(sup)
    assert [i.ref for i in infos] == [r1, r2]
    assert all(i.id == "w" and i.status == "running" for i in infos)
    assert all(i.type is ChildType.WORKER for i in infos)
    assert await count_children(sup) == ChildCounts(
        specs=2, active=2, restarting=0, workers=2, supervisors=0
    )
    assert starts(events) == ["w", "w"]


async def test_start_child_failure_and_ignore(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    with pytest.raises(StartError) as info:
        await start_child(sup, ChildSpec("bad", worker(events, "bad", fail_init=True)))
    assert isinstance(info.value.reason, Crash)
    assert await start_child(sup, ChildSpec("ign", worker(events, "ign", ignore=True))) is None
    assert await which_children(sup) == []  # neither is kept
    assert sup.alive


async def test_max_children(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor(max_children=2))
    r1 = await start_child(sup, spec(events, "a"))
    await start_child(sup, spec(events, "b"))
    with pytest.raises(MaxChildren) as info:
        await start_child(sup, spec(events, "c"))
    assert info.value.limit == 2
    assert starts(events) == ["a", "b"]  # "c" was never started
    assert r1 is not None
    await terminate_child(sup, r1)
    assert await start_child(sup, spec(events, "c")) is not None
    stats = sup.statistics().supervisor
    assert stats is not None and stats.max_children == 2


async def test_max_children_zero(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor(max_children=0))
    with pytest.raises(MaxChildren):
        await start_child(sup, spec(events, "a"))


async def test_terminate_child_by_ref(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    r1 = await start_child(sup, spec(events, "a"))
    r2 = await start_child(sup, spec(events, "b"))
    assert r1 is not None and r2 is not None
    await terminate_child(sup, r1)
    assert not r1.alive and r1.exit_reason == SHUTDOWN
    assert stop_reasons(events, "a") == [SHUTDOWN]
    assert await dyn_refs(sup) == [r2]  # removed, not kept as a stopped spec
    # unknown refs: an already terminated child, an actor that is not a child, not a ref
    with pytest.raises(ChildNotFound):
        await terminate_child(sup, r1)
    other = await rt.spawn(Recorder(events, "outsider"))
    with pytest.raises(ChildNotFound):
        await terminate_child(sup, other)
    assert other.alive
    with pytest.raises(ChildNotFound):
        await terminate_child(sup, "a")
    assert starts(events) == ["a", "b", "outsider"]  # nothing restarted


async def test_restart_and_delete_child_are_refused(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    ref = await start_child(sup, spec(events, "a"))
    assert ref is not None
    for op in (restart_child, delete_child):
        with pytest.raises(ChildError):
            await op(sup, ref)
        with pytest.raises(ChildError):
            await op(sup, "a")
    assert await dyn_refs(sup) == [ref]
    assert sup.alive


async def test_permanent_child_restarted_with_new_ref(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    r1 = await start_child(sup, spec(events, "p"))
    r2 = await start_child(sup, spec(events, "q"))
    assert r1 is not None and r2 is not None
    await crash(r1)
    refs = await dyn_refs(sup)
    assert len(refs) == 2
    assert refs[1] is r2
    assert refs[0] is not r1 and refs[0].alive
    assert starts(events) == ["p", "q", "p"]
    # the restarted child can be terminated by its new ref
    await terminate_child(sup, refs[0])
    assert await dyn_refs(sup) == [r2]


@pytest.mark.parametrize(
    ("restart", "how", "restarted"),
    [
        (Restart.PERMANENT, "normal", True),
        (Restart.PERMANENT, "crash", True),
        (Restart.PERMANENT, "killed", True),
        (Restart.TRANSIENT, "normal", False),
        (Restart.TRANSIENT, "shutdown", False),
        (Restart.TRANSIENT, "crash", True),
        (Restart.TEMPORARY, "crash", False),
        (Restart.TEMPORARY, "normal", False),
    ],
)
async def test_restart_types(rt: Runtime, restart: Restart, how: str, restarted: bool) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    ref = await start_child(sup, spec(events, "x", restart=restart))
    assert ref is not None
    if how == "crash":
        await crash(ref)
    elif how == "killed":
        await kill_and_join(ref)
    else:
        await exit_with(ref, NORMAL if how == "normal" else SHUTDOWN)
    infos = await which_children(sup)
    if restarted:
        [info] = infos
        assert info.ref is not None and info.ref is not ref and info.status == "running"
        assert starts(events) == ["x", "x"]
    else:
        assert infos == []  # a dynamic child that is not restarted is forgotten
        assert starts(events) == ["x"]
    assert (await count_children(sup)).specs == len(infos)


async def test_intensity_shared_across_dynamic_children(rt: Runtime, clock: FakeClock) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor(max_restarts=2, max_seconds=5))
    refs = [await start_child(sup, spec(events, f"w{i}")) for i in range(4)]
    assert all(r is not None for r in refs)
    await crash(refs[0])  # type: ignore[arg-type]
    await crash(refs[1])  # type: ignore[arg-type]
    assert len(await which_children(sup)) == 4
    clock.advance(1.0)
    await crash(refs[2])  # type: ignore[arg-type]  # third restart in 5 s: too many
    assert await join(sup) == SHUTDOWN
    assert refs[3] is not None and refs[3].exit_reason == SHUTDOWN
    stats = sup.statistics().supervisor
    assert stats is not None and stats.escalated and stats.restarts_total == 3


async def test_intensity_window_slides_for_dynamic(rt: Runtime, clock: FakeClock) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor(max_restarts=1, max_seconds=1))
    await start_child(sup, spec(events, "w"))
    for _ in range(4):
        [ref] = await dyn_refs(sup)
        await crash(ref)
        assert len(await dyn_refs(sup)) == 1  # the restart is recorded before time moves
        clock.advance(1.5)
    assert len(await dyn_refs(sup)) == 1
    assert sup.alive


async def test_restarted_dynamic_supervisor_starts_empty(rt: Runtime) -> None:
    events: EventLog = []
    top = await rt.spawn(
        Supervisor(
            [
                DynamicSupervisor.spec("dyn", name="dyn"),
                ChildSpec("w", worker(events, "w")),
            ]
        )
    )
    dyn1 = whereis("dyn")
    assert dyn1 is not None
    kids = [await start_child("dyn", spec(events, f"k{i}")) for i in range(3)]
    assert [i.type for i in await which_children(top)] == [ChildType.SUPERVISOR, ChildType.WORKER]

    assert await kill_and_join(dyn1) == supervisors.KILLED
    for kid in kids:
        assert kid is not None
        await join(kid)  # the children die with their supervisor (through the link)
    infos = {i.id: i for i in await which_children(top)}
    dyn2 = infos["dyn"].ref
    assert dyn2 is not None and dyn2 is not dyn1 and whereis("dyn") is dyn2
    assert await which_children(dyn2) == []  # dynamic children are not re-created
    assert starts(events) == ["w", "k0", "k1", "k2"]
    assert infos["w"].status == "running"
    assert await start_child(dyn2, spec(events, "k3")) is not None


async def test_dynamic_supervisor_as_child_escalates(rt: Runtime) -> None:
    events: EventLog = []
    top = await rt.spawn(Supervisor([DynamicSupervisor.spec("dyn", max_restarts=0, name="dyn")]))
    dyn1 = whereis("dyn")
    assert dyn1 is not None
    ref = await start_child(dyn1, spec(events, "k"))
    await crash(ref)  # type: ignore[arg-type]
    assert await join(dyn1) == SHUTDOWN
    [info] = await which_children(top)
    assert info.ref is not None and info.ref is not dyn1
    assert await which_children(info.ref) == []


# -- shutdown ---------------------------------------------------------------------------------


async def test_children_stopped_in_parallel(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    refs = [
        await start_child(
            sup, ChildSpec(f"s{i}", worker(events, f"s{i}", stop_delay=0.3), shutdown=2.0)
        )
        for i in range(10)
    ]
    start = time.monotonic()
    with anyio.fail_after(5):
        assert await supervisors.stop(sup, SHUTDOWN) == SHUTDOWN
    elapsed = time.monotonic() - start
    assert 0.28 <= elapsed < 1.5, elapsed  # ~0.3 s, not the 3 s sum
    # every terminate ran to completion
    assert sorted(map(str, stops(events))) == sorted(f"s{i}" for i in range(10))
    assert all(r is not None and r.exit_reason == SHUTDOWN for r in refs)


async def test_parallel_shutdown_kills_the_slow_ones_after_longest_grace(rt: Runtime) -> None:
    events: EventLog = []
    sup = await rt.spawn(DynamicSupervisor())
    fast = await start_child(sup, ChildSpec("fast", worker(events, "fast"), shutdown=0.3))
    slow = await start_child(
        sup, ChildSpec("slow", worker(events, "slow", stop_delay=5.0), shutdown=0.3)
    )
    brutal = await start_child(
        sup,
        ChildSpec("brutal", worker(events, "brutal", stop_delay=5.0), shutdown="brutal_kill"),
    )
    start = time.monotonic()
    with anyio.fail_after(3):
        await supervisors.stop(sup, SHUTDOWN)
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 1.0, elapsed
    assert fast is not None and fast.exit_reason == SHUTDOWN
    assert slow is not None and slow.exit_reason == supervisors.KILLED
    assert brutal is not None and brutal.exit_reason == supervisors.KILLED
    assert stops(events) == ["fast"]
    assert not any(e[0] == "stopping" and e[1] == "brutal" for e in events)


# -- scale ------------------------------------------------------------------------------------


class Trivial(Actor):
    pass


async def start_and_stop_many(sup: ActorRef, n: int) -> float:
    t0 = time.perf_counter()
    child = ChildSpec("t", Trivial, restart=Restart.TEMPORARY)
    for _ in range(n):
        await start_child(sup, child)
    assert await count_children(sup) == ChildCounts(
        specs=n, active=n, restarting=0, workers=n, supervisors=0
    )
    for info in await which_children(sup):
        assert info.ref is not None
        await terminate_child(sup, info.ref)
    assert await which_children(sup) == []
    return time.perf_counter() - t0


@pytest.mark.slow
async def test_scale_many_temporary_children(rt: Runtime) -> None:
    """OTP's ``simple_one_for_one_scale_many_temporary_children``: 10x the children may take
    at most 50x the time."""
    sup = await rt.spawn(DynamicSupervisor())
    alive = rt.statistics().alive
    await start_and_stop_many(sup, 100)  # warm up
    t1k = await start_and_stop_many(sup, 1_000)
    assert rt.statistics().alive == alive
    t10k = await start_and_stop_many(sup, 10_000)
    assert rt.statistics().alive == alive
    assert t10k < 15.0
    assert t10k / t1k <= 50, (t1k, t10k)
    stats = sup.statistics().supervisor
    assert stats is not None and stats.specs == 0 and stats.restarts_total == 0


@pytest.mark.slow
async def test_scale_shutdown_of_many_children(rt: Runtime) -> None:
    """Stopping the dynamic supervisor itself with many children is quick and complete."""
    sup = await rt.spawn(DynamicSupervisor())
    alive = rt.statistics().alive
    child = ChildSpec("t", Trivial, restart=Restart.TEMPORARY)
    refs = [await start_child(sup, child) for _ in range(5_000)]
    assert rt.statistics().alive == alive + 5_000
    start = time.monotonic()
    with anyio.fail_after(10):
        await supervisors.stop(sup, SHUTDOWN)
    assert time.monotonic() - start < 5.0
    assert all(r is not None and r.exit_reason == SHUTDOWN for r in refs)
    assert rt.statistics().alive == alive - 1
