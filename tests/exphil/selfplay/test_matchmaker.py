"""The Matchmaker actor: each game result counts once (by result id), ratings stay anchored,
a new learner version starts from the rating of the version before it."""

from __future__ import annotations

import pytest

from exphil.selfplay import Ratings, default_anchors
from exphil.selfplay._services import Matchmaker, MatchStats
from exphil.wire import GameResult
from supervisors import Runtime, call, cast

pytestmark = pytest.mark.timeout(30)


def result(rid: str, learner: str, opponent: str, winner: int) -> GameResult:
    return GameResult(result_id=rid, worker="w", learner=learner, opponent=opponent,
                      winner=winner, frames=100, reason="stocks")  # fmt: skip


async def test_results_count_once_and_ratings_stay_anchored(anyio_backend: str) -> None:
    ratings = Ratings(default_anchors((5, 9)))
    stats = MatchStats()
    async with Runtime() as rt:
        mm = await rt.spawn(Matchmaker(ratings, stats))
        for i in range(20):
            await cast(mm, result(f"a/{i}", "v1", "cpu:5", 0))
        await cast(mm, result("a/3", "v1", "cpu:5", 1))  # a re-sent result: ignored
        await cast(mm, result("m/1", "v1", "v1", 0))  # a mirror game: no rating change
        board = await call(mm, "leaderboard")
    assert stats.results == 21 and stats.duplicates == 1
    assert ratings.games("v1") == 21
    assert ratings.rating("cpu:5") == default_anchors((5, 9))["cpu:5"]  # anchors never move
    assert ratings.rating("v1") > ratings.rating("cpu:5")
    assert [s.rating for s in board] == sorted((s.rating for s in board), reverse=True)
    assert list(stats.recent["cpu:5"]) == [1.0] * 20


async def test_a_new_version_starts_where_the_previous_one_was(anyio_backend: str) -> None:
    ratings = Ratings(default_anchors((5,)))
    stats = MatchStats()
    async with Runtime() as rt:
        mm = await rt.spawn(Matchmaker(ratings, stats))
        for i in range(10):
            await cast(mm, result(f"a/{i}", "v3", "cpu:5", 0))
        await call(mm, "leaderboard")  # every cast before it is handled
        before = ratings.rating("v3")
        await cast(mm, result("b/1", "v7", "v3", -1))  # first game of v7: a draw vs v3
        await call(mm, "leaderboard")
    assert abs(ratings.rating("v7") - before) < 1e-9  # a draw between equals moves nothing
