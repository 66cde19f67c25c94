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

# training adds a small penalty per frame beyond the stage's edge: most games the policy lost
# were self-destructs (28-35 of 200 at 80 updates without it)
REWARDS = RewardConfig(damage=0.05, win=1.0, offstage=0.01)
UPDATES = 160
LR = 1.5e-3
# evaluation: 30-second, one-stock games (win rates do not depend on the reward weights)
GAMES = MockConfig(stocks=1, time_limit=1800, rewards=RewardConfig(damage=0.05, win=1.0))
EVAL_GAMES = 200


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
        tmp_path / "trained.safetensors", tmp_path / "start.safetensors", games=EVAL_GAMES,
        config=GAMES, seed=11, batch=100,
    )  # fmt: skip
    print(f"win rate vs the frozen start: before {before.win_rate:.2f} "
          f"[{before.ci_low:.2f}, {before.ci_high:.2f}], after {result.frames} frames "
          f"{after.win_rate:.2f} [{after.ci_low:.2f}, {after.ci_high:.2f}]")  # fmt: skip
    # RL trajectories differ between machines (float rounding), so the target needs a margin
    # over the run-to-run spread, not a lucky seed. Measured on 2 cores (200 evaluation games,
    # seed 11) for training seeds 0/1/2/3: 0.87/0.88/0.93/0.91 with this configuration; 80
    # updates without the off-stage penalty gave 0.77 (seed 0) and 0.69 (seed 3), and a CI run
    # of seed 0 got 0.73. With the first moves measured from the corpus (longer aerials: nair
    # 49 frames, fair 59), 120 updates gave 0.78 (seed 0) and 0.89 (seed 1); 160 updates give
    # 0.84/0.92/0.90 for seeds 0/1/2.
    assert after.win_rate >= 0.8, after
