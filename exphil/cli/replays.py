"""``exphil replays``: scan, check and describe a folder of replays.

Exit status of ``scan`` and ``stats``: 0 when the run completed (broken files are reported,
not fatal); 1 with ``--fail-fast`` when a file could not be read (the scan stops there); 2 for
a usage error (a path that names nothing, an unknown character or stage name).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click
import msgspec

__all__ = ["replays"]

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


def _scan_options(func: F) -> F:
    options = [
        click.argument("paths", nargs=-1, type=str),
        click.option(
            "--quick",
            is_flag=True,
            help="Read headers only (fast; cannot find damage past the header, no quality).",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="EXPHIL_CACHE_DIR",
            help="Parsed-game cache [env EXPHIL_CACHE_DIR; default ~/.cache/exphil].",
        ),
        click.option("--no-cache", is_flag=True, help="Neither read nor fill the cache."),
        click.option(
            "--jobs",
            "-j",
            type=click.IntRange(min=0),
            default=None,
            help="Parser processes (default: one per CPU; 0 parses in this process).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=60.0,
            show_default=True,
            help="Seconds one file may take before its parser is stopped.",
        ),
        click.option(
            "--skip-errors/--fail-fast",
            default=True,
            help="Report broken files and go on (default), or stop at the first one (exit 1).",
        ),
        click.option(
            "--show-errors/--hide-errors",
            default=True,
            help="List each broken file with its reason (default), or only the counts.",
        ),
        click.option(
            "--error-log",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write one JSON line per broken file (path, cause, detail) to FILE.",
        ),
        click.option(
            "--character",
            "-c",
            "characters",
            multiple=True,
            help="Keep games with this character (name or alias: fox, puff, ics...). Repeatable.",
        ),
        click.option(
            "--stage",
            "-s",
            "stages",
            multiple=True,
            help="Keep games on this stage (name or alias: fd, bf, ys, dl, fod, ps). Repeatable.",
        ),
        click.option(
            "--min-frames", type=click.IntRange(min=0), default=0, help="Minimum game length."
        ),
        click.option("--human-only", is_flag=True, help="Drop games with a CPU player."),
        click.option(
            "--all-modes",
            is_flag=True,
            help="Keep doubles, free-for-all and single-player games (default: 1v1 only).",
        ),
        click.option(
            "--min-quality",
            type=click.FloatRange(0, 100),
            default=None,
            help="Minimum quality score (0-100; see docs/replays.md).",
        ),
        click.option("--keep-duplicates", is_flag=True, help="Keep copies of the same game."),
    ]
    for opt in reversed(options):
        func = opt(func)
    return func


class _Run(msgspec.Struct):
    files: int  # discovered (a --fail-fast run scans fewer)
    results: list[Any]
    kept: list[Any]
    rejected: dict[str, int]
    duplicates: list[Any]
    seconds: float
    failed_fast: bool
    cache_stats: dict[str, Any] | None


def _do_scan(
    paths: Sequence[str],
    quick: bool,
    cache_dir: Path | None,
    no_cache: bool,
    jobs: int | None,
    timeout: float,
    skip_errors: bool,
    error_log: Path | None,
    characters: Sequence[str],
    stages: Sequence[str],
    min_frames: int,
    human_only: bool,
    all_modes: bool,
    min_quality: float | None,
    keep_duplicates: bool,
    progress: bool,
) -> _Run:
    from exphil.data import DiscoveryError, GameCache, ReplayFilter, discover, find_duplicates, scan

    if not paths:
        env = os.environ.get("EXPHIL_REPLAYS_DIR")
        if not env:
            raise click.UsageError(
                "no replay paths given (pass directories, files or globs, or set "
                "EXPHIL_REPLAYS_DIR)"
            )
        paths = [env]
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
    try:
        files = discover(paths)
    except DiscoveryError as exc:
        raise click.UsageError(str(exc)) from exc

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
    failed = False
    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]} errors"),
            TimeRemainingColumn(),
            console=_console(stderr=True),
            transient=True,
            disable=not progress or not sys.stderr.isatty(),
        )
        with bar:
            task = bar.add_task("scan", total=len(files), errors=0)
            errors = 0

            def on_result(r: Any) -> None:
                nonlocal errors
                if r.error is not None:
                    errors += 1
                    if log is not None:
                        log.write(
                            msgspec.json.encode(
                                {"path": r.path, "cause": r.error.cause, "detail": r.error.detail}
                            ).decode()
                            + "\n"
                        )
                        log.flush()
                bar.update(task, advance=1, errors=errors)

            def stop(r: Any) -> bool:
                nonlocal failed
                if not skip_errors and r.error is not None:
                    failed = True
                return failed

            results = scan(
                files,
                deep=not quick,
                cache=cache,
                jobs=jobs,
                timeout=timeout,
                on_result=on_result,
                stop=stop,
            )
    finally:
        if log is not None:
            log.close()
        if cache is not None:
            cache.close()
    kept, rejected = filt.apply(results)
    dupes = [] if keep_duplicates else find_duplicates(kept)
    dropped = {d.path for d in dupes}
    kept = [r for r in kept if r.path not in dropped]
    return _Run(
        files=len(files),
        results=results,
        kept=kept,
        rejected=dict(rejected),
        duplicates=dupes,
        seconds=time.perf_counter() - t0,
        failed_fast=failed,
        cache_stats=cache.statistics() if cache is not None else None,
    )


def _summary(run: _Run, n_files: int) -> dict[str, Any]:
    from exphil.data import error_summary

    errors = error_summary(run.results)
    cached = sum(1 for r in run.results if r.cached)
    return {
        "files": n_files,
        "scanned": len(run.results),
        "readable": sum(1 for r in run.results if r.error is None),
        "errors": sum(len(v) for v in errors.values()),
        "errors_by_cause": {k: len(v) for k, v in errors.items()},
        "rejected_by_filter": {k: v for k, v in run.rejected.items() if k != "error"},
        "duplicates": len(run.duplicates),
        "selected": len(run.kept),
        "selected_frames": sum(r.info.frames for r in run.kept if r.info),
        "from_cache": cached,
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
@_scan_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
@click.option("--list", "list_games", is_flag=True, help="List the selected games.")
def scan_cmd(as_json: bool, list_games: bool, show_errors: bool, **kw: Any) -> None:
    """Read every replay: metadata, quality and a specific reason for each broken file.

    Exit status: 0 when the scan completed (broken files are reported, not fatal), 1 with
    --fail-fast when a file could not be read, 2 for a usage error.
    """
    run = _do_scan(progress=not as_json, **kw)
    summary = _summary(run, run.files)
    if as_json:
        _print_json(run, summary)
    else:
        _print_scan(run, summary, show_errors, list_games)
    if run.failed_fast:
        sys.exit(1)


def _print_json(run: _Run, summary: dict[str, Any]) -> None:
    from exphil.data import ScanResult

    kept = {r.path for r in run.kept}
    dupes = {d.path: d for d in run.duplicates}
    files: list[dict[str, Any]] = []
    for r in run.results:
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


def _print_scan(run: _Run, summary: dict[str, Any], show_errors: bool, list_games: bool) -> None:
    from rich.table import Table

    from exphil.data import error_summary

    out = _console()
    s = summary
    out.print(
        f"[bold]{s['files']}[/] files: [green]{s['readable']} readable[/], "
        f"[red]{s['errors']} broken[/] ({s['seconds']:.2f} s, {s['from_cache']} from the cache)"
    )
    errors = error_summary(run.results)
    if errors:
        details = {r.path: r.error for r in run.results if r.error is not None}
        for cause, paths in errors.items():
            out.print(f"  [red]{cause}[/] ({len(paths)}): {_CAUSE_HELP.get(cause, cause)}")
            if show_errors:
                for p in paths:
                    out.print(f"    {p}: {details[p].detail}", markup=False)
    if s["rejected_by_filter"]:
        parts = ", ".join(f"{k} {v}" for k, v in s["rejected_by_filter"].items())
        out.print(f"filtered out: {parts}")
    if run.duplicates:
        out.print(f"duplicates skipped: {len(run.duplicates)}")
        if show_errors:
            for d in run.duplicates:
                out.print(f"    {d.path} = {d.original} (same {d.reason})", markup=False)
    hours = s["selected_frames"] / 60 / 3600
    out.print(
        f"[bold]{s['selected']} games selected[/] ({s['selected_frames']} frames, {hours:.2f} h)"
    )
    if list_games and run.kept:
        table = Table("file", "stage", "players", "length", "quality", box=None)
        for r in run.kept:
            info = r.info
            players = " vs ".join(
                (p.character.display_name if p.character is not None else "?")
                + (" (CPU)" if p.type == "cpu" else "")
                for p in info.players
            )
            table.add_row(
                os.path.basename(r.path),
                info.stage.display_name if info.stage is not None else "?",
                players,
                f"{info.duration_s / 60:.1f} min",
                f"{r.quality.score:.0f}" if r.quality else "-",
            )
        out.print(table)
    if run.failed_fast:
        out.print("[red]stopped at the first broken file (--fail-fast)[/]")


@replays.command("stats")
@_scan_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout.")
def stats_cmd(as_json: bool, show_errors: bool, **kw: Any) -> None:
    """Distributions over the selected games: characters, stages, versions, lengths, quality."""
    from rich.table import Table

    from exphil.data import corpus_statistics

    run = _do_scan(progress=not as_json, **kw)
    stats = corpus_statistics(run.kept)
    summary = _summary(run, run.files)
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
                table.add_row(k, str(v), f"{100 * v / total:.1f} %")
            out.print(table)
        q = stats["quality"]
        if q["median"] is not None:
            out.print(
                f"quality: min {q['min']}, q1 {q['q1']}, median {q['median']}, q3 {q['q3']}, "
                f"max {q['max']}"
            )
    if run.failed_fast:
        sys.exit(1)
