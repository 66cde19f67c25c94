"""PPO learns: from a fixed seed, a policy trained by the synchronous loop beats a frozen copy
of its starting policy, measured by ``exphil.eval`` (the same function as ``exphil eval``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exphil.envs import MockConfig, RewardConfig
from exphil.eval import evaluate
from exphil.nets import BackboneConfig, Policy, PolicyConfig, save_policy
from exphil.rl import EnvConfig, OpponentConfig, PPOConfig, PPOLossConfig, train_ppo
from exphil.train import OptimConfig

REWARDS = RewardConfig(damage=0.05, win=1.0)
UPDATES = 80
LR = 1.5e-3
GAMES = MockConfig(stocks=1, time_limit=1800, rewards=REWARDS)  # 30-second, one-stock games


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ppo_beats_its_frozen_starting_policy(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = PPOConfig(
        policy=PolicyConfig(
            backbone=BackboneConfig(kind="mlp", hidden=64, layers=1), head_hidden=64
        ),
        env=EnvConfig(games=128, stocks=1, time_limit=1800, rewards=REWARDS),
        opponents=OpponentConfig(fixed=("initial",)),
        loss=PPOLossConfig(gamma=0.995, entropy=0.0, target_kl=None),
        rollout=64,
        epochs=4,
        minibatches=8,
        updates=UPDATES,
        seed=0,
        optim=OptimConfig(
            lr=LR, weight_decay=0.0, schedule="constant", clip_norm=0.5, bf16="off", compile="off"
        ),
    )
    start = Policy(cfg.policy)
    save_policy(start, tmp_path / "start.safetensors", metadata={"delay": 0})
    before = evaluate(
        tmp_path / "start.safetensors", tmp_path / "start.safetensors", games=100, config=GAMES,
        seed=11, batch=100,
    )  # fmt: skip
    assert 0.3 <= before.win_rate <= 0.7, before

    result = train_ppo(cfg, policy=start)
    save_policy(result.policy, tmp_path / "trained.safetensors", metadata={"delay": 0})
    after = evaluate(
        tmp_path / "trained.safetensors", tmp_path / "start.safetensors", games=100,
        config=GAMES, seed=11, batch=100,
    )  # fmt: skip
    print(f"win rate vs the frozen start: before {before.win_rate:.2f} "
          f"[{before.ci_low:.2f}, {before.ci_high:.2f}], after {result.frames} frames "
          f"{after.win_rate:.2f} [{after.ci_low:.2f}, {after.ci_high:.2f}]")  # fmt: skip
    assert after.win_rate >= 0.8, after
