"""Training: the shared core every algorithm builds on, and behavioral cloning on it.

The core (used by BC here and by PPO in ``exphil.rl``):

* :class:`Optimization`: AdamW, the learning-rate schedule, gradient accumulation,
  clipping, EMA, bf16 autocast and ``torch.compile`` around a model; the algorithm supplies
  the loss (``opt.backward(loss)``, ``opt.step()``). :func:`capture_rng` /
  :func:`restore_rng` for bit-exact resumes.
* :class:`Run`: the run folder (overwrite protection), ``config.yaml``, ``metrics.jsonl``
  and the TensorBoard / W&B sinks, background checkpoints (``best``/``last``, backups),
  resuming (:func:`load_resume_point`) and Ctrl-C.
* Config layering for any root Struct: :class:`ConfigFamily`, :func:`resolve_config`,
  presets per family (:func:`load_preset`, :func:`list_presets`), :class:`ConfigError`.

Behavioral cloning: :class:`TrainConfig` (layered as :data:`TRAIN_BC`), :func:`train`; its
value head learns the replay's own returns (:func:`frame_rewards`, :func:`discounted_returns`).
"""

from exphil.train._checkpoint import CheckpointSpaceError, LoadedCheckpoint, load_checkpoint
from exphil.train._ckpt_files import CheckpointError
from exphil.train._config import (
    BACKBONE_FLAG,
    ENV_VARS,
    TRAIN_BC,
    BCOptimConfig,
    CheckpointConfig,
    DataConfig,
    OptimConfig,
    OutputConfig,
    TrainConfig,
    ValueConfig,
)
from exphil.train._core import (
    Optimization,
    OptimStep,
    bf16_autocast,
    capture_rng,
    restore_rng,
)
from exphil.train._dataset import Corpus, DatasetError, build_corpus
from exphil.train._evaluate import score_policy
from exphil.train._layers import (
    ConfigError,
    ConfigFamily,
    Resolved,
    RuleContext,
    config_differences,
    config_family,
    from_builtins,
    from_yaml_text,
    list_presets,
    load_preset,
    resolve_config,
    to_yaml,
)
from exphil.train._report import RichReporter, StageProgress
from exphil.train._returns import (
    REWARD_TERMS,
    discounted_returns,
    frame_rewards,
    reward_terms,
    rewards_from_terms,
    segment_returns,
)
from exphil.train._run import ResumePoint, Run, Sink, load_resume_point, resolve_run_config
from exphil.train._run_dir import CheckpointInfo, list_checkpoints
from exphil.train._schedule import EMA, lr_factor
from exphil.train._speed import effective_config, measure_step
from exphil.train._trainer import (
    Reporter,
    TrainResult,
    check_validation,
    degenerate_warning,
    extended_note,
    new_seed,
    resolve_device,
    train,
)

__all__ = [
    "CheckpointSpaceError",
    "effective_config",
    "measure_step",
    "check_validation",
    "degenerate_warning",
    "extended_note",
    "rewards_from_terms",
    # the core
    "Optimization",
    "OptimStep",
    "OptimConfig",
    "bf16_autocast",
    "capture_rng",
    "restore_rng",
    "EMA",
    "lr_factor",
    "Run",
    "ResumePoint",
    "load_resume_point",
    "resolve_run_config",
    "Sink",
    "CheckpointConfig",
    "OutputConfig",
    "CheckpointError",
    "CheckpointInfo",
    "LoadedCheckpoint",
    "list_checkpoints",
    "load_checkpoint",
    "resolve_device",
    "new_seed",
    # config layering
    "ConfigError",
    "ConfigFamily",
    "RuleContext",
    "Resolved",
    "config_family",
    "resolve_config",
    "list_presets",
    "load_preset",
    "config_differences",
    "to_yaml",
    "from_yaml_text",
    "from_builtins",
    # behavioral cloning
    "TrainConfig",
    "DataConfig",
    "BCOptimConfig",
    "ValueConfig",
    "TRAIN_BC",
    "ENV_VARS",
    "BACKBONE_FLAG",
    "TrainResult",
    "train",
    "Reporter",
    "RichReporter",
    "StageProgress",
    "Corpus",
    "DatasetError",
    "build_corpus",
    "score_policy",
    # value targets (the mock's zero-sum reward from Frames)
    "REWARD_TERMS",
    "reward_terms",
    "frame_rewards",
    "discounted_returns",
    "segment_returns",
]
