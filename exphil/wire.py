"""The messages of ``exphil selfplay`` between processes: msgspec Structs, never pickle.

Worker nodes and the learner node exchange these over ``supervisors.remote`` (ZeroMQ);
numpy arrays travel as their own frames (zero-copy), described in the payload. A node decodes
only the types listed in :data:`TYPES`; anything else is counted and dropped by the runtime.
:data:`PROTOCOL` is checked when a worker joins: a worker speaking another version is refused
with a message naming both.

Names follow ARCHITECTURE.md §6: messages are verbs (``Join``, ``GetWeights``) or facts
(``Trajectory``, ``GameResult``, ``PolicyUpdate``).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import numpy as np

__all__ = [
    "PROTOCOL",
    "TYPES",
    "Join",
    "Welcome",
    "Refused",
    "PolicyUpdate",
    "GetWeights",
    "Status",
    "StatusReply",
    "GetMix",
    "MixEntry",
    "OpponentMix",
    "GetSnapshot",
    "Snapshot",
    "Trajectory",
    "GameResult",
    "WorkerReport",
    "Metrics",
    "WorkerMetrics",
    "Rating",
    "Event",
    "UpdateRecord",
    "Watch",
    "Watching",
    "Control",
    "ControlReply",
    "METRICS_TYPES",
]

#: bumped whenever a message below changes layout or meaning
PROTOCOL: Final = 1

Weights = dict[str, np.ndarray]


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    pass


class Join(_Msg, frozen=True, kw_only=True, tag=True):
    """A worker node asks to take part in a run (a call to the learner).

    ``env`` / ``policy``: the worker's own settings when it was started with a config (they
    must equal the run's), else None (it adopts the run's)."""

    worker: str
    protocol: int
    exphil_version: str
    games: int
    runners: int
    host: str = ""
    pid: int = 0
    env: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    heartbeat_interval: float = 1.0  # seconds between the worker node's heartbeats


class Welcome(_Msg, frozen=True, kw_only=True, tag=True):
    """The learner's answer to :class:`Join`: what to play and with which weights."""

    run: str
    config: bytes  # the run's SelfPlayConfig as JSON
    version: int
    weights: Weights
    delay: int
    seed: int  # this worker's seed (distinct per worker and join)


class Refused(_Msg, frozen=True, kw_only=True, tag=True):
    """The learner refuses a :class:`Join` (protocol, exphil version or config differ)."""

    reason: str


class PolicyUpdate(_Msg, frozen=True, kw_only=True, tag=True):
    """New learner weights (learner -> worker ``link``, sent on change)."""

    version: int
    weights: Weights


class GetWeights(_Msg, frozen=True, kw_only=True, tag=True):
    """Ask for the current weights (a worker that missed a :class:`PolicyUpdate`)."""

    have: int


class WorkerReport(_Msg, frozen=True, kw_only=True, tag=True):
    """A worker's health, sent with every :class:`Status` call (about once a second)."""

    worker: str
    games: int  # game slots on the node
    frames: int  # env frames stepped since start
    fps: float  # env frames/s over the last interval
    games_finished: int
    runner_restarts: int
    chunks_sent: int
    chunks_dropped: int  # partial chunks lost with a crashed runner
    frames_dropped: int
    inference_batch: float  # mean games per batched forward pass
    inference_wait_ms: float  # mean time a frame batch waited for its runners
    inference_ms: float  # mean time of one batched forward pass (all slots)
    deadline_misses: int  # frame batches that ran without a late runner
    version: int  # policy version playing now


class Status(_Msg, frozen=True, kw_only=True, tag=True):
    report: WorkerReport


class StatusReply(_Msg, frozen=True, kw_only=True, tag=True):
    version: int  # the learner's current policy version
    stopping: bool = False


class GetMix(_Msg, frozen=True, kw_only=True, tag=True):
    """Ask the PopulationManager for a fresh opponent mix for ``slots`` policy slots."""

    worker: str
    slots: int


class MixEntry(_Msg, frozen=True, kw_only=True, tag=True):
    """One opponent of a mix: ``kind`` is "current" (the learner's live weights), "snapshot"
    (a stored policy version, ``name`` e.g. "v40" or "initial") or "cpu" (``name`` "cpu:7")."""

    name: str
    kind: str
    weight: float


class OpponentMix(_Msg, frozen=True, kw_only=True, tag=True):
    entries: list[MixEntry]


class GetSnapshot(_Msg, frozen=True, kw_only=True, tag=True):
    name: str


class Snapshot(_Msg, frozen=True, kw_only=True, tag=True):
    name: str
    weights: Weights


