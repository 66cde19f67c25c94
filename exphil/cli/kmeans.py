"""``exphil kmeans``: fit stick-class centers on replay stick values.

The replays are read as ``exphil replays scan`` reads them (:func:`exphil.cli.replays
.run_selection`): parsed in the contained parser pool (a file the parser panics on costs that
file, and no Rust text reaches the terminal), cached, filtered (1v1 games; ``-c``, ``-s``...)
and copies of one game dropped. The sticks then come from the parsed-game cache.

The file it writes feeds ``train-bc`` through the config field
``policy.controller.stick_centers``, which takes the file's path:
``exphil train-bc --set policy.controller.stick_centers=sticks.json`` (or the same field in a
``--config`` file); the centers themselves are stored in the run's config and the policy.

Exit status: 0 when the centers were written; 1 with ``--fail-fast`` when a file could not be
read; 2 for a usage error (no replays, a bad path, too few distinct stick values for ``--k``).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from exphil.cli.replays import load_kept, print_breakdown, run_selection, scan_options
from exphil.errors import UserError

__all__ = ["kmeans"]

_AXES = {
    "both": ("main_x", "main_y", "c_x", "c_y"),
    "main": ("main_x", "main_y"),
    "c": ("c_x", "c_y"),
}


@click.command()
@scan_options(exclude=frozenset({"quick", "all_modes"}))
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
    help="JSON file for the centers (train-bc: --set policy.controller.stick_centers=FILE).",
)
@click.option(
    "--sticks",
    type=click.Choice(["both", "main", "c"]),
    default="both",
    show_default=True,
    help="Which sticks' values to fit on.",
)
@click.option(
    "--max-files",
    type=click.IntRange(1),
    help="Use at most this many games (the first selected, in path order).",
)
@click.option("--seed", default=0, show_default=True, type=int)
def kmeans(
    k: int,
    output: Path,
    sticks: str,
    max_files: int | None,
    seed: int,
    show_errors: bool,
    no_cache: bool,
    cache_dir: Path | None,
    **scan_kw: Any,
) -> None:
    """Fit K stick centers (1-D k-means++) on the stick values of replays.

    PATHS are replay files, folders, globs or @lists (default: $EXPHIL_REPLAYS_DIR). Replays
    are read as `exphil replays scan` reads them: 1v1 games only, copies of one game once,
    broken files skipped and listed by cause. Both players' sticks, both axes. The center
    nearest 0 becomes exactly 0 so a neutral stick stays representable. With --no-cache the
    parsed games go to a temporary cache, removed at the end.

    Train with the centers: exphil train-bc --set policy.controller.stick_centers=FILE (or
    policy: {controller: {stick_centers: FILE}} in a --config file).
    """
    from rich.console import Console

    from exphil.embed import fit_stick_centers, save_stick_centers

    out = Console(highlight=False, soft_wrap=True)
    if not output.parent.is_dir():
        raise click.BadParameter(f"folder {output.parent} does not exist", param_hint="--output")
    with contextlib.ExitStack() as stack:
        if no_cache:  # the frames still come through a cache: a private one, removed after
            cache_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="exphil-")))
        run = run_selection(
            cache_dir=cache_dir, max_games=max_files, progress_label="reading replays", **scan_kw
        )
        sel = run.selection
        axes = _AXES[sticks]
        games, lost = load_kept(run, cache_dir, scan_kw.get("jobs"))
        values = [
            np.array(getattr(player, axis), dtype=np.float32)  # a copy
            for game in games
            for player in game.frames.players
            for axis in axes
        ]
        used = len(games)
        _report(out, run, used, show_errors)
        if lost:
            out.print(
                f"  {len(lost)} selected games could not be read back from the cache: "
                + ", ".join(lost),
                markup=False,
            )
        if run.failed_fast:
            out.print("stopped at the first broken file (--fail-fast); nothing written")
            raise SystemExit(1)
        if not used:
            raise UserError(
                f"none of the {sel.files} files is a readable 1v1 replay "
                "(see above; exphil replays scan PATHS lists each file)"
            )
        data = np.concatenate(values)
        try:
            centers = fit_stick_centers(data, k, seed=seed)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        save_stick_centers(
            output, centers, replays=used, samples=int(data.size), sticks=sticks, seed=seed
        )
    out.print(
        f"{k} centers from {used} replays ({data.size:,} stick values) -> {output}",
        markup=False,
    )
    click.echo(" ".join(f"{c:+.4f}" for c in centers))
    out.print(
        f"train with them: exphil train-bc --set policy.controller.stick_centers={output}",
        markup=False,
    )


def _report(out: Any, run: Any, used: int, show_errors: bool) -> None:
    sel = run.selection
    broken = sum(len(v) for v in sel.errors.values())
    unread = f", {sel.unread} not read (--max-files reached)" if sel.unread else ""
    out.print(
        f"{sel.files} files: {used} games used ({sel.frames:,} frames), {broken} broken, "
        f"{sum(sel.rejected.values())} filtered out, {len(sel.duplicates)} duplicates{unread}",
        markup=False,
    )
    print_breakdown(out, run, show_errors)
