"""Helpers for the self-play actor tests: a small run config, a learner in this process and
workers in this process (each in its own supervisors Runtime) or as real processes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec

from exphil.envs import RewardConfig
from exphil.nets import BackboneConfig, PolicyConfig
from exphil.rl import EnvConfig, OpponentConfig, PPOLossConfig
from exphil.selfplay import (
    LearnerShared,
    NodesConfig,
    SelfPlayConfig,
    WorkerOptions,
    WorkerShared,
    learner_shared,
    worker_tree,
)
from exphil.train import CheckpointConfig, OptimConfig, Run
from exphil.wire import TYPES
from supervisors import Runtime, kill, spawn, which_children
from supervisors.remote import Node

REWARDS = RewardConfig(damage=0.05, win=1.0)


def small_config(tmp: Path, **kw: Any) -> SelfPlayConfig:
    base = SelfPlayConfig(
        policy=PolicyConfig(
            backbone=BackboneConfig(kind="mlp", hidden=32, layers=1), head_hidden=32
        ),
        env=EnvConfig(stocks=1, time_limit=600, rewards=REWARDS),
        opponents=OpponentConfig(snapshot_every=2, history_size=3, cpu_levels=(7,)),
        loss=PPOLossConfig(entropy=0.0, target_kl=None),
        rollout=32,
        epochs=1,
        minibatches=2,
        max_updates=4,
        optim=OptimConfig(
            lr=1e-3, weight_decay=0.0, schedule="constant", clip_norm=0.5, bf16="off", compile="off"
        ),
        checkpoint_every=2,
        nodes=NodesConfig(
            workers=0,
            games_per_worker=8,
            runners=2,
            heartbeat_interval=0.25,
            heartbeat_timeout=1.5,
            mix_every=8,
        ),
        checkpoint=CheckpointConfig(dir=str(tmp), name="run"),
    )
    return msgspec.structs.replace(base, **kw)


def new_learner(config: SelfPlayConfig) -> LearnerShared:
    run: Run[SelfPlayConfig] = Run.create(config, default_name="selfplay")
    return learner_shared(config, run, None)


def worker_argv(endpoint: str, name: str, config: SelfPlayConfig | None = None) -> list[str]:
    """``exphil worker`` for a test's learner (with ``config``'s heartbeat settings)."""
    n = (config or SelfPlayConfig()).nodes
    return [sys.executable, "-m", "exphil.cli", "--log-json", "worker", "--connect", endpoint,
            "--name", name, "--heartbeat-interval", f"{n.heartbeat_interval:g}",
            "--heartbeat-timeout", f"{n.heartbeat_timeout:g}"]  # fmt: skip


async def inprocess_worker(
    endpoint: str,
    name: str,
    *,
    config: SelfPlayConfig,
    until: anyio.Event,
    chaos: Callable[[], Any] | None = None,
    shared_out: list[WorkerShared] | None = None,
    env_factory: Callable[[int, int, SelfPlayConfig], Any] | None = None,
) -> None:
    """A worker node in its own Runtime in this process, until ``until`` is set. ``chaos``:
    an async function run inside the worker's runtime (to kill its runners)."""
    n = config.nodes
    shared = WorkerShared(WorkerOptions(
        name=name, env_factory=env_factory, heartbeat_interval=n.heartbeat_interval,
        heartbeat_timeout=n.heartbeat_timeout,
    ))  # fmt: skip
    if shared_out is not None:
        shared_out.append(shared)
    node = Node.spec(name, connect=[endpoint], types=TYPES,
                     heartbeat_interval=n.heartbeat_interval,
                     heartbeat_timeout=n.heartbeat_timeout)  # fmt: skip
    async with Runtime():
        await spawn(worker_tree(shared, node))
        async with anyio.create_task_group() as tg:
            if chaos is not None:
                tg.start_soon(chaos)
            await until.wait()
            tg.cancel_scope.cancel()


async def kill_a_runner(index: int) -> bool:
    """Kill GameRunner ``index`` of this runtime's worker (call inside its Runtime)."""
    for child in await which_children("pool"):
        if child.id == ("runner", index) and child.ref is not None:
            kill(child.ref)
            return True
    return False
