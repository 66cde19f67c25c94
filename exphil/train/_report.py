"""What ``exphil train-bc`` (and ``exphil compare --eval``) show while they work.

On a terminal: a rich progress bar per epoch (ETA, frames/s, loss and a loss sparkline) or
per stage of data preparation. Off a terminal (a pipe, a log file, ``nohup``, a cluster
job) a bar cannot redraw, so progress comes as log lines instead (structlog: JSON when
stderr is not a terminal or with ``--log-json``, plain otherwise): ``train progress``
at the first step, every ``output.progress_every_s`` seconds and at each epoch's end;
``progress`` for each stage (``scan``, ``load``, ``embed``, ``score``) every few seconds
and when it completes. Validation lines, ``--verbose`` per-step timings and memory, and
the final summary print either way; ``--quiet`` prints errors and the final summary only.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import deque
from types import TracebackType
from typing import Any

import structlog
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

__all__ = ["RichReporter", "StageProgress", "sparkline", "tensorboard_sink", "wandb_sink"]

_BARS = "▁▂▃▄▅▆▇█"

log = structlog.get_logger("exphil.train")


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
    """The trainer's ``Reporter`` for a terminal, or for a log file (see the module
    docstring). ``live``: draw bars (default: when ``console`` is a terminal);
    ``progress_every``: seconds between progress log lines when not live (0: every step)."""

    def __init__(
        self,
        console: Console,
        verbosity: str = "normal",
        epochs: int = 1,
        *,
        live: bool | None = None,
        progress_every: float = 15.0,
    ) -> None:
        self.console = console
        self.verbosity = verbosity
        self.epochs = epochs
        self.live = console.is_terminal if live is None else live
        self.progress_every = progress_every
        self.losses: deque[float] = deque(maxlen=200)
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.batch_size = 1
        self.spark_width = 30
        # progress as log lines (not live): where the run is, and since when
        self.total_steps = 0
        self._epoch = 0
        self._batches = 0
        self._batch = 0
        self._steps_here = 0  # optimizer steps taken in this process
        self._t0: float | None = None
        self._last_line: float | None = None
        self._since_line: list[float] = []
        self._frames = 0
        self._busy_s = 0.0
        self._step = 0

    def run_start(self, info: dict[str, Any]) -> None:
        self.total_steps = int(info.get("total_steps", 0))
        if self.verbosity == "quiet":
            return
        resumed = info.get("resumed_at_step")
        games = info.get("val_games")
        held_out = (
            f" ({games} game{'s' * (games != 1)}, {info.get('val_frames', 0):,} frames)"
            if games is not None
            else ""
        )
        self.console.print(
            f"device {info['device']}, seed {info['seed']}, {info['params']:,} parameters, "
            f"{info['train_segments']} training / {info['val_segments']} validation "
            f"perspectives{held_out}, {info['batches_per_epoch']:,} batches per epoch, "
            f"{info['total_steps']:,} optimizer steps"
            + (f"; resuming at step {resumed}" if resumed is not None else ""),
            soft_wrap=True,
        )
        if not self.live:
            self.console.print(
                f"progress: log lines on stderr every {self.progress_every:g} s (the output "
                "is not a terminal)",
                soft_wrap=True,
            )

    def epoch_start(self, epoch: int, batches: int, first_batch: int) -> None:
        self._epoch, self._batches, self._batch = epoch, batches, first_batch
        if self.verbosity == "quiet":
            return
        self._stop_progress()
        if not self.live:
            return
        # fit the terminal: the sparkline only where there is room for it, the bar takes
        # what is left (a line longer than the terminal is cut with "…")
        epoch_text = f"epoch {epoch + 1}/{self.epochs}"
        fixed = len(epoch_text) + 2 * len(f"{batches:,}") + 1 + 11 + 17 + 7 + 11 + 8
        room = self.console.width - fixed
        self.spark_width = min(30, room - 15) if room - 15 >= 8 else 0
        columns: list[Any] = [
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(bar_width=max(5, room - self.spark_width - 1)),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
        ]
        if self.spark_width:
            columns.append(TextColumn("{task.fields[spark]}"))
        columns += [
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ]
        self.progress = Progress(*columns, console=self.console, transient=False)
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
        """A ``train`` record: the means over the optimizer steps since the previous one
        (``steps`` of them, 1 when absent; the loop reads its metrics every
        ``output.log_every`` steps), ``batch`` the epoch's next batch when given."""
        self.losses.append(metrics["loss"])
        if self.verbosity == "quiet":
            return
        dt = metrics["data_s"] + metrics["compute_s"]
        rate = metrics["frames"] / dt if dt > 0 else 0.0
        if "batch" in metrics:
            self._batch = int(metrics["batch"])
        else:  # one step (grad accumulation: a step may cover several batches)
            self._batch = min(self._batches or self._batch + 1, self._batch + 1)
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task,
                completed=self._batch,
                loss=f"{metrics['loss']:.3f}",
                spark=sparkline(self.losses, self.spark_width),
                rate=f"{rate:,.0f} frames/s",
            )
        elif not self.live:
            self._note_step(metrics, dt)
        if self.verbosity == "verbose":
            n = max(1, int(metrics.get("steps", 1)))
            last = int(metrics["step"])
            steps = f"step {last}" if n == 1 else f"steps {last - n + 1}-{last}"
            per = "" if n == 1 else " per step"
            self.console.print(
                f"{steps}: loss {metrics['loss']:.4f} lr {metrics['lr']:.2e} "
                f"grad-norm {metrics['grad_norm']:.3f} data {metrics['data_s'] / n * 1e3:.1f} ms "
                f"compute {metrics['compute_s'] / n * 1e3:.1f} ms{per}, "
                f"peak RSS {_rss_mb():,.0f} MB" + self._cuda_mem(),
                highlight=False,
                soft_wrap=True,
            )

    def _note_step(self, metrics: dict[str, float], seconds: float) -> None:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - seconds
        self._steps_here += int(metrics.get("steps", 1))
        self._step = int(metrics["step"])
        self._since_line.append(metrics["loss"])
        self._frames += int(metrics["frames"])
        self._busy_s += seconds
        if self._last_line is None or now - self._last_line >= self.progress_every:
            self._progress_line(now)

    def _progress_line(self, now: float) -> None:
        """One ``train progress`` log line: where the run is, the mean loss since the last
        line, the speed and the time left for the run's remaining steps."""
        if self._t0 is None:
            return
        elapsed = now - self._t0
        per_step = elapsed / self._steps_here if self._steps_here else 0.0
        left = max(0, self.total_steps - self._step)
        loss = sum(self._since_line) / len(self._since_line) if self._since_line else None
        log.info(
            "train progress",
            epoch=f"{self._epoch + 1}/{self.epochs}",
            batch=self._batch,
            batches=self._batches,
            step=self._step,
            total_steps=self.total_steps,
            loss=None if loss is None else round(loss, 4),
            frames_per_s=round(self._frames / self._busy_s) if self._busy_s > 0 else None,
            elapsed_s=round(elapsed, 1),
            eta_s=round(left * per_step, 1) if per_step > 0 else None,
        )
        self._last_line = now
        self._since_line = []

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
            soft_wrap=True,
        )

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.progress is not None and self.task is not None:
            total = self.progress.tasks[0].total
            self.progress.update(self.task, completed=total)
        elif not self.live and self.verbosity != "quiet":
            self._batch = self._batches
            self._progress_line(time.monotonic())
        self._stop_progress()

    def message(self, text: str, level: str = "info") -> None:
        if self.verbosity == "quiet" and level not in ("warning", "error"):
            return
        style = {"warning": "yellow", "error": "red"}.get(level)
        self.console.print(
            f"[{style}]{text}[/{style}]" if style else text, highlight=False, soft_wrap=True
        )

    def _stop_progress(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.task = None

    def close(self) -> None:
        self._stop_progress()


class StageProgress:
    """``progress(stage, done, total)`` of staged work (``build_corpus``: ``scan``, ``load``,
    ``embed``; ``score_policy`` adds ``score``), shown as ``task``: on a terminal a
    transient bar per stage; otherwise a ``progress`` log line every ``every`` seconds and
    one when a stage completes (see the module docstring). ``live``: default whether
    ``console`` is a terminal. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self, console: Console, task: str, *, every: float = 5.0, live: bool | None = None
    ) -> None:
        self.console = console
        self.task = task
        self.every = every
        self.live = console.is_terminal if live is None else live
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._done: dict[str, int] = {}
        self._last: float | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage not in self._started or done < self._done[stage]:  # (again: a new pass)
            self._started[stage] = now
            self._tasks.pop(stage, None)
        self._done[stage] = done
        if self.live:
            if self._bar is None:
                self._bar = Progress(
                    TextColumn("{task.description}", markup=False),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                    console=self.console,
                    transient=True,
                )
                self._bar.start()
            if stage not in self._tasks:
                self._tasks[stage] = self._bar.add_task(f"{self.task}: {stage}", total=total)
            self._bar.update(self._tasks[stage], completed=done, total=total)
            return
        if done >= total or self._last is None or now - self._last >= self.every:
            self._last = now
            elapsed = now - self._started[stage]
            rate = done / elapsed if elapsed > 0 else None
            left = (total - done) / rate if rate else None
            log.info(
                "progress",
                task=self.task,
                stage=stage,
                done=done,
                total=total,
                per_s=round(rate, 1) if rate is not None else None,
                elapsed_s=round(elapsed, 1),
                eta_s=round(left, 1) if left is not None else None,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
