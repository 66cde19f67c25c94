"""``exphil selfplay``: self-play PPO on actors over ZeroMQ (ARCHITECTURE.md §3-4).

A learner node (PopulationManager, Matchmaker, ExperienceCollector, Learner, MetricsPublisher)
and worker nodes (Link, InferenceServer, GamePool of GameRunners), in separate processes on
one machine or several. Messages are in :mod:`exphil.wire`. The guide is docs/selfplay.md.
"""

from exphil.selfplay._chunks import ChunkBuilder, rollout_from
from exphil.selfplay._collector import Batch, Collector, CollectorStatistics
from exphil.selfplay._config import SELFPLAY, NodesConfig, SelfPlayConfig
from exphil.selfplay._dolphin import resolve_dolphin
from exphil.selfplay._inference import InferenceServer
from exphil.selfplay._learner import Learner, LearnerShared, WorkerInfo
from exphil.selfplay._link import Link
from exphil.selfplay._metrics import MetricsPublisher, metrics_snapshot
from exphil.selfplay._play import NodePlay, load_weights, weights_of
from exphil.selfplay._population import Population
from exphil.selfplay._ratings import Ratings, Standing, default_anchors
from exphil.selfplay._run import (
    SelfPlayResult,
    WorkerProcess,
    learner_shared,
    run_selfplay,
    run_worker,
    serve_learner,
)
from exphil.selfplay._runners import GamePool, GameRunner
from exphil.selfplay._worker import worker_tree
from exphil.selfplay._worker_shared import LEARNER, JoinRefused, WorkerOptions, WorkerShared

__all__ = [
    "resolve_dolphin",
    "SELFPLAY",
    "SelfPlayConfig",
    "NodesConfig",
    "NodePlay",
    "weights_of",
    "load_weights",
    "ChunkBuilder",
    "rollout_from",
    "Collector",
    "CollectorStatistics",
    "Batch",
    "Population",
    "Ratings",
    "Standing",
    "default_anchors",
    "Learner",
    "LearnerShared",
    "WorkerInfo",
    "MetricsPublisher",
    "metrics_snapshot",
    "SelfPlayResult",
    "WorkerProcess",
    "learner_shared",
    "run_selfplay",
    "serve_learner",
    "run_worker",
    "LEARNER",
    "Link",
    "InferenceServer",
    "GamePool",
    "GameRunner",
    "JoinRefused",
    "WorkerOptions",
    "WorkerShared",
    "worker_tree",
]
