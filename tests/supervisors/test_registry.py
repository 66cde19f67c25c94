"""Names: the runtime's default registry, ``Via(registry, key)``, and their life cycle.

Registration is unique; a name is released when its actor exits; a name resolves at each
send, so after a supervisor restart it reaches the new incarnation.
"""

from __future__ import annotations

from typing import Any

import pytest

from supervisors import (
    NORMAL,
    Actor,
    ActorExited,
    AlreadyRegistered,
    ChildSpec,
    Crash,
    From,
    NoProcess,
    Registry,
    RegistryStatistics,
    Runtime,
    StartError,
    Supervisor,
    Via,
    call,
    cast,
    register,
    send,
    stop,
    unregister,
    whereis,
    which_children,
)
from tests.supervisors.helpers import join as joined

pytestmark = pytest.mark.anyio


class Counter(Actor):
    """State is per incarnation: ``"incr"`` counts up from 0; ``"crash"`` raises."""

    def __init__(self) -> None:
        self.n = 0
        self.infos: list[Any] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "incr":
            self.n += 1
            return self.n
        if request == "crash":
            raise RuntimeError("crash requested")
        if request == "infos":
            return list(self.infos)
        if request == "me":
            return self.ref
        return request

    async def handle_cast(self, request: Any) -> None:
        if request == "crash":
            raise RuntimeError("crash requested")
        self.n += 1

    async def handle_info(self, message: Any) -> None:
        self.infos.append(message)


class SelfRegistering(Counter):
    def __init__(self, name: Any) -> None:
        super().__init__()
        self.name = name

    async def init(self) -> None:
        register(self.name, self.ref)


# -- the default registry ---------------------------------------------------------------------


async def test_spawn_with_name_registers_it(rt: Runtime) -> None:
    ref = await rt.spawn(Counter(), name="counter")
    assert whereis("counter") is ref
    assert ref.name == "counter"
    assert ref.statistics().name == "counter"
    assert "counter" in rt.registry
    assert "counter" in rt.registry.names()
    assert rt.registry.whereis("counter") is ref
    assert await call("counter", "incr") == 1
    await cast("counter", "bump")
    await send("counter", "hello")
    assert await call("counter", "incr") == 3
    assert await call("counter", "infos") == ["hello"]
    assert await call("counter", "me") is ref


async def test_whereis_unknown_name_is_none(rt: Runtime) -> None:
    assert whereis("nobody") is None
    assert "nobody" not in rt.registry


async def test_duplicate_name_fails_with_already_registered(rt: Runtime) -> None:
    first = await rt.spawn(Counter(), name="taken")
    alive = rt.statistics().alive
    second_actor = Counter()
    with pytest.raises(AlreadyRegistered) as ei:
        await rt.spawn(second_actor, name="taken")
    assert ei.value.name == "taken"
    assert ei.value.owner is first
    # the first owner keeps the name and nothing else was started
    assert whereis("taken") is first
    assert rt.statistics().alive == alive
    assert await call("taken", "incr") == 1


async def test_name_released_on_exit(rt: Runtime) -> None:
    ref = await rt.spawn(Counter(), name="short-lived")
    assert await stop("short-lived") == NORMAL
    assert whereis("short-lived") is None
    assert "short-lived" not in rt.registry
    assert "short-lived" not in rt.registry.names()
    with pytest.raises(NoProcess):
        await call("short-lived", "incr")
    await cast("short-lived", "bump")  # fire-and-forget: no error
    await send("short-lived", "hello")
    # the name is free again
    again = await rt.spawn(Counter(), name="short-lived")
    assert again is not ref
    assert whereis("short-lived") is again
    assert await call("short-lived", "incr") == 1


async def test_name_released_on_crash(rt: Runtime) -> None:
    ref = await rt.spawn(Counter(), name="crashy")
    with pytest.raises(ActorExited) as ei:
        await call("crashy", "crash")
    assert isinstance(ei.value.reason, Crash)
    await joined(ref)
    assert whereis("crashy") is None
    with pytest.raises(NoProcess):
        await call("crashy", "incr")


