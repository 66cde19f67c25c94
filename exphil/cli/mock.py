"""``exphil mock``: look at the mock game.

``exphil mock watch`` plays one game between two players (scripted CPU levels, or random
controllers) on the mock environment, draws it live in the terminal, and can save an
animated GIF and a PNG strip of it. Exit status: 0 when the game was played, 2 for a usage
error (an unknown player, stage or path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

__all__ = ["mock"]


@dataclass(frozen=True)
class PlayerSpec:
    kind: str  # "cpu" or "random"
    level: int = 0

    @property
    def label(self) -> str:
        return f"CPU level {self.level}" if self.kind == "cpu" else "random controller"


def parse_player(text: str) -> PlayerSpec:
    """``cpu:LEVEL`` (0-9), ``cpuLEVEL``, a bare level, or ``random``."""
    t = text.strip().lower()
    if t == "random":
        return PlayerSpec("random")
    digits = t.removeprefix("cpu").lstrip(":")
    if digits.isdigit() and 0 <= int(digits) <= 9:
        return PlayerSpec("cpu", int(digits))
    raise click.BadParameter(
        f"{text!r} is not a player: use cpu:0 .. cpu:9 or random "
        "(trained policies join once checkpoints exist: see README, 'Policies')"
    )


class _RandomPlayer:
    """Uniform sticks and a few random button presses per second, seeded."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, frames: Any, port: int) -> Any:
        from exphil.envs import Controls

        r = self.rng
        n = len(frames)
        f32 = np.float32
        buttons = (r.integers(0, 256, n) * (r.random(n) < 0.08)).astype(np.uint8)
        return Controls(
            r.uniform(-1, 1, n).astype(f32),
            r.uniform(-1, 1, n).astype(f32),
            (r.uniform(-1, 1, n) * (r.random(n) < 0.05)).astype(f32),
            np.zeros(n, f32),
            np.zeros(n, f32),
            buttons,
        )


def _make_player(spec: PlayerSpec, seed: int) -> Any:
    from exphil.envs.cpu import ScriptedCpu

    if spec.kind == "cpu":
        return ScriptedCpu(spec.level, 1, seed=seed)
    return _RandomPlayer(seed)


@click.group()
def mock() -> None:
    """The mock Melee environment (no Dolphin needed)."""


@mock.command()
@click.option(
    "--p1", "p1", default="cpu:9", show_default=True, help="Port 1: cpu:0..cpu:9 or random."
)
@click.option(
    "--p2", "p2", default="cpu:5", show_default=True, help="Port 2: cpu:0..cpu:9 or random."
)
@click.option(
    "--stage", default="fd", show_default=True, help="fd (Final Destination) or bf (Battlefield)."
)
@click.option("--stocks", default=4, show_default=True, type=click.IntRange(1, 99))
@click.option(
    "--minutes", default=8.0, show_default=True, type=click.FloatRange(0.01, 60), help="Game timer."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds both players.")
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0, 100.0),
    help="Playback speed (1 = 60 frames/s, 0 = as fast as possible).",
)
@click.option("--no-live", is_flag=True, help="Do not draw in the terminal (just play and save).")
@click.option(
    "--gif",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the game as an animated GIF.",
)
@click.option(
    "--png", type=click.Path(dir_okay=False, path_type=Path), help="Save a PNG strip of the game."
)
@click.option(
    "--every",
    default=2,
    show_default=True,
    type=click.IntRange(1, 600),
    help="Keep every Nth frame in the GIF.",
)
@click.option(
    "--strip",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Frames in the PNG strip.",
)
@click.option("--max-frames", type=click.IntRange(1), help="Stop after this many frames.")
def watch(
    p1: str,
    p2: str,
    stage: str,
    stocks: int,
    minutes: float,
    seed: int,
    speed: float,
    no_live: bool,
    gif: Path | None,
    png: Path | None,
    every: int,
    strip: int,
    max_frames: int | None,
) -> None:
    """Play one mock game between two players and watch it.

    \b
    Examples:
      exphil mock watch                          # CPU 9 against CPU 5, live
      exphil mock watch --p1 cpu:3 --p2 random --stage bf
      exphil mock watch --no-live --speed 0 --gif game.gif --png strip.png
    """
    from rich.console import Console

    from exphil.envs import MockConfig, MockEnv
    from exphil.envs.render import LiveView, save_gif, save_strip
    from exphil.game import concat_frames

    spec1, spec2 = parse_player(p1), parse_player(p2)
    for path in (gif, png):
        if path is not None and not path.parent.exists():
            raise click.BadParameter(
                f"folder {path.parent} does not exist", param_hint="--gif/--png"
            )
    try:
        config = MockConfig(stage=stage, stocks=stocks, time_limit=max(1, round(minutes * 3600)))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stage") from None
    console = Console(highlight=False)
    env = MockEnv(1, config)
    players = (_make_player(spec1, seed), _make_player(spec2, seed + 1))
    frames = env.reset()
    record = [frames]
    keep = gif is not None or png is not None
    view = LiveView(console=console) if not no_live else None
    if view is not None:
        view.start()
    result = None
    start = time.perf_counter()
    n = 0
    try:
        while result is None and (max_frames is None or n < max_frames):
            step = env.step(players[0].act(frames, 0), players[1].act(frames, 1))
            n += 1
            if step.results:
                result = step.results[0]
                assert step.final_frames is not None
                frames = step.final_frames
            else:
                frames = step.frames
            if keep:
                record.append(frames)
            if view is not None:
                view.update(frames, 0, force=result is not None)
            if speed > 0:
                wait = start + n / (60.0 * speed) - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        if view is not None:
            view.stop()

    names = (f"P1 ({spec1.label})", f"P2 ({spec2.label})")
    if result is not None:
        who = "a draw" if result.winner < 0 else f"{names[result.winner]} wins"
        console.print(
            f"{who} by {result.reason} after {result.frames / 60:.1f} s: stocks "
            f"{result.stocks[0]}-{result.stocks[1]}, percent {result.percent[0]:.0f}%"
            f"-{result.percent[1]:.0f}%"
        )
    else:
        p = frames.players
        console.print(
            f"stopped after {n} frames: stocks {p[0].stocks[0]}-{p[1].stocks[0]}, percent "
            f"{p[0].percent[0]:.0f}%-{p[1].percent[0]:.0f}%"
        )
    if keep:
        game = concat_frames(record)
        if gif is not None:
            rows = list(range(0, len(game), every))
            save_gif(game, rows, gif, fps=60.0 / every, view="follow", scale=0.75)
            console.print(f"saved {gif} ({len(rows)} frames)")
        if png is not None:
            count = min(strip, len(game))
            rows = np.linspace(0, len(game) - 1, count).round().astype(int).tolist()
            save_strip(game, rows, png, view="follow")
            console.print(f"saved {png} ({count} frames)")
