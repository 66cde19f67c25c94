"""supervisors: OTP-style actors and supervision trees on anyio (asyncio and trio).

A GenServer-style ``Actor`` runs as one task with a bounded mailbox and answers ``call``,
``cast`` and ``send`` (which never wait: a full mailbox applies the actor's overflow policy)
and timer messages (``send_after``, ``send_interval``). Actors are linked and monitored as in
Erlang; a ``Supervisor`` (one_for_one, one_for_all, rest_for_one) or ``DynamicSupervisor``
restarts them within a restart intensity and escalates beyond it. ``run(root, backend=...)``
runs an application with graceful shutdown on SIGINT/SIGTERM. The design and every difference
from OTP are described in ``docs/supervisors.md``.

Quick start::

    class Counter(Actor):
        async def init(self) -> None:
            self.n = 0

        async def handle_call(self, request, from_):
            self.n += request
            return self.n

    async with Runtime() as rt:
        sup = await rt.spawn(Supervisor([ChildSpec("counter", Counter, name="counter")]))
        assert await call("counter", 2) == 2
"""

from supervisors._actor import (
    DEFAULT_CALL_TIMEOUT,
    NO_REPLY,
    Actor,
    ActorRef,
    From,
    Ignore,
    RemoteTarget,
    StopActor,
    Target,
    call,
    cast,
    current,
    demonitor,
    kill,
    link,
    monitor,
    register,
    reply,
    send,
    stop,
    unlink,
    unregister,
    whereis,
)
from supervisors._dynamic import DynamicSupervisor
from supervisors._errors import (
    ActorError,
    ActorExited,
    AlreadyPresent,
    AlreadyRegistered,
    AlreadyStarted,
    CallTimeout,
    ChildError,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    FailedToStartChild,
    MaxChildren,
    NoProcess,
    StartError,
)
from supervisors._links import (
    KILLED,
    NOPROC,
    NORMAL,
    SHUTDOWN,
    Crash,
    Down,
    Exit,
    ExitReason,
    Killed,
    MonitorRef,
    NoConnection,
    NoProc,
    Normal,
    Shutdown,
)
from supervisors._mailbox import OverflowPolicy
from supervisors._registry import Registry, RegistryStatistics, Via
from supervisors._runtime import Runtime, exit_code, run, spawn
from supervisors._stats import ActorStatistics, RuntimeStatistics, SupervisorStatistics
from supervisors._supervisor import (
    BRUTAL_KILL,
    INFINITY,
    ChildCounts,
    ChildInfo,
    ChildSpec,
    ChildType,
    Restart,
    ShutdownPolicy,
    Strategy,
    Supervisor,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from supervisors._timers import TimerRef, cancel_timer, send_after, send_interval

__all__ = [
    # actors
    "Actor",
    "ActorRef",
    "From",
    "Target",
    "RemoteTarget",
    "NO_REPLY",
    "DEFAULT_CALL_TIMEOUT",
    "Ignore",
    "StopActor",
    "call",
    "cast",
    "send",
    "reply",
    "stop",
    "kill",
    "current",
    "OverflowPolicy",
    # timers
    "TimerRef",
    "send_after",
    "send_interval",
    "cancel_timer",
    # links, monitors, exit reasons
    "link",
    "unlink",
    "monitor",
    "demonitor",
    "MonitorRef",
    "Exit",
    "Down",
    "ExitReason",
    "Normal",
    "Shutdown",
    "Crash",
    "Killed",
    "NoProc",
    "NoConnection",
    "NORMAL",
    "SHUTDOWN",
    "KILLED",
    "NOPROC",
    # registry
    "Registry",
    "RegistryStatistics",
    "Via",
    "whereis",
    "register",
    "unregister",
    # supervision
    "ChildSpec",
    "ChildType",
    "Restart",
    "Strategy",
    "ShutdownPolicy",
    "BRUTAL_KILL",
    "INFINITY",
    "Supervisor",
    "DynamicSupervisor",
    "ChildInfo",
    "ChildCounts",
    "which_children",
    "count_children",
    "start_child",
    "terminate_child",
    "restart_child",
    "delete_child",
    # runtime
    "Runtime",
    "run",
    "spawn",
    "exit_code",
    "ActorStatistics",
    "SupervisorStatistics",
    "RuntimeStatistics",
    # errors
    "ActorError",
    "NoProcess",
    "CallTimeout",
    "ActorExited",
    "AlreadyRegistered",
    "StartError",
    "FailedToStartChild",
    "ChildError",
    "AlreadyStarted",
    "AlreadyPresent",
    "ChildNotFound",
    "ChildRunning",
    "ChildRestarting",
    "MaxChildren",
]
