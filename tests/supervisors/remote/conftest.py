"""Fixtures and helpers for the remote (multi-node) tests: several nodes in one process.

Every node runs in its own ``Runtime`` (``async with Runtime()`` inside a task gives that task's
subtree its own runtime), so two or three nodes talk over real ZeroMQ TCP sockets on
127.0.0.1 while the test can still inspect every side directly.

* ``start_host(tg, name, ...)`` starts a node with some registered actors in a background task of
  ``tg`` and returns a ``NodeHost`` handle (``stop()``, ``run(fn)`` to run code inside that
  runtime, ``actor(name)`` to look at an actor's state).
* ``node_pair(...)`` is the usual setup: node "b" bound (a host with actors), node "a" connecting
  in the *current* runtime (the test's), session up; yields a ``Pair``.
* the ``pair`` fixture is ``node_pair()`` with the default actors and heartbeats.

``FAST`` heartbeats (liveness tests) detect a silent peer in about half a second; ``STEADY``
ones are the default so that a busy event loop does not drop sessions by accident.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
import pytest
import zmq
from anyio.abc import TaskGroup, TaskStatus

from supervisors import (
    NO_REPLY,
    NORMAL,
    Actor,
    ActorRef,
    ChildSpec,
    From,
    Runtime,
    StopActor,
    Supervisor,
    call,
    reply,
)
from supervisors.remote import NODE_NAME, Node, RemoteRef, wait_for_node

FAST: dict[str, Any] = {"heartbeat_interval": 0.15, "heartbeat_timeout": 0.6}
"""Heartbeats for liveness tests: a silent peer is declared down after ~0.6 s."""

STEADY: dict[str, Any] = {"heartbeat_interval": 0.1, "heartbeat_timeout": 3.0}
"""Default heartbeats: hellos retried quickly, but no false timeouts on a loaded machine."""

WAIT = 10.0
"""Upper bound for any single wait in these tests (a regression fails, it never hangs)."""


# -- endpoints ------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


# -- waiting --------------------------------------------------------------------------------------


async def wait_until(
    predicate: Callable[[], object], timeout: float = WAIT, interval: float = 0.01
) -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while True:
            if predicate():
                return
            await anyio.sleep(interval)


# -- actors ---------------------------------------------------------------------------------------


class Agent(Actor):
    """Runs test code inside an actor of its runtime, and records what ``handle_info`` gets.

    ``call(agent, fn)`` runs ``fn()`` in the agent's handler (awaiting it if it returns an
    awaitable) and returns ``("ok", value)`` or ``("err", exception)``; ``run_in`` unwraps that.
    Only for local calls (a function does not cross the wire).
    """

    async def init(self) -> None:
        self.infos: list[Any] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        try:
            value = request()
            if isinstance(value, Awaitable):
                value = await value
        except Exception as exc:
            return ("err", exc)
        return ("ok", value)

    async def handle_info(self, message: Any) -> None:
        self.infos.append(message)


def actor_of(ref: ActorRef) -> Any:
    """The actor instance behind a local ref (to read its state from the test)."""
    return ref._proc.actor


async def run_in(agent: ActorRef, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Run ``fn()`` inside ``agent`` (an ``Agent``): its runtime, an actor context. Returns the
    value or re-raises the exception ``fn`` raised."""
    status, value = await call(agent, fn, timeout=timeout)
    if status == "err":
        raise value
    return value


class Probe(Actor):
    """The remote test actor. Requests arrive as decoded wire data (tuples become lists).

    calls: anything not listed is echoed back; ``"log"``: the casts handled so far;
    ``"infos"``: the infos; ``"crash"``: raises ``ValueError("boom")``; ``["sleep", s, v]``:
    sleeps ``s`` then returns ``v``; ``["crash_after", s]``: sleeps then raises ``KeyError``;
    ``"defer"``: deferred with ``NO_REPLY``; ``["release", v]``: replies ``v`` to every
    deferred caller, returns how many; ``["inspect", x]``: describes ``x`` as received;
    ``["stop", v]``: stops normally after replying ``v``.
    casts: ``"stop"`` stops normally, ``"crash"`` raises; anything else is appended to ``got``.
    """

    async def init(self) -> None:
        self.got: list[Any] = []
        self.infos: list[Any] = []
        self.deferred: list[From] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        if not isinstance(request, (str, list, tuple)):
            return request
        match request:
            case "log":
                return list(self.got)
            case "infos":
                return list(self.infos)
            case "crash":
                raise ValueError("boom")
            case ["sleep", float() | int() as seconds, value]:
                await anyio.sleep(seconds)
                return value
            case ["crash_after", float() | int() as seconds]:
                await anyio.sleep(seconds)
                raise KeyError("mid-call")
            case "defer":
                self.deferred.append(from_)
                return NO_REPLY
            case ["release", value]:
                deferred, self.deferred = self.deferred, []
                return sum(reply(f, value) for f in deferred)
            case ["inspect", value]:
                return describe(value)
            case ["stop", value]:
                raise StopActor(NORMAL, reply=value)
        return request

    async def handle_cast(self, request: Any) -> None:
        if isinstance(request, str) and request == "stop":
            raise StopActor(NORMAL)
        if isinstance(request, str) and request == "crash":
            raise ValueError("cast boom")
        self.got.append(request)

    async def handle_info(self, message: Any) -> None:
        self.infos.append(message)


