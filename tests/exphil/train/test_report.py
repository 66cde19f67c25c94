"""What train-bc shows while it works: off a terminal, progress as log lines (the bar
cannot redraw there); on a terminal, a bar that fits its width."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from rich.console import Console

from exphil._logging import configure_logging
from exphil.train import RichReporter, StageProgress


@contextlib.contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """The log events of the block, as the CLI writes them off a terminal (JSON lines)."""
    stream = io.StringIO()
    configure_logging(json=True, level="info", stream=stream)
    events: list[dict[str, Any]] = []
    yield events
    events += [json.loads(line) for line in stream.getvalue().splitlines()]


def step(n: int, loss: float = 2.0) -> dict[str, float]:
    return {
        "step": n, "loss": loss, "lr": 1e-3, "grad_norm": 0.5,
        "data_s": 0.001, "compute_s": 0.004, "frames": 64,
    }  # fmt: skip


def train_some(reporter: RichReporter, steps: int) -> None:
    reporter.run_start(
        {
            "device": "cpu", "seed": 1, "params": 1000, "train_segments": 6,
            "val_segments": 2, "val_games": 1, "val_frames": 3600,
            "batches_per_epoch": steps, "total_steps": 2 * steps,
        }
    )  # fmt: skip
    reporter.epoch_start(0, steps, 0)
    for n in range(1, steps + 1):
        reporter.train_step(step(n, loss=3.0 - n / 10))
    reporter.epoch_end(0, {})
    reporter.close()


def test_off_a_terminal_progress_is_log_lines() -> None:
    out = io.StringIO()
    with capture_logs() as logs:
        train_some(RichReporter(Console(file=out, width=80), progress_every=0), 3)
    lines = [e for e in logs if e["event"] == "train progress"]
    assert [(e["step"], e["batch"]) for e in lines] == [(1, 1), (2, 2), (3, 3), (3, 3)]
    first = lines[0]
    assert first["epoch"] == "1/1" and first["batches"] == 3 and first["total_steps"] == 6
    assert first["loss"] == 2.9 and first["frames_per_s"] == 12800 and first["eta_s"] >= 0
    text = out.getvalue()
    assert "━" not in text and "…" not in text  # no bar, nothing cut
    assert "progress: log lines on stderr every 0 s" in text
    assert "(1 game, 3,600 frames)" in text

    # every N seconds: the first step and the epoch's end
    with capture_logs() as logs:
        train_some(RichReporter(Console(file=io.StringIO(), width=80)), 50)
    assert [e["step"] for e in logs if e["event"] == "train progress"] == [1, 50]
    # quiet: none
    with capture_logs() as logs:
        train_some(RichReporter(Console(file=io.StringIO()), "quiet", progress_every=0), 3)
    assert logs == []


def test_on_a_terminal_the_bar_fits_its_width() -> None:
    for width in (80, 120):
        out = io.StringIO()
        console = Console(file=out, force_terminal=True, width=width, color_system=None)
        reporter = RichReporter(console, progress_every=0)
        with capture_logs() as logs:
            train_some(reporter, 1000)
        assert logs == []  # a bar, not log lines
        final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).split("\r")[-1]
        bar = next(line for line in final.splitlines() if "epoch 1/1" in line)
        assert "1000/1000" in bar and "frames/s" in bar and "ETA" in bar, bar
        assert len(bar) <= width and "…" not in bar, bar
        assert ("▁" in bar) == (width >= 120)  # the loss sparkline where there is room


def test_stage_progress_off_a_terminal() -> None:
    console = Console(file=io.StringIO())
    with capture_logs() as logs, StageProgress(console, "scoring A", every=60) as progress:
        for done in (1, 2, 3):
            progress("scan", done, 3)
        for done in (1, 2):  # a second pass of the same stage
            progress("scan", done, 2)
        for done in range(1, 101):
            progress("score", done, 100)
    seen = [(e["stage"], e["done"], e["total"]) for e in logs]
    # the first call, then each stage's end (60 s never passed)
    assert seen == [("scan", 1, 3), ("scan", 3, 3), ("scan", 2, 2), ("score", 100, 100)]
    assert all(e["task"] == "scoring A" and e["event"] == "progress" for e in logs)
