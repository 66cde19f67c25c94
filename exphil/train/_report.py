"""What ``exphil train-bc`` shows while it trains: a rich progress bar per epoch (ETA,
samples/s, loss and a loss sparkline), validation lines, and in ``--verbose`` per-step
timings (data wait vs compute) and memory. Colours and live redraws turn off by themselves
when the output is not a terminal (rich), and ``--quiet`` prints errors and the final
summary only."""

from __future__ import annotations

import resource
import sys
from collections import deque
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["RichReporter", "sparkline", "tensorboard_sink", "wandb_sink"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float] | deque[float], width: int = 30) -> str:
    """The last ``width`` values as block characters, low to high."""
    vals = list(values)[-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    return "".join(_BARS[min(7, int((v - lo) / span * 7.999))] for v in vals)


def _rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1e6


class RichReporter:
    """The trainer's ``Reporter`` for a terminal (or a log file)."""

    def __init__(self, console: Console, verbosity: str = "normal", epochs: int = 1) -> None:
        self.console = console
        self.verbosity = verbosity
        self.epochs = epochs
        self.losses: deque[float] = deque(maxlen=200)
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.batch_size = 1

    def run_start(self, info: dict[str, Any]) -> None:
        if self.verbosity == "quiet":
            return
        resumed = info.get("resumed_at_step")
        self.console.print(
            f"device {info['device']}, seed {info['seed']}, {info['params']:,} parameters, "
            f"{info['train_segments']} training / {info['val_segments']} validation "
            f"perspectives, {info['batches_per_epoch']:,} batches per epoch, "
            f"{info['total_steps']:,} optimizer steps"
            + (f"; resuming at step {resumed}" if resumed is not None else "")
        )

    def epoch_start(self, epoch: int, batches: int, first_batch: int) -> None:
        if self.verbosity == "quiet":
            return
        self._stop_progress()
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[spark]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train",
            total=batches,
            completed=first_batch,
            epoch=f"{epoch + 1}/{self.epochs}",
            loss="-",
            spark="",
            rate="",
        )

    def train_step(self, metrics: dict[str, float]) -> None:
        self.losses.append(metrics["loss"])
        if self.verbosity == "quiet":
            return
        dt = metrics["data_s"] + metrics["compute_s"]
        rate = metrics["frames"] / dt if dt > 0 else 0.0
        if self.progress is not None and self.task is not None:
            done = self.progress.tasks[0].completed
            # grad accumulation: one step may cover several batches; the loop reports steps
            self.progress.update(
                self.task,
                completed=min(self.progress.tasks[0].total or done + 1, done + 1),
                loss=f"{metrics['loss']:.3f}",
                spark=sparkline(self.losses),
                rate=f"{rate:,.0f} frames/s",
            )
        if self.verbosity == "verbose":
            self.console.print(
                f"step {int(metrics['step'])}: loss {metrics['loss']:.4f} lr {metrics['lr']:.2e} "
                f"grad-norm {metrics['grad_norm']:.3f} data {metrics['data_s'] * 1e3:.1f} ms "
                f"compute {metrics['compute_s'] * 1e3:.1f} ms, peak RSS {_rss_mb():,.0f} MB"
                + self._cuda_mem(),
                highlight=False,
            )

    def _cuda_mem(self) -> str:
        import torch

        if not torch.cuda.is_available():
            return ""
        return f", CUDA {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB"

    def validation(self, metrics: dict[str, float]) -> None:
        if self.verbosity == "quiet" or "val/loss" not in metrics:
            return
        self.console.print(
            f"  validation at step {int(metrics['step'])}: loss {metrics['val/loss']:.4f}  "
            f"buttons {metrics['val/acc/buttons']:.1%}  main x {metrics['val/acc/main_x']:.1%} "
            f"y {metrics['val/acc/main_y']:.1%}  c x {metrics['val/acc/c_x']:.1%} "
            f"y {metrics['val/acc/c_y']:.1%}  shoulder {metrics['val/acc/shoulder']:.1%}"
            + (
                f"  value loss {metrics['val/loss/value']:.4f}"
                if "val/loss/value" in metrics
                else ""
            ),
            highlight=False,
        )

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.progress is not None and self.task is not None:
            total = self.progress.tasks[0].total
            self.progress.update(self.task, completed=total)
        self._stop_progress()

    def message(self, text: str, level: str = "info") -> None:
        if self.verbosity == "quiet" and level not in ("warning", "error"):
            return
        style = {"warning": "yellow", "error": "red"}.get(level)
        self.console.print(f"[{style}]{text}[/{style}]" if style else text, highlight=False)

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.task = None

    def close(self) -> None:
        self._stop_progress()


def _scalars(record: dict[str, Any]) -> tuple[int, dict[str, float]]:
    step = int(record.get("step", 0))
    kind = record.get("kind", "train")
    out: dict[str, float] = {}
    for k, v in record.items():
        if k in ("kind", "step", "epoch") or not isinstance(v, (int, float)):
            continue
        name = k if k.startswith(("val/", "baseline/")) else f"{kind}/{k}"
        if kind == "baseline":
            name = "baseline/" + k.removeprefix("val/")
        out[name] = float(v)
    return step, out


def tensorboard_sink(log_dir: Any) -> tuple[Any, Any]:
    """``(sink, close)`` writing every metrics record to TensorBoard event files in
    ``log_dir`` (needs the ``tensorboard`` package)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(log_dir))

    def sink(record: dict[str, Any]) -> None:
        step, values = _scalars(record)
        for k, v in values.items():
            writer.add_scalar(k, v, step)

    return sink, writer.close


def wandb_sink(
    project: str, name: str, config: dict[str, Any], run_dir: Any, offline: bool
) -> tuple[Any, Any]:
    """``(sink, close)`` logging every metrics record to Weights & Biases (``offline``: to
    ``run_dir/wandb`` only, sync later with ``wandb sync``)."""
    import wandb

    run = wandb.init(
        project=project,
        name=name,
        config=config,
        dir=str(run_dir),
        mode="offline" if offline else "online",
    )

    def sink(record: dict[str, Any]) -> None:
        step, values = _scalars(record)
        run.log(values, step=step)

    return sink, run.finish
