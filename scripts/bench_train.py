"""Benchmark behavioral-cloning training throughput: the data loader alone, and optimizer
steps of every backbone fed by pre-assembled batches (the model alone) and by the real loader.

    python scripts/bench_train.py [--json] [--replays DIR] [--max-files N] [--steps N]
                                  [--kinds mlp,lstm] [--threads N]

One run over real replays (default ``../shared/replays``, embedded once into the usual
store and reused). The games are split as ``train-bc`` splits them (a tenth held out by
game, seed 0); everything below reads the training games only.

* **data loader alone** (``exphil.train._dataset.BatchLoader``): the MLP setting (window 1,
  batch 256) and the temporal setting (window 60, batch 32), with 0 and 2 worker threads,
  mirror augmentation off and on; ``--loader-batches`` batches timed in blocks of 25 after
  a warm-up (the whole store is first read once so it sits in the page cache, and a few
  batches are drawn untimed). Samples/s is the median of the blocks' rates; a sample is a
  frame for the MLP and a 60-frame window otherwise (frames/s = samples/s x window).
* **training steps** for each backbone at its default size (hidden 256, 2 layers; Mamba
  state 16, conv 4, expand 2; attention 4 heads over 60 frames): forward, teacher-forced
  controller loss (``exphil.train._trainer.compute_loss``), backward, gradient clipping and
  AdamW, as the trainer does. Batch 256 frames for the MLP, 32 windows of 60 frames for the
  temporal backbones. ``model only``: the same few batches assembled beforehand, cycled;
  ``with loader``: each step takes the next batch from a ``BatchLoader`` with ``--workers``
  threads (the trainer's default, 2), so the loader competes with the model for the cores
  as it does in training. Each figure is the median of per-step rates after warm-up steps;
  a fast model runs more than ``--steps`` steps until its row has taken ``--min-seconds``.
  On CPU the Mamba and Jamba backbones (pure-PyTorch sequential scan, the slowest per step)
  time ``--slow-steps`` steps when that is fewer than ``--steps``; the output says so.
* for each backbone, whether the loader alone (``--workers`` threads, the worse of mirror
  off and on) delivers at least 3x the samples/s of the model alone: the data loader must
  never be the bottleneck. The figures are printed, never asserted.

With a CUDA device the training rows are measured on it too, in fp32 and in bf16 autocast
(eager, no ``torch.compile``; the loader pins its batches as the trainer does there, and
the loader alone is then also timed with pinning), every backbone with ``--steps`` steps.

* ``--scaling`` (no replays needed): the trainer's own step (``exphil.train._speed``:
  ``loss_and_metrics``, device-side metrics, fused AdamW on CUDA, no read per step) on
  synthetic batches of ``--batches`` windows of ``--window`` frames (default on CUDA 256,
  1024 and 4096 windows; on CPU 16 and 64), for ``--scaling-kinds`` at the presets' size
  (hidden 128, 2 layers), in fp32 and (CUDA) bf16. Per row: ms per step (steady state: one
  wait for the device at the end), frames/s, and the GPU's busy fraction while it ran
  (``nvidia-smi`` sampled every 100 ms in a thread; absent without it). Per backbone: the
  fixed per-step cost, the intercept of a least-squares line of step time against the
  batch, next to the step time at 1 window.
* ``--train-synthetic STEPS``: a real ``train()`` (loader, logging, validation, checkpoints)
  of ``--preset`` (default ``lstm``, its CUDA batch on CUDA) on an in-memory synthetic
  corpus; frames/s from its train records after the first, and the GPU's busy fraction.
* ``--synthetic``: skip everything that needs replays (the loader rows and the model rows).

torch uses ``--threads`` threads (default: every core this process may use). With
``--threads 1`` the process is also pinned to one core. The machine this runs on may be a
shared VM: expect noise of a few tens of percent between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _bench_synthetic import bench_scaling, bench_train_synthetic, print_scaling  # noqa: E402

from exphil.embed import ControllerConfig, EmbedConfig  # noqa: E402
from exphil.nets import BACKBONE_KINDS, BackboneConfig, Policy, PolicyConfig  # noqa: E402
from exphil.train._config import DataConfig, TrainConfig  # noqa: E402
from exphil.train._dataset import (  # noqa: E402
    Batch,
    BatchLoader,
    Corpus,
    Sampler,
    build_corpus,
)
from exphil.train._trainer import compute_loss  # noqa: E402

HIDDEN, LAYERS = 256, 2
WINDOW, TEMPORAL_BATCH, MLP_BATCH = 60, 32, 256
SETTINGS = {"mlp": (1, MLP_BATCH), "temporal": (WINDOW, TEMPORAL_BATCH)}
SLOW_CPU_KINDS = ("mamba", "jamba")
TARGET_RATIO = 3.0
LOADER_BLOCK = 25
LOADER_WARMUP = 8
PREFETCH = 4
PRE_ASSEMBLED = 4
MAX_STEP_FACTOR = 20
SEED = 0
VAL_FRACTION = 0.1


def default_replays() -> str:
    return os.environ.get("EXPHIL_TEST_REPLAYS", str(ROOT.parent / "shared" / "replays"))


def setting_of(kind: str) -> str:
    return "mlp" if kind == "mlp" else "temporal"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the data ---------------------------------------------------------------------------------
def load_corpus(replays: str, max_files: int | None) -> tuple[Corpus, np.ndarray, float]:
    t0 = time.perf_counter()
    data = DataConfig(replays=[replays], max_files=max_files)
    corpus = build_corpus(data, EmbedConfig(), ControllerConfig(), seed=SEED)
    train_ids, _ = corpus.split(VAL_FRACTION, SEED)
    return corpus, train_ids, time.perf_counter() - t0


def warm_page_cache(corpus: Corpus) -> tuple[float, float]:
    """Read every stored array once (so the timed passes find it in the page cache):
    (MB read, seconds)."""
    t0 = time.perf_counter()
    total = 0
    for arr in (corpus.dense, corpus.ids, corpus.buttons, corpus.classes, corpus.ctrl):
        rows = max(1, (64 << 20) // max(1, arr.strides[0]))
        for a in range(0, len(arr), rows):
            total += np.array(arr[a : a + rows]).nbytes
    return total / 1e6, time.perf_counter() - t0


def make_sampler(corpus: Corpus, train_ids: np.ndarray, setting: str) -> Sampler:
    window, batch = SETTINGS[setting]
    return Sampler(
        corpus,
        train_ids,
        window=window,
        burnin=0,
        delay=0,
        delay_spread=0,
        batch_size=batch,
        balance_characters=False,
        seed=SEED,
    )


class Stream:
    """Batches from ``BatchLoader``, epoch after epoch (a new loader per epoch), with the
    loaders' statistics summed."""

    def __init__(
        self, corpus: Corpus, sampler: Sampler, *, workers: int, mirror: bool, pin: bool
    ) -> None:
        self.corpus, self.sampler = corpus, sampler
        self.workers, self.mirror, self.pin = workers, mirror, pin
        self.epoch = 0
        self.loader: BatchLoader | None = None
        self.stats = {"batches": 0, "assemble_s": 0.0, "wait_s": 0.0}

    def next(self) -> Batch:
        while True:
            if self.loader is None:
                self.loader = BatchLoader(
                    self.corpus,
                    self.sampler,
                    epoch=self.epoch,
                    mirror=self.mirror,
                    workers=self.workers,
                    prefetch=PREFETCH,
                    pin_memory=self.pin,
                )
            try:
                return next(self.loader)
            except StopIteration:
                self._retire()
                self.epoch += 1

    def _retire(self) -> None:
        if self.loader is not None:
            self.loader.close()
            s = self.loader.statistics()
            for key in self.stats:
                self.stats[key] += s[key]
            self.loader = None

    def assemble_s(self) -> float:
        """Seconds spent assembling batches so far (all threads, every loader)."""
        now = self.loader.statistics()["assemble_s"] if self.loader is not None else 0.0
        return float(self.stats["assemble_s"]) + now

    def close(self) -> dict[str, float]:
        self._retire()
        return self.stats


