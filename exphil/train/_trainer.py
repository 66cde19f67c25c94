"""The behavioral-cloning loop, readable top to bottom (in the spirit of CleanRL), on the
shared training core (``Optimization``, ``Run``).

``train(config, corpus, run)`` does, in order: pick the device and the seed, build the
policy, split the games, build the samplers and the optimization (AdamW, schedule,
accumulation, clipping, EMA, bf16, compile: ``exphil.train.Optimization``), then for every
epoch: stream batches from the memory-mapped corpus, compute the per-component controller
loss (teacher-forced through the autoregressive head), step the optimizer every
``grad_accum`` batches, validate ``val_per_epoch`` times, write ``last`` (and ``best`` when
validation improved) through the run in the background, and stop early when validation
stopped improving.

A run is resumable at every optimizer step: the training-state file holds the
optimization's state (optimizer, EMA, raw weights, step), the epoch, the next batch of that
epoch, the best validation loss, the early-stopping counter and every RNG state; the data
order is a pure function of the seed and the epoch, so a resumed run sees exactly the
batches an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import torch
from torch import Tensor
from torch.nn import functional as F

from exphil.errors import UserError
from exphil.nets import COMPONENTS, Policy, fused_controller_loss
from exphil.train._config import DataConfig, TrainConfig
from exphil.train._core import Optimization, bf16_autocast, capture_rng, restore_rng
from exphil.train._evaluate import COMPONENT_LABELS, majority_baseline, validation_profile
from exphil.train._run import ResumePoint, Run

__all__ = [
    "Reporter",
    "TrainResult",
    "METRIC_NAMES",
    "DeviceMetrics",
    "Metrics",
    "compute_loss",
    "loss_and_metrics",
    "check_validation",
    "degenerate_warning",
    "extended_note",
    "train",
    "resolve_device",
    "new_seed",
]

#: the training state's format (2: the optimizer, EMA and raw weights under "optim", every
#: RNG under "rng")
STATE_FORMAT = "exphil-train-state/2"


class Reporter(Protocol):
    """What the loop tells the outside world (the CLI draws it with rich; tests record)."""

    def run_start(self, info: dict[str, Any]) -> None: ...
    def epoch_start(self, epoch: int, batches: int, first_batch: int) -> None: ...
    def train_step(self, metrics: dict[str, float]) -> None: ...
    def validation(self, metrics: dict[str, float]) -> None: ...
    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def message(self, text: str, level: str = "info") -> None: ...


class NullReporter:
    def run_start(self, info: dict[str, Any]) -> None:
        pass

    def epoch_start(self, epoch: int, batches: int, first_batch: int) -> None:
        pass

    def train_step(self, metrics: dict[str, float]) -> None:
        pass

    def validation(self, metrics: dict[str, float]) -> None:
        pass

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass


@dataclass
class TrainResult:
    run_dir: Path | None  # None without a run
    seed: int
    steps: int
    epochs_done: int
    seconds: float
    stopped: str  # "finished", "max_steps", "early_stopping", "interrupted"
    best_val_loss: float | None
    final_val: dict[str, float] = field(default_factory=dict)
    #: validation accuracy of always predicting the most frequent value (the chance level)
    baseline: dict[str, float] = field(default_factory=dict)
    train_losses: list[float] = field(default_factory=list)  # one per optimizer step
    #: the trained policy (its raw weights; the EMA average is in the saved files)
    policy: Policy | None = None
    #: what validation held (see :func:`check_validation`)
    validation: dict[str, Any] = field(default_factory=dict)


def resolve_device(choice: str) -> torch.device:
    """``auto``: CUDA when torch sees it, else the CPU. Asking for ``cuda`` without one is
    a :class:`~exphil.errors.UserError`."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but torch sees no CUDA device")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