async def test_name_released_when_init_fails(rt: Runtime) -> None:
    class Failing(Actor):
        async def init(self) -> None:
            raise ValueError("no")

    with pytest.raises(StartError):
        await rt.spawn(Failing(), name="failing")
    assert whereis("failing") is None
    ref = await rt.spawn(Counter(), name="failing")
    assert whereis("failing") is ref


async def test_name_is_registered_during_init(rt: Runtime) -> None:
    seen: list[Any] = []

    class Checking(Counter):
        async def init(self) -> None:
            seen.append(whereis("checking"))

    ref = await rt.spawn(Checking(), name="checking")
    assert seen == [ref]


async def test_name_follows_supervisor_restart(rt: Runtime) -> None:
    sup = await rt.spawn(Supervisor([ChildSpec("w", Counter, name="w")]))
    old = whereis("w")
    assert old is not None
    assert await call("w", "incr") == 1
    assert await call("w", "incr") == 2
    await cast("w", "crash")
    assert isinstance(await joined(old), Crash)
    # the supervisor handles the Exit before this call, so the child is running again
    [info] = await which_children(sup)
    new = whereis("w")
    assert new is not None and new is not old
    assert info.ref is new and info.status == "running"
    assert new.alive and not old.alive
    # the name reaches the new incarnation, which starts from fresh state
    assert await call("w", "incr") == 1
    assert await call("w", "me") is new
    with pytest.raises(NoProcess):
        await call(old, "incr")


# -- Via registries ---------------------------------------------------------------------------


async def test_via_name_for_spawn_call_whereis(rt: Runtime) -> None:
    reg = Registry("workers")
    key = ("worker", 1)
    name = Via(reg, key)
    ref = await rt.spawn(Counter(), name=name)
    assert whereis(name) is ref
    assert reg.whereis(key) is ref
    assert key in reg and reg.names() == [key]
    assert ref.name == key
    # a Via name lives only in its registry
    assert whereis(key) is None
    assert key not in rt.registry
    assert await call(name, "incr") == 1
    await cast(name, "bump")
    await send(name, "hi")
    assert await call(Via(reg, key), "incr") == 3  # an equal Via resolves the same
    assert await call(name, "infos") == ["hi"]

    with pytest.raises(AlreadyRegistered):
        await rt.spawn(Counter(), name=Via(reg, key))
    # the same key in another registry is a different name
    other = Registry("other")
    ref2 = await rt.spawn(Counter(), name=Via(other, key))
    assert whereis(Via(other, key)) is ref2 and whereis(name) is ref

    await stop(name)
    assert whereis(name) is None and reg.whereis(key) is None
    assert key not in reg
    with pytest.raises(NoProcess):
        await call(name, "incr")
    await cast(name, "bump")
    assert whereis(Via(other, key)) is ref2


async def test_via_name_follows_supervisor_restart(rt: Runtime) -> None:
    reg = Registry("pool")
    name = Via(reg, "member")
    sup = await rt.spawn(Supervisor([ChildSpec("m", Counter, name=name)]))
    old = whereis(name)
    assert old is not None
    with pytest.raises(ActorExited):
        await call(name, "crash")
    await joined(old)
    [info] = await which_children(sup)
    assert whereis(name) is info.ref is not old
    assert await call(name, "incr") == 1


# -- register / unregister --------------------------------------------------------------------


async def test_register_and_unregister(rt: Runtime) -> None:
    ref = await rt.spawn(Counter())
    assert ref.statistics().name is None
    register("alias", ref)
    assert whereis("alias") is ref
    assert ref.name == "alias"
    assert await call("alias", "incr") == 1
    unregister("alias")
    assert whereis("alias") is None
    assert ref.statistics().name is None
    with pytest.raises(NoProcess):
        await call("alias", "incr")
    assert ref.alive  # unregistering does not affect the actor
    assert await call(ref, "incr") == 2
    unregister("alias")  # not registered: no error
    unregister("never-registered")