def bench_loader(
    corpus: Corpus,
    train_ids: np.ndarray,
    setting: str,
    *,
    workers: int,
    mirror: bool,
    pin: bool,
    batches: int,
) -> dict[str, Any]:
    window, batch_size = SETTINGS[setting]
    stream = Stream(
        corpus, make_sampler(corpus, train_ids, setting), workers=workers, mirror=mirror, pin=pin
    )
    try:
        for _ in range(LOADER_WARMUP):
            stream.next()
        warm_assemble_s = stream.assemble_s()
        rates: list[float] = []
        samples = 0
        elapsed = 0.0
        done = 0
        while done < batches:
            k = min(LOADER_BLOCK, batches - done)
            t0 = time.perf_counter()
            got = sum(len(stream.next()) for _ in range(k))
            dt = time.perf_counter() - t0
            rates.append(got / dt)
            samples += got
            elapsed += dt
            done += k
    finally:
        stream.close()
    # assembly CPU seconds of the timed batches (with workers, also the few prefetched past
    # the last one: at most PREFETCH more)
    assemble_s = stream.assemble_s() - warm_assemble_s
    med = statistics.median(rates)
    return {
        "setting": setting,
        "window": window,
        "batch_size": batch_size,
        "workers": workers,
        "mirror": mirror,
        "pinned": pin,
        "batches": batches,
        "samples_per_s": med,
        "frames_per_s": med * window,
        "samples_per_s_overall": samples / elapsed,
        "assemble_ms_per_batch": assemble_s / batches * 1e3,
    }


