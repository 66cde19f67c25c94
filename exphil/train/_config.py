"""``TrainConfig``: everything ``exphil train-bc`` does, as msgspec Structs, and
:data:`TRAIN_BC`, the config family that layers it.

Layering (later wins): defaults < ``--preset NAME`` (``exphil/presets/train-bc/NAME.yaml``) <
``--config FILE.yaml`` < environment (``EXPHIL_*``, :data:`ENV_VARS`) < command-line flags <
``--set``. See ``exphil.train._layers`` for the merge and its error messages.

Every Struct checks its own fields in ``__post_init__`` (ranges, and loss-weight names), so
a config built directly in code holds the same rules as one resolved from layers; a bad
value raises ``ValueError`` naming the field, e.g. ``DataConfig.batch_size must be >= 1,
got 0``. Rules that tie fields together are :data:`TRAIN_BC`'s ``rules``, applied by
``resolve_config``, which knows which layer set each value:

* the MLP backbone sees one frame at a time: ``data.window`` is forced to 1 and
  ``data.burnin`` to 0, unless a layer at least as high as the one that chose the MLP set
  them (then it is an error: ``--backbone mlp --window 30`` says so, while ``--preset lstm
  --backbone mlp`` quietly drops the preset's window);
* ``data.burnin < data.window`` and ``data.delay_spread <= data.delay``.
"""

from __future__ import annotations

import difflib
import math
import types
from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from exphil.envs import RewardConfig
from exphil.nets import BACKBONE_KINDS, COMPONENTS, PolicyConfig
from exphil.train._layers import ConfigError, ConfigFamily, RuleContext

__all__ = [
    "DataConfig",
    "OptimConfig",
    "BCOptimConfig",
    "ValueConfig",
    "CheckpointConfig",
    "OutputConfig",
    "TrainConfig",
    "TRAIN_BC",
    "ENV_VARS",
    "BACKBONE_FLAG",
]