async def test_register_taken_name_fails(rt: Runtime) -> None:
    a = await rt.spawn(Counter(), name="a")
    b = await rt.spawn(Counter())
    with pytest.raises(AlreadyRegistered) as ei:
        register("a", b)
    assert ei.value.owner is a
    assert whereis("a") is a
    with pytest.raises(AlreadyRegistered):
        register("a", a)  # even by its owner, as Erlang's register/2


async def test_an_actor_may_have_several_names(rt: Runtime) -> None:
    reg = Registry("extra")
    ref = await rt.spawn(Counter(), name="primary")
    register("secondary", ref)
    register(Via(reg, "third"), ref)
    assert whereis("primary") is whereis("secondary") is whereis(Via(reg, "third")) is ref
    assert ref.name == "primary"
    await stop(ref)
    assert whereis("primary") is None
    assert whereis("secondary") is None
    assert whereis(Via(reg, "third")) is None
    assert len(reg) == 0


async def test_register_dead_actor_does_not_register(rt: Runtime) -> None:
    ref = await rt.spawn(Counter())
    await stop(ref)
    register("ghost", ref)
    assert whereis("ghost") is None
    assert "ghost" not in rt.registry
    # the name is still free
    live = await rt.spawn(Counter(), name="ghost")
    assert whereis("ghost") is live


async def test_reregistered_name_survives_old_owner_exit(rt: Runtime) -> None:
    a = await rt.spawn(Counter(), name="role")
    unregister("role")
    b = await rt.spawn(Counter(), name="role")
    await stop(a)  # a no longer owns "role": its exit must not release b's name
    assert whereis("role") is b
    assert await call("role", "incr") == 1


async def test_register_from_init(rt: Runtime) -> None:
    ref = await rt.spawn(SelfRegistering("self-named"))
    assert whereis("self-named") is ref
    await stop(ref)
    assert whereis("self-named") is None


async def test_via_register_and_unregister(rt: Runtime) -> None:
    reg = Registry("manual")
    ref = await rt.spawn(Counter())
    register(Via(reg, 7), ref)
    assert reg.whereis(7) is ref and whereis(Via(reg, 7)) is ref
    assert await call(Via(reg, 7), "incr") == 1
    unregister(Via(reg, 7))
    assert reg.whereis(7) is None
    assert ref.alive
    reg.register(8, ref)
    assert whereis(Via(reg, 8)) is ref
    reg.unregister(8)
    assert whereis(Via(reg, 8)) is None


# -- statistics -------------------------------------------------------------------------------


async def test_registry_statistics(rt: Runtime) -> None:
    reg = Registry("stats")
    assert reg.statistics() == RegistryStatistics(names=0, registrations_total=0, conflicts_total=0)
    a = await rt.spawn(Counter(), name=Via(reg, "a"))
    b = await rt.spawn(Counter(), name=Via(reg, "b"))
    s = reg.statistics()
    assert (s.names, s.registrations_total, s.conflicts_total) == (2, 2, 0)
    with pytest.raises(AlreadyRegistered):
        await rt.spawn(Counter(), name=Via(reg, "a"))
    with pytest.raises(AlreadyRegistered):
        reg.register("b", a)
    s = reg.statistics()
    assert (s.names, s.registrations_total, s.conflicts_total) == (2, 2, 2)
    await stop(a)
    s = reg.statistics()
    assert (s.names, s.registrations_total, s.conflicts_total) == (1, 2, 2)
    reg.register("c", b)
    s = reg.statistics()
    assert (s.names, s.registrations_total, s.conflicts_total) == (2, 3, 2)
    assert len(reg) == 2
    assert reg.names() == ["b", "c"]


async def test_default_registry_counts_in_runtime_statistics(rt: Runtime) -> None:
    before = rt.statistics().registered_names
    ref = await rt.spawn(Counter(), name="counted")
    assert rt.statistics().registered_names == before + 1
    await stop(ref)
    assert rt.statistics().registered_names == before