def buffer_owner(arr: Any) -> Any:
    """The object that finally owns an array's memory (follows ``.base`` and memoryviews)."""
    obj = arr
    for _ in range(32):
        if isinstance(obj, memoryview):
            obj = obj.obj
        elif isinstance(obj, np.ndarray) and obj.base is not None:
            obj = obj.base
        else:
            return obj
    return obj


def describe(value: Any) -> dict[str, Any]:
    """What a receiver sees of a value: type, and for arrays dtype, shape, memory owner."""
    out: dict[str, Any] = {"type": f"{type(value).__module__}.{type(value).__qualname__}"}
    arr = None
    if isinstance(value, np.ndarray):
        arr = value
    elif type(value).__module__ == "torch":
        arr = value.numpy()
        out["torch_dtype"] = str(value.dtype)
    if arr is not None:
        owner = buffer_owner(arr)
        out.update(
            dtype=arr.dtype.str,
            shape=list(arr.shape),
            writeable=bool(arr.flags.writeable),
            owner=type(owner).__qualname__,
            owner_is_frame=isinstance(owner, zmq.Frame),
            owner_is_bytes=isinstance(owner, (bytes, bytearray)),
        )
    return out


# -- one node in a background task ----------------------------------------------------------------

ActorFactories = Mapping[str, Callable[[], Actor]]

DEFAULT_ACTORS: dict[str, Callable[[], Actor]] = {"echo": Probe, "probe": Probe}


