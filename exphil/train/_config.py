"""``TrainConfig``: everything ``exphil train-bc`` does, as msgspec Structs.

Layering (later wins): defaults < ``--preset NAME`` (``config/train-bc/NAME.yaml``) <
``--config FILE.yaml`` < environment (``EXPHIL_*``) < command-line flags. See
``exphil.train._layers`` for the merge and its error messages.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from exphil.nets import PolicyConfig

__all__ = [
    "DataConfig",
    "OptimConfig",
    "CheckpointConfig",
    "OutputConfig",
    "TrainConfig",
]


class DataConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which games, and how they become samples."""

    #: replay files, folders, globs or @lists (default: $EXPHIL_REPLAYS_DIR)
    replays: list[str] = []
    #: keep games where a player is one of these characters (names or aliases)
    character: list[str] = []
    #: keep games on these stages (names or aliases)
    stage: list[str] = []
    #: minimum replay quality score (0..100); None keeps every readable 1v1 game
    min_quality: float | None = None
    #: use at most this many games (after filters and duplicate removal), None = all
    max_files: int | None = None
    #: frames per training window for temporal backbones (must be 1 for the MLP)
    window: int = 60
    #: frames at the start of each window that feed the state but carry no loss
    burnin: int = 0
    #: reaction delay: the state at frame t predicts the controller at t + delay
    delay: int = 0
    #: delay augmentation: each sample's delay is uniform in delay +/- delay_spread
    delay_spread: int = 0
    #: train on both players of every game (False: only the lower port, e.g. for 1P data)
    both_perspectives: bool = True
    #: mirror augmentation: flip x (positions, speeds, facing, stick x) with probability 0.5
    mirror: bool = False
    #: sample games so each agent character is seen about equally often
    balance_characters: bool = False
    #: fraction of games (never frames) held out for validation
    val_fraction: float = 0.1
    batch_size: int = 64
    #: loader threads assembling batches, and batches prepared ahead
    workers: int = 2
    prefetch: int = 4


class OptimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Optimizer, schedule and loss."""

    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "cosine", "cosine_restarts", "linear"] = "cosine"
    #: linear warm-up steps (optimizer steps)
    warmup_steps: int = 0
    #: cosine_restarts: first period (optimizer steps) and its growth factor
    restart_period: int = 1000
    restart_mult: float = 2.0
    #: the schedule ends at lr * min_lr_ratio
    min_lr_ratio: float = 0.0
    grad_accum: int = 1
    #: clip the global gradient norm (0 = off)
    clip_norm: float = 1.0
    #: EMA decay of the weights (None = off); used for validation and the saved policy
    ema: float | None = None
    label_smoothing: float = 0.0
    focal_gamma: float = 0.0
    #: per-component loss weights (buttons, main_x, main_y, c_x, c_y, shoulder)
    loss_weights: dict[str, float] = {}
    #: "auto": bf16 autocast and torch.compile on CUDA, off on CPU
    bf16: Literal["auto", "on", "off"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"
    #: recompute block activations in backward (deep temporal models, less memory)
    grad_checkpointing: bool = False


class CheckpointConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how checkpoints are written."""

    #: parent folder of run folders (default $EXPHIL_CHECKPOINTS_DIR or ./checkpoints)
    dir: str | None = None
    #: the run's folder name (default: backbone + date + time)
    name: str | None = None
    #: None: warn and refuse an existing run name; True: replace it; False: refuse silently
    overwrite: bool | None = None
    #: how many rotated backups (.bak, .bak.1, ...) of each file to keep (0 = none)
    backup_count: int = 2
    #: optimizer steps between "last" checkpoints (0 = only at epoch ends)
    every_steps: int = 0
    #: warn when a checkpoint file is larger than this (MB)
    warn_size_mb: float = 500.0


class OutputConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verbosity: Literal["quiet", "normal", "verbose"] = "normal"
    #: optimizer steps between train-metric lines in metrics.jsonl (and the progress bar)
    log_every: int = 20
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "exphil"
    wandb_offline: bool = False


class TrainConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole ``exphil train-bc`` run."""

    policy: PolicyConfig = PolicyConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    output: OutputConfig = OutputConfig()
    epochs: int = 10
    #: stop after this many optimizer steps (None: the epochs decide)
    max_steps: int | None = None
    #: early stopping: epochs without a validation improvement larger than min_delta
    patience: int | None = None
    min_delta: float = 0.0
    #: None: a random seed, printed and stored in the checkpoint
    seed: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: validation passes per epoch (at evenly spaced steps; the last at the epoch's end)
    val_per_epoch: int = 1
    #: cap on validation batches per pass (None: the whole validation split)
    val_batches: int | None = None