def check_validation(corpus: Any, val_ids: Any, data: DataConfig) -> dict[str, Any]:
    """What the validation split ``val_ids`` holds (games, frames, perspectives, the
    components with a single class: :func:`~exphil.train._evaluate.validation_profile`),
    plus ``planned``: the games ``data.val_fraction`` alone holds out (the split holds out
    more to reach the minimums, up to half the games; see ``split_games``).

    With validation on (``data.val_fraction > 0``) a split smaller than
    ``data.min_val_games`` games or ``data.min_val_frames`` frames raises a
    :class:`~exphil.train._dataset.DatasetError` saying what to change: accuracies on one
    short game say nothing."""
    from exphil.train._dataset import DatasetError, planned_val_games

    profile = validation_profile(corpus, val_ids)
    frames_by_game = corpus.game_frames() if hasattr(corpus, "game_frames") else {}
    total = len(frames_by_game) or len({s.key for s in getattr(corpus, "segments", ())})
    profile["planned"] = planned_val_games(total, data.val_fraction)
    if data.val_fraction <= 0:
        return profile
    games, frames = profile["games"], profile["frames"]
    if games >= data.min_val_games and frames >= data.min_val_frames:
        return profile
    corpus_frames = sum(frames_by_game.values())
    raise DatasetError(
        f"validation holds {games} game{'s' * (games != 1)} ({frames:,} frames, "
        f"{frames / 60:.0f} s of play) of the corpus's {total} ({corpus_frames:,} frames): "
        "too little for accuracies that mean anything; at least "
        f"{data.min_val_games} game{'s' * (data.min_val_games != 1)} and "
        f"{data.min_val_frames:,} frames are needed (data.min_val_games, "
        "data.min_val_frames; to reach them the split holds out more than --val-fraction "
        f"{data.val_fraction:g}, up to half the games). Add replays, hold out more "
        "(--val-fraction above 0.5), lower the minimum (e.g. --set data.min_val_frames=600), "
        "or train without validation (--val-fraction 0)"
    )


def extended_note(profile: dict[str, Any], data: DataConfig) -> str | None:
    """A note when the split held out more games than ``--val-fraction`` alone would."""
    games, planned = profile.get("games", 0), profile.get("planned", 0)
    if games <= planned:
        return None
    return (
        f"validation: {games} games held out, not the {planned} of --val-fraction "
        f"{data.val_fraction:g}, to reach the minimum of {data.min_val_games} games and "
        f"{data.min_val_frames:,} frames (data.min_val_games, data.min_val_frames)"
    )


def degenerate_warning(profile: dict[str, Any]) -> str | None:
    """A warning when a validation component has a single class (None otherwise)."""
    single = profile.get("single_class") or []
    if not single:
        return None
    names = ", ".join(COMPONENT_LABELS.get(c, c) for c in single)
    games = profile.get("games", 0)
    one = "never changes" if len(single) == 1 else "never change"
    return (
        f"validation is degenerate: {names} {one} in the {games} validation "
        f"game{'s' * (games != 1)} (a single class): {'its' if len(single) == 1 else 'their'} "
        "accuracy is the chance level whatever the model does and says nothing about it; "
        "hold out more or other games (--val-fraction, more replays)"
    )


#: the metrics of a batch, in the order of :func:`loss_and_metrics`' vector
METRIC_NAMES: tuple[str, ...] = (
    *(f"loss/{k}" for k in COMPONENTS),
    "loss/controller",
    "loss/value",
    "loss",
    "acc/buttons",
    "acc/buttons_exact",
    *(f"acc/{k}" for k in COMPONENTS[1:]),
)
#: the loop reads its accumulated metrics (a wait for the device) every
#: ``output.log_every`` optimizer steps, and also once this many seconds passed since the
#: last read (a slow run still shows progress; at most one wait per this many seconds)
READ_EVERY_S = 2.0


