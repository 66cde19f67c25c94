"""The quality score: each documented rule on synthetic games, then on real replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exphil.data import WEIGHTS, Quality, quality
from exphil.data.quality import active_frames
from exphil.game.frames import BUTTON_BITS, Frames, PlayerFrames
from exphil.game.peppi import read_game

from .conftest import Corpus

COMPONENTS = ("length", "damage", "activity", "self_destructs", "diversity")


def game(n: int, first: int = 0) -> Frames:
    """``n`` rows from frame id ``first``: both players present with 4 stocks, no input, no
    damage, one action."""
    f = Frames.zeros(n)
    f.frame[:] = np.arange(first, first + n, dtype=np.int32)
    for p in f.players:
        p.exists[:] = True
        p.stocks[:] = 4
    return f


def lively(n: int = 3600) -> Frames:
    """A game that scores 100: a minute long, both players always moving, 100 % received
    each, 50 distinct actions each, no deaths."""
    f = game(n)
    for p in f.players:
        p.main_x[:] = 1.0
        p.percent[:] = np.linspace(0, 100, n, dtype=np.float32)
        p.action[:] = np.arange(n) % 50
    return f


def test_weights_cover_the_components_and_sum_to_one() -> None:
    assert tuple(WEIGHTS) == COMPONENTS
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert set(COMPONENTS) <= set(Quality.__struct_fields__)


def test_lively_game_scores_100() -> None:
    q = quality(lively())
    assert {k: getattr(q, k) for k in COMPONENTS} == dict.fromkeys(COMPONENTS, 1.0)
    assert q.score == 100.0
    assert q.deaths == 0 and q.sds == 0


# ----------------------------------------------------------------------------- activity


def test_game_without_inputs_scores_zero_activity() -> None:
    q = quality(game(3600))
    assert q.activity == 0.0
    assert q.active_fraction == (0.0, 0.0)


def test_sticks_at_neutral_are_not_activity() -> None:
    """Regression: the original ExPhil compared |stick| > 0.3 on [0, 1] values whose neutral
    is 0.5, so a controller at rest counted as active on every frame. Sticks are in [-1, 1]
    with neutral 0 here: a controller at rest is idle."""
    f = game(3600)
    for p in f.players:  # explicitly at rest, c-stick and shoulder too
        p.main_x[:] = p.main_y[:] = p.c_x[:] = p.c_y[:] = 0.0
        p.shoulder[:] = 0.0
        assert not active_frames(p).any()
    assert quality(f).activity == 0.0
    # a tilt inside the dead zone in any direction is still idle
    f.players[0].main_x[:] = -0.29
    f.players[1].main_y[:] = 0.29
    assert quality(f).active_fraction == (0.0, 0.0)


@pytest.mark.parametrize(
    ("column", "value", "active"),
    [
        ("main_x", 0.29, False),
        ("main_x", 0.31, True),
        ("main_x", -0.5, True),  # left is a deflection too
        ("main_y", -1.0, True),
        ("c_x", 0.29, False),
        ("c_y", -0.9, True),
        ("shoulder", 0.29, False),
        ("shoulder", 0.5, True),
        ("buttons", BUTTON_BITS["A"], True),
        ("buttons", BUTTON_BITS["D_UP"], True),
    ],
)
def test_what_counts_as_active(column: str, value: float, active: bool) -> None:
    p = PlayerFrames.zeros(4)
    getattr(p, column)[1:3] = value
    assert active_frames(p).tolist() == [False, active, active, False]


def test_stick_deflection_is_measured_as_a_vector() -> None:
    p = PlayerFrames.zeros(3)
    p.main_x[:] = [0.2, 0.25, 0.0]
    p.main_y[:] = [0.2, 0.25, 0.0]  # |(0.2, 0.2)| = 0.28, |(0.25, 0.25)| = 0.35
    p.c_x[2] = p.c_y[2] = -0.25
    assert active_frames(p).tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("active_rows", "component"),
    [(4000, 1.0), (1000, 1.0), (999, 0.999), (500, 0.5), (0, 0.0)],
)
def test_a_quarter_of_the_frames_is_full_activity(active_rows: int, component: float) -> None:
    f = game(4000)
    f.players[1].buttons[:] = BUTTON_BITS["B"]
    f.players[0].main_y[:active_rows] = 1.0
    q = quality(f)
    assert q.active_fraction == pytest.approx((active_rows / 4000, 1.0), abs=1e-4)
    assert q.activity == pytest.approx(component)


def test_activity_is_the_lower_of_the_two_players() -> None:
    f = game(1000)
    f.players[0].main_x[:] = 1.0  # always active
    f.players[1].c_x[::10] = 1.0  # 10 % of the frames
    q = quality(f)
    assert q.active_fraction == (1.0, 0.1)
    assert q.activity == pytest.approx(0.4)


# ----------------------------------------------------------------------------- length


@pytest.mark.parametrize(
    ("n", "component"), [(300, 0.0), (600, 0.0), (2100, 0.5), (3600, 1.0), (20000, 1.0)]
)
def test_length_between_10_s_and_a_minute(n: int, component: float) -> None:
    assert quality(game(n)).length == pytest.approx(component)


def test_only_game_frames_count() -> None:
    """The 123 countdown frames (ids < 0) are not part of the game, for any rule."""
    f = game(123 + 2100, first=-123)
    for p in f.players:  # busy during the countdown only
        p.main_x[:123] = 1.0
        p.action[:123] = np.arange(123)
        p.percent[:123] = np.arange(123)
    q = quality(f)
    assert q.length == pytest.approx(0.5)  # 2100 game frames, not 2223 rows
    assert q.activity == 0.0
    assert q.distinct_actions == (1, 1)
    assert q.damage_received == (0.0, 0.0)


def test_countdown_only_recording() -> None:
    q = quality(game(100, first=-123))
    assert q.length == 0.0 and q.activity == 0.0 and q.damage == 0.0
    assert 0.0 <= q.score <= 100.0


# ----------------------------------------------------------------------------- damage


def test_damage_counts_positive_steps_and_a_stock_loss_is_not_a_hit() -> None:
    f = game(1000)
    p0, p1 = f.players
    p0.percent[100:] = 10
    p0.percent[200:] = 20  # received 20
    p1.percent[100:] = 12
    p1.percent[150:] = 30  # 30 so far
    p1.stocks[400:] = 3
    p1.percent[400:] = 0  # the stock loss resets percent: not a hit, not negative damage
    p1.percent[500:] = 40  # received 70 in all
    q = quality(f)
    assert q.damage_received == (20.0, 70.0)
    assert q.damage == pytest.approx(20 / 60, abs=1e-4)  # the lower of the two


@pytest.mark.parametrize(
    ("received", "component"),
    [((0, 100), 0.0), ((100, 0), 0.0), ((30, 30), 0.5), ((60, 60), 1.0), ((200, 90), 1.0)],
)
def test_damage_must_go_both_ways(received: tuple[int, int], component: float) -> None:
    f = game(1000)
    for p, dmg in zip(f.players, received, strict=True):
        p.percent[:] = np.linspace(0, dmg, 1000, dtype=np.float32)
    q = quality(f)
    assert q.damage == pytest.approx(component, abs=1e-4)
    assert q.damage_received == pytest.approx(received, abs=0.01)


# ----------------------------------------------------------------------------- SDs


def _die(p: PlayerFrames, row: int) -> None:
    p.stocks[row:] = p.stocks[row] - 1
    p.percent[row:] = 0


def _hit(p: PlayerFrames, row: int, dmg: float = 15) -> None:
    p.percent[row:] = p.percent[row] + dmg


def test_death_without_a_recent_hit_is_a_self_destruct() -> None:
    f = game(3000)
    p0, p1 = f.players
    _die(p0, 1000)  # nobody touched p0: an SD
    _hit(p1, 1900)
    _die(p1, 2000)  # 100 frames after a hit: a kill
    q = quality(f)
    assert (q.deaths, q.sds) == (2, 1)
    assert q.self_destructs == 0.5


@pytest.mark.parametrize(("gap", "sds"), [(1, 0), (240, 0), (241, 1), (2000, 1)])
def test_the_sd_window_is_240_frames(gap: int, sds: int) -> None:
    f = game(3000)
    _hit(f.players[0], 2500 - gap)
    _die(f.players[0], 2500)
    q = quality(f)
    assert (q.deaths, q.sds) == (1, sds)
    assert q.self_destructs == 1.0 - sds


def test_no_deaths_scores_one_and_only_sds_score_zero() -> None:
    assert quality(game(1000)).self_destructs == 1.0
    f = game(3000)
    for p in f.players:
        for row in (500, 1000, 1500, 2000):  # four stocks lost, the last one to 0
            _die(p, row)
    q = quality(f)
    assert (q.deaths, q.sds) == (8, 8)
    assert q.self_destructs == 0.0
    assert f.players[0].stocks[-1] == 0


# ----------------------------------------------------------------------------- diversity


def test_diversity_is_distinct_actions_over_40_lower_player() -> None:
    f = game(1000)
    f.players[0].action[:] = np.arange(1000) % 80
    f.players[1].action[:] = np.arange(1000) % 10
    q = quality(f)
    assert q.distinct_actions == (80, 10)
    assert q.diversity == 0.25
    f.players[1].action[:] = np.arange(1000) % 40
    assert quality(f).diversity == 1.0


# ----------------------------------------------------------------------------- the score


def test_score_is_the_weighted_mean_of_the_components() -> None:
    f = game(2400)  # length 0.6
    p0, p1 = f.players
    p0.main_x[:] = 1.0
    p1.main_x[: 2400 // 8] = 1.0  # activity 0.5
    _hit(p0, 100, 20)
    _hit(p1, 100, 20)
    _hit(p1, 300, 40)  # damage min(20, 60) / 60
    _die(p0, 1000)  # SD (its only hit is 900 frames before)
    _hit(p1, 1500)
    _die(p1, 1600)  # kill: self_destructs 0.5
    p0.action[:] = np.arange(2400) % 10  # diversity 10 / 40
    p1.action[:] = np.arange(2400) % 40
    want = {"length": 0.6, "damage": 1 / 3, "activity": 0.5, "self_destructs": 0.5}
    want["diversity"] = 0.25
    q = quality(f)
    for k, v in want.items():
        assert getattr(q, k) == pytest.approx(v, abs=1e-4), k
    assert q.score == pytest.approx(100 * sum(WEIGHTS[k] * v for k, v in want.items()), abs=0.01)


def test_an_idle_player_costs_exactly_the_activity_weight() -> None:
    f = lively()
    f.players[1].main_x[:] = 0.0
    q = quality(f)
    assert q.activity == 0.0
    assert q.score == pytest.approx(100 * (1 - WEIGHTS["activity"]))


# ----------------------------------------------------------------------------- real games

COMPETITIVE = "Walnut356__SlippiStats/Modern_Replays__Game_20221227T193458.slp"  # 2:48 netplay
SHORT = "hohav__peppi/tests__data__v3.12.slp"  # 124 frames


def test_a_competitive_game_beats_a_very_short_one(replays_dir: Path) -> None:
    _, long_frames = read_game(replays_dir / COMPETITIVE)
    _, short_frames = read_game(replays_dir / SHORT)
    good, bad = quality(long_frames), quality(short_frames)
    assert good.score > bad.score + 30
    assert good.length == 1.0 and bad.length == 0.0
    assert good.damage == 1.0 and good.deaths > 0
    # real play: active on many frames, but not on every frame (no neutral counted)
    assert all(0.25 < a < 1.0 for a in good.active_fraction)


def test_every_1v1_corpus_game_scores_within_0_100(corpus: Corpus) -> None:
    games = [r for r in corpus.results if r.error is None and r.info and r.info.mode == "1v1"]
    assert len(games) > 100
    for r in games:
        q = r.quality
        assert q is not None, r.path
        assert 0.0 <= q.score <= 100.0, r.path
        comps = {k: getattr(q, k) for k in COMPONENTS}
        assert all(0.0 <= v <= 1.0 for v in comps.values()), (r.path, comps)
        weighted = 100 * sum(WEIGHTS[k] * v for k, v in comps.items())
        assert q.score == pytest.approx(weighted, abs=0.02), r.path
    scores = [r.quality.score for r in games if r.quality]
    assert min(scores) < 50 < max(scores)  # the score separates games
