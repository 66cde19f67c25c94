"""PPO learns: from a fixed seed, a policy trained by the synchronous loop beats a frozen copy
of its starting policy, measured by ``exphil.eval`` (the same function as ``exphil eval``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from exphil.envs import MockConfig, RewardConfig
from exphil.eval import EvalReport, evaluate
from exphil.nets import BackboneConfig, Policy, PolicyConfig, save_policy
from exphil.rl import EnvConfig, OpponentConfig, PPOConfig, PPOLossConfig, train_ppo
from exphil.train import OptimConfig

# training adds a small penalty per frame beyond the stage's edge: most games the policy lost
# were self-destructs (28-35 of 200 at 80 updates without it)
REWARDS = RewardConfig(damage=0.05, win=1.0, offstage=0.01)
# evaluated after 160 updates; a run below the target trains on, evaluated every 40 updates,
# to 240 at most (RL runs differ between machines: see the comment at the end)
CHECKS = (160, 200, 240)
TARGET = 0.8  # the foundations issue's target
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
        updates=CHECKS[-1],
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

    trained = tmp_path / "trained.safetensors"
    checks: list[tuple[int, EvalReport]] = []

    def check(record: dict[str, Any]) -> None:
        if record["update"] in CHECKS:  # `start` is the policy being trained, at a boundary
            save_policy(start, trained, metadata={"delay": 0})
            report = evaluate(
                trained, tmp_path / "start.safetensors", games=EVAL_GAMES, config=GAMES,
                seed=11, batch=100,
            )  # fmt: skip
            checks.append((record["update"], report))

    result = train_ppo(
        cfg, policy=start, on_update=check,
        stop=lambda: bool(checks) and checks[-1][1].win_rate >= TARGET,
    )  # fmt: skip
    print(f"win rate vs the frozen start: before {before.win_rate:.2f} "
          f"[{before.ci_low:.2f}, {before.ci_high:.2f}]; after "
          + ", ".join(f"{u} updates {r.win_rate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                      for u, r in checks)
          + f" ({result.frames} frames)")  # fmt: skip
    # RL trajectories differ between machines (float rounding: the same seed is another run
    # on another CPU), so the target needs a margin over the run-to-run spread, not a lucky
    # seed. Measured on 2 cores (200 evaluation games, seed 11) for training seeds 0/1/2/3:
    # 0.87/0.88/0.93/0.91 at 120 updates before issue 17; 80 updates without the off-stage
    # penalty gave 0.77 (seed 0) and 0.69 (seed 3), and a CI run of seed 0 got 0.73. With the
    # first moves measured from the corpus (longer aerials: nair 49 frames, fair 59), 160
    # updates gave 0.84/0.92/0.90 for seeds 0/1/2 here and 0.79 for seed 0 in CI; 200 gave
    # 0.96/0.86 for seeds 0/1. Hence the checks: most runs pass at 160, a slow one trains on.
    assert checks and checks[-1][1].win_rate >= TARGET, checks