def _bound(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    assert hi is not None
    return f"{'<' if hi_open else '<='} {hi:g}"


def _check(
    owner: str,
    name: str,
    value: object,
    *,
    integer: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    optional: bool = False,
) -> None:
    """Raise ``ValueError("Owner.name must be ..., got value")`` unless ``value`` is an int
    (``integer``) or a finite number within the bounds, or None when ``optional``."""
    if optional and value is None:
        return
    bound = _bound(lo, hi, lo_open, hi_open) if lo is not None or hi is not None else ""
    if integer:
        typed = isinstance(value, int) and not isinstance(value, bool)
    else:
        typed = (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    ok = typed
    if typed:
        assert isinstance(value, int | float)
        if lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value < hi if hi_open else value <= hi
    if not ok:
        what = bound if typed else f"{'an integer' if integer else 'a finite number'} {bound}"
        if optional:
            what = f"{what.strip()} or null"
        raise ValueError(f"{owner}.{name} must be {what.strip()}, got {value!r}")


def _check_name(owner: str, name: str, value: str | None, *, folder: bool = False) -> None:
    """Optional non-empty strings; ``folder``: a single path component."""
    if value is None:
        return
    if not value.strip():
        raise ValueError(f"{owner}.{name} must not be empty, got {value!r}")
    if folder and ("/" in value or "\\" in value or value in (".", "..")):
        raise ValueError(
            f"{owner}.{name} must be a plain folder name (no path separators), got {value!r}"
        )


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
    #: reaction delay: the state at frame t predicts the controller at t + delay (and its
    #: previous-controller input is the controller at t + delay - 1); stored in the policy
    #: file's metadata as "delay" for play (presets use 18, a human reaction time)
    delay: int = 0
    #: delay augmentation: each sample's delay is uniform in delay +/- delay_spread
    delay_spread: int = 0
    #: train on both players of every game (False: only the lower port, e.g. for 1P data)
    both_perspectives: bool = True
    #: mirror augmentation: flip x (positions, speeds, facing, stick x) with probability 0.5
    mirror: bool = False
    #: sample games so each agent character is seen about equally often
    balance_characters: bool = False
    #: fraction of games (never frames) held out for validation (0: no validation)
    val_fraction: float = 0.1
    #: the least validation a run accepts: games, and frames of play (each game counted
    #: once, not per player; 3600 = one minute). The split holds out more games than
    #: val_fraction to reach them (up to half the games), and is an error below them; 0
    #: turns a check off
    min_val_games: int = 2
    min_val_frames: int = 3600
    batch_size: int = 64
    #: on CUDA, the batch size instead of batch_size (None: batch_size everywhere): a GPU
    #: step costs about the same few milliseconds from 64 to 1024 windows, so a larger
    #: batch is nearly free; the learning rate is scaled with it by optim.lr_scaling
    cuda_batch_size: int | None = None
    #: loader threads assembling batches, and batches prepared ahead
    workers: int = 2
    prefetch: int = 4

    def __post_init__(self) -> None:
        c = "DataConfig"
        _check(c, "min_quality", self.min_quality, lo=0, hi=100, optional=True)
        _check(c, "max_files", self.max_files, integer=True, lo=1, optional=True)
        _check(c, "window", self.window, integer=True, lo=1)
        _check(c, "burnin", self.burnin, integer=True, lo=0)
        _check(c, "delay", self.delay, integer=True, lo=0)
        _check(c, "delay_spread", self.delay_spread, integer=True, lo=0)
        _check(c, "val_fraction", self.val_fraction, lo=0, hi=0.9)
        _check(c, "min_val_games", self.min_val_games, integer=True, lo=0)
        _check(c, "min_val_frames", self.min_val_frames, integer=True, lo=0)
        _check(c, "batch_size", self.batch_size, integer=True, lo=1)
        _check(c, "cuda_batch_size", self.cuda_batch_size, integer=True, lo=1, optional=True)
        _check(c, "workers", self.workers, integer=True, lo=0)
        _check(c, "prefetch", self.prefetch, integer=True, lo=1)


class OptimConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The optimizer machinery every algorithm shares (``exphil.train.Optimization``):
    AdamW, the learning-rate schedule, accumulation, clipping, EMA, bf16 and compile."""

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
    #: "auto": bf16 autocast and torch.compile on CUDA, off on CPU
    bf16: Literal["auto", "on", "off"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"
    #: torch.compile's mode on CUDA: "reduce-overhead" captures CUDA graphs (a step's
    #: kernels launched as one; for fixed batch shapes), "max-autotune" also tunes the
    #: kernels (slow to compile); the CPU always uses "default"
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    #: how lr follows the batch when data.cuda_batch_size replaces data.batch_size on CUDA:
    #: "sqrt" multiplies it by sqrt(cuda_batch_size / batch_size) (the square-root rule for
    #: Adam), "linear" by the ratio itself, "none" keeps it (docs/training.md)
    lr_scaling: Literal["sqrt", "linear", "none"] = "sqrt"
    #: recompute block activations in backward (deep temporal models, less memory)
    grad_checkpointing: bool = False

    def __post_init__(self) -> None:
        c = "OptimConfig"
        _check(c, "lr", self.lr, lo=0, lo_open=True)
        _check(c, "weight_decay", self.weight_decay, lo=0)
        if len(self.betas) != 2:
            raise ValueError(f"OptimConfig.betas must be two numbers, got {self.betas!r}")
        for beta in self.betas:
            _check(c, "betas", beta, lo=0, hi=1, hi_open=True)
        _check(c, "warmup_steps", self.warmup_steps, integer=True, lo=0)
        _check(c, "restart_period", self.restart_period, integer=True, lo=1)
        _check(c, "restart_mult", self.restart_mult, lo=1)
        _check(c, "min_lr_ratio", self.min_lr_ratio, lo=0, hi=1)
        _check(c, "grad_accum", self.grad_accum, integer=True, lo=1)
        _check(c, "clip_norm", self.clip_norm, lo=0)
        _check(c, "ema", self.ema, lo=0, hi=1, lo_open=True, hi_open=True, optional=True)


class BCOptimConfig(OptimConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """:class:`OptimConfig` plus behavioral cloning's loss: label smoothing, focal loss and
    per-component weights of the controller loss."""

    label_smoothing: float = 0.0
    focal_gamma: float = 0.0
    #: per-component loss weights (buttons, main_x, main_y, c_x, c_y, shoulder)
    loss_weights: dict[str, float] = {}
    #: weight of the value head's loss (targets: ``value``); 0 leaves the critic untrained
    value_weight: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        c = "OptimConfig"
        _check(c, "value_weight", self.value_weight, lo=0)
        _check(c, "label_smoothing", self.label_smoothing, lo=0, hi=1, hi_open=True)
        _check(c, "focal_gamma", self.focal_gamma, lo=0)
        unknown = sorted(set(self.loss_weights) - set(COMPONENTS))
        if unknown:
            close = difflib.get_close_matches(unknown[0], COMPONENTS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"OptimConfig.loss_weights has unknown components {unknown}; "
                f"{hint}the components are {', '.join(COMPONENTS)}"
            )
        for key, weight in self.loss_weights.items():
            _check(c, f"loss_weights[{key!r}]", weight, lo=0)


class ValueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The value head's targets: discounted returns of the replay's own rewards (the mock's
    zero-sum core reward, see ``exphil.train._returns``), so PPO starts with a critic.

    The target of a sample whose state is frame ``t`` (delay ``d``) is ``scale * G[t + d]``,
    the return from the frame its decision is about, truncated at the replay's end."""

    #: per-frame discount; the default halves a reward's weight every 4 s (240 frames), as
    #: slippi-ai does
    discount: float = 0.5 ** (1 / (4 * 60))
    #: targets are ``scale`` times the returns (the default reward weights already give
    #: returns of order 1: RMS 0.94, mean |G| 0.45 on the shared replays; docs/training.md)
    scale: float = 1.0
    #: "huber": smooth L1 (beta 1: squared below 1, linear above, so the +-5 of a game's end
    #: does not dominate); "mse": squared error
    loss: Literal["huber", "mse"] = "huber"
    #: reward weights: stock, damage (per percent) and win; the shaping terms (approach,
    #: offstage) are not computed from replays and must stay 0
    rewards: RewardConfig = RewardConfig()

    def __post_init__(self) -> None:
        c = "ValueConfig"
        _check(c, "discount", self.discount, lo=0, hi=1, lo_open=True)
        _check(c, "scale", self.scale, lo=0, lo_open=True)
        if self.rewards.approach or self.rewards.offstage:
            raise ValueError(
                "ValueConfig.rewards must have approach and offstage 0: shaping terms are not "
                "computed from replays"
            )


class CheckpointConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how checkpoints are written."""

    #: parent folder of run folders (default $EXPHIL_CHECKPOINTS_DIR or ./checkpoints)
    dir: str | None = None
    #: the run's folder name (default: backbone + date + time)
    name: str | None = None
    #: an existing run of that name: None keeps it and uses NAME-2 (with a warning naming
    #: its files), True replaces it (old files rotate to backups), False refuses
    overwrite: bool | None = None
    #: how many rotated backups (.bak, .bak.1, ...) of each file to keep (0 = none)
    backup_count: int = 2
    #: optimizer steps between "last" checkpoints (0 = only at epoch ends)
    every_steps: int = 0
    #: warn when a checkpoint file is larger than this (MB)
    warn_size_mb: float = 500.0

    def __post_init__(self) -> None:
        c = "CheckpointConfig"
        _check_name(c, "dir", self.dir)
        _check_name(c, "name", self.name, folder=True)
        _check(c, "backup_count", self.backup_count, integer=True, lo=0)
        _check(c, "every_steps", self.every_steps, integer=True, lo=0)
        _check(c, "warn_size_mb", self.warn_size_mb, lo=0, lo_open=True)


class OutputConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a run reports, and where."""

    #: how much train-bc prints (--quiet, --verbose); train-bc takes it from the command
    #: at hand, never from a resumed run
    verbosity: Literal["quiet", "normal", "verbose"] = "normal"
    #: optimizer steps between train-metric lines in metrics.jsonl (and the progress bar)
    log_every: int = 20
    #: seconds between progress log lines when the output is not a terminal (0: every
    #: step); like verbosity, never taken from a resumed run by train-bc
    progress_every_s: float = 15.0
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "exphil"
    wandb_offline: bool = False

    def __post_init__(self) -> None:
        _check("OutputConfig", "log_every", self.log_every, integer=True, lo=1)
        _check("OutputConfig", "progress_every_s", self.progress_every_s, lo=0)
        _check_name("OutputConfig", "wandb_project", self.wandb_project)


class TrainConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole ``exphil train-bc`` run."""

    policy: PolicyConfig = PolicyConfig()
    data: DataConfig = DataConfig()
    optim: BCOptimConfig = BCOptimConfig()
    value: ValueConfig = ValueConfig()
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

    def __post_init__(self) -> None:
        c = "TrainConfig"
        _check(c, "epochs", self.epochs, integer=True, lo=1)
        _check(c, "max_steps", self.max_steps, integer=True, lo=1, optional=True)
        _check(c, "patience", self.patience, integer=True, lo=1, optional=True)
        _check(c, "min_delta", self.min_delta, lo=0)
        _check(c, "seed", self.seed, integer=True, lo=0, optional=True)
        _check(c, "val_per_epoch", self.val_per_epoch, integer=True, lo=1)
        _check(c, "val_batches", self.val_batches, integer=True, lo=1, optional=True)
        if not isinstance(self.optim, BCOptimConfig):
            raise TypeError(
                f"TrainConfig.optim must be a BCOptimConfig (OptimConfig plus the BC loss), "
                f"got {type(self.optim).__name__}"
            )


# ---------------------------------------------------------------------------------------
# the train-bc config family: environment and cross-field rules

#: the ``exphil train-bc`` flag that picks ``policy.backbone.kind``, named in hints (a flag
#: given in ``cli`` for that field takes its place)
BACKBONE_FLAG: Final = "--backbone"

#: the environment variables train-bc's layering reads, and what each sets
ENV_VARS: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "EXPHIL_REPLAYS_DIR": "data.replays = [value], when no layer gives replays",
        "EXPHIL_CHECKPOINTS_DIR": "checkpoint.dir",
        "EXPHIL_DEFAULT_PRESET": "the preset, when neither --preset nor the config file names one",
        "EXPHIL_WANDB_PROJECT": "output.wandb_project",
        "EXPHIL_SEED": "seed (an integer)",
        "EXPHIL_DEVICE": "device (auto, cpu or cuda)",
    }
)

_TEMPORAL: Final = "|".join(k for k in BACKBONE_KINDS if k != "mlp")


def _mlp_rule(config: TrainConfig, ctx: RuleContext) -> TrainConfig:
    """The MLP sees one frame at a time: window 1 and burnin 0, forced unless set by a layer
    at least as high as the one that chose the MLP (then a ConfigError)."""
    if config.policy.backbone.kind != "mlp":
        return config
    kind_level = ctx.level("policy.backbone.kind")
    flag = ctx.flag("policy.backbone.kind", BACKBONE_FLAG)
    updates: dict[str, int] = {}
    for name, neutral in (("window", 1), ("burnin", 0)):
        value = getattr(config.data, name)
        if value == neutral:
            continue
        path = f"data.{name}"
        if ctx.is_set(path) and ctx.level(path) >= kind_level:
            origin = ctx.origin(path)
            raise ConfigError(
                f"{path} {value} (from {origin}) needs a temporal backbone; the MLP sees one "
                f"frame at a time (use {flag} {_TEMPORAL}, or {ctx.drop_hint(path)})",
                path=path,
                layer=origin,
            )
        updates[name] = neutral
        note = f"forced to {neutral}: the MLP backbone sees one frame at a time"
        if ctx.is_set(path):
            note += f" ({value} from {ctx.origin(path)} dropped)"
        ctx.force(path, note)
    if not updates:
        return config
    data = msgspec.structs.replace(config.data, **updates)
    return msgspec.structs.replace(config, data=data)


def _bc_rules(config: TrainConfig, ctx: RuleContext) -> TrainConfig:
    config = _mlp_rule(config, ctx)
    d = config.data
    if d.burnin >= d.window:
        raise ConfigError(
            f"data.burnin {d.burnin} (from {ctx.origin('data.burnin')}) must be smaller than "
            f"data.window {d.window} (from {ctx.origin('data.window')}): burn-in frames carry "
            f"no loss, so a window needs at least one frame after them",
            path="data.burnin",
            layer=ctx.origin("data.burnin"),
        )
    if d.delay_spread > d.delay:
        raise ConfigError(
            f"data.delay_spread {d.delay_spread} (from {ctx.origin('data.delay_spread')}) "
            f"must be <= data.delay {d.delay} (from {ctx.origin('data.delay')}): a sample's "
            f"delay is delay +/- delay_spread and cannot be negative",
            path="data.delay_spread",
            layer=ctx.origin("data.delay_spread"),
        )
    return config


#: ``exphil train-bc``'s config family: :class:`TrainConfig`, the ``train-bc`` presets,
#: :data:`ENV_VARS` and the rules above
TRAIN_BC: Final[ConfigFamily[TrainConfig]] = ConfigFamily(
    name="train-bc",
    root=TrainConfig,
    env=(
        ("EXPHIL_CHECKPOINTS_DIR", "checkpoint.dir"),
        ("EXPHIL_WANDB_PROJECT", "output.wandb_project"),
        ("EXPHIL_SEED", "seed"),
        ("EXPHIL_DEVICE", "device"),
    ),
    env_fallbacks=(("EXPHIL_REPLAYS_DIR", "data.replays"),),
    preset_env="EXPHIL_DEFAULT_PRESET",
    rules=_bc_rules,
    env_help=ENV_VARS,
)
