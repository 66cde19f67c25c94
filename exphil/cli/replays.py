"""``exphil replays``: scan, check and describe a folder of replays.

Exit status of ``scan`` and ``stats``: 0 when the run completed (broken files are reported,
not fatal); 1 with ``--fail-fast`` when a file could not be read (the scan stops there); 2 for
a usage error (a path that names nothing, an unknown character or stage name).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click
import msgspec

if TYPE_CHECKING:
    from exphil.data import Selection

__all__ = [
    "replays",
    "scan_options",
    "run_selection",
    "discover_paths",
    "ScanRun",
    "ScanProgress",
    "print_breakdown",
    "game_length",
]

F = TypeVar("F", bound=Callable[..., Any])

_CAUSE_HELP = {
    "not_found": "the file does not exist",
    "unreadable": "the file cannot be read",
    "empty": "the file is empty",
    "not_slp": "not a Slippi replay",
    "truncated": "the file ends early (copy interrupted, or the game still recording)",
    "corrupt": "corrupt event data",
    "unsupported": "a game end method or placement peppi-py does not support "
    "(single-player modes, newer Slippi)",
    "panic": "the parser (peppi) panicked on this file",
    "parse": "another parser error",
    "timeout": "parsing took too long and was stopped",
    "crash": "the parser process died",
    "internal": "an ExPhil bug: please report it with the file",
}


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def scan_options(*, exclude: frozenset[str] = frozenset()) -> Callable[[F], F]:
    """The scan options (``--cache-dir``, ``--jobs``, the filters...), less those named in
    ``exclude`` (by parameter name); ``exphil kmeans`` shares them."""

    def decorate(func: F) -> F:
        for opt in reversed([o for name, o in _OPTIONS if name not in exclude]):
            func = opt(func)
        return func

    return decorate


_OPTIONS: list[tuple[str, Callable[[Any], Any]]] = [
    (
        "paths",
        click.argument("paths", nargs=-1, type=str),
    ),
    (
        "quick",
        click.option(
            "--quick",
            is_flag=True,
            help="Read headers only (fast; cannot find damage past the header, no quality).",
        ),
    ),
    (
        "cache_dir",
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="EXPHIL_CACHE_DIR",
            help="Parsed-game cache [env EXPHIL_CACHE_DIR; default ~/.cache/exphil].",
        ),
    ),
    (
        "no_cache",
        click.option("--no-cache", is_flag=True, help="Neither read nor fill the cache."),
    ),
    (
        "jobs",
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=0),
            default=None,
            help="Parser processes (default: one per CPU; 0 parses in this process).",
        ),
    ),
    (
        "timeout",
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=60.0,
            show_default=True,
            help="Seconds one file may take before its parser is stopped.",
        ),
    ),
    (
        "skip_errors",
        click.option(
            "--skip-errors/--fail-fast",
            default=True,
            help="Report broken files and go on (default), or stop at the first one (exit 1).",
        ),
    ),
    (
        "show_errors",
        click.option(
            "--show-errors/--hide-errors",
            default=True,
            help="List each broken file with its reason (default), or only the counts.",
        ),
    ),
    (
        "error_log",
        click.option(
            "--error-log",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write one JSON line per broken file (path, cause, detail) to FILE.",
        ),
    ),
    (
        "characters",
        click.option(
            "--character",
            "-c",
            "characters",
            multiple=True,
            help="Keep games with this character (name or alias: fox, puff, ics...). Repeatable.",
        ),
    ),
    (
        "stages",
        click.option(
            "--stage",
            "-s",
            "stages",
            multiple=True,
            help="Keep games on this stage (name or alias: fd, bf, ys, dl, fod, ps). Repeatable.",
        ),
    ),
    (
        "min_frames",
        click.option(
            "--min-frames", type=click.IntRange(min=0), default=0, help="Minimum game length."
        ),
    ),
    (
        "human_only",
        click.option("--human-only", is_flag=True, help="Drop games with a CPU player."),
    ),
    (
        "all_modes",
        click.option(
            "--all-modes",
            is_flag=True,
            help="Keep doubles, free-for-all and single-player games (default: 1v1 only).",
        ),
    ),
    (
        "min_quality",
        click.option(
            "--min-quality",
            type=click.FloatRange(0, 100),
            default=None,
            help="Minimum quality score (0-100; see docs/replays.md).",
        ),
    ),
    (
        "keep_duplicates",
        click.option("--keep-duplicates", is_flag=True, help="Keep copies of the same game."),
    ),
]


class ScanProgress:
    """Progress of a scan on stderr: a bar on a terminal; otherwise a log line (``scan
    progress``: files done, total, broken so far; plain or JSON, as the logs are) every
    ``every`` seconds, and one at the end when any was printed. ``advance`` takes each
    result (``scan``'s ``on_result``)."""

    def __init__(
        self,
        total: int,
        *,
        label: str = "scanning",
        every: float = 5.0,
        terminal: bool | None = None,
    ) -> None:
        self.total = total
        self.label = label
        self.every = every
        self.done = 0
        self.errors = 0
        self._terminal = sys.stderr.isatty() if terminal is None else terminal
        self._bar: Any = None
        self._task: Any = None
        self._t0 = time.monotonic()
        self._last = self._t0
        self._logged = False

    def __enter__(self) -> ScanProgress:
        if self._terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(self.label, markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[errors]} broken"),
                TimeRemainingColumn(),
                console=_console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("scan", total=self.total, errors=0)
        return self

    def advance(self, r: Any) -> None:
        self.done += 1
        if r.error is not None:
            self.errors += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, errors=self.errors)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._log()

    def _log(self) -> None:
        import structlog

        elapsed = time.monotonic() - self._t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        structlog.get_logger("exphil.replays").info(
            "scan progress",
            task=self.label,
            done=self.done,
            total=self.total,
            broken=self.errors,
            files_per_s=round(rate, 1),
            eta_s=round(left, 1) if left is not None else None,
        )
        self._logged = True

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._logged:
            self._log()


