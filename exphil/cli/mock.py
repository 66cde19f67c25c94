"""``exphil mock``: look at the mock game.

``exphil mock watch`` plays one game between two players (scripted CPU levels, random or
idle controllers, or trained policies: see ``exphil.players``) on the mock environment,
draws it live in the terminal, and can save an animated GIF and a PNG strip of it. ``q``
(on a terminal) or Ctrl-C stops the game early; what was played is still reported and saved.
``exphil mock calibrate`` measures Melee's physics per character from replays next to the
mock's values (``exphil.envs.calibrate``; docs/mockenv.md, section 'Calibration').
Exit status: 0 when the game was played (or stopped), 2 for a usage error (an unknown player,
stage or path, a policy that cannot play this game).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from exphil.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable

    from exphil.players import PlayerSpec

__all__ = ["mock", "LEGEND", "POLICY_HINT"]

#: what the live view's glyphs mean (printed above it, with how to stop)
LEGEND = (
    "1> <1  a player and the way it faces   1* in hitstun   1| |1 hanging on a ledge   "
    "1+ invulnerable\n(1) shielding   {1} shining   1& &1 holding a grab   1@ held   1x dead   "
    "#  stage   =  platform   o  item   n  Nana"
)

#: where a refused policy file is explained (printed under the error)
POLICY_HINT = (
    "the mock plays fox and falco (--characters) on fd and bf (--stage); `exphil info POLICY` "
    "shows what a policy was trained on; see docs/rl.md, section 'The Agent'"
)

#: keys that stop the game (on a terminal)
QUIT_KEYS = frozenset("qQ")


@click.group()
def mock() -> None:
    """The mock Melee environment (no Dolphin needed)."""


@mock.command()
@click.option(
    "--p1",
    "p1",
    default="cpu:9",
    show_default=True,
    help="Port 1: cpu:0..9, random, noop, or a policy file.",
)
@click.option(
    "--p2",
    "p2",
    default="cpu:5",
    show_default=True,
    help="Port 2: cpu:0..9, random, noop, or a policy file.",
)
@click.option(
    "--stage", default="fd", show_default=True, help="fd (Final Destination) or bf (Battlefield)."
)
@click.option(
    "--characters",
    default="fox,fox",
    show_default=True,
    help="Port 1's and port 2's characters (fox or falco), comma-separated.",
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
    characters: str,
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
      exphil mock watch --p1 checkpoints/RUN/best.safetensors --p2 cpu:5
      exphil mock watch --no-live --speed 0 --gif game.gif --png strip.png
    """
    from rich.console import Console

    from exphil.envs import MockConfig, MockEnv
    from exphil.envs.render import LiveView, TerminalKeys, save_gif, save_strip
    from exphil.game import concat_frames
    from exphil.players import make_player, parse_player

    spec1, spec2 = _player_spec(p1, parse_player), _player_spec(p2, parse_player)
    for path in (gif, png):
        if path is not None and not path.parent.exists():
            raise click.BadParameter(
                f"folder {path.parent} does not exist", param_hint="--gif/--png"
            )
    try:
        given = tuple(c.strip() for c in characters.split(","))
        if len(given) != 2:
            raise ValueError(f"--characters takes two names, e.g. fox,falco; got {characters!r}")
        config = MockConfig(
            stage=stage,
            characters=(given[0], given[1]),
            stocks=stocks,
            time_limit=max(1, round(minutes * 3600)),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--stage/--characters") from None
    console = Console(highlight=False)
    env = MockEnv(1, config)
    chars = config.character_ids
    try:
        players = (
            make_player(spec1, 1, 0, seed=seed, character=chars[0], stage=config.stage_id),
            make_player(spec2, 1, 1, seed=seed + 1, character=chars[1], stage=config.stage_id),
        )
    except UserError as exc:  # a policy that cannot play this game
        exc.hint = exc.hint or POLICY_HINT
        raise
    frames = env.reset()
    record = [frames]
    keep = gif is not None or png is not None
    view = LiveView(console=console) if not no_live else None
    result = None
    start = time.perf_counter()
    n = 0
    with TerminalKeys() if view is not None else contextlib.nullcontext() as keys:
        if view is not None:
            stop = "q or Ctrl-C stops" if keys is not None and keys.active else "Ctrl-C stops"
            console.print(f"{LEGEND}   ({stop})", markup=False)
            view.start()
        try:
            while result is None and (max_frames is None or n < max_frames):
                if keys is not None and QUIT_KEYS.intersection(keys.read()):
                    console.print("stopped (q)")
                    break
                step = env.step(players[0].act(frames), players[1].act(frames))
                n += 1
                for pl in players:
                    pl.end_games(step.done)
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

    names = (f"P1 ({spec1.label})", f"P2 ({spec2.label})")  # a policy's label is its path
    if result is not None:
        who = "a draw" if result.winner < 0 else f"{names[result.winner]} wins"
        console.print(
            f"{who} by {result.reason} after {result.frames / 60:.1f} s: stocks "
            f"{result.stocks[0]}-{result.stocks[1]}, percent {result.percent[0]:.0f}%"
            f"-{result.percent[1]:.0f}%",
            markup=False,
            soft_wrap=True,
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
            console.print(f"saved {gif} ({len(rows)} frames)", markup=False, soft_wrap=True)
        if png is not None:
            count = min(strip, len(game))
            rows = np.linspace(0, len(game) - 1, count).round().astype(int).tolist()
            save_strip(game, rows, png, view="follow")
            console.print(f"saved {png} ({count} frames)", markup=False, soft_wrap=True)


def _player_spec(text: str, parse: Callable[[str], PlayerSpec]) -> PlayerSpec:
    """``parse(text)``; a policy file that cannot be read gets :data:`POLICY_HINT`."""
    try:
        return parse(text)
    except UserError as exc:
        if Path(text).expanduser().exists():
            exc.hint = exc.hint or POLICY_HINT
        raise


# --- exphil mock calibrate ------------------------------------------------------------------
def _scan_options() -> Callable[[Callable[..., None]], Callable[..., None]]:
    from exphil.cli.replays import scan_options

    return scan_options(exclude=frozenset({"quick", "all_modes", "characters"}))


@mock.command()
@_scan_options()
@click.option(
    "--character",
    "-c",
    "characters",
    default="fox,falco",
    show_default=True,
    help="Characters to measure (names or aliases, comma-separated); games with none are skipped.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
@click.option(
    "--max-files",
    type=click.IntRange(1),
    help="Use at most this many games (the first selected, in path order).",
)
def calibrate(
    characters: str,
    as_json: bool,
    max_files: int | None,
    show_errors: bool,
    no_cache: bool,
    cache_dir: Path | None,
    **scan_kw: Any,
) -> None:
    """Measure Melee's physics per character from replays, next to the mock's values.

    PATHS are replay files, folders, globs or @lists (default: $EXPHIL_REPLAYS_DIR), read as
    `exphil replays scan` reads them (1v1 games, copies once, broken files listed by cause).
    Per character: gravity, terminal and fast-fall speeds, jump squat, full/short-hop and
    double-jump velocities, apex heights, air drift limit, dash and run speeds, landing lag
    (median, IQR, samples), Melee's published value, the mock's value and mock/measured; and
    the damage of its most frequent hitting actions. See docs/mockenv.md, section
    'Calibration'. Exit status: 0 when measured, 1 with --fail-fast on a broken file, 2 for a
    usage error (a bad path, an unknown character, no readable game with those characters).
    """
    import sys
    import tempfile

    import msgspec
    from rich.console import Console

    from exphil.cli.replays import print_breakdown, run_selection
    from exphil.data import GameCache, scan
    from exphil.envs.calibrate import Collector
    from exphil.game.ids import character

    names = [c.strip() for c in characters.split(",") if c.strip()]
    if not names:
        raise click.BadParameter("name at least one character", param_hint="--character")
    try:
        chars = list(dict.fromkeys(character(n) for n in names))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--character") from None
    out = Console(highlight=False, soft_wrap=True)
    if not out.is_terminal:  # a pipe or a file: room for the table's columns
        out.width = max(out.width, 120)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    report = err if as_json else out
    with contextlib.ExitStack() as stack:
        if no_cache:  # the frames still come through a cache: a private one, removed after
            cache_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="exphil-")))
        run = run_selection(
            cache_dir=cache_dir,
            max_games=max_files,
            characters=names,
            progress_label="reading replays",
            **scan_kw,
        )
        sel = run.selection
        kept = [r for r in sel.kept if r.key is not None]
        collector = Collector(chars)
        lost: list[str] = []
        t0 = time.perf_counter()
        last = t0
        with GameCache(cache_dir) as cache:
            for i, r in enumerate(kept, 1):
                assert r.key is not None
                game = cache.load(r.key, path=r.path)
                if game is None:  # removed since the scan (exphil cache clean): parse again
                    scan([r.path], cache=cache, jobs=scan_kw.get("jobs"))
                    game = cache.load(r.key, path=r.path)
                if game is None:
                    lost.append(r.path)
                    continue
                collector.add(game.frames)
                now = time.perf_counter()
                if now - last >= 2.0:
                    print(f"calibrate: measured {i}/{len(kept)} games", file=sys.stderr)
                    last = now
        result = collector.result()
        seconds = time.perf_counter() - t0
        broken = sum(len(v) for v in sel.errors.values())
        report.print(
            f"{sel.files} files: {collector.games} games measured ({sel.frames:,} frames), "
            f"{broken} broken, {sum(sel.rejected.values())} filtered out, "
            f"{len(sel.duplicates)} duplicates ({run.seconds:.1f} s reading, {seconds:.1f} s "
            "measuring)",
            markup=False,
        )
        print_breakdown(report, run, show_errors)
        if lost:
            report.print(
                f"  {len(lost)} selected games could not be read back from the cache: "
                + ", ".join(lost),
                markup=False,
            )
        if run.failed_fast:
            report.print("stopped at the first broken file (--fail-fast)")
            raise SystemExit(1)
        if not result.characters:
            raise UserError(
                f"none of the {sel.files} files is a readable 1v1 replay with "
                f"{', '.join(names)} (see above; exphil replays scan PATHS lists each file)"
            )
    if as_json:
        doc = result.to_json()
        doc["files"] = sel.files
        doc["broken"] = broken
        doc["seconds"] = round(run.seconds + seconds, 3)
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
        return
    _print_calibration(out, result)


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "-"
    return f"{v:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{v:.0f}"