class Metrics:
    """Sums of per-component losses and accuracies over batches, weighted by frames."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.frames = 0

    def add(self, values: dict[str, float], frames: int) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v * frames
        self.frames += frames

    def means(self) -> dict[str, float]:
        n = max(1, self.frames)
        return {k: v / n for k, v in self.sums.items()}


class DeviceMetrics:
    """:class:`Metrics` kept on the device: frame-weighted sums of metric vectors (float64
    where the device has it), added without waiting for the device; :meth:`means` reads them
    (one wait). The sums are the same float64 arithmetic :class:`Metrics` does on floats,
    so the means equal it exactly (up to the order of the additions)."""

    def __init__(self, names: tuple[str, ...], device: torch.device) -> None:
        self.names = names
        self.device = device
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.sums = torch.zeros(len(names), device=device, dtype=dtype)
        self.frames = 0

    def add(self, values: Tensor, frames: int) -> None:
        """Add ``values`` (``[len(names)]``, any float dtype), weighted by ``frames``."""
        self.sums.add_(values.detach().to(self.sums.dtype), alpha=frames)
        self.frames += frames

    def mean_tensor(self) -> Tensor:
        """The frame-weighted means ``[len(names)]`` on the device (nothing is read)."""
        return self.sums / max(1, self.frames)

    def means(self) -> dict[str, float]:
        """The frame-weighted means (reads the device once)."""
        return dict(zip(self.names, self.mean_tensor().tolist(), strict=True))


def loss_and_metrics(
    policy: Policy, batch: Any, config: TrainConfig, device: torch.device
) -> tuple[Tensor, Tensor, int]:
    """Loss of one batch (``dense [B, T, D]``, ``ids [B, T, K]``, per-component targets
    ``[B, T(, 8)]``, value targets ``[B, T]``) through the backbone, the teacher-forced
    controller head and the value head, on the frames after ``burnin``.

    The total is the weighted controller loss plus ``optim.value_weight`` times the value
    loss (``value.loss``: Huber or squared error). Returns (the total, the metrics as one
    detached vector on the device in :data:`METRIC_NAMES` order -- the losses ``loss``,
    ``loss/controller``, ``loss/value``, per component, and the accuracies --, the number
    of loss frames). Nothing here waits for the device: the controller loss is one fused
    pass over every component (``fused_controller_loss``), the accuracies one comparison
    over the five categorical components."""
    dense = batch.dense.to(device, non_blocking=True)
    ids = batch.ids.to(device, non_blocking=True)
    trunk = policy(dense, ids)  # [B, T, H]
    burnin = config.data.burnin if trunk.shape[1] > 1 else 0
    trunk = trunk[:, burnin:]
    flat = trunk.reshape(-1, trunk.shape[-1])
    targets = {
        k: v.to(device, non_blocking=True)[:, burnin:].reshape(-1, *v.shape[2:])
        for k, v in batch.targets.items()
    }
    value_target = targets.pop("value")
    features = flat.float()
    head = policy.controller_head
    padded = head.padded_logits(features, targets)  # [6, N, C]
    opt = config.optim
    controller, losses = fused_controller_loss(
        padded,
        targets,
        head.sizes,
        weights=dict(opt.loss_weights),
        label_smoothing=opt.label_smoothing,
        focal_gamma=opt.focal_gamma,
    )
    predicted = policy.value(features)
    if config.value.loss == "huber":
        value_loss = F.smooth_l1_loss(predicted, value_target.float(), beta=1.0)
    else:
        value_loss = F.mse_loss(predicted, value_target.float())
    total = controller + opt.value_weight * value_loss
    with torch.no_grad():
        pressed = padded[0, :, : head.sizes["buttons"]] > 0
        hits = pressed == targets["buttons"].bool()
        ys = torch.stack([targets[k].long() for k in COMPONENTS[1:]])  # [5, N]
        # the padding (PAD_LOGIT) never wins an argmax over a component's row
        acc = (padded[1:].argmax(-1) == ys).float().mean(-1)  # [5]
        head_vec = torch.stack(
            [
                controller.detach(),
                value_loss.detach().float(),
                total.detach().float(),
                hits.float().mean(),
                hits.all(-1).float().mean(),
            ]
        )
        metrics = torch.cat([losses.detach(), head_vec, acc])
    return total, metrics, flat.shape[0]


def compute_loss(
    policy: Policy, batch: Any, config: TrainConfig, device: torch.device
) -> tuple[Tensor, dict[str, float], int]:
    """:func:`loss_and_metrics` with the metrics read as floats (keyed by
    :data:`METRIC_NAMES`): (the total, the metrics, the number of loss frames). Reading
    them waits for the device; the training loop accumulates the vector instead."""
    total, metrics, frames = loss_and_metrics(policy, batch, config, device)
    return total, dict(zip(METRIC_NAMES, metrics.tolist(), strict=True)), frames


def evaluate(
    policy: Policy,
    loader: Iterator[Any],
    config: TrainConfig,
    device: torch.device,
    max_batches: int | None,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Mean loss and accuracies over a validation loader (no gradients, eval mode);
    ``on_batch(n)`` after the n-th batch (progress)."""
    was = policy.training
    policy.eval()
    m = DeviceMetrics(METRIC_NAMES, device)  # read once, at the end
    try:
        with torch.no_grad(), bf16_autocast(device, config.optim.bf16):
            for i, batch in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                _, values, frames = loss_and_metrics(policy, batch, config, device)
                m.add(values, frames)
                if on_batch is not None:
                    on_batch(i + 1)
    finally:
        policy.train(was)
    return {f"val/{k}": v for k, v in m.means().items()} | {"val/frames": float(m.frames)}


