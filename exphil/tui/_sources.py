"""The two :class:`~exphil.tui.DashboardSource` s: a learner in this process (the foreground
of ``exphil selfplay``) and a learner reached over ZeroMQ (``exphil dashboard --connect``).

Both read what the learner publishes on its metrics PUB socket (a loopback subscriber costs
the learner one more ZeroMQ peer: the same path, the same cost, whoever watches). The remote
source also joins the learner's node, as a worker does (Curve keys off loopback), to ask for
the run's history (``Watch``) and to send commands (``Control``); it notices a learner that
went away (no answer to a probe) and attaches again, by itself, when it is back.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import anyio
import structlog
from anyio.from_thread import BlockingPortal, start_blocking_portal

from exphil.selfplay import LearnerShared, metrics_snapshot
from exphil.tui._source import Connection, DashboardItem
from exphil.wire import (
    METRICS_TYPES,
    PROTOCOL,
    TYPES,
    Control,
    ControlReply,
    Event,
    Metrics,
    Watch,
    Watching,
)
from supervisors import NoProcess, Runtime, Supervisor, call, spawn
from supervisors.remote import Connect, Node, RemoteRef, Subscriber

__all__ = ["InProcessSource", "RemoteSource", "metrics_endpoint_for"]

log = structlog.get_logger("exphil.dashboard")
_LEARNER = RemoteRef("learner", "learner")


def metrics_endpoint_for(connect: str, published: str) -> str:
    """The metrics endpoint as seen from here: the learner reports the address it bound
    (``tcp://0.0.0.0:PORT`` when it listens on every interface), so its host is replaced by
    the one this dashboard reached the learner at."""
    if not (connect.startswith("tcp://") and published.startswith("tcp://")):
        return published
    host = connect[len("tcp://") :].rsplit(":", 1)[0]
    port = published.rsplit(":", 1)[1]
    return f"tcp://{host}:{port}"


async def _receive_all(sub: Subscriber, seconds: float) -> AsyncIterator[Any]:
    """What ``sub`` receives during the next ``seconds`` (possibly nothing)."""
    deadline = anyio.current_time() + seconds
    while (left := deadline - anyio.current_time()) > 0:
        try:
            _topic, value = await sub.receive(timeout=left)
        except TimeoutError:
            return
        yield value


class InProcessSource:
    """The learner of this process (``exphil selfplay`` runs it in a thread). ``stop``: the
    event that ends the run with a checkpoint (the one Ctrl-C sets)."""

    embedded = True

    def __init__(self, shared: LearnerShared, stop: threading.Event) -> None:
        self.shared, self.stop = shared, stop
        self.label = "this process"
        self._closed = False

    async def items(self) -> AsyncIterator[DashboardItem]:
        sh = self.shared
        yield Connection("connecting", "starting the learner")
        while sh.metrics_endpoint is None and not sh.finished:  # noqa: ASYNC110 (another thread's)
            await anyio.sleep(0.1)
        history = list(sh.history)
        events = [Event(time=e["time"], kind=e["kind"], text=e["text"]) for e in list(sh.events)]
        yield Watching(run=sh.run.directory.name, metrics=sh.metrics_endpoint, history=history,
                       events=events[-200:])  # fmt: skip
        if sh.metrics_endpoint is None:
            return
        yield Connection("live")
        with Subscriber(sh.metrics_endpoint, types=METRICS_TYPES, name="dashboard") as sub:
            while not self._closed:
                async for value in _receive_all(sub, 0.5):
                    yield value
                    if isinstance(value, Metrics) and value.finished:
                        return
                if sh.finished and sh.done.is_set():
                    yield metrics_snapshot(sh)  # the last word: finished, the final update
                    return

    async def control(self, action: Literal["checkpoint", "stop"]) -> ControlReply:
        sh = self.shared
        if sh.finished or sh.stop_requested or self.stop.is_set():
            return ControlReply(ok=False, text="the run is already stopping")
        if action == "checkpoint":
            sh.checkpoint_requested = True  # read by the learner after its current update
            return ControlReply(ok=True, text=f"checkpoint after update {sh.version + 1}")
        self.stop.set()  # "stop", as Ctrl-C: the learner stops at its next update, checkpointed
        return ControlReply(ok=True, text=f"stopping at update {sh.version} (with a checkpoint)")

    async def aclose(self) -> None:
        self._closed = True


class RemoteSource:
    """A learner at ``connect`` (its worker endpoint). ``keys``: a folder with this machine's
    ``worker.key_secret`` and the learner's ``learner.key`` (as ``exphil worker --keys``).

    Its node, subscriber and probes run on their own event loop in a thread (an anyio
    blocking portal): nothing the dashboard's UI does can stall them, and nothing they do can
    stall the UI."""

    embedded = False

    def __init__(
        self, connect: str, *, keys: str | os.PathLike[str] | None = None, probe_every: float = 2.0
    ) -> None:
        self.connect, self.keys, self.probe_every = connect, keys, probe_every
        self.label = connect
        self.client = f"dashboard-{socket.gethostname()}-{os.getpid()}"
        self._queue: queue.SimpleQueue[DashboardItem | None] = queue.SimpleQueue()
        self._portal: BlockingPortal | None = None
        self._closed = threading.Event()
        self._requests: anyio.abc.ObjectSendStream[tuple[str, list[Any], anyio.Event]]

    def _node_spec(self) -> Any:
        kw: dict[str, Any] = {}
        target: str | Connect = self.connect
        if self.keys:
            kw["keys"] = Path(self.keys) / "worker.key_secret"
            target = Connect(self.connect, server_key=Path(self.keys) / "learner.key")
        return Node.spec(self.client, connect=[target], types=TYPES, heartbeat_interval=1.0,
                         heartbeat_timeout=5.0, **kw)  # fmt: skip

    def _subscriber(self, published: str) -> Subscriber:
        kw: dict[str, Any] = {}
        if self.keys:
            kw = {"server_key": Path(self.keys) / "learner.key",
                  "keys": Path(self.keys) / "worker.key_secret"}  # fmt: skip
        endpoint = metrics_endpoint_for(self.connect, published)
        return Subscriber(endpoint, types=METRICS_TYPES, name="dashboard", **kw)

    async def _pump(self) -> None:
        """On the portal's loop: attach, follow, re-attach; every item into the queue."""
        put = self._queue.put
        send, receive = anyio.create_memory_object_stream[tuple[str, list[Any], anyio.Event]](8)
        self._requests = send
        try:
            async with Runtime(), anyio.create_task_group() as tg:
                await spawn(Supervisor([self._node_spec()]))
                tg.start_soon(self._serve_controls, receive)
                await self._attach_and_follow(put)
                tg.cancel_scope.cancel()
        finally:
            put(None)

    async def _serve_controls(
        self, receive: anyio.abc.ObjectReceiveStream[tuple[str, list[Any], anyio.Event]]
    ) -> None:
        """Commands, sent from the UI's loop, made as calls from inside the runtime."""
        async for action, out, done in receive:
            try:
                out.append(await call(
                    _LEARNER, Control(client=self.client, action=action), timeout=10.0
                ))  # fmt: skip
            except Exception as exc:
                out.append(exc)
            done.set()

    async def _ask(self, action: str) -> Any:
        """On the portal's loop: hand ``action`` to :meth:`_serve_controls`, wait for it."""
        out: list[Any] = []
        done = anyio.Event()
        await self._requests.send((action, out, done))
        await done.wait()
        return out[0]

    async def _attach_and_follow(self, put: Any) -> None:
        sub: Subscriber | None = None
        published: str | None = None
        detail = f"attaching to {self.connect}"
        try:
            while not self._closed.is_set():
                put(Connection("connecting", detail))
                try:
                    watching = await call(
                        _LEARNER, Watch(client=self.client, protocol=PROTOCOL), timeout=5.0
                    )
                except NoProcess:  # its node answers, its learner is not up (yet)
                    detail = f"{self.connect}: the learner is starting"
                    await anyio.sleep(1.0)
                    continue
                except Exception as exc:  # not there (yet): try again
                    detail = f"no answer from {self.connect} ({type(exc).__name__})"
                    await anyio.sleep(1.0)
                    continue
                put(watching)
                put(Connection("live"))
                if watching.metrics is not None and watching.metrics != published:
                    if sub is not None:  # a restarted learner publishes on a new port
                        sub.close()
                    sub, published = self._subscriber(watching.metrics), watching.metrics
                # follow the PUB socket; when it is quiet, probe the learner
                while not self._closed.is_set():
                    got = False
                    if sub is not None:
                        async for value in _receive_all(sub, self.probe_every):
                            got = True
                            put(value)
                            if isinstance(value, Metrics) and value.finished:
                                return
                    else:
                        await anyio.sleep(self.probe_every)
                    if got:
                        continue
                    try:
                        await call(_LEARNER, "ping", timeout=self.probe_every)
                    except Exception as exc:
                        detail = f"the learner stopped answering ({type(exc).__name__})"
                        log.info("dashboard.learner_lost", reason=repr(exc))
                        break
        finally:
            if sub is not None:
                sub.close()

    async def items(self) -> AsyncIterator[DashboardItem]:
        with start_blocking_portal() as portal:
            self._portal = portal
            future = portal.start_task_soon(self._pump)
            try:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        await anyio.sleep(0.05)
                        continue
                    if item is None:
                        break
                    yield item
            finally:
                self._closed.set()
                self._portal = None
                future.cancel()
        if future.done() and not future.cancelled() and future.exception() is not None:
            log.warning("dashboard.source_failed", error=repr(future.exception()))

    async def control(self, action: Literal["checkpoint", "stop"]) -> ControlReply:
        portal = self._portal
        if portal is None:
            return ControlReply(ok=False, text="not attached to the learner")

        try:
            reply = await anyio.to_thread.run_sync(portal.call, self._ask, action)
        except Exception as exc:
            reply = exc
        if isinstance(reply, Exception):
            return ControlReply(
                ok=False, text=f"the learner did not answer ({type(reply).__name__})"
            )
        if not isinstance(reply, ControlReply):
            return ControlReply(ok=False, text=f"unexpected answer {type(reply).__name__}")
        return reply

    async def aclose(self) -> None:
        self._closed.set()
