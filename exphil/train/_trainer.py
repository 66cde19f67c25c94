"""The behavioral-cloning loop, readable top to bottom (in the spirit of CleanRL).

``train(config, corpus)`` does, in order: pick the device and the seed, build the policy,
the optimizer and the EMA, split the games, then for every epoch: stream batches from the
memory-mapped corpus, compute the per-component controller loss (teacher-forced through
the autoregressive head), step the optimizer every ``grad_accum`` batches (clip, schedule,
EMA), validate ``val_per_epoch`` times, write ``last`` (and ``best`` when validation
improved) in the background, and stop early when validation stopped improving.

A run is resumable at every optimizer step: the training-state file holds the optimizer,
the EMA, the step, the epoch, the next batch of that epoch, the best validation loss, the
early-stopping counter and the torch RNG state; the data order is a pure function of the
seed and the epoch, so a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import torch
from torch import Tensor

from exphil.nets import COMPONENTS, Policy, controller_loss
from exphil.train._config import TrainConfig
from exphil.train._evaluate import majority_baseline
from exphil.train._schedule import EMA, lr_factor, set_lr

__all__ = [
    "Reporter",
    "TrainResult",
    "Metrics",
    "compute_loss",
    "train",
    "resolve_device",
    "new_seed",
]

STATE_FORMAT = "exphil-train-state/1"


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
    run_dir: Path
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


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def new_seed() -> int:
    return random.SystemRandom().randrange(2**31)


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


def compute_loss(
    policy: Policy, batch: Any, config: TrainConfig, device: torch.device
) -> tuple[Tensor, dict[str, float], int]:
    """Loss of one batch (``dense [B, T, D]``, ``ids [B, T, K]``, per-component targets
    ``[B, T(, 8)]``) through the backbone and the teacher-forced head, on the frames after
    ``burnin``. Returns (the weighted total, the per-component losses and accuracies as
    floats, the number of loss frames)."""
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
    out = policy.controller_head(flat.float(), targets=targets, with_entropy=False)
    opt = config.optim
    losses = controller_loss(
        out.logits,
        targets,
        weights=dict(opt.loss_weights),
        label_smoothing=opt.label_smoothing,
        focal_gamma=opt.focal_gamma,
    )
    values = {f"loss/{k}": float(v.detach()) for k, v in losses.items() if k != "total"}
    values["loss"] = float(losses["total"].detach())
    with torch.no_grad():
        pressed = out.logits["buttons"] > 0
        values["acc/buttons"] = float((pressed == targets["buttons"].bool()).float().mean())
        values["acc/buttons_exact"] = float(
            (pressed == targets["buttons"].bool()).all(-1).float().mean()
        )
        for name in COMPONENTS[1:]:
            hit = out.logits[name].argmax(-1) == targets[name]
            values[f"acc/{name}"] = float(hit.float().mean())
    return losses["total"], values, flat.shape[0]


def _autocast(device: torch.device, config: TrainConfig) -> Any:
    on = config.optim.bf16 == "on" or (config.optim.bf16 == "auto" and device.type == "cuda")
    if on:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def evaluate(
    policy: Policy,
    loader: Iterator[Any],
    config: TrainConfig,
    device: torch.device,
    max_batches: int | None,
) -> dict[str, float]:
    """Mean loss and accuracies over a validation loader (no gradients, eval mode)."""
    was = policy.training
    policy.eval()
    m = Metrics()
    try:
        with torch.no_grad(), _autocast(device, config):
            for i, batch in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                _, values, frames = compute_loss(policy, batch, config, device)
                m.add(values, frames)
    finally:
        policy.train(was)
    return {f"val/{k}": v for k, v in m.means().items()} | {"val/frames": float(m.frames)}


def _rng_state(device: torch.device) -> dict[str, Tensor]:
    out = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def _set_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@dataclass
class _Progress:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # next batch of ``epoch``
    best: float | None = None
    bad_epochs: int = 0  # epochs in a row whose validations did not improve on ``best``
    improved: bool = False  # whether this epoch's validations improved on ``best`` yet


def train(
    config: TrainConfig,
    corpus: Any,
    run_dir: Path,
    *,
    seed: int,
    reporter: Reporter | None = None,
    resume: dict[str, Any] | None = None,
    stop: threading.Event | None = None,
    save: Callable[[str, Policy, dict[str, Any], dict[str, Any]], None] | None = None,
    metrics_file: Path | None = None,
    sinks: list[Callable[[dict[str, Any]], None]] | None = None,
) -> TrainResult:
    """Train a policy on ``corpus`` (see ``exphil.train._dataset``) into ``run_dir``.

    ``resume``: a loaded checkpoint (``{"policy": Policy, "state": dict}``) to continue
    from. ``stop``: set it (the CLI does on SIGINT) to end at the next optimizer step with
    a resumable ``last`` checkpoint. ``save(name, policy, state, metadata)`` writes a
    checkpoint (the CLI passes a background saver; None writes nothing)."""
    from exphil.train._dataset import BatchLoader, Sampler

    rep = reporter or NullReporter()
    started = time.perf_counter()
    device = resolve_device(config.device)
    torch.manual_seed(seed)
    data, opt_cfg = config.data, config.optim
    window = data.window if config.policy.backbone.kind != "mlp" else 1

    policy = Policy(config.policy).to(device)
    policy.backbone.gradient_checkpointing = opt_cfg.grad_checkpointing
    optimizer = torch.optim.AdamW(
        policy.parameters(),
        lr=opt_cfg.lr,
        betas=opt_cfg.betas,
        weight_decay=opt_cfg.weight_decay,
    )
    ema = EMA(policy, opt_cfg.ema) if opt_cfg.ema is not None else None
    forward_policy: Any = policy
    if opt_cfg.compile == "on" or (opt_cfg.compile == "auto" and device.type == "cuda"):
        forward_policy = torch.compile(policy)

    train_ids, val_ids = corpus.split(data.val_fraction, seed)
    baseline = majority_baseline(corpus, train_ids, val_ids)

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
    total_steps = sum(math.ceil(n / opt_cfg.grad_accum) for n in epoch_sizes)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    prog = _Progress()
    if resume is not None:
        state = resume["state"]
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a training state of this version: {state.get('format')!r}")
        raw = state.get("weights")
        policy.load_state_dict(raw if raw is not None else resume["policy"].state_dict())
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        prog = _Progress(
            step=int(state["step"]),
            epoch=int(state["epoch"]),
            batch=int(state["batch"]),
            best=None if state["best"] is None else float(state["best"]),
            bad_epochs=int(state["bad_epochs"]),
            improved=bool(state["improved"]),
        )
        _set_rng_state(state["rng"], device)

    def training_state() -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "step": prog.step,
            "epoch": prog.epoch,
            "batch": prog.batch,
            "best": prog.best,
            "bad_epochs": prog.bad_epochs,
            "improved": prog.improved,
            "seed": seed,
            "optimizer": optimizer.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            # with EMA the policy file holds the averaged weights (for play and export);
            # resuming needs the raw ones, copied here (the file is written while the EMA
            # weights are swapped in)
            "weights": (
                {k: v.detach().clone() for k, v in policy.state_dict().items()}
                if ema is not None
                else None
            ),
            "rng": _rng_state(device),
            "config": json.loads(msgspec.json.encode(config)),
        }

    def checkpoint(name: str, val: dict[str, float] | None) -> None:
        if save is None:
            return
        meta = {
            "step": prog.step,
            "epoch": prog.epoch,
            "seed": seed,
            "best_val_loss": prog.best,
            "ema": ema is not None,
        } | ({"val": val} if val else {})
        state = training_state()
        if ema is not None:
            with ema.applied(policy):
                save(name, policy, state, meta)
        else:
            save(name, policy, state, meta)

    def log(record: dict[str, Any]) -> None:
        if metrics_file is not None:
            with open(metrics_file, "a") as f:
                f.write(json.dumps(record) + "\n")
        for sink in sinks or ():
            sink(record)

    rep.run_start(
        {
            "device": str(device),
            "seed": seed,
            "total_steps": total_steps,
            "batches_per_epoch": epoch_sizes[0],
            "train_segments": len(train_ids),
            "val_segments": len(val_ids),
            "params": sum(p.numel() for p in policy.parameters()),
            "resumed_at_step": prog.step if resume is not None else None,
        }
    )
    result = TrainResult(run_dir, seed, 0, 0, 0.0, "finished", None, baseline=baseline)
    log({"kind": "baseline"} | baseline)
    accum = opt_cfg.grad_accum
    last_val: dict[str, float] = {}
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
        window_metrics = Metrics()
        t_data = time.perf_counter()
        try:
            for i, batch in enumerate(loader, start=prog.batch):
                t_compute = time.perf_counter()
                with _autocast(device, config):
                    loss, values, frames = compute_loss(forward_policy, batch, config, device)
                (loss / accum).backward()
                window_metrics.add(values, frames)
                end_of_group = (i + 1) % accum == 0 or i + 1 == n_batches
                prog.batch = i + 1
                if end_of_group:
                    grad_norm = (
                        float(
                            torch.nn.utils.clip_grad_norm_(policy.parameters(), opt_cfg.clip_norm)
                        )
                        if opt_cfg.clip_norm > 0
                        else float("nan")
                    )
                    lr = opt_cfg.lr * lr_factor(prog.step, opt_cfg, total_steps)
                    set_lr(optimizer, lr)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    if ema is not None:
                        ema.update(policy)
                    prog.step += 1
                    means = window_metrics.means()
                    result.train_losses.append(means["loss"])
                    record = {
                        "kind": "train",
                        "step": prog.step,
                        "epoch": epoch,
                        "lr": lr,
                        "grad_norm": grad_norm,
                        "data_s": t_compute - t_data,
                        "compute_s": time.perf_counter() - t_compute,
                        "frames": window_metrics.frames,
                    } | means
                    if prog.step % config.output.log_every == 0 or prog.step == 1:
                        log(record)
                    rep.train_step(record)
                    window_metrics = Metrics()
                    every = config.checkpoint.every_steps
                    if every and prog.step % every == 0:
                        checkpoint("last", None)
                    if config.max_steps is not None and prog.step >= config.max_steps:
                        result.stopped = "max_steps"
                    elif stop is not None and stop.is_set():
                        result.stopped = "interrupted"
                # validate at the planned points, and on the final weights when max_steps
                # ends the run mid-epoch (an interrupt exits quickly instead)
                if (i in val_points or result.stopped == "max_steps") and (
                    result.stopped != "interrupted"
                ):
                    last_val = _validate(policy, ema, corpus, val_sampler, config, device)
                    last_val |= {"step": prog.step, "epoch": epoch}
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
        if prog.batch >= n_batches:  # the epoch is complete
            prog.bad_epochs = 0 if prog.improved else prog.bad_epochs + 1
            prog.improved = False
            prog.epoch += 1
            prog.batch = 0
            rep.epoch_end(epoch, last_val)
        checkpoint("last", last_val or None)
        if (
            result.stopped == "finished"
            and config.patience is not None
            and prog.bad_epochs >= config.patience
        ):
            result.stopped = "early_stopping"
            rep.message(
                f"early stopping: no validation improvement over {config.patience} epoch(s)"
            )
    result.steps = prog.step
    result.epochs_done = prog.epoch
    result.best_val_loss = prog.best
    result.final_val = last_val
    result.policy = policy
    result.seconds = time.perf_counter() - started
    return result


def _validate(
    policy: Policy,
    ema: EMA | None,
    corpus: Any,
    sampler: Any,
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    from exphil.train._dataset import BatchLoader

    if not sampler.n_batches(0):
        return {}
    loader = BatchLoader(
        corpus,
        sampler,
        epoch=0,
        start_batch=0,
        mirror=False,
        workers=config.data.workers,
        prefetch=config.data.prefetch,
        pin_memory=device.type == "cuda",
    )
    try:
        if ema is not None:
            with ema.applied(policy):
                return evaluate(policy, iter(loader), config, device, config.val_batches)
        return evaluate(policy, iter(loader), config, device, config.val_batches)
    finally:
        loader.close()
