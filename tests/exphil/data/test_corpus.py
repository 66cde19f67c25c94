"""Filters, duplicates, statistics and error summaries over scan results."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from exphil.data import (
    Duplicate,
    Quality,
    ReplayFilter,
    ScanError,
    ScanResult,
    corpus_statistics,
    error_summary,
    find_duplicates,
)
from exphil.game.ids import Character, Stage
from exphil.game.peppi import GameInfo, PlayerInfo

from .conftest import Corpus

FOX, MARTH, FALCO = Character.FOX, Character.MARTH, Character.FALCO
FD, BF = Stage.FINAL_DESTINATION, Stage.BATTLEFIELD


def player(port: int, char: Character | None, kind: str = "human", char_id: int = -1) -> PlayerInfo:
    return PlayerInfo(
        port=port,
        character=char,
        character_id=int(char) if char is not None else char_id,
        type=kind,
        netplay_name=None,
        netplay_code=None,
        name_tag=None,
        cpu_level=9 if kind == "cpu" else None,
    )


def score(value: float) -> Quality:
    return Quality(
        score=value,
        length=1.0,
        damage=1.0,
        activity=1.0,
        self_destructs=1.0,
        diversity=1.0,
        damage_received=(100.0, 100.0),
        active_fraction=(0.5, 0.5),
        deaths=0,
        sds=0,
        distinct_actions=(50, 50),
    )


def result(
    path: str = "/r/game.slp",
    chars: tuple[Character | None, ...] = (FOX, MARTH),
    stage: Stage | None = FD,
    frames: int = 6000,
    types: tuple[str, ...] | None = None,
    mode: str | None = None,
    quality: float | None = None,
    key: str | None = None,
    match: tuple[str, int, int] | None = None,
    fingerprint: str | None = None,
    version: tuple[int, int, int] = (3, 14, 0),
    **info: Any,
) -> ScanResult:
    types = types or ("human",) * len(chars)
    players = tuple(player(i, c, t) for i, (c, t) in enumerate(zip(chars, types, strict=True)))
    game = GameInfo(
        path=path,
        slippi_version=version,
        stage=stage,
        stage_id=int(stage) if stage is not None else 99,
        players=players,
        mode=mode or ("1v1" if len(chars) == 2 else "ffa"),
        start_time=None,
        frames=frames,
        end_method="game",
        winner_port=0,
        match_id=match[0] if match else None,
        is_pal=False,
        match_game=match[1] if match else None,
        match_tiebreaker=match[2] if match else None,
        **info,
    )
    return ScanResult(
        path,
        size=1000,
        key=key or f"key-of-{path}",
        info=game,
        quality=score(quality) if quality is not None else None,
        fingerprint=fingerprint,
    )


def broken(path: str, cause: str = "corrupt") -> ScanResult:
    return ScanResult(path, size=10, error=ScanError(cause, f"{cause} detail"))


# ----------------------------------------------------------------------------- from_names


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["fox"], {FOX}),
        (["FOX"], {FOX}),
        (["puff"], {Character.JIGGLYPUFF}),
        (["ics"], {Character.ICE_CLIMBERS}),
        (["gnw"], {Character.GAME_AND_WATCH}),
        (["Captain Falcon"], {Character.CAPTAIN_FALCON}),
        (["fox,falco"], {FOX, FALCO}),
        (["fox", " marth , sheik ,"], {FOX, MARTH, Character.SHEIK}),
        (["fox", "fox"], {FOX}),
    ],
)
def test_character_names_and_aliases(names: list[str], expected: set[Character]) -> None:
    assert ReplayFilter.from_names(characters=names).characters == frozenset(expected)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["fd"], {FD}),
        (["bf"], {BF}),
        (["ys"], {Stage.YOSHIS_STORY}),
        (["fd,bf, ys"], {FD, BF, Stage.YOSHIS_STORY}),
        (["Final Destination", "pokemon stadium"], {FD, Stage.POKEMON_STADIUM}),
    ],
)
def test_stage_names_and_aliases(names: list[str], expected: set[Stage]) -> None:
    assert ReplayFilter.from_names(stages=names).stages == frozenset(expected)


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown character 'foz'.*did you mean.*'fox'"):
        ReplayFilter.from_names(characters=["marth,foz"])
    with pytest.raises(
        ValueError, match=r"unknown stage 'battlefeld'.*did you mean.*'battlefield'"
    ):
        ReplayFilter.from_names(stages=["battlefeld"])
    with pytest.raises(ValueError, match=r"unknown character 'qqqqqq'$"):
        ReplayFilter.from_names(characters=["qqqqqq"])


def test_from_names_passes_the_other_rules_on() -> None:
    f = ReplayFilter.from_names(["fox"], ["fd"], min_frames=5, human_only=True, min_quality=50.0)
    assert f == ReplayFilter(
        characters=frozenset({FOX}),
        stages=frozenset({FD}),
        min_frames=5,
        human_only=True,
        min_quality=50.0,
    )
    assert ReplayFilter.from_names() == ReplayFilter()


# ----------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    ("rule", "passes", "fails", "reason"),
    [
        ({}, result(), broken("/r/b.slp"), "error"),
        ({}, result(), ScanResult("/r/noinfo.slp"), "error"),
        ({}, result(), result(chars=(FOX, FOX, MARTH, MARTH), mode="doubles"), "mode"),
        ({}, result(), result(chars=(FOX, FOX, MARTH)), "mode"),
        ({}, result(), result(chars=(FOX,), mode="single"), "mode"),
        (
            {"characters": ["marth"]},
            result(chars=(FOX, MARTH)),
            result(chars=(FOX, FALCO)),
            "character",
        ),
        (
            {"characters": ["marth"]},
            result(chars=(MARTH, FOX)),
            result(chars=(None, FOX)),
            "character",
        ),
        (
            {"characters": ["fox,falco"]},
            result(chars=(MARTH, FALCO)),
            result(chars=(MARTH, MARTH)),
            "character",
        ),
        ({"stages": ["fd"]}, result(stage=FD), result(stage=BF), "stage"),
        ({"stages": ["fd", "bf"]}, result(stage=BF), result(stage=None), "stage"),
        ({"min_frames": 3600}, result(frames=3600), result(frames=3599), "min_frames"),
        ({"human_only": True}, result(), result(types=("human", "cpu")), "human_only"),
        ({"min_quality": 50.0}, result(quality=50.0), result(quality=49.99), "min_quality"),
        ({"min_quality": 50.0}, result(quality=90.0), result(quality=None), "min_quality"),
    ],
)
def test_each_rule(
    rule: dict[str, Any], passes: ScanResult, fails: ScanResult, reason: str
) -> None:
    f = ReplayFilter.from_names(**rule)
    assert f.reject_reason(passes) is None
    assert f.reject_reason(fails) == reason
    kept, rejected = f.apply([passes, fails, passes])
    assert kept == [passes, passes]
    assert rejected == Counter({reason: 1})


def test_all_modes_when_one_v_one_is_off() -> None:
    doubles = result(chars=(FOX, FOX, MARTH, MARTH), mode="doubles")
    assert ReplayFilter(one_v_one=False).reject_reason(doubles) is None
    assert ReplayFilter(one_v_one=False).reject_reason(broken("/x")) == "error"


def test_the_first_failing_rule_is_reported() -> None:
    f = ReplayFilter.from_names(["marth"], ["bf"], min_frames=10**6, human_only=True)
    assert f.reject_reason(result(chars=(FOX, FALCO), stage=FD, frames=10)) == "character"
    assert f.reject_reason(result(stage=FD, frames=10)) == "stage"
    assert f.reject_reason(result(stage=BF, frames=10, types=("cpu", "cpu"))) == "min_frames"


def test_filters_on_the_real_corpus(corpus: Corpus) -> None:
    marth = ReplayFilter.from_names(["marth"])
    kept, rejected = marth.apply(corpus.results)
    assert len(kept) >= 20
    assert all(any(p.character is MARTH for p in r.info.players) for r in kept if r.info)
    assert rejected["error"] == 24
    one_v_one = [r for r in corpus.results if r.error is None and r.info and r.info.mode == "1v1"]
    without = [r for r in one_v_one if all(p.character is not MARTH for p in r.info.players)]
    assert rejected["character"] == len(without) > 0
    assert len(kept) + len(without) == len(one_v_one)

    fox_fd, _ = ReplayFilter.from_names(["fox"], ["fd"], human_only=True).apply(corpus.results)
    assert fox_fd
    for r in fox_fd:
        assert r.info is not None and r.info.stage is FD
        assert FOX in {p.character for p in r.info.players}
        assert {p.type for p in r.info.players} == {"human"}

    good, rej = ReplayFilter(min_quality=80.0).apply(corpus.results)
    assert good and all(r.quality and r.quality.score >= 80 for r in good)
    assert rej["min_quality"] > 0


# ----------------------------------------------------------------------------- duplicates


def test_same_bytes_are_content_duplicates() -> None:
    a = result("/r/a.slp", key="k")
    b = result("/r/b.slp", key="k")
    c = result("/r/c.slp", key="other")
    assert find_duplicates([a, b, c]) == [Duplicate("/r/b.slp", "/r/a.slp", "content")]


def test_same_match_and_game_are_match_duplicates() -> None:
    a = result("/r/a.slp", match=("mode.ranked-1", 1, 0))
    b = result("/r/b.slp", match=("mode.ranked-1", 1, 0))
    game2 = result("/r/c.slp", match=("mode.ranked-1", 2, 0))  # the next game of the set
    tiebreak = result("/r/d.slp", match=("mode.ranked-1", 1, 1))
    other = result("/r/e.slp", match=("mode.ranked-2", 1, 0))
    assert find_duplicates([a, b, game2, tiebreak, other]) == [
        Duplicate("/r/b.slp", "/r/a.slp", "match")
    ]


def test_same_frames_are_frame_duplicates() -> None:
    a = result("/r/a.slp", fingerprint="fp")
    b = result("/r/b.slp", fingerprint="fp")
    c = result("/r/c.slp", fingerprint="fp2")
    d = result("/r/d.slp")  # quick scans have no fingerprint: never a frames duplicate
    e = result("/r/e.slp")
    assert find_duplicates([a, b, c, d, e]) == [Duplicate("/r/b.slp", "/r/a.slp", "frames")]


def test_the_longest_recording_is_kept() -> None:
    short = result("/r/a_spectator.slp", frames=5000, fingerprint="fp")
    full = result("/r/z_console.slp", frames=5200, fingerprint="fp")
    also = result("/r/m_client.slp", frames=5100, fingerprint="fp")
    dupes = find_duplicates([short, full, also])
    assert {d.original for d in dupes} == {"/r/z_console.slp"}
    assert [d.path for d in dupes] == ["/r/a_spectator.slp", "/r/m_client.slp"]  # sorted
    # a tie goes to the first path
    assert find_duplicates([result("/r/b.slp", key="k"), result("/r/a.slp", key="k")]) == [
        Duplicate("/r/b.slp", "/r/a.slp", "content")
    ]


def test_broken_files_are_never_duplicates() -> None:
    ok = result("/r/a.slp", key="k")
    bad = ScanResult("/r/b.slp", key="k", error=ScanError("panic", "x"))
    assert find_duplicates([ok, bad]) == []


def test_three_recordings_of_one_game_collapse(corpus: Corpus) -> None:
    names = [
        "hohav__peppi/tests__data__game.slp",
        "hohav__peppi/tests__data__unknown_event.slp",
        "hohav__py-slippi/test__replays__streaming_game.slp",
    ]
    assert len({corpus.manifest[n]["sha256"] for n in names}) == 3  # three different files
    paths = {str(corpus.path(n)) for n in names}
    dupes = find_duplicates(corpus.results)
    ours = [d for d in dupes if d.path in paths]
    assert len(ours) == 2
    assert {d.original for d in ours} == {str(corpus.path(names[0]))}  # same length: first path
    assert {d.reason for d in ours} == {"frames"}
    kept = paths - {d.path for d in dupes}
    assert kept == {str(corpus.path(names[0]))}


def test_games_of_one_set_are_not_duplicates(corpus: Corpus) -> None:
    """Two games of one ranked set share the match id but not the game number."""
    g1 = corpus.result("Walnut356__SlippiStats/Modern_Replays__Game_20221227T205356.slp")
    g2 = corpus.result("Walnut356__SlippiStats/Modern_Replays__Game_20221227T205720.slp")
    assert g1.info and g2.info and g1.info.match_id == g2.info.match_id
    assert g1.info.match_game != g2.info.match_game
    dupes = {d.path for d in find_duplicates(corpus.results)}
    assert g1.path not in dupes and g2.path not in dupes
    # every duplicate found in the corpus points at a kept original
    originals = {d.original for d in find_duplicates(corpus.results)}
    assert not originals & dupes


# ----------------------------------------------------------------------------- statistics


def test_corpus_statistics_counts() -> None:
    results = [
        result("/r/1.slp", chars=(FOX, MARTH), stage=FD, frames=60 * 20, quality=10.0),
        result(
            "/r/2.slp", chars=(FOX, FOX), stage=BF, frames=60 * 45, quality=20.0, version=(3, 9, 0)
        ),
        result(
            "/r/3.slp",
            chars=(FOX, None),
            stage=FD,
            frames=60 * 200,
            quality=30.0,
            types=("human", "cpu"),
            version=(2, 0, 1),
        ),
        result("/r/4.slp", chars=(MARTH, FALCO, FOX), stage=None, frames=60 * 600, quality=40.0),
        result("/r/5.slp", chars=(FALCO, MARTH), stage=FD, frames=60 * 30, quality=50.0),
        broken("/r/6.slp"),
    ]
    s = corpus_statistics(results)
    assert (s["files"], s["games"], s["errors"]) == (6, 5, 1)
    assert s["frames"] == 60 * (20 + 45 + 200 + 600 + 30)
    assert s["hours"] == round(s["frames"] / 60 / 3600, 3)
    assert s["characters"] == {"Fox": 5, "Marth": 3, "Falco": 2, "unknown (-1)": 1}
    assert list(s["characters"]) == ["Fox", "Marth", "Falco", "unknown (-1)"]  # most first
    assert s["stages"] == {"Final Destination": 3, "Battlefield": 1, "unknown (99)": 1}
    assert list(s["versions"]) == ["2.0", "3.9", "3.14"]  # numeric order, not text order
    assert s["versions"]["3.14"] == 3
    assert s["modes"] == {"1v1": 4, "ffa": 1}
    assert s["player_types"] == {"human": 10, "cpu": 1}
    assert s["lengths"] == {"0:00-0:30": 1, "0:30-1:00": 2, "3:00-4:00": 1, ">=8:00": 1}
    assert s["quality"] == {"min": 10.0, "q1": 20.0, "median": 30.0, "q3": 40.0, "max": 50.0}


def test_statistics_count_captain_falcon() -> None:
    s = corpus_statistics([result(chars=(Character.CAPTAIN_FALCON, FOX))])
    assert s["characters"] == {"Captain Falcon": 1, "Fox": 1}


def test_statistics_of_nothing() -> None:
    s = corpus_statistics([])
    assert s["games"] == 0 and s["hours"] == 0 and s["lengths"] == {}
    assert s["quality"] == dict.fromkeys(("min", "q1", "median", "q3", "max"))


def test_statistics_of_the_real_corpus(corpus: Corpus) -> None:
    s = corpus_statistics(corpus.results)
    assert (s["files"], s["games"], s["errors"]) == (161, 137, 24)
    assert sum(s["modes"].values()) == 137
    players = sum(len(r.info.players) for r in corpus.results if r.error is None and r.info)
    assert sum(s["characters"].values()) == sum(s["player_types"].values()) == players
    assert sum(s["lengths"].values()) == 137
    assert s["versions"]["0.1"] >= 1 and s["versions"]["3.18"] >= 1
    assert s["quality"]["min"] <= s["quality"]["median"] <= s["quality"]["max"]


def test_error_summary_groups_by_cause_most_frequent_first() -> None:
    results = [
        broken("/r/z.slp", "panic"),
        result("/r/ok.slp"),
        broken("/r/b.slp", "truncated"),
        broken("/r/a.slp", "panic"),
        broken("/r/c.slp", "corrupt"),
        broken("/r/d.slp", "truncated"),
        broken("/r/e.slp", "not_slp"),
    ]
    summary = error_summary(results)
    assert list(summary.items()) == [
        ("panic", ["/r/a.slp", "/r/z.slp"]),
        ("truncated", ["/r/b.slp", "/r/d.slp"]),
        ("corrupt", ["/r/c.slp"]),  # ties: by cause name
        ("not_slp", ["/r/e.slp"]),
    ]
    assert error_summary([result()]) == {}


def test_error_summary_of_the_real_corpus(corpus: Corpus) -> None:
    summary = error_summary(corpus.results)
    assert sum(len(v) for v in summary.values()) == 24
    counts = [len(v) for v in summary.values()]
    assert counts == sorted(counts, reverse=True)
    assert next(iter(summary)) == "unsupported"  # 10 files: the largest group