@dataclass
class NodeHost:
    """A node running in a background task with its own runtime (see ``start_host``)."""

    name: str
    runtime: Runtime
    node_ref: ActorRef
    agent: ActorRef
    endpoint: str | None
    supervisor: ActorRef | None = None
    _stop: anyio.Event = field(default_factory=anyio.Event)
    _stopped: anyio.Event = field(default_factory=anyio.Event)

    @property
    def node(self) -> Node:
        """The node actor running now (after a restart: the new incarnation)."""
        proc = self.runtime.registry._lookup(NODE_NAME)
        assert proc is not None, f"node {self.name!r} is not running"
        actor = proc.actor
        assert isinstance(actor, Node)
        return actor

    def whereis(self, name: Hashable) -> ActorRef | None:
        return self.runtime.registry.whereis(name)

    def actor(self, name: Hashable) -> Any:
        """The actor instance registered as ``name`` (to read its state)."""
        proc = self.runtime.registry._lookup(name)
        assert proc is not None, f"no actor {name!r} on {self.name!r}"
        return proc.actor

    async def run(self, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Run ``fn()`` inside an actor of this node's runtime."""
        return await run_in(self.agent, fn, timeout)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    async def stop(self, timeout: float = WAIT) -> None:
        """Stop the whole runtime (actors in reverse start order) and wait until it is gone."""
        self._stop.set()
        with anyio.fail_after(timeout):
            await self._stopped.wait()


def node_options(options: Mapping[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {**STEADY, "linger": 0.0}
    opts.update(options)
    return opts


async def _host_main(
    name: str,
    bind: list[str],
    connect: list[str],
    actors: ActorFactories,
    supervised: bool,
    options: dict[str, Any],
    stop: anyio.Event,
    stopped: anyio.Event,
    *,
    task_status: TaskStatus[NodeHost],
) -> None:
    try:
        async with Runtime() as rt:
            agent = await rt.spawn(Agent(), name="agent")
            supervisor = None
            if supervised:
                specs = [Node.spec(name, bind=bind, connect=connect, **options)]
                specs += [ChildSpec(n, f, name=n) for n, f in actors.items()]
                supervisor = await rt.spawn(Supervisor(specs, max_restarts=10, max_seconds=5.0))
                node_ref = rt.registry.whereis(NODE_NAME)
                assert node_ref is not None
            else:
                for actor_name, factory in actors.items():
                    await rt.spawn(factory(), name=actor_name)
                # Spawned last so that it stops first: the peers lose the node, not the
                # actors one by one.
                node_ref = await rt.spawn(
                    Node(name, bind=bind, connect=connect, **options), name=NODE_NAME
                )
            proc = rt.registry._lookup(NODE_NAME)
            assert proc is not None and isinstance(proc.actor, Node)
            endpoints = proc.actor.endpoints
            host = NodeHost(
                name=name,
                runtime=rt,
                node_ref=node_ref,
                agent=agent,
                endpoint=endpoints[0] if endpoints else None,
                supervisor=supervisor,
                _stop=stop,
                _stopped=stopped,
            )
            task_status.started(host)
            await stop.wait()
    finally:
        stopped.set()


async def start_host(
    tg: TaskGroup,
    name: str,
    *,
    bind: Iterable[str] | None = None,
    connect: Iterable[str] = (),
    actors: ActorFactories | None = None,
    supervised: bool = False,
    **options: Any,
) -> NodeHost:
    """Start node ``name`` in a background task of ``tg`` with its own runtime.

    ``bind`` defaults to a wildcard port on 127.0.0.1 (``NodeHost.endpoint`` is the real one);
    ``actors`` (name -> factory, default ``DEFAULT_ACTORS``) are registered there, plus an
    ``Agent`` as "agent". ``supervised=True`` puts ``Node.spec(...)`` and the actors under one
    one_for_one ``Supervisor``. ``options`` go to ``Node`` (default ``STEADY`` heartbeats,
    ``linger=0``).
    """
    stop, stopped = anyio.Event(), anyio.Event()
    with anyio.fail_after(WAIT):
        host: NodeHost = await tg.start(
            _host_main,
            name,
            ["tcp://127.0.0.1:*"] if bind is None else list(bind),
            list(connect),
            DEFAULT_ACTORS if actors is None else actors,
            supervised,
            node_options(options),
            stop,
            stopped,
        )
    return host


# -- the usual pair: "b" bound in the background, "a" connecting in the test's runtime ------------


@dataclass
class Pair:
    a_runtime: Runtime
    a_node_ref: ActorRef
    a_agent: ActorRef
    b: NodeHost
    tg: TaskGroup

    @property
    def a_node(self) -> Node:
        proc = self.a_runtime.registry._lookup(NODE_NAME)
        assert proc is not None and isinstance(proc.actor, Node)
        return proc.actor

    def ref(self, name: str = "echo") -> RemoteRef:
        """An actor on node "b"."""
        return RemoteRef(self.b.name, name)

    @property
    def a_infos(self) -> list[Any]:
        """What a's agent got in ``handle_info`` (``Down``, ``NodeUp``, ...)."""
        proc = self.a_runtime.registry._lookup("agent")
        assert proc is not None and isinstance(proc.actor, Agent)
        return proc.actor.infos

    async def in_a(self, fn: Callable[[], Any], timeout: float = WAIT) -> Any:
        """Run ``fn()`` inside an actor on node "a"."""
        return await run_in(self.a_agent, fn, timeout)

    def peer_of_b(self) -> Any:
        """Node b's statistics about its peer "a" (None when no session)."""
        for p in self.b.node.statistics_snapshot().peers:
            if p.node == "a":
                return p
        return None


@asynccontextmanager
async def node_pair(
    *,
    b_actors: ActorFactories | None = None,
    a_actors: ActorFactories | None = None,
    types: Iterable[type] = (),
    a_types: Iterable[type] | None = None,
    b_types: Iterable[type] | None = None,
    heartbeats: Mapping[str, Any] | None = None,
    b_bind: str | None = None,
    b_supervised: bool = False,
    a_options: Mapping[str, Any] | None = None,
    b_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[Pair]:
    """Node "b" (bound, ``b_actors`` registered) in a background task, node "a" connecting to
    it in a new runtime entered in the current task; yields once the session is up.

    Inside the block the current runtime is a's: ``call(RemoteRef("b", ...))`` works from the
    test body. On exit a's runtime stops, then b's.
    """
    hb = dict(STEADY if heartbeats is None else heartbeats)
    all_types = list(types)
    async with anyio.create_task_group() as tg:
        b = await start_host(
            tg,
            "b",
            bind=None if b_bind is None else [b_bind],
            actors=b_actors,
            supervised=b_supervised,
            types=all_types if b_types is None else list(b_types),
            **hb,
            **dict(b_options or {}),
        )
        assert b.endpoint is not None
        try:
            async with Runtime() as rt:
                agent = await rt.spawn(Agent(), name="agent")
                for actor_name, factory in (a_actors or {}).items():
                    await rt.spawn(factory(), name=actor_name)
                a_node_ref = await rt.spawn(
                    Node(
                        "a",
                        connect=[b.endpoint],
                        types=all_types if a_types is None else list(a_types),
                        **node_options({**hb, **dict(a_options or {})}),
                    ),
                    name=NODE_NAME,
                )
                await wait_for_node("b", WAIT)
                yield Pair(rt, a_node_ref, agent, b, tg)
        finally:
            if not b.stopped:
                await b.stop()


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    """Nodes "a" (the test's runtime, connecting) and "b" (bound; "echo" and "probe" are
    ``Probe`` actors) with a session up."""
    async with node_pair() as p:
        yield p