# --- the model --------------------------------------------------------------------------------
def train_config(kind: str) -> TrainConfig:
    window, batch = SETTINGS[setting_of(kind)]
    backbone = msgspec.convert(
        {"kind": kind, "hidden": HIDDEN, "layers": LAYERS, "window": WINDOW}, BackboneConfig
    )
    return TrainConfig(
        policy=PolicyConfig(backbone=backbone),
        data=DataConfig(window=window, burnin=0, batch_size=batch),
    )


@contextlib.contextmanager
def autocast(device: torch.device, bf16: bool) -> Iterator[None]:
    if bf16:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


class Stepper:
    """One optimizer step as the trainer takes it (grad_accum 1): forward and loss (under
    autocast when ``bf16``), backward, clip, AdamW, zero the gradients."""

    def __init__(self, config: TrainConfig, device: torch.device, bf16: bool) -> None:
        torch.manual_seed(SEED)
        self.config, self.device, self.bf16 = config, device, bf16
        self.policy = Policy(config.policy).to(device).train()
        o = config.optim
        self.optimizer = torch.optim.AdamW(
            self.policy.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay
        )
        self.sync: Callable[[], None] = (
            torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        )

    def __call__(self, batch: Batch) -> None:
        with autocast(self.device, self.bf16):
            loss, _, _ = compute_loss(self.policy, batch, self.config, self.device)
        loss.backward()
        clip = self.config.optim.clip_norm
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def timed_steps(
    stepper: Stepper,
    next_batch: Callable[[], Batch],
    warmup: int,
    steps: int,
    min_seconds: float,
) -> list[float]:
    """Samples/s of each step after ``warmup`` untimed ones: ``steps`` steps, more while
    they have taken less than ``min_seconds`` (at most ``MAX_STEP_FACTOR * steps``). A
    step's time runs from the end of the previous step (so waiting for the batch counts)."""
    for _ in range(warmup):
        stepper(next_batch())
    stepper.sync()
    rates = []
    start = t_prev = time.perf_counter()
    while len(rates) < steps or (
        t_prev - start < min_seconds and len(rates) < MAX_STEP_FACTOR * steps
    ):
        batch = next_batch()
        stepper(batch)
        stepper.sync()
        now = time.perf_counter()
        rates.append(len(batch) / (now - t_prev))
        t_prev = now
    return rates


