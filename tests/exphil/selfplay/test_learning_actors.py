"""Self-play through the actor system learns: the learner node and 2 worker processes, from a
fixed seed, train a policy that beats a frozen copy of its starting policy (the target of the
synchronous loop's learning test, tests/exphil/rl/test_learning.py), measured by
``exphil.eval``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exphil.envs import MockConfig, RewardConfig
from exphil.eval import evaluate
from exphil.nets import BackboneConfig, Policy, PolicyConfig, load_policy, save_policy
from exphil.rl import EnvConfig, OpponentConfig, PPOLossConfig
from exphil.selfplay import NodesConfig, SelfPlayConfig, learner_shared, run_selfplay
from exphil.train import CheckpointConfig, OptimConfig, Run

from .actors import worker_argv

UPDATES = 200
# the synchronous learning test's rewards: a small penalty per frame beyond the stage's edge
REWARDS = RewardConfig(damage=0.05, win=1.0, offstage=0.01)
# evaluation: 30-second, one-stock games
GAMES = MockConfig(stocks=1, time_limit=1800, rewards=RewardConfig(damage=0.05, win=1.0))


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
    # they learn less per frame than the synchronous loop: 200 updates (it gets 120).
    # Without the off-stage penalty, runs straddled 0.8 (0.77 in CI at 120 updates; 0.79,
    # 0.87, 0.89 at 160; most losses were self-destructs); with it, three runs on 2 cores
    # got 0.91 [0.86, 0.94], 0.87 [0.82, 0.91] and 0.91 [0.86, 0.94] over 200 games at 160.
    # The mock's air dodge, dash and Fox's down-air since made random play harder to learn
    # from: 0.83, 0.95, 0.87 and 0.82 at 160 updates, so 200.
    assert after.win_rate >= 0.8, after