@dataclass
class _Progress:
    """Where the loop is (the optimizer's step count is ``Optimization.steps``)."""

    epoch: int = 0
    batch: int = 0  # next batch of ``epoch``
    best: float | None = None
    bad_epochs: int = 0  # epochs in a row whose validations did not improve on ``best``
    improved: bool = False  # whether this epoch's validations improved on ``best`` yet


def train(
    config: TrainConfig,
    corpus: Any,
    run: Run[Any] | None = None,
    *,
    seed: int,
    reporter: Reporter | None = None,
    resume: ResumePoint[Any] | None = None,
) -> TrainResult:
    """Train a policy on ``corpus`` (see ``exphil.train._dataset``), writing checkpoints and
    metrics to ``run`` (None: nothing is written).

    ``resume``: a loaded checkpoint to continue from, bit for bit. Setting ``run.stop`` (the
    first Ctrl-C does) ends the run at the next optimizer step with a resumable ``last``."""
    from exphil.train._dataset import BatchLoader, Sampler
    from exphil.train._speed import effective_config

    rep = reporter or NullReporter()
    started = time.perf_counter()
    device = resolve_device(config.device)
    stored = config  # what the training state records (a resume recomputes the rest)
    config = effective_config(config, device)  # on CUDA: data.cuda_batch_size, lr scaled
    torch.manual_seed(seed)
    data = config.data
    window = data.window if config.policy.backbone.kind != "mlp" else 1

    policy = Policy(config.policy).to(device)
    policy.backbone.gradient_checkpointing = config.optim.grad_checkpointing

    # the data: games split for validation, a sampler each, the run's real horizon
    corpus_value = getattr(corpus, "value", None)
    if corpus_value is not None and corpus_value != config.value:
        raise ValueError(
            f"the corpus's value targets were made with {corpus_value}, the config says "
            f"{config.value}: build it with build_corpus(..., value=config.value)"
        )
    train_ids, val_ids = corpus.split(
        data.val_fraction, seed, min_games=data.min_val_games, min_frames=data.min_val_frames
    )
    val_profile = check_validation(corpus, val_ids, data)
    baseline = majority_baseline(
        corpus,
        train_ids,
        val_ids,
        value_loss=config.value.loss,
        value_weight=config.optim.value_weight,
    )

    def sampler_for(ids: Any, *, training: bool) -> Any:
        """Training samples (delay augmentation, balancing) or validation ones (neither);
        a different seed stream for validation."""
        return Sampler(
            corpus,
            ids,
            window=window,
            burnin=data.burnin if window > 1 else 0,
            delay=data.delay,
            delay_spread=data.delay_spread if training else 0,
            batch_size=data.batch_size,
            balance_characters=data.balance_characters and training,
            seed=seed if training else seed + 1,
        )

    sampler = sampler_for(train_ids, training=True)
    val_sampler = sampler_for(val_ids, training=False)
    epoch_sizes = [sampler.n_batches(e) for e in range(config.epochs)]
    if not epoch_sizes or epoch_sizes[0] == 0:
        raise ValueError(
            f"no training samples: {len(train_ids)} training segments are all shorter than "
            f"a window of {window} frames plus a delay of {data.delay + data.delay_spread}"
        )
    total_steps = sum(math.ceil(n / config.optim.grad_accum) for n in epoch_sizes)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    # the optimization (AdamW, schedule, accumulation, clipping, EMA, bf16, compile)
    opt = Optimization(policy, config.optim, device=device, total_steps=total_steps)
    prog = _Progress()
    if resume is not None:
        prog = _restore(resume, policy, opt, device)

    # what a player needs besides the weights (read with exphil.nets.read_policy_config):
    # the delay the policy was trained with, and what its value head predicts
    play_meta = {
        "delay": data.delay,
        "value_discount": config.value.discount,
        "value_scale": config.value.scale,
        "value_rewards": msgspec.to_builtins(config.value.rewards),
        # the agent's characters in training: a player refuses others (exphil.agent)
        "characters": sorted({s.character_name for s in getattr(corpus, "segments", ())}),
        "stages": sorted({s.stage_name for s in getattr(corpus, "segments", ())}),
    }

    def training_state() -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "step": opt.steps,
            "epoch": prog.epoch,
            "batch": prog.batch,
            "best": prog.best,
            "bad_epochs": prog.bad_epochs,
            "improved": prog.improved,
            "seed": seed,
            "optim": opt.state_dict(),  # taken outside ema_applied: the raw weights
            "rng": capture_rng(device),
            "config": json.loads(msgspec.json.encode(stored)),
        }

    def checkpoint(name: str, val: dict[str, float] | None) -> None:
        if run is None:
            return
        meta = (
            {
                "step": opt.steps,
                "epoch": prog.epoch,
                "seed": seed,
                "best_val_loss": prog.best,
                "ema": opt.ema is not None,
            }
            | play_meta
            | ({"val": val} if val else {})
        )
        state = training_state()
        with opt.ema_applied():  # the policy file holds the EMA weights (play, export)
            run.save(name, policy, state, meta)

    def log(record: dict[str, Any]) -> None:
        if run is not None:
            run.log(record)

    def validate() -> dict[str, float]:
        with opt.ema_applied():
            return _validate(policy, corpus, val_sampler, config, device)

    stop = run.stop if run is not None else None
    rep.run_start(
        {
            "device": str(device),
            "seed": seed,
            "total_steps": total_steps,
            "batches_per_epoch": epoch_sizes[0],
            "train_segments": len(train_ids),
            "val_segments": len(val_ids),
            "val_games": val_profile["games"],
            "val_frames": val_profile["frames"],
            "params": sum(p.numel() for p in policy.parameters()),
            "batch_size": data.batch_size,
            "lr": config.optim.lr,
            "resumed_at_step": opt.steps if resume is not None else None,
        }
    )
    result = TrainResult(
        run.directory if run is not None else None,
        seed,
        0,
        0,
        0.0,
        "finished",
        None,
        baseline=baseline,
        validation=val_profile,
    )
    log({"kind": "baseline"} | baseline | {"validation": val_profile})
    note = extended_note(val_profile, data)
    if note is not None:
        rep.message(note)
    warning = degenerate_warning(val_profile)
    if warning is not None:
        rep.message(warning, "warning")
    last_val: dict[str, float] = {}

    def report(record: dict[str, Any], step_losses: list[float]) -> None:
        result.train_losses.extend(step_losses)
        log(record)
        rep.train_step(record)

    window = _Window(device, report)
    policy.train()
    while prog.epoch < config.epochs and result.stopped == "finished":
        epoch = prog.epoch
        n_batches = epoch_sizes[epoch]
        val_points = {
            round(n_batches * (k + 1) / config.val_per_epoch) - 1
            for k in range(config.val_per_epoch)
        }
        rep.epoch_start(epoch, n_batches, prog.batch)
        loader = BatchLoader(
            corpus,
            sampler,
            epoch=epoch,
            start_batch=prog.batch,
            mirror=data.mirror,
            workers=data.workers,
            prefetch=data.prefetch,
            pin_memory=device.type == "cuda",
        )
        group = DeviceMetrics(METRIC_NAMES, device)  # the batches of this optimizer step
        t_data = time.perf_counter()
        try:
            for i, batch in enumerate(loader, start=prog.batch):
                t_compute = time.perf_counter()
                window.batch_started(t_data, t_compute)
                with opt.autocast():
                    loss, values, frames = loss_and_metrics(
                        opt.forward_model, batch, config, device
                    )
                opt.backward(loss)
                group.add(values, frames)
                prog.batch = i + 1
                # a step per grad_accum batches, and one for the epoch's last partial group
                if not opt.accumulating or prog.batch == n_batches:
                    info = opt.step()
                    window.add(info, group, epoch, prog.batch)
                    group = DeviceMetrics(METRIC_NAMES, device)
                    if run is not None:
                        run.check()  # a background save failed (a full disk): stop now
                    at_max = config.max_steps is not None and info.step >= config.max_steps
                    # the metrics are read (a wait for the device) every log_every steps,
                    # at the first step, every READ_EVERY_S seconds, before a validation,
                    # at the epoch's end and at max_steps (and after the loop)
                    if (
                        info.step % config.output.log_every == 0
                        or info.step == 1
                        or window.age() >= READ_EVERY_S
                        or i in val_points
                        or prog.batch == n_batches
                        or at_max
                    ):
                        window.flush()
                    if at_max:
                        result.stopped = "max_steps"
                    elif stop is not None and stop.is_set():
                        result.stopped = "interrupted"
                    every = config.checkpoint.every_steps
                    if every and info.step % every == 0:
                        checkpoint("last", None)
                # validate at the planned points, and on the final weights when max_steps
                # ends the run mid-epoch (an interrupt exits quickly instead)
                if (i in val_points or result.stopped == "max_steps") and (
                    result.stopped != "interrupted"
                ):
                    last_val = validate() | {"step": opt.steps, "epoch": epoch}
                    log({"kind": "val"} | last_val)
                    rep.validation(last_val)
                    loss_v = last_val.get("val/loss")
                    if loss_v is not None and (
                        prog.best is None or loss_v < prog.best - config.min_delta
                    ):
                        prog.best = loss_v
                        prog.improved = True
                        checkpoint("best", last_val)
                if result.stopped != "finished":
                    break
                t_data = time.perf_counter()
        finally:
            loader.close()
        window.flush()  # an interrupt: the steps since the last read
        if prog.batch >= n_batches:  # the epoch is complete
            prog.bad_epochs = 0 if prog.improved else prog.bad_epochs + 1
            prog.improved = False
            prog.epoch += 1
            prog.batch = 0
            rep.epoch_end(epoch, last_val)
        checkpoint("last", last_val or None)
        if (
            result.stopped == "finished"
            and prog.epoch < config.epochs  # after the last epoch it is no early stop
            and config.patience is not None
            and prog.bad_epochs >= config.patience
        ):
            result.stopped = "early_stopping"
            rep.message(
                f"early stopping: no validation improvement over {config.patience} epoch(s)"
            )
    result.steps = opt.steps
    result.epochs_done = prog.epoch
    result.best_val_loss = prog.best
    result.final_val = last_val
    result.policy = policy
    result.seconds = time.perf_counter() - started
    return result


