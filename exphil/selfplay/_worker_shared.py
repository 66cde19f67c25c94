"""What a worker node's actors share (``exphil.selfplay._worker`` has the tree): how the
process was started (:class:`WorkerOptions`) and the run it joined with its counters
(:class:`WorkerShared`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from exphil.envs import GameEnv
from exphil.nets import Policy
from exphil.selfplay._config import SelfPlayConfig
from exphil.selfplay._dolphin import DolphinPaths
from exphil.wire import Welcome

__all__ = ["LEARNER", "JoinRefused", "WorkerOptions", "WorkerShared"]

#: the learner node's name (workers address its actors by it)
LEARNER = "learner"


class JoinRefused(Exception):
    """The learner refused this worker (the message names the difference)."""


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker process was started (``exphil worker``)."""

    name: str
    games: int | None = None  # None: the run's nodes.games_per_worker
    runners: int | None = None
    config: SelfPlayConfig | None = None  # the worker's own config, checked against the run's
    env_factory: Callable[[int, int, SelfPlayConfig], GameEnv] | None = None  # tests: fakes
    #: what this worker was started to play (``--env``): None adopts the run's; a worker
    #: started for another kind than the run's is stopped at join (exit 2)
    env_kind: str | None = None
    #: this machine's Dolphin and ISO (``--dolphin``/``--iso``, checked by the CLI); None:
    #: resolved at join when the run plays Dolphin (environment, then the settings file)
    dolphin: DolphinPaths | None = None
    dolphin_flags: tuple[str | None, str | None] = (None, None)
    threads: int | None = None
    heartbeat_interval: float = 1.0  # its node's (the learner checks it against its timeout)
    heartbeat_timeout: float = 5.0


@dataclass
class WorkerShared:
    """What the worker's actors share in-process: the run it joined and its counters."""

    options: WorkerOptions
    welcome: Welcome | None = None
    config: SelfPlayConfig | None = None
    policy: Policy | None = None
    teacher: Policy | None = None
    games: int = 0
    runners: int = 0
    incarnation: int = 0
    runner_starts: dict[int, int] = field(default_factory=dict)
    frames: int = 0
    games_finished: int = 0
    runner_restarts: int = 0
    chunks_sent: int = 0
    chunks_dropped: int = 0
    frames_dropped: int = 0
    results_sent: int = 0
    stopping: bool = False
    exit_reason: str = ""
    #: ``exit_reason`` is this worker's own (it cannot play the run), not the learner's refusal
    setup_error: bool = False
    #: the runners' env factory once joined (``options.env_factory`` wins; None: the mock)
    env_factory: Callable[[int, int, SelfPlayConfig], GameEnv] | None = None
    #: called once when the learner says the run is over (``exphil worker``: SIGTERM to
    #: itself, so the whole tree stops gracefully); None: only ``stopping`` is set
    on_run_over: Callable[[], None] | None = None
