"""Choosing the games of a corpus: scan, filter, drop copies, at most N games.

One path for every command that reads a corpus (``exphil replays scan``, ``exphil kmeans``):
files are parsed in the contained worker pool of :func:`~exphil.data.scan` (a panic, a hang
or a crash of the parser costs one file, and no Rust text reaches the terminal), kept by a
:class:`~exphil.data.ReplayFilter`, and copies of one game (same bytes, same match and game
number, same frames) are dropped by :func:`~exphil.data.find_duplicates`, so the commands
agree on which files are broken and why, and on which games there are.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Sequence

from exphil.data.cache import GameCache
from exphil.data.corpus import Duplicate, ReplayFilter, error_summary, find_duplicates
from exphil.data.scan import DEFAULT_TIMEOUT_S, ScanResult, scan

__all__ = ["Selection", "select_games", "MODE_NAMES", "RULE_NAMES", "describe_rejections"]

#: a game mode as the user reads it (``GameInfo.mode`` values)
MODE_NAMES: dict[str, str] = {
    "1v1": "1v1",
    "doubles": "doubles",
    "ffa": "free-for-all",
    "single": "single-player",
}
#: a filter rule (``ReplayFilter.reject_reason``) as the user reads it
RULE_NAMES: dict[str, str] = {
    "mode": "not 1v1",
    "character": "other characters",
    "stage": "other stages",
    "min_frames": "shorter than --min-frames",
    "human_only": "a CPU player",
    "min_quality": "quality under --min-quality",
}

#: deep scans of a --max-files selection go in chunks of at least this many files
_MIN_CHUNK = 8


@dataclasses.dataclass(frozen=True, slots=True)
class Selection:
    """What :func:`select_games` read and kept.

    ``results``: one per file read, in the files' order (fewer than ``files`` when
    ``max_games`` was reached or the scan was stopped); ``kept``: the games selected, in the
    same order; ``rejected``: files the filter refused, by rule; ``modes``: the modes of the
    games refused for not being 1v1; ``duplicates``: copies dropped; ``unread``: files never
    read; ``stopped``: the ``stop`` callback ended the scan."""

    files: int
    results: list[ScanResult]
    kept: list[ScanResult]
    rejected: Counter[str]
    modes: Counter[str]
    duplicates: list[Duplicate]
    unread: int
    stopped: bool

    @property
    def errors(self) -> dict[str, list[str]]:
        """Broken files by cause (most frequent first), paths sorted."""
        return error_summary(self.results)

    @property
    def frames(self) -> int:
        """Frames of the kept games."""
        return sum(r.info.frames for r in self.kept if r.info is not None)


def select_games(
    files: Sequence[str | os.PathLike[str]],
    filt: ReplayFilter,
    *,
    deep: bool = True,
    cache: GameCache | None = None,
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    keep_duplicates: bool = False,
    max_games: int | None = None,
    on_result: Callable[[ScanResult], None] | None = None,
    stop: Callable[[ScanResult], bool] | None = None,
) -> Selection:
    """Scan ``files``, keep what ``filt`` accepts, drop copies (unless ``keep_duplicates``).

    With ``max_games`` the files are read in order, in chunks, until that many games are
    kept: the first ``max_games`` games of the files' order (a copy found in a later chunk
    may replace an earlier pick by the rule of :func:`find_duplicates`: the longest
    recording). ``on_result`` and ``stop`` are :func:`scan`'s.
    """
    paths = [os.fspath(f) for f in files]
    results: list[ScanResult] = []
    stopped = False

    def stopper(r: ScanResult) -> bool:
        nonlocal stopped
        if stop is not None and stop(r):
            stopped = True
        return stopped

    def scan_some(some: list[str]) -> None:
        results.extend(
            scan(
                some,
                deep=deep,
                cache=cache,
                jobs=jobs,
                timeout=timeout,
                on_result=on_result,
                stop=stopper,
            )
        )

    if max_games is None:
        scan_some(paths)
        kept, rejected, dupes = _keep(results, filt, keep_duplicates)
    else:
        if max_games < 1:
            raise ValueError(f"max_games must be at least 1, got {max_games}")
        pos = 0
        kept, rejected, dupes = [], Counter(), []
        while pos < len(paths) and len(kept) < max_games and not stopped:
            chunk = paths[pos : pos + max(max_games - len(kept), _MIN_CHUNK)]
            pos += len(chunk)
            scan_some(chunk)
            kept, rejected, dupes = _keep(results, filt, keep_duplicates)
        kept = kept[:max_games]
    modes: Counter[str] = Counter(
        r.info.mode
        for r in results
        if r.error is None and r.info is not None and filt.reject_reason(r) == "mode"
    )
    return Selection(
        files=len(paths),
        results=results,
        kept=kept,
        rejected=rejected,
        modes=modes,
        duplicates=dupes,
        unread=len(paths) - len(results),
        stopped=stopped,
    )


def _keep(
    results: list[ScanResult], filt: ReplayFilter, keep_duplicates: bool
) -> tuple[list[ScanResult], Counter[str], list[Duplicate]]:
    kept, rejected = filt.apply(results)
    del rejected["error"]  # broken files are counted by cause, not as a filter rule
    dupes = [] if keep_duplicates else find_duplicates(kept)
    dropped = {d.path for d in dupes}
    return [r for r in kept if r.path not in dropped], rejected, dupes


def describe_rejections(rejected: Counter[str] | dict[str, int], modes: Counter[str]) -> str:
    """``"14 not 1v1 (doubles 8, free-for-all 6), 3 other stages"``: the filtered-out files
    by rule, the modes named."""
    parts: list[str] = []
    for rule, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])):
        if not n:
            continue
        text = f"{n} {RULE_NAMES.get(rule, rule)}"
        if rule == "mode" and modes:
            text += " (" + ", ".join(f"{MODE_NAMES.get(m, m)} {c}" for m, c in _ranked(modes)) + ")"
        parts.append(text)
    return ", ".join(parts)


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