class _Window:
    """The optimizer steps since the metrics were last read, kept on the device: each
    step's frame-weighted means (its batches' :class:`DeviceMetrics`), its gradient norm
    and learning rate. :meth:`flush` reads them all at once (one wait for the device) and
    hands ``report`` one ``train`` record -- the frame-weighted means over the window's
    steps, ``step`` (the last), ``steps`` (how many), ``batch`` (the epoch's next batch),
    ``frames``, ``data_s`` (waiting for batches) and ``compute_s`` (the rest of the
    window's wall time) -- and the loss of each step (``TrainResult.train_losses``)."""

    def __init__(
        self, device: torch.device, report: Callable[[dict[str, Any], list[float]], None]
    ) -> None:
        self.device = device
        self.report = report
        self._reset()

    def _reset(self) -> None:
        self.steps: list[Tensor] = []  # each step's means [len(METRIC_NAMES)]
        self.norms: list[Tensor] = []
        self.frames: list[int] = []
        self.lrs: list[float] = []
        self.last: tuple[int, int, int] | None = None  # step, epoch, next batch
        self.batches = 0
        self.data_s = 0.0
        self.started = time.perf_counter()

    def batch_started(self, t_data: float, t_compute: float) -> None:
        """A batch waited from ``t_data`` to ``t_compute``; the window's time runs from
        its first batch's wait (validation and saves between windows do not count)."""
        if not self.batches:
            self.started = t_data
        self.batches += 1
        self.data_s += t_compute - t_data

    def age(self) -> float:
        return time.perf_counter() - self.started

    def add(self, info: Any, group: DeviceMetrics, epoch: int, batch: int) -> None:
        self.steps.append(group.mean_tensor())
        self.norms.append(info.norm)
        self.frames.append(group.frames)
        self.lrs.append(info.lr)
        self.last = (info.step, epoch, batch)

    def flush(self) -> None:
        if self.last is None:
            return
        step, epoch, batch = self.last
        per_step = torch.stack(self.steps)  # [S, M]
        frames = torch.tensor(self.frames, dtype=per_step.dtype).to(self.device)
        norms = torch.stack(self.norms).to(per_step.dtype)
        # one read: each step's loss, the window's frame-weighted means, the norms' mean
        weighted = (per_step * frames[:, None]).sum(0) / max(1, sum(self.frames))
        loss_col = METRIC_NAMES.index("loss")
        packed = torch.cat([per_step[:, loss_col], weighted, norms.mean().unsqueeze(0)])
        values = packed.tolist()
        n = len(self.steps)
        step_losses = values[:n]
        means = dict(zip(METRIC_NAMES, values[n : n + len(METRIC_NAMES)], strict=True))
        wall = time.perf_counter() - self.started
        record = {
            "kind": "train",
            "step": step,
            "steps": n,
            "epoch": epoch,
            "batch": batch,
            "lr": self.lrs[-1],
            "grad_norm": values[-1],
            "data_s": self.data_s,
            "compute_s": max(0.0, wall - self.data_s),
            "frames": sum(self.frames),
        } | means
        self._reset()
        self.report(record, step_losses)


