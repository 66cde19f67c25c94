"""A PPO run interrupted and resumed from its `last` checkpoint equals an uninterrupted one,
bit for bit on CPU: weights, optimizer, the games in flight, the opponents' and the teacher's
state, the reward statistics and every RNG."""

from __future__ import annotations

from pathlib import Path

import torch

from exphil.envs import RewardConfig
from exphil.nets import BackboneConfig, PolicyConfig
from exphil.rl import EnvConfig, OpponentConfig, PPOConfig, PPOLossConfig, train_ppo
from exphil.train import CheckpointConfig, OptimConfig, Run, load_resume_point


def _config(tmp: Path, name: str, updates: int) -> PPOConfig:
    return PPOConfig(
        policy=PolicyConfig(
            backbone=BackboneConfig(kind="gru", hidden=16, layers=1), head_hidden=16
        ),
        env=EnvConfig(games=4, stocks=1, time_limit=90, rewards=RewardConfig(damage=0.02)),
        opponents=OpponentConfig(cpu_levels=(3, 9), snapshot_every=1, history_size=2),
        loss=PPOLossConfig(teacher_kl=0.1, value_warmup=1),
        rollout=16,
        epochs=2,
        minibatches=2,
        updates=updates,
        delay=2,
        checkpoint_every=2,
        seed=5,
        optim=OptimConfig(lr=1e-3, weight_decay=0.0, schedule="cosine", bf16="off", compile="off"),
        checkpoint=CheckpointConfig(dir=str(tmp), name=name),
    )


def test_ppo_resume_is_exact(tmp_path: Path) -> None:
    full_cfg = _config(tmp_path, "full", 5)
    with Run.create(full_cfg, default_name="ppo") as run:
        full = train_ppo(full_cfg, run=run)

    # the same run, stopped after update 3 (as Ctrl-C does) and resumed from its `last`
    first = _config(tmp_path, "split", 5)
    seen: list[int] = []
    with Run.create(first, default_name="ppo") as run:
        train_ppo(first, run=run, on_update=lambda r: seen.append(r["update"]),
                  stop=lambda: len(seen) >= 3)  # fmt: skip
    point = load_resume_point(tmp_path / "split", PPOConfig)
    assert point.state["update"] == 3
    with Run.resume(point, point.config) as run:
        resumed = train_ppo(point.config, run=run, resume=point)

    assert resumed.updates == 5 and resumed.frames == full.frames
    for a, b in zip(full.stats[3:], resumed.stats, strict=True):
        for key in (
            "policy_loss",
            "value_loss",
            "teacher_kl",
            "reward_per_frame",
            "games_finished",
        ):
            assert a[key] == b[key], key
    fw, rw = full.policy.state_dict(), resumed.policy.state_dict()
    for k in fw:
        assert torch.equal(fw[k], rw[k]), k
    assert [m["name"] for m in full.pool] == [m["name"] for m in resumed.pool]
    assert repr(full.pool) == repr(resumed.pool)  # (NaN win rates compare by repr)
