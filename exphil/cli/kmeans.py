"""``exphil kmeans``: fit stick-class centers on replay stick values.

Exit status: 0 when the centers were written; 2 for a usage error (no replays, a bad path, too
few distinct stick values for ``--k``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import numpy as np

__all__ = ["kmeans"]


@click.command()
@click.argument("paths", nargs=-1, type=str)
@click.option(
    "--k",
    default=21,
    show_default=True,
    type=click.IntRange(3, 253),
    help="Centers (odd: symmetric pairs plus an exact neutral).",
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file for the centers (ControllerConfig.from_centers_file reads it).",
)
@click.option(
    "--sticks",
    type=click.Choice(["both", "main", "c"]),
    default="both",
    show_default=True,
    help="Which sticks' values to fit on.",
)
@click.option("--max-files", type=click.IntRange(1), help="Use at most this many replays.")
@click.option("--seed", default=0, show_default=True, type=int)
def kmeans(
    paths: tuple[str, ...], k: int, output: Path, sticks: str, max_files: int | None, seed: int
) -> None:
    """Fit K stick centers (1-D k-means++) on the stick values of replays.

    PATHS are replay files, folders, globs or @lists (default: $EXPHIL_REPLAYS_DIR). Every
    1v1 replay that reads is used; both players' sticks, both axes. The center nearest 0
    becomes exactly 0 so a neutral stick stays representable.
    """
    from rich.console import Console

    from exphil.data import DiscoveryError, discover
    from exphil.embed import fit_stick_centers, save_stick_centers
    from exphil.game.peppi import ReplayError, read_game

    console = Console(highlight=False, stderr=True)
    if not paths:
        env = os.environ.get("EXPHIL_REPLAYS_DIR")
        if not env:
            raise click.UsageError("no replay paths given and EXPHIL_REPLAYS_DIR is not set")
        paths = (env,)
    if not output.parent.exists():
        raise click.BadParameter(f"folder {output.parent} does not exist", param_hint="--output")
    try:
        files = discover(paths)
    except DiscoveryError as exc:
        raise click.BadParameter(str(exc), param_hint="PATHS") from None
    if max_files is not None:
        files = files[:max_files]
    axes = {
        "both": ("main_x", "main_y", "c_x", "c_y"),
        "main": ("main_x", "main_y"),
        "c": ("c_x", "c_y"),
    }[sticks]
    values: list[np.ndarray] = []
    used = 0
    for path in files:
        try:
            _info, frames = read_game(path)
        except (ReplayError, ValueError):
            continue
        used += 1
        for player in frames.players:
            for axis in axes:
                values.append(getattr(player, axis))
    if not used:
        raise click.UsageError(f"none of the {len(files)} files is a readable 1v1 replay")
    data = np.concatenate(values)
    try:
        centers = fit_stick_centers(data, k, seed=seed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    save_stick_centers(
        output, centers, replays=used, samples=int(data.size), sticks=sticks, seed=seed
    )
    console.print(f"{k} centers from {used} replays ({data.size:,} stick values) -> {output}")
    click.echo(" ".join(f"{c:+.4f}" for c in centers))