def _restore(
    resume: ResumePoint[Any], policy: Policy, opt: Optimization, device: torch.device
) -> _Progress:
    """Load a training state into the policy and the optimization; the loop's position."""
    state = resume.state
    if state.get("format") != STATE_FORMAT:
        raise ValueError(
            f"not a training state of this version: {state.get('format')!r} "
            f"(expected {STATE_FORMAT!r})"
        )
    # the policy file's weights (EMA averages when on); the state's raw ones replace them
    policy.load_state_dict(resume.policy.state_dict())
    opt.load_state_dict(state["optim"])
    restore_rng(state["rng"], device)
    return _Progress(
        epoch=int(state["epoch"]),
        batch=int(state["batch"]),
        best=None if state["best"] is None else float(state["best"]),
        bad_epochs=int(state["bad_epochs"]),
        improved=bool(state["improved"]),
    )


def _validate(
    policy: Policy,
    corpus: Any,
    sampler: Any,
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    from exphil.train._dataset import BatchLoader

    if not sampler.n_batches(0):
        return {}
    with BatchLoader(
        corpus,
        sampler,
        epoch=0,
        start_batch=0,
        mirror=False,
        workers=config.data.workers,
        prefetch=config.data.prefetch,
        pin_memory=device.type == "cuda",
    ) as loader:
        return evaluate(policy, iter(loader), config, device, config.val_batches)