def bench_model(
    kind: str,
    corpus: Corpus,
    train_ids: np.ndarray,
    device: torch.device,
    *,
    bf16: bool,
    steps: int,
    min_seconds: float,
    workers: int,
) -> dict[str, Any]:
    config = train_config(kind)
    setting = setting_of(kind)
    window, batch_size = SETTINGS[setting]
    cuda = device.type == "cuda"
    warmup = 1 if steps < 10 else 3
    stepper = Stepper(config, device, bf16)
    sampler = make_sampler(corpus, train_ids, setting)
    # the model alone: a few batches assembled (and moved to the device) beforehand
    pre_stream = Stream(corpus, sampler, workers=0, mirror=False, pin=False)
    pre = [pre_stream.next().to(device) for _ in range(PRE_ASSEMBLED)]
    pre_stream.close()
    t0 = time.perf_counter()
    model_rates = timed_steps(stepper, itertools.cycle(pre).__next__, warmup, steps, min_seconds)
    model_s = time.perf_counter() - t0
    del pre
    # with the real loader (a fresh model and optimizer, so both runs start alike)
    stepper = Stepper(config, device, bf16)
    stream = Stream(corpus, sampler, workers=workers, mirror=False, pin=cuda)
    t0 = time.perf_counter()
    try:
        # drain the prefetched batches first, so the timed steps see the steady state
        loader_warmup = warmup if steps < 10 else max(warmup, PREFETCH + 2)
        loader_rates = timed_steps(stepper, stream.next, loader_warmup, steps, min_seconds)
    finally:
        stats = stream.close()
    loader_s = time.perf_counter() - t0
    model = statistics.median(model_rates)
    fed = statistics.median(loader_rates)
    policy = stepper.policy
    return {
        "kind": kind,
        "device": str(device) + (" bf16" if bf16 else ""),
        "setting": setting,
        "window": window,
        "batch_size": batch_size,
        "params": sum(p.numel() for p in policy.parameters()),
        "backbone_params": sum(p.numel() for p in policy.backbone.parameters()),
        "steps": steps,
        "timed_steps_model": len(model_rates),
        "timed_steps_loader": len(loader_rates),
        "warmup_steps": warmup,
        "model_samples_per_s": model,
        "model_frames_per_s": model * window,
        "model_step_ms": batch_size / model * 1e3,
        "loader_fed_samples_per_s": fed,
        "loader_fed_frames_per_s": fed * window,
        "loader_fed_over_model": fed / model,
        "loader_wait_s": stats["wait_s"],
        "seconds": model_s + loader_s,
    }


# --- the verdicts and the tables --------------------------------------------------------------
def loader_rate(loader_rows: list[dict[str, Any]], setting: str, workers: int, pin: bool) -> float:
    """The worse (mirror off / on) loader-alone samples/s of a setting."""
    rates = [
        r["samples_per_s"]
        for r in loader_rows
        if r["setting"] == setting and r["workers"] == workers and r["pinned"] == pin
    ]
    return min(rates) if rates else float("nan")


def ratio_text(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.1f}x"


def add_verdicts(
    rows: list[dict[str, Any]], loader_rows: list[dict[str, Any]], workers: int
) -> list[str]:
    out = []
    for r in rows:
        pin = r["device"].startswith("cuda") and any(x["pinned"] for x in loader_rows)
        alone = loader_rate(loader_rows, r["setting"], workers, pin)
        ratio = alone / r["model_samples_per_s"]
        r["loader_alone_samples_per_s"] = alone
        r["loader_over_model"] = ratio
        r["loader_not_bottleneck"] = bool(ratio >= TARGET_RATIO)
        out.append(
            f"{r['kind']} ({r['device']}): loader alone {alone:,.0f} samples/s "
            f"({workers} workers{', pinned' if pin else ''}, the worse of mirror off/on) = "
            f"{ratio_text(ratio)} the model's {r['model_samples_per_s']:,.0f} samples/s: "
            + ("met" if ratio >= TARGET_RATIO else "MISSED")
            + f" (target >= {TARGET_RATIO:.0f}x); with the real loader the steps ran at "
            f"{r['loader_fed_over_model']:.0%} of the model-only rate"
        )
    return out