@dataclasses.dataclass(frozen=True, slots=True)
class ScanRun:
    """A finished selection and how it went."""

    selection: Selection
    quick: bool
    seconds: float
    cache_stats: dict[str, Any] | None

    @property
    def failed_fast(self) -> bool:
        return self.selection.stopped


def discover_paths(paths: Sequence[str]) -> list[Path]:
    """The replay files of ``paths`` (else ``$EXPHIL_REPLAYS_DIR``); usage errors name the
    path."""
    from exphil.data import DiscoveryError, discover

    if not paths:
        env = os.environ.get("EXPHIL_REPLAYS_DIR")
        if not env:
            raise click.UsageError(
                "no replay paths given (pass directories, files or globs, or set "
                "EXPHIL_REPLAYS_DIR)"
            )
        paths = [env]
    try:
        return discover(paths)
    except DiscoveryError as exc:
        raise click.UsageError(str(exc)) from exc


def run_selection(
    paths: Sequence[str],
    *,
    quick: bool = False,
    cache_dir: Path | None = None,
    no_cache: bool = False,
    jobs: int | None = None,
    timeout: float = 60.0,
    skip_errors: bool = True,
    error_log: Path | None = None,
    characters: Sequence[str] = (),
    stages: Sequence[str] = (),
    min_frames: int = 0,
    human_only: bool = False,
    all_modes: bool = False,
    min_quality: float | None = None,
    keep_duplicates: bool = False,
    max_games: int | None = None,
    progress_label: str = "scanning",
) -> ScanRun:
    """The scan options -> a :class:`ScanRun` (``exphil replays scan|stats``, ``exphil
    kmeans``): files found, scanned in the contained parser pool (cached unless
    ``no_cache``), filtered, copies dropped; broken files written to ``error_log``."""
    from exphil.data import GameCache, ReplayFilter, select_games

    if quick and min_quality is not None:
        raise click.UsageError("--min-quality needs a full scan: drop --quick")
    try:
        filt = ReplayFilter.from_names(
            characters,
            stages,
            min_frames=min_frames,
            human_only=human_only,
            one_v_one=not all_modes,
            min_quality=min_quality,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    files = discover_paths(paths)

    cache = None if no_cache or quick else GameCache(cache_dir)
    log: IO[str] | None = None
    if error_log is not None:
        try:
            log = open(error_log, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise click.BadParameter(
                f"cannot write {error_log}: {exc.strerror}", param_hint="--error-log"
            ) from exc
    t0 = time.perf_counter()
    try:
        with ScanProgress(len(files), label=progress_label) as bar:

            def on_result(r: Any) -> None:
                if r.error is not None and log is not None:
                    entry = {"path": r.path, "cause": r.error.cause, "detail": r.error.detail}
                    log.write(msgspec.json.encode(entry).decode() + "\n")
                    log.flush()
                bar.advance(r)

            selection = select_games(
                files,
                filt,
                deep=not quick,
                cache=cache,
                jobs=jobs,
                timeout=timeout,
                keep_duplicates=keep_duplicates,
                max_games=max_games,
                on_result=on_result,
                stop=None if skip_errors else (lambda r: r.error is not None),
            )
    finally:
        if log is not None:
            log.close()
        if cache is not None:
            cache.close()
    return ScanRun(
        selection=selection,
        quick=quick,
        seconds=time.perf_counter() - t0,
        cache_stats=cache.statistics() if cache is not None else None,
    )


def load_kept(
    run: ScanRun, cache_dir: Path | None, jobs: int | None = None
) -> tuple[list[Any], list[str]]:
    """The parsed games (``CachedGame``) a selection kept, read back from the cache it was
    scanned into (a game removed since is parsed again), and the paths that could not be."""
    from exphil.data import GameCache, scan

    games: list[Any] = []
    lost: list[str] = []
    with GameCache(cache_dir) as cache:
        for r in run.selection.kept:
            if r.key is None:
                continue
            game = cache.load(r.key, path=r.path)
            if game is None:  # removed since the scan (exphil cache clean): parse again
                scan([r.path], cache=cache, jobs=jobs)
                game = cache.load(r.key, path=r.path)
            if game is None:
                lost.append(r.path)
            else:
                games.append(game)
    return games, lost


def _summary(run: ScanRun) -> dict[str, Any]:
    sel = run.selection
    errors = sel.errors
    return {
        "files": sel.files,
        "scanned": len(sel.results),
        "quick": run.quick,
        "readable": sum(1 for r in sel.results if r.error is None),
        "errors": sum(len(v) for v in errors.values()),
        "errors_by_cause": {k: len(v) for k, v in errors.items()},
        "rejected_by_filter": dict(sel.rejected),
        "rejected_modes": dict(sel.modes),
        "duplicates": len(sel.duplicates),
        "selected": len(sel.kept),
        "selected_frames": sel.frames,
        "from_cache": sum(1 for r in sel.results if r.cached),
        "seconds": round(run.seconds, 3),
        "stopped_early": run.failed_fast,
    }


@click.group()
def replays() -> None:
    """Scan, check and describe replay folders (.slp).

    PATHS are directories (searched recursively), files, glob patterns ('**/*.slp') or @LIST
    files with one path per line; with none, $EXPHIL_REPLAYS_DIR. Parsed games are cached
    (content-addressed) so training and later scans reuse them.
    """


@replays.command("scan")
@scan_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
@click.option("--list", "list_games", is_flag=True, help="List the selected games.")
def scan_cmd(as_json: bool, list_games: bool, show_errors: bool, **kw: Any) -> None:
    """Read every replay: metadata, quality and a specific reason for each broken file.

    A broken file gets the same cause with and without --quick; --quick reads headers only,
    so a file whose frames are damaged (truncated, corrupt, a parser panic) reads as fine
    there. Exit status: 0 when the scan completed (broken files are reported, not fatal), 1
    with --fail-fast when a file could not be read, 2 for a usage error.
    """
    run = run_selection(**kw)
    summary = _summary(run)
    if as_json:
        _print_json(run, summary)
    else:
        _print_scan(run, summary, show_errors, list_games)
    if run.failed_fast:
        sys.exit(1)


def _print_json(run: ScanRun, summary: dict[str, Any]) -> None:
    from exphil.data import ScanResult

    sel = run.selection
    kept = {r.path for r in sel.kept}
    dupes = {d.path: d for d in sel.duplicates}
    files: list[dict[str, Any]] = []
    for r in sel.results:
        assert isinstance(r, ScanResult)
        entry = msgspec.to_builtins(r)
        if r.error is not None:
            status = "error"
        elif r.path in kept:
            status = "selected"
        elif r.path in dupes:
            status = "duplicate"
            entry["duplicate_of"] = dupes[r.path].original
            entry["duplicate_reason"] = dupes[r.path].reason
        else:
            status = "filtered"
        entry["status"] = status
        entry.pop("seconds", None)
        files.append(entry)
    doc = {"summary": summary, "files": files}
    sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")


#: what a quick scan cannot see, said under its counts
QUICK_NOTE = (
    "--quick read headers only: a file whose frames are damaged (truncated, corrupt, a parser "
    "panic) counts as readable here; a full scan (without --quick) finds those. Broken "
    "files found here have the same cause in a full scan."
)


def print_breakdown(out: Any, run: ScanRun, show_errors: bool, indent: str = "  ") -> None:
    """The broken files by cause (each file with its reason when ``show_errors``), the files
    filtered out by rule (modes named) and the copies dropped. Paths print without markup."""
    from rich.text import Text

    from exphil.data import describe_rejections

    sel = run.selection
    errors = sel.errors
    if errors:
        details = {r.path: r.error for r in sel.results if r.error is not None}
        for cause, paths in errors.items():
            out.print(
                Text(indent)
                + Text(cause, style="red")
                + Text(f" ({len(paths)}): {_CAUSE_HELP.get(cause, cause)}")
            )
            if show_errors:
                for p in paths:
                    out.print(f"{indent}  {p}: {details[p].detail}", markup=False)
    if sel.rejected:
        out.print(f"filtered out: {describe_rejections(sel.rejected, sel.modes)}", markup=False)
    if sel.duplicates:
        out.print(f"duplicates skipped: {len(sel.duplicates)}")
        if show_errors:
            for d in sel.duplicates:
                out.print(f"{indent}  {d.path} = {d.original} (same {d.reason})", markup=False)


def game_length(frames: int) -> str:
    """``m:ss`` at 60 frames/s (``?`` for 0: a quick scan of a replay without the frame count
    in its metadata)."""
    if frames <= 0:
        return "?"
    seconds = round(frames / 60)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _print_scan(run: ScanRun, summary: dict[str, Any], show_errors: bool, list_games: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    out = _console()
    s = summary
    cached = f", {s['from_cache']} from the cache" if not run.quick else ", headers only"
    out.print(
        f"[bold]{s['files']}[/] files: [green]{s['readable']} readable[/], "
        f"[red]{s['errors']} broken[/] ({s['seconds']:.2f} s{cached})"
    )
    print_breakdown(out, run, show_errors)
    hours = s["selected_frames"] / 60 / 3600
    out.print(
        f"[bold]{s['selected']} games selected[/] ({s['selected_frames']} frames, {hours:.2f} h)"
    )
    if run.quick:
        out.print(QUICK_NOTE, style="dim")
    if list_games and run.selection.kept:
        table = Table(box=None)
        table.add_column("file", overflow="fold")
        table.add_column("stage")
        table.add_column("players")
        table.add_column("length (m:ss)", justify="right")
        table.add_column("quality", justify="right")
        for r in run.selection.kept:
            info = r.info
            assert info is not None  # selected games are readable
            players = " vs ".join(
                (p.character.display_name if p.character is not None else "?")
                + (" (CPU)" if p.type == "cpu" else "")
                for p in info.players
            )
            table.add_row(
                Text(os.path.basename(r.path)),  # user text: never markup
                info.stage.display_name if info.stage is not None else "?",
                players,
                game_length(info.frames),
                f"{r.quality.score:.0f}" if r.quality else "-",
            )
        out.print(table)
    if run.failed_fast:
        out.print("[red]stopped at the first broken file (--fail-fast)[/]")


@replays.command("stats")
@scan_options()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
def stats_cmd(as_json: bool, show_errors: bool, **kw: Any) -> None:
    """Distributions over the selected games: characters, stages, versions, lengths, quality."""
    from rich.table import Table
    from rich.text import Text

    from exphil.data import corpus_statistics

    run = run_selection(**kw)
    stats = corpus_statistics(run.selection.kept)
    summary = _summary(run)
    if as_json:
        sys.stdout.write(msgspec.json.encode({"summary": summary, "stats": stats}).decode() + "\n")
    else:
        out = _console()
        out.print(
            f"[bold]{stats['games']} games[/] selected of {summary['files']} files "
            f"({summary['errors']} broken, {summary['duplicates']} duplicates), "
            f"{stats['hours']:.2f} h of play"
        )
        for title in ("characters", "stages", "versions", "lengths", "player_types"):
            counts: dict[str, int] = stats[title]
            if not counts:
                continue
            table = Table(title.replace("_", " "), "count", "share", box=None, title_justify="left")
            total = sum(counts.values())
            for k, v in counts.items():
                table.add_row(Text(k), str(v), f"{100 * v / total:.1f} %")
            out.print(table)
        q = stats["quality"]
        if q["median"] is not None:
            out.print(
                f"quality: min {q['min']}, q1 {q['q1']}, median {q['median']}, q3 {q['q3']}, "
                f"max {q['max']}"
            )
        if run.quick:
            out.print(QUICK_NOTE, style="dim")
    if run.failed_fast:
        sys.exit(1)
