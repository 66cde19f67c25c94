"""PPO's configuration: one root Struct, validated per field (layered like train-bc's)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from exphil.envs import RewardConfig
from exphil.nets import BackboneConfig, PolicyConfig
from exphil.train import (
    CheckpointConfig,
    ConfigError,
    ConfigFamily,
    OptimConfig,
    OutputConfig,
    RuleContext,
)

__all__ = ["TRAIN_PPO", "EnvConfig", "OpponentConfig", "PPOConfig", "PPOLossConfig"]


class _Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class EnvConfig(_Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The mock games the learner plays (``games`` stepped together)."""

    games: int = 64
    stage: str = "final_destination"
    characters: tuple[str, str] = ("fox", "fox")
    stocks: int = 4
    time_limit: int = 28_800  # frames; games cut by it are truncated (PPO bootstraps there)
    rewards: RewardConfig = RewardConfig()

    def __post_init__(self) -> None:
        if not 1 <= self.games <= 65_536:
            raise ValueError(f"games must be in 1..65536, got {self.games}")


class OpponentConfig(_Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who the learner plays: per game, drawn when it starts. Weights of the four groups
    (renormalised over the groups that have members): the current policy, the most recent
    snapshots, the scripted CPUs, and every snapshot uniformly. The starting policy and the
    CPU levels are fixed members."""

    current: float = 0.4
    history: float = 0.3
    cpu: float = 0.2
    uniform: float = 0.1
    cpu_levels: tuple[int, ...] = (5, 6, 7, 8, 9)
    snapshot_every: int = 10  # updates between snapshots of the learner
    history_size: int = 20  # snapshots kept (the oldest go first)
    recent: int = 5  # "history" draws from the newest this many snapshots
    include_initial: bool = True  # the frozen starting policy as an opponent (in "uniform")
    fixed: tuple[str, ...] = ()  # only these specs (cpu:N, random, noop, initial, current)

    def __post_init__(self) -> None:
        for name in ("current", "history", "cpu", "uniform"):
            if getattr(self, name) < 0:
                raise ValueError(f"opponents.{name} must be >= 0")
        for lv in self.cpu_levels:
            if not 0 <= lv <= 9:
                raise ValueError(f"opponents.cpu_levels: CPU levels are 0..9, got {lv}")
        if self.snapshot_every < 1 or self.history_size < 1 or self.recent < 1:
            raise ValueError("opponents.snapshot_every, history_size and recent must be >= 1")


class PPOLossConfig(_Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gamma: float = 0.995
    lam: float = 0.95
    clip: float = 0.2
    value_clip: float | None = None
    value_weight: float = 0.5
    entropy: float = 0.01
    teacher_kl: float = 0.0  # weight of KL(policy || frozen starting policy)
    target_kl: float | None = 0.05  # stop an update's epochs when approx KL passes it
    normalize_advantages: bool = True
    normalize_rewards: bool = True
    value_warmup: int = 0  # updates that train only the value head before the policy moves

    def __post_init__(self) -> None:
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError("loss.gamma must be in (0, 1] and loss.lam in [0, 1]")
        if self.clip <= 0:
            raise ValueError(f"loss.clip must be > 0, got {self.clip}")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError("loss.target_kl must be > 0 (or null to disable the guard)")
        for name in ("value_weight", "entropy", "teacher_kl"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0")


class PPOConfig(_Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A synchronous PPO self-play run: collect ``rollout`` frames of every game with the
    current weights, update, repeat."""

    policy: PolicyConfig = PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=128, layers=2))
    init: str | None = None  # a policy file (a train-bc checkpoint) to start from
    delay: int | None = None  # reaction delay; default: the init policy's, else 0
    env: EnvConfig = EnvConfig()
    opponents: OpponentConfig = OpponentConfig()
    loss: PPOLossConfig = PPOLossConfig()
    rollout: int = 128  # frames per game per update
    epochs: int = 2
    minibatches: int = 4  # per epoch, split by game slot (whole chunks: recurrent-safe)
    optim: OptimConfig = OptimConfig(
        lr=3e-4, weight_decay=0.0, schedule="constant", clip_norm=0.5, bf16="off", compile="off"
    )
    updates: int = 100
    temperature: float = 1.0
    seed: int = 0
    device: str = "cpu"
    checkpoint_every: int = 10  # updates between `last` checkpoints (and at the end)
    checkpoint: CheckpointConfig = CheckpointConfig()
    output: OutputConfig = OutputConfig()

    def __post_init__(self) -> None:
        if self.rollout < 1 or self.epochs < 1 or self.minibatches < 1 or self.updates < 0:
            raise ValueError("rollout, epochs and minibatches must be >= 1, updates >= 0")
        if self.minibatches > self.env.games:
            raise ValueError(
                f"minibatches ({self.minibatches}) cannot exceed env.games ({self.env.games}): "
                "a minibatch is a group of whole game slots"
            )
        if self.delay is not None and self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")


def _ppo_rules(config: PPOConfig, context: RuleContext) -> PPOConfig:
    if config.init is not None and not Path(config.init).is_file():
        raise ConfigError(f"init: no policy file at {config.init}")
    return config


#: the layered config of ``exphil train-ppo`` (presets in ``exphil/presets/train-ppo/``)
TRAIN_PPO: Final[ConfigFamily[PPOConfig]] = ConfigFamily(
    name="train-ppo",
    root=PPOConfig,
    env=(
        ("EXPHIL_CHECKPOINTS_DIR", "checkpoint.dir"),
        ("EXPHIL_SEED", "seed"),
        ("EXPHIL_DEVICE", "device"),
    ),
    preset_env=None,
    rules=_ppo_rules,
)
