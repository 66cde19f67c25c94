"""Rewards from Frames equal the mock environment's own rewards on games it played, and
discounted returns equal a plain loop (truncated at the game's end)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exphil.envs import MockConfig, MockEnv, RewardConfig
from exphil.envs.cpu import ScriptedCpu
from exphil.game import Frames, concat_frames
from exphil.train._returns import (
    discounted_returns,
    frame_rewards,
    reward_terms,
    segment_returns,
)

GAMES = 4


def play_mock(frames_to_play: int) -> list[tuple[Frames, np.ndarray[Any, Any], Any]]:
    """Every game the mock finished: (its frames from frame 0 to the last, the mock's
    per-step rewards [K, 2] for frames 1..K, its GameOutcome). One stock and a 10 s timer;
    the first game of each slot starts at 150% / 60%, so some end on a stock-out and some
    on the timer (a few decided on percent)."""
    env = MockEnv(GAMES, MockConfig(stocks=1, time_limit=600))
    strong, weak = ScriptedCpu(9, GAMES, seed=1), ScriptedCpu(3, GAMES, seed=2)
    env.reset()
    for g in range(GAMES):
        env.place(g, 0, percent=60)
        env.place(g, 1, percent=150)
    fr = env.frames
    rows: list[list[Frames]] = [[fr.take(np.array([g]))] for g in range(GAMES)]
    rewards: list[list[np.ndarray[Any, Any]]] = [[] for _ in range(GAMES)]
    done_games = []
    for _ in range(frames_to_play):
        step = env.step(strong.act(fr, 0), weak.act(fr, 1))
        ended = np.flatnonzero(step.terminated | step.truncated)
        for g in range(GAMES):
            rewards[g].append(step.reward[g])
            if g not in ended:
                rows[g].append(step.frames.take(np.array([g])))
        assert step.final_frames is not None or not len(ended)
        for j, g in enumerate(ended):
            assert step.final_frames is not None
            rows[g].append(step.final_frames.take(np.array([j])))
            outcome = step.results[j]
            assert outcome.game == g
            done_games.append((concat_frames(rows[g]), np.stack(rewards[g]), outcome))
            rows[g] = [step.frames.take(np.array([g]))]
            rewards[g] = []
        fr = step.frames
    return done_games


@pytest.fixture(scope="module")
def mock_games() -> list[tuple[Frames, np.ndarray[Any, Any], Any]]:
    return play_mock(1200)


def test_replay_rewards_equal_the_mock_rewards(
    mock_games: list[tuple[Frames, np.ndarray[Any, Any], Any]],
) -> None:
    reasons = {o.reason for _, _, o in mock_games}
    assert reasons == {"stocks", "timeout"}, reasons  # both kinds of ending are covered
    decided_on_percent = 0
    for frames, mock, outcome in mock_games:
        assert len(frames) == len(mock) + 1
        for port in (0, 1):
            # with the game's result given, every frame matches, the last one included
            ours = frame_rewards(frames, port, RewardConfig(), winner=outcome.winner)
            assert ours[0] == 0.0
            np.testing.assert_allclose(ours[1:], mock[:, port], rtol=1e-6, atol=1e-6)
            # from the frames alone the winner is decided by stocks: the same on a
            # stock-out, and no win term when the timer decided on percent
            alone = frame_rewards(frames, port)
            np.testing.assert_allclose(alone[:-1], ours[:-1], rtol=0, atol=0)
            stock_tie = frames.players[0].stocks[-1] == frames.players[1].stocks[-1]
            if outcome.reason == "stocks" or not stock_tie:
                assert alone[-1] == pytest.approx(ours[-1], abs=1e-6)
            else:
                assert alone[-1] == pytest.approx(ours[-1] - 5.0 * sign(outcome.winner, port))
                decided_on_percent += outcome.winner != -1
        # zero-sum
        np.testing.assert_allclose(frame_rewards(frames, 0), -frame_rewards(frames, 1))
    assert decided_on_percent  # the percent tie-break was exercised


def sign(winner: int, port: int) -> float:
    return 0.0 if winner == -1 else (1.0 if winner == port else -1.0)


def test_reward_terms_and_weights() -> None:
    frames = Frames.zeros(4)
    me, opp = frames.players
    me.percent[:] = [0, 10, 10, 0]  # 10% taken, then a respawn: not negative damage
    opp.percent[:] = [0, 0, 25, 25]
    me.stocks[:] = [2, 2, 2, 1]
    opp.stocks[:] = [2, 2, 1, 1]
    terms = reward_terms(frames, 0)
    np.testing.assert_array_equal(terms[:, 0], [0, 0, 1, -1])  # stocks: opp lost, I lost
    np.testing.assert_array_equal(terms[:, 1], [0, -10, 25, 0])
    np.testing.assert_array_equal(terms[:, 2], [0, 0, 0, 0])  # 1 - 1 stocks: no winner
    assert reward_terms(frames, 0, winner=1)[-1, 2] == -1
    assert reward_terms(frames, 1, winner=1)[-1, 2] == 1
    w = RewardConfig(stock=2.0, damage=0.5, win=3.0)
    np.testing.assert_allclose(frame_rewards(frames, 0, w), [0, -5, 14.5, -2])
    with pytest.raises(ValueError, match="shaping"):
        frame_rewards(frames, 0, RewardConfig(approach=0.1))
    with pytest.raises(ValueError, match="port"):
        reward_terms(frames, 2)


def loop_returns(r: np.ndarray[Any, Any], discount: float) -> np.ndarray[Any, Any]:
    g = np.zeros(len(r))
    for t in range(len(r) - 2, -1, -1):
        g[t] = r[t + 1] + discount * g[t + 1]
    return g


@pytest.mark.parametrize("discount", [0.0, 0.5, 0.9, 0.5 ** (1 / 240), 1.0])
def test_discounted_returns_equal_a_loop(discount: float) -> None:
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 7, 5000, 9001):
        r = rng.normal(size=n)
        r[rng.random(n) < 0.01] = 5.0  # a few spikes, like stocks and wins
        got = discounted_returns(r, discount)
        want = loop_returns(r, discount)
        assert got.dtype == np.float32 and got.shape == (n,)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
        if n:
            assert got[-1] == 0.0  # truncated: nothing after the game's last frame


def test_segment_returns_never_cross_a_segment() -> None:
    rng = np.random.default_rng(4)
    lengths = np.array([5, 1, 300, 40])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    r = rng.normal(size=int(lengths.sum())).astype(np.float32)
    got = segment_returns(r, offsets, lengths, 0.95)
    for off, n in zip(offsets, lengths, strict=True):
        np.testing.assert_allclose(
            got[off : off + n], loop_returns(r[off : off + n], 0.95), rtol=1e-5, atol=1e-5
        )