class Trajectory(_Msg, frozen=True, kw_only=True, tag=True):
    """``T`` frames of ``k`` games of one GameRunner, as the learner's policy played them.

    ``stream`` names the runner incarnation that produced it (worker, node incarnation,
    runner, runner incarnation) and ``seq`` numbers its chunks from 0: the collector's audit
    checks that every stream's accepted chunks are 0, 1, 2... with nothing twice."""

    stream: str
    seq: int
    worker: str
    version: int  # the oldest policy version that acted in the chunk
    version_max: int
    dense: np.ndarray  # [T, k, D] float32
    ids: np.ndarray  # [T, k, K] int64
    buttons: np.ndarray  # [T, k, 8] uint8
    sticks: np.ndarray  # [T, k, 5] int64: main_x, main_y, c_x, c_y, shoulder classes
    log_prob: np.ndarray  # [T, k] float32
    values: np.ndarray  # [T, k] float32
    rewards: np.ndarray  # [T, k] float32
    terminated: np.ndarray  # [T, k] uint8
    truncated: np.ndarray  # [T, k] uint8
    final_values: np.ndarray  # [T, k] float32
    resets: np.ndarray  # [T, k] uint8
    next_values: np.ndarray  # [k] float32
    state0: list[np.ndarray]  # the learner's recurrent state before frame 0, [k, ...] each
    teacher_state0: list[np.ndarray] | None = None


class GameResult(_Msg, frozen=True, kw_only=True, tag=True):
    """One finished game (sent once, over an acknowledged channel; ``result_id`` is unique
    per game so the Matchmaker counts it exactly once)."""

    result_id: str
    worker: str
    learner: str  # the policy version on port 0, e.g. "v12"
    opponent: str  # "v8", "initial", "cpu:7"
    winner: int  # 0, 1, or -1 for a draw
    frames: int
    reason: str


class Watch(_Msg, frozen=True, kw_only=True, tag=True):
    """A dashboard attaches (a call to the learner): it gets where the metrics are published
    and the run's history so far."""

    client: str
    protocol: int


class Control(_Msg, frozen=True, kw_only=True, tag=True):
    """A dashboard's command (a call to the learner): ``checkpoint`` now, or ``stop`` the run
    (a checkpoint, then the workers are told the run is over)."""

    client: str
    action: str  # "checkpoint" | "stop"


class ControlReply(_Msg, frozen=True, kw_only=True, tag=True):
    ok: bool
    text: str


# --- metrics (learner -> dashboards, PUB/SUB topics "metrics" and "event") --------------------


class WorkerMetrics(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    host: str
    up: bool
    games: int
    fps: float
    frames: int
    games_finished: int
    restarts: int  # GameRunner restarts on the node
    joins: int  # 1 + reconnects
    heartbeat_age_s: float
    inference_batch: float
    inference_wait_ms: float
    inference_ms: float
    deadline_misses: int
    chunks_dropped: int
    version: int


class Rating(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    rating: float
    games: int
    win_rate: float | None
    anchor: bool


class Metrics(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A snapshot of the run, published about once a second (topic "metrics")."""

    time: float
    run: str
    version: int
    max_updates: int
    frames: int
    elapsed_s: float
    losses: dict[str, float]  # the last update's: policy_loss, value_loss, entropy, ...
    env_fps: float  # sum over live workers
    updates_per_s: float
    samples_per_s: float
    waiting_for_data_s: float
    lags: dict[int, int]  # chunks seen per policy lag
    chunks: dict[str, int]  # received, accepted, stale, bad, duplicates, gaps
    workers: list[WorkerMetrics]
    leaderboard: list[Rating]
    anchors: dict[str, float]  # win rate over the last games against each anchor
    finished: bool = False


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Something happened (topic "event"): restart, join, worker_down, checkpoint, ..."""

    time: float
    kind: str
    text: str


class UpdateRecord(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """One PPO update (topic "update", one per update: a dashboard's loss history misses
    none, even when several updates fall between two snapshots)."""

    time: float
    version: int
    frames: int
    losses: dict[str, float]  # policy_loss, value_loss, entropy, teacher_kl, approx_kl, ...
    samples_per_s: float
    lag_max: int
    reward_per_frame: float
    anchors: dict[str, float]  # win rate over the last games against each anchor, then


class Watching(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """The learner's answer to :class:`Watch`."""

    run: str
    metrics: str | None  # the PUB endpoint (topics "metrics", "update", "event")
    history: list[UpdateRecord]  # the last updates (up to 1000), oldest first
    events: list[Event]  # the last events (up to 200), oldest first


METRICS_TYPES: Final = Metrics | Event | UpdateRecord


#: every type a selfplay node decodes
TYPES: Final[tuple[type, ...]] = (
    Join,
    Welcome,
    Refused,
    PolicyUpdate,
    GetWeights,
    Status,
    StatusReply,
    WorkerReport,
    GetMix,
    MixEntry,
    OpponentMix,
    GetSnapshot,
    Snapshot,
    Trajectory,
    GameResult,
    Watch,
    Control,
    ControlReply,
    Watching,
    UpdateRecord,
    Event,
)