def print_loader_table(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in (
        "setting",
        "window x batch",
        "workers",
        "mirror",
        "pinned",
        "samples/s (median)",
        "frames/s",
        "assembly CPU ms / batch",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["setting"],
            f"{r['window']} x {r['batch_size']}",
            str(r["workers"]),
            "on" if r["mirror"] else "off",
            "yes" if r["pinned"] else "no",
            f"{r['samples_per_s']:,.0f}",
            f"{r['frames_per_s']:,.0f}",
            f"{r['assemble_ms_per_batch']:.2f}",
        )
    Console(width=max(Console().width, 150)).print(table)


def print_model_table(rows: list[dict[str, Any]], title: str, verdicts: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in (
        "backbone",
        "params",
        "window x batch",
        "timed steps (model only / with loader)",
        "step (model only)",
        "model only samples/s",
        "model only frames/s",
        "with loader samples/s",
        "with loader / model only",
        "loader alone samples/s",
        "loader alone / model",
        "loader >= 3x",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["kind"],
            f"{r['params'] / 1e6:.2f} M",
            f"{r['window']} x {r['batch_size']}",
            f"{r['timed_steps_model']} / {r['timed_steps_loader']}",
            f"{r['model_step_ms']:,.1f} ms",
            f"{r['model_samples_per_s']:,.1f}",
            f"{r['model_frames_per_s']:,.0f}",
            f"{r['loader_fed_samples_per_s']:,.1f}",
            f"{r['loader_fed_over_model']:.0%}",
            f"{r['loader_alone_samples_per_s']:,.0f}",
            ratio_text(r["loader_over_model"]),
            "met" if r["loader_not_bottleneck"] else "MISSED",
        )
    Console(width=max(Console().width, 190)).print(table)
    for line in verdicts:
        print("  " + line)


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to cpu {cpu}"
    return "not pinned (no sched_setaffinity)"


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def replay_benchmarks(args: argparse.Namespace, kinds: list[str], cuda: bool) -> dict[str, Any]:
    """The loader rows and the model rows over real replays."""
    log(f"corpus: {args.replays} (max files {args.max_files})...")
    corpus, train_ids, build_s = load_corpus(args.replays, args.max_files)
    summary = corpus.summary()
    warm_mb, warm_s = warm_page_cache(corpus)
    log(
        f"  {summary['games']} games, {corpus.n_frames:,} rows, {len(train_ids)} training "
        f"perspectives; built/reused in {build_s:.1f} s; {warm_mb:,.0f} MB read in {warm_s:.1f} s"
    )

    loader_rows = []
    t_loader = time.perf_counter()
    worker_counts = sorted({0, args.workers})
    for setting in SETTINGS:
        for workers in worker_counts:
            for mirror in (False, True):
                log(f"loader: {setting}, {workers} workers, mirror {mirror}...")
                loader_rows.append(
                    bench_loader(
                        corpus,
                        train_ids,
                        setting,
                        workers=workers,
                        mirror=mirror,
                        pin=False,
                        batches=args.loader_batches,
                    )
                )
        if cuda:
            for mirror in (False, True):
                log(f"loader: {setting}, {args.workers} workers, mirror {mirror}, pinned...")
                loader_rows.append(
                    bench_loader(
                        corpus,
                        train_ids,
                        setting,
                        workers=args.workers,
                        mirror=mirror,
                        pin=True,
                        batches=args.loader_batches,
                    )
                )
    loader_s = time.perf_counter() - t_loader

    tables: list[tuple[str, list[dict[str, Any]], list[str]]] = []
    devices = [(torch.device("cpu"), False)]
    if cuda:
        devices += [(torch.device("cuda"), False), (torch.device("cuda"), True)]
    reduced: list[str] = []
    for device, bf16 in devices:
        rows = []
        for kind in kinds:
            steps = args.steps
            if device.type == "cpu" and kind in SLOW_CPU_KINDS and args.slow_steps < steps:
                steps = args.slow_steps
                reduced.append(kind)
            name = f"{device}{' bf16' if bf16 else ''}"
            log(f"training: {kind} on {name}, at least {steps} timed steps...")
            rows.append(
                bench_model(
                    kind,
                    corpus,
                    train_ids,
                    device,
                    bf16=bf16,
                    steps=steps,
                    min_seconds=args.min_seconds if steps == args.steps else 0.0,
                    workers=args.workers,
                )
            )
            log(f"  {rows[-1]['seconds']:.1f} s")
        verdicts = add_verdicts(rows, loader_rows, args.workers)
        tables.append((f"{device}{' bf16' if bf16 else ''}", rows, verdicts))

    return {
        "corpus": {
            "replays": args.replays,
            "games": summary["games"],
            "rows": corpus.n_frames,
            "store_mb": corpus.nbytes / 1e6,
            "train_perspectives": len(train_ids),
            "build_s": build_s,
            "page_cache_warm_mb": warm_mb,
            "page_cache_warm_s": warm_s,
        },
        "loader": loader_rows,
        "loader_seconds": loader_s,
        "tables": tables,
        "reduced": reduced,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--replays", default=default_replays(), help="replay folder")
    ap.add_argument("--max-files", type=int, default=None, help="at most this many games")
    ap.add_argument("--steps", type=int, default=30, help="timed optimizer steps per row")
    ap.add_argument(
        "--slow-steps",
        type=int,
        default=30,
        help=f"timed steps on CPU for {', '.join(SLOW_CPU_KINDS)} (sequential scan)",
    )
    ap.add_argument(
        "--min-seconds",
        type=float,
        default=2.0,
        help="time more than --steps steps while a row has taken less (fast models)",
    )
    ap.add_argument("--kinds", default=",".join(BACKBONE_KINDS), help="comma-separated")
    ap.add_argument("--threads", type=int, default=available_cores(), help="torch threads")
    ap.add_argument("--workers", type=int, default=2, help="loader threads when training")
    ap.add_argument("--loader-batches", type=int, default=300, help="timed loader batches")
    ap.add_argument("--device", choices=["auto", "cpu"], default="auto")
    ap.add_argument("--synthetic", action="store_true", help="skip what needs replays")
    ap.add_argument("--scaling", action="store_true", help="step time against the batch")
    ap.add_argument("--batches", help="windows per step (CUDA 256,1024,4096; CPU 16,64)")
    ap.add_argument("--window", type=int, default=30, help="frames per window (--scaling)")
    ap.add_argument("--scaling-kinds", default="mlp,lstm,attention", help="comma-separated")
    ap.add_argument("--dtypes", help="fp32,bf16 (default: both on CUDA, fp32 on CPU)")
    ap.add_argument("--scaling-steps", type=int, default=10, help="least timed steps per row")
    ap.add_argument(
        "--compile-mode",
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile the model in --scaling (default: eager)",
    )
    ap.add_argument("--train-synthetic", type=int, default=0, help="steps of a real train()")
    ap.add_argument("--preset", default="lstm", help="the train-bc preset of --train-synthetic")
    ap.add_argument("--synthetic-games", type=int, default=40, help="synthetic corpus games")
    ap.add_argument("--synthetic-frames", type=int, default=3600, help="frames per game")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in BACKBONE_KINDS]
    if unknown:
        ap.error(f"unknown backbone kinds {unknown}; the kinds are {', '.join(BACKBONE_KINDS)}")
    started = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    pinned = pin_one_core() if args.threads == 1 else "not pinned"
    torch.set_num_threads(args.threads)
    cuda = args.device == "auto" and torch.cuda.is_available()

    replays: dict[str, Any] = {"corpus": None, "loader": [], "loader_seconds": 0.0,
                                "tables": [], "reduced": []}  # fmt: skip
    if not args.synthetic:
        replays = replay_benchmarks(args, kinds, cuda)
    loader_rows, loader_s = replays["loader"], replays["loader_seconds"]
    tables, reduced = replays["tables"], replays["reduced"]
    device = torch.device("cuda") if cuda else torch.device("cpu")
    scaling = None
    if args.scaling:
        default = "256,1024,4096" if cuda else "16,64"
        batches = [int(x) for x in (args.batches or default).split(",") if x]
        dtypes = [d for d in (args.dtypes or ("fp32,bf16" if cuda else "fp32")).split(",") if d]
        scaling = bench_scaling(
            [k for k in args.scaling_kinds.split(",") if k], batches, args.window, device,
            dtypes, steps=args.scaling_steps, min_seconds=args.min_seconds,
            compile_mode=args.compile_mode,
        )  # fmt: skip
    synthetic_train = None
    if args.train_synthetic:
        log(f"train(): preset {args.preset} on a synthetic corpus, {args.train_synthetic} steps...")
        synthetic_train = bench_train_synthetic(
            args.preset, args.train_synthetic, device, args.synthetic_games,
            args.synthetic_frames, args.workers,
        )  # fmt: skip

    out = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, {available_cores()} cores, "
        f"torch threads {torch.get_num_threads()} ({pinned})".replace("  ", " "),
        "gpu": torch.cuda.get_device_name() if cuda else None,
        # other processes on the machine: the 1-minute load average before and after
        "load_average": [
            load_before,
            os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        ],
        "corpus": replays["corpus"],
        "scaling": scaling,
        "train_synthetic": synthetic_train,
        "steps": args.steps,
        "slow_steps": args.slow_steps,
        "reduced_steps_kinds": sorted(set(reduced)),
        "loader": loader_rows,
        "loader_seconds": loader_s,
        "tables": {name: rows for name, rows, _ in tables},
        "verdicts": [v for _, _, vs in tables for v in vs],
        "seconds": time.perf_counter() - started,
    }
    if args.json:
        print(json.dumps(out))
        return
    c = out["corpus"]
    if scaling is not None:
        print_scaling(scaling)
    if synthetic_train is not None:
        t = synthetic_train
        busy = "-" if t["gpu_busy"] is None else f"{t['gpu_busy']:.0%}"
        fps = t["frames_per_s"]
        print(
            f"train() of preset {t['preset']} on a synthetic corpus ({t['device']}, batch "
            f"{t['batch']} x {t['window']} frames, lr {t['lr']:g}): {t['steps']} steps, "
            f"{'-' if fps is None else f'{fps:,.0f}'} frames/s after the first record, "
            f"data wait {t['data_wait_fraction'] or 0:.1%}, GPU busy {busy}, "
            f"{t['seconds']:.1f} s in all"
        )
    if c is None:
        print(out["machine"] + (f", GPU {out['gpu']}" if out["gpu"] else ", no GPU"))
        return
    print(
        f"corpus: {c['games']} games from {c['replays']}, {c['rows']:,} rows "
        f"({c['store_mb']:,.0f} MB store, {c['train_perspectives']} training perspectives); "
        f"the store was read once into the page cache before timing"
    )
    print_loader_table(
        loader_rows,
        f"Data loader alone (BatchLoader, delay 0); median of blocks of {LOADER_BLOCK} batches, "
        f"{args.loader_batches} timed batches per row after {LOADER_WARMUP} untimed",
    )
    for name, rows, verdicts in tables:
        print_model_table(
            rows,
            f"Training steps on {name} (hidden {HIDDEN}, {LAYERS} layers; forward + backward + "
            f"clip + AdamW); median of per-step rates; 'with loader': {args.workers} loader "
            f"threads; torch threads {torch.get_num_threads()}",
            verdicts,
        )
    if reduced:
        print(
            f"note: on CPU {', '.join(sorted(set(reduced)))} timed {args.slow_steps} steps "
            f"(not {args.steps}): the pure-PyTorch sequential scan is the slowest per step at "
            f"window {WINDOW} (--slow-steps to change)"
        )
    print(out["machine"] + (f", GPU {out['gpu']}" if out["gpu"] else ", no GPU"))
    la = out["load_average"]
    print(
        f"1-minute load average {la[0]:.2f} before, {la[1]:.2f} after (above the core count: "
        "other processes may have shared the cores, making some figures low)"
        if max(la) > available_cores()
        else f"1-minute load average {la[0]:.2f} before, {la[1]:.2f} after"
    )
    print(f"total {out['seconds']:.0f} s (loader rows {loader_s:.0f} s)")


if __name__ == "__main__":
    main()