def _print_calibration(out: Any, result: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    for ch in result.characters:
        doc = ch.to_json()
        table = Table(
            title=f"{escape(doc['character'])}: {doc['games']} games, {doc['frames']:,} frames",
            title_justify="left",
        )
        for col in ("quantity", "measured (median)", "IQR", "mode", "samples", "published", "mock"):
            table.add_column(col, justify="left" if col == "quantity" else "right")
        table.add_column("mock/measured", justify="right")
        for key, row in doc["quantities"].items():
            ratio = row["mock_over_measured"]
            off = ratio is not None and abs(ratio - 1) > 0.1
            table.add_row(
                escape(f"{row['label']} ({row['unit']})"),
                _fmt(row["median"]),
                _fmt(row["iqr"]),
                _fmt(row["mode"]),
                str(row["samples"]),
                _fmt(row["published"]),
                _fmt(row["mock"]),
                ("[red]" if off else "") + _fmt(ratio, 2) + ("[/]" if off else ""),
            )
            del key
        out.print(table)
        if doc["damage"]:
            dmg = Table(title="damage dealt per action (most frequent)", title_justify="left")
            for col in ("action", "id", "hits", "median damage (%)"):
                dmg.add_column(col, justify="left" if col == "action" else "right")
            for d in doc["damage"]:
                dmg.add_row(
                    escape(d["name"]),
                    f"0x{d['action']:X}",
                    str(d["hits"]),
                    _fmt(d["median_damage"], 2),
                )
            out.print(dmg)
    out.print(
        "published: Melee's values where a source is known (see exphil/envs/calibrate.py); "
        "mock: the mock itself, measured on scripted jumps, dashes and falls "
        "(its tables: exphil/envs/_characters.py); red: the mock is more than 10% off"
    )
