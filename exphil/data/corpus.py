"""Selecting games from scan results: filters, duplicates, statistics and error summaries."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from exphil.data.scan import ScanResult
from exphil.game.ids import Character, Stage, character, stage

__all__ = [
    "ReplayFilter",
    "find_duplicates",
    "Duplicate",
    "corpus_statistics",
    "error_summary",
    "LENGTH_BINS_S",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which readable games to keep. Every rule is optional:

    * ``characters``: at least one player is one of these characters;
    * ``stages``: the stage is one of these;
    * ``min_frames``: at least this many frames (from the metadata in quick scans);
    * ``human_only``: both players are human (no CPU);
    * ``one_v_one``: a two-player, non-teams game (default on: training uses 1v1);
    * ``min_quality``: a quality score at least this (needs a deep scan; a game without a
      score is rejected).
    """

    characters: frozenset[Character] = frozenset()
    stages: frozenset[Stage] = frozenset()
    min_frames: int = 0
    human_only: bool = False
    one_v_one: bool = True
    min_quality: float | None = None

    @classmethod
    def from_names(
        cls,
        characters: Iterable[str] = (),
        stages: Iterable[str] = (),
        **rules: Any,
    ) -> ReplayFilter:
        """Build from user text: names or aliases (``fox``, ``puff``, ``fd``, ``bf``...),
        each item possibly a comma-separated list. Unknown names raise ``ValueError`` with
        suggestions."""
        chars = frozenset(character(n) for item in characters for n in _split(item))
        stgs = frozenset(stage(n) for item in stages for n in _split(item))
        return cls(characters=chars, stages=stgs, **rules)

    def reject_reason(self, r: ScanResult) -> str | None:
        """None when ``r`` passes, else the first rule it fails (a short key)."""
        if r.error is not None or r.info is None:
            return "error"
        info = r.info
        if self.one_v_one and info.mode != "1v1":
            return "mode"
        if self.characters and not any(p.character in self.characters for p in info.players):
            return "character"
        if self.stages and info.stage not in self.stages:
            return "stage"
        if self.min_frames and info.frames < self.min_frames:
            return "min_frames"
        if self.human_only and any(p.type != "human" for p in info.players):
            return "human_only"
        if self.min_quality is not None and (
            r.quality is None or r.quality.score < self.min_quality
        ):
            return "min_quality"
        return None

    def apply(self, results: Iterable[ScanResult]) -> tuple[list[ScanResult], Counter[str]]:
        """(kept results, rejected count by reason)."""
        kept: list[ScanResult] = []
        rejected: Counter[str] = Counter()
        for r in results:
            why = self.reject_reason(r)
            if why is None:
                kept.append(r)
            else:
                rejected[why] += 1
        return kept, rejected


def _split(item: str) -> list[str]:
    return [part.strip() for part in item.split(",") if part.strip()]


class Duplicate(msgspec.Struct, frozen=True):
    """``path`` is a copy of ``original``: the same bytes (``content``), the same Slippi match
    id and game number (``match``), or the same frames (``frames``: one game recorded twice,
    by both netplay clients or a console and a spectator; needs a deep scan)."""

    path: str
    original: str
    reason: str


def _rank(r: ScanResult) -> tuple[int, str]:
    # the copy kept: the longest recording, then the first path
    return (-(r.info.frames if r.info else 0), r.path)


def find_duplicates(results: Sequence[ScanResult]) -> list[Duplicate]:
    """Every readable file that repeats an earlier one; the one kept per group is the longest
    recording (ties: the first path in sorted order)."""
    ok = sorted((r for r in results if r.error is None and r.info is not None), key=_rank)
    dupes: list[Duplicate] = []
    by_content: dict[str, str] = {}
    by_match: dict[tuple[str, int | None, int | None], str] = {}
    by_frames: dict[str, str] = {}
    for r in ok:
        assert r.info is not None
        if r.key is not None:
            first = by_content.setdefault(r.key, r.path)
            if first != r.path:
                dupes.append(Duplicate(r.path, first, "content"))
                continue
        if r.info.match_id:
            mkey = (r.info.match_id, r.info.match_game, r.info.match_tiebreaker)
            first = by_match.setdefault(mkey, r.path)
            if first != r.path:
                dupes.append(Duplicate(r.path, first, "match"))
                continue
        if r.fingerprint:
            first = by_frames.setdefault(r.fingerprint, r.path)
            if first != r.path:
                dupes.append(Duplicate(r.path, first, "frames"))
    dupes.sort(key=lambda d: d.path)
    return dupes


#: upper edges of the game-length histogram, in seconds
LENGTH_BINS_S: tuple[float, ...] = (30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 480.0)


def _length_label(seconds: float) -> str:
    lo = 0.0
    for hi in LENGTH_BINS_S:
        if seconds < hi:
            return f"{_fmt_s(lo)}-{_fmt_s(hi)}"
        lo = hi
    return f">={_fmt_s(lo)}"


def _fmt_s(s: float) -> str:
    return f"{int(s // 60)}:{int(s % 60):02d}"


def corpus_statistics(results: Sequence[ScanResult]) -> dict[str, Any]:
    """Counts over readable games: characters (per player), stages, Slippi versions
    (major.minor), modes, player types, a length histogram, quality quartiles; plus totals."""
    games = [r for r in results if r.error is None and r.info is not None]
    chars: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    types: Counter[str] = Counter()
    lengths: Counter[str] = Counter()
    frames = 0
    scores: list[float] = []
    for r in games:
        info = r.info
        assert info is not None
        for p in info.players:
            chars[
                p.character.display_name
                if p.character is not None
                else f"unknown ({p.character_id})"
            ] += 1
            types[p.type] += 1
        stages[
            info.stage.display_name if info.stage is not None else f"unknown ({info.stage_id})"
        ] += 1
        versions["{}.{}".format(*info.slippi_version[:2])] += 1
        modes[info.mode] += 1
        lengths[_length_label(info.duration_s)] += 1
        frames += info.frames
        if r.quality is not None:
            scores.append(r.quality.score)
    order = [_length_label(b - 1e-9) for b in LENGTH_BINS_S] + [_length_label(1e9)]
    scores.sort()

    def q(f: float) -> float | None:
        return round(scores[min(len(scores) - 1, int(f * len(scores)))], 1) if scores else None

    return {
        "files": len(results),
        "games": len(games),
        "errors": len(results) - len(games),
        "frames": frames,
        "hours": round(frames / 60 / 3600, 3),
        "characters": dict(chars.most_common()),
        "stages": dict(stages.most_common()),
        "versions": dict(sorted(versions.items(), key=lambda kv: _version_key(kv[0]))),
        "modes": dict(modes.most_common()),
        "player_types": dict(types.most_common()),
        "lengths": {k: lengths[k] for k in order if lengths[k]},
        "quality": {"min": q(0.0), "q1": q(0.25), "median": q(0.5), "q3": q(0.75), "max": q(1.0)},
    }


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def error_summary(results: Iterable[ScanResult]) -> dict[str, list[str]]:
    """Failed files grouped by cause (most frequent cause first), paths sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.error is not None:
            groups[r.error.cause].append(r.path)
    return {
        cause: sorted(paths)
        for cause, paths in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    }
