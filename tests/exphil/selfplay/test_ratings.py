"""Anchored Elo: anchors stay put, versions find their level, ids count once, state round-trips."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest

from exphil.selfplay._ratings import (
    Ratings,
    Standing,
    cpu_rating,
    default_anchors,
    expected_score,
    k_factor,
)

_ids = itertools.count()


def play(r: Ratings, a: str, b: str, score_a: float, n: int = 1) -> None:
    for _ in range(n):
        assert r.record(f"g{next(_ids)}", a, b, score_a)


def test_default_anchors() -> None:
    anchors = default_anchors()
    assert anchors == {
        "cpu:5": 1050.0,
        "cpu:6": 1100.0,
        "cpu:7": 1150.0,
        "cpu:8": 1200.0,
        "cpu:9": 1250.0,
        "initial": 1000.0,
    }
    assert "initial" not in default_anchors([1], initial_rating=None)
    assert cpu_rating(0) == 800.0
    with pytest.raises(ValueError):
        cpu_rating(10)


def test_anchors_never_move_and_versions_find_their_level() -> None:
    r = Ratings(default_anchors())
    r.add("strong")
    r.add("weak")
    rng = random.Random(0)
    for _ in range(200):
        play(r, "strong", "cpu:9", 1.0)
        play(r, "cpu:5", "weak", 1.0)  # the anchor as ``a`` moves nothing either
        play(r, "cpu:7", "cpu:8", rng.choice([0.0, 0.5, 1.0]))  # anchor vs anchor
    assert r.anchors == default_anchors()
    for name, value in default_anchors().items():
        assert r.rating(name) == value
        assert r.is_anchor(name)
    assert r.rating("strong") > r.rating("cpu:9") + 200
    assert r.rating("weak") < r.rating("cpu:5") - 200
    assert r.games("strong") == r.games("weak") == 200
    assert r.games("cpu:9") == 200
    assert r.games("cpu:7") == r.games("cpu:8") == 200


def test_version_converges_towards_its_true_strength() -> None:
    # A version that scores 50% against cpu:7 ends up rated near cpu:7.
    r = Ratings(default_anchors())
    rng = random.Random(1)
    for _ in range(3000):
        play(r, "v1", "cpu:7", float(rng.random() < 0.5))
    assert abs(r.rating("v1") - r.rating("cpu:7")) < 60


def test_dynamic_k_is_larger_for_new_versions() -> None:
    assert k_factor(0) == 64.0
    assert k_factor(15) == pytest.approx(40.0)
    assert k_factor(30) == k_factor(1000) == 16.0
    assert all(k_factor(n) >= k_factor(n + 1) for n in range(40))
    assert k_factor(0, new_games=0) == 16.0

    r = Ratings({"cpu:9": 1000.0})
    r.add("old", rating=1000.0)
    play(r, "old", "cpu:9", 0.5, n=30)  # draws at equal ratings: no movement, K decays
    assert r.rating("old") == 1000.0
    r.add("new", rating=1000.0)
    assert r.k("new") == 64.0 > r.k("old") == 16.0
    assert r.k("cpu:9") == 0.0
    play(r, "new", "cpu:9", 1.0)
    play(r, "old", "cpu:9", 1.0)
    assert r.rating("new") - 1000.0 == pytest.approx(64.0 * 0.5)
    assert r.rating("old") - 1000.0 == pytest.approx(16.0 * 0.5)


def test_duplicate_result_ids_count_once() -> None:
    r = Ratings(default_anchors())
    assert r.record("game-1", "v1", "cpu:5", 1.0)
    after = r.state_dict()
    assert not r.record("game-1", "v1", "cpu:5", 1.0)
    assert not r.record("game-1", "v2", "v3", 0.0)  # same id, other players: still ignored
    assert r.state_dict() == after
    assert "v2" not in r
    assert r.games("v1") == 1
    assert r.results == 1
    assert r.seen("game-1")
    assert not r.seen("game-2")


def test_unknown_players_added_at_initial_and_parents() -> None:
    r = Ratings(default_anchors(), initial=900.0)
    play(r, "current", "v0", 0.5)
    assert r.rating("current") == r.rating("v0") == 900.0  # equal, so a draw moves nothing
    play(r, "current", "cpu:9", 1.0, n=5)
    assert r.add("v1", parent="current") == r.rating("current") == r.rating("v1")
    assert r.add("v2") == 900.0
    assert r.add("v3", rating=1234.5) == 1234.5
    assert r.games("v1") == 0
    with pytest.raises(ValueError):
        r.add("v1")
    with pytest.raises(ValueError):
        r.add("cpu:9")
    with pytest.raises(KeyError):
        r.add("v4", parent="nobody")
    with pytest.raises(ValueError):
        r.add("v4", rating=1.0, parent="current")
    with pytest.raises(KeyError):
        r.rating("nobody")


def test_self_game_counts_but_does_not_move() -> None:
    r = Ratings(default_anchors())
    r.add("v1", rating=1100.0)
    play(r, "v1", "v1", 1.0)
    play(r, "v1", "v1", 0.0)
    assert r.rating("v1") == 1100.0
    assert r.games("v1") == 2
    s = r.standing("v1")
    assert (s.wins, s.losses, s.draws) == (0, 0, 0)
    assert math.isnan(s.win_rate)
    assert r.k("v1") == 64.0  # self games do not decay K


def test_games_among_versions_are_zero_sum() -> None:
    # Equal K (k_new == k_min): every game among versions moves the total by zero, so
    # self-play alone cannot inflate the pool; only games against anchors move its mean.
    r = Ratings(default_anchors(), k_new=32.0, k_min=32.0)
    versions = [f"v{i}" for i in range(6)]
    rng = random.Random(2)
    for v in versions:
        r.add(v, rating=rng.uniform(900, 1300))
    total = sum(r.rating(v) for v in versions)
    for _ in range(2000):
        a, b = rng.sample(versions, 2)
        play(r, a, b, rng.choice([0.0, 0.5, 1.0]))
    assert sum(r.rating(v) for v in versions) == pytest.approx(total, abs=1e-6)
    # Even with dynamic K, each single game's changes cancel when both sides share a K.
    r2 = Ratings()
    r2.add("a", rating=1000.0)
    r2.add("b", rating=1200.0)
    play(r2, "a", "b", 1.0)
    assert r2.rating("a") - 1000.0 == pytest.approx(1200.0 - r2.rating("b"))
    assert r2.rating("a") - 1000.0 == pytest.approx(64.0 * (1.0 - expected_score(1000, 1200)))


def test_expected_score_properties() -> None:
    assert expected_score(1000, 1000) == 0.5
    assert expected_score(1400, 1000) == pytest.approx(10 / 11)
    rng = random.Random(3)
    for _ in range(100):
        a, b = rng.uniform(0, 3000), rng.uniform(0, 3000)
        assert expected_score(a, b) + expected_score(b, a) == pytest.approx(1.0)
        assert 0.0 <= expected_score(a, b) <= 1.0
        assert expected_score(a + 10, b) > expected_score(a, b)
        assert expected_score(a + 500, b + 500) == pytest.approx(expected_score(a, b))
    assert expected_score(0, 1e9) == 0.0  # no overflow
    assert expected_score(1e9, 0) == 1.0
    r = Ratings({"x": 1400.0})
    r.add("y", rating=1000.0)
    assert r.expected("x", "y") == pytest.approx(10 / 11)


def test_leaderboard() -> None:
    r = Ratings(default_anchors())
    play(r, "v1", "cpu:5", 1.0, n=3)
    play(r, "v1", "cpu:5", 0.0)
    play(r, "v1", "cpu:5", 0.5)
    board = r.leaderboard()
    assert [s.rating for s in board] == sorted((s.rating for s in board), reverse=True)
    assert len(board) == len(default_anchors()) + 1
    v1 = next(s for s in board if s.name == "v1")
    assert v1 == Standing("v1", r.rating("v1"), 5, 3, 1, 1, 3.5 / 5, False)
    cpu5 = next(s for s in board if s.name == "cpu:5")
    assert (cpu5.wins, cpu5.losses, cpu5.draws, cpu5.anchor) == (1, 3, 1, True)
    assert board[0].name == "cpu:9"
    with pytest.raises(AttributeError):
        v1.rating = 0.0  # type: ignore[misc]


def test_state_round_trip_through_json() -> None:
    r = Ratings(default_anchors(), initial=990.0, k_new=50.0, k_min=10.0, new_games=12)
    rng = random.Random(4)
    names = ["current", "v1", "v2", "cpu:5", "cpu:9", "initial"]
    for _ in range(300):
        a, b = rng.choice(names), rng.choice(names)
        play(r, a, b, rng.choice([0.0, 0.5, 1.0, 0.75]))
    state = r.state_dict()
    text = json.dumps(state, allow_nan=False)
    back = Ratings.from_state(json.loads(text))
    assert back.state_dict() == state
    assert back.leaderboard() == r.leaderboard()
    assert (back.initial, back.k_new, back.k_min, back.new_games) == (990.0, 50.0, 10.0, 12)
    assert back.anchors == r.anchors
    # The seen ids travel too: a replayed result is still a duplicate, and both copies
    # take the next new result identically.
    assert not back.record(state["seen"][0], "v1", "v2", 1.0)
    assert back.record("new", "v1", "v2", 1.0) and r.record("new", "v1", "v2", 1.0)
    assert back.state_dict() == r.state_dict()


def test_bad_input() -> None:
    r = Ratings(default_anchors())
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError):
            r.record("x", "a", "b", bad)
    with pytest.raises(TypeError):
        r.record("x", "a", "b", "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        r.record("x", "", "b", 1.0)
    assert r.results == 0 and "a" not in r
    with pytest.raises(ValueError):
        Ratings(k_new=10.0, k_min=20.0)
    with pytest.raises(ValueError):
        Ratings({"cpu:9": math.inf})
    with pytest.raises(ValueError):
        Ratings.from_state({"version": 99})
    with pytest.raises(ValueError):
        Ratings.from_state({})
    state = r.state_dict()
    state["players"]["cpu:9"]["rating"] = 0.0
    with pytest.raises(ValueError, match="moved"):
        Ratings.from_state(state)
