"""The ``GameEnv`` contract, as agents and training loops rely on it: the mock and the scripted
env both implement it; terminations and truncations; bad controls; statistics."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from exphil.embed import EmbedConfig, embed, embed_games
from exphil.envs import (
    Controls,
    EnvStatistics,
    GameEnv,
    GameOutcome,
    MockConfig,
    MockEnv,
    ScriptedEnv,
    StepResult,
)
from exphil.game import Character, Frames, Stage, concat_frames, validate_frames

DEAD_LEFT, WAIT, WALK_MIDDLE = 0x01, 0x0E, 0x10


def sticks(*main_x: float) -> Controls:
    c = Controls.neutral(len(main_x))
    c.main_x[:] = main_x
    return c


def test_both_envs_are_game_envs() -> None:
    for env in (MockEnv(2), ScriptedEnv(2)):
        assert isinstance(env, GameEnv)
        assert env.n == 2 and env.stage == Stage.FINAL_DESTINATION
        assert env.characters == (Character.FOX, Character.FOX)
        env.close()
        env.close()  # closing twice is fine
    assert MockEnv(1, MockConfig(characters=("falco", "fox"))).characters == (
        Character.FALCO,
        Character.FOX,
    )
    assert not isinstance(object(), GameEnv)


def test_mock_timeout_is_truncated_and_stock_out_terminated() -> None:
    env = MockEnv(2, MockConfig(time_limit=5, stocks=1))
    env.place(1, 0, x=0.0, y=-141.0)  # port 0 of game 1 falls through the bottom blast zone
    first = env.step(Controls.neutral(2), Controls.neutral(2))
    assert isinstance(first, StepResult)
    assert first.terminated.tolist() == [False, True]
    assert first.truncated.tolist() == [False, False]
    assert first.done.tolist() == [False, True]
    assert first.results == (
        GameOutcome(game=1, winner=1, reason="stocks", frames=1, stocks=(0, 1), percent=(0, 0)),
    )
    for _ in range(3):
        step = env.step(Controls.neutral(2), Controls.neutral(2))
        assert not step.done.any()
    step = env.step(Controls.neutral(2), Controls.neutral(2))  # game 0's fifth frame
    assert step.truncated.tolist() == [True, False] and not step.terminated.any()
    assert [(r.game, r.reason, r.winner, r.frames) for r in step.results] == [(0, "timeout", -1, 5)]
    assert step.final_frames is not None and step.final_frames.frame.tolist() == [5]
    assert step.frames.frame.tolist() == [0, 4]  # game 0 already restarted
    s = env.statistics()
    assert s == EnvStatistics(
        games=2,
        steps=5,
        frames_stepped=10,
        games_finished=2,
        games_terminated=1,
        games_truncated=1,
        port0_wins=0,
        port1_wins=1,
        draws=1,
        game_frames=6,
    )
    assert s.mean_game_frames == 3.0


def test_scripted_frames_validate_and_embed() -> None:
    n, steps = 4, 40
    env = ScriptedEnv(n, time_limit=[12, 30, 100, 100], edge=10.0, start=4.0)
    frames = env.reset()
    validate_frames(frames, series=False)
    assert frames.frame.tolist() == [0] * n
    assert frames.players[0].x.tolist() == [-4.0] * n and frames.players[1].x.tolist() == [4.0] * n
    rng = np.random.default_rng(0)
    history: list[Frames] = [frames]
    finals = 0
    for _ in range(steps):
        p0 = sticks(*rng.uniform(-1.5, 1.5, n))  # beyond the range: clamped
        p1 = sticks(*rng.choice([-1.0, 0.0, 0.5], n))
        p1.buttons[:] = rng.integers(0, 256, n)
        step = env.step(p0, p1)
        validate_frames(step.frames, series=False)
        if step.final_frames is not None:
            validate_frames(step.final_frames, series=False)
            finals += len(step.final_frames)
        history.append(step.frames)
        for port in (0, 1):
            batch = embed_games(step.frames, EmbedConfig(), port, (p0, p1)[port])
            assert batch.dense.shape[0] == n and np.isfinite(batch.dense).all()
    assert finals > 0
    # one game's rows until it first ends are a valid series that embeds
    series = concat_frames([h.take([3]) for h in history[:10]])
    validate_frames(series)
    one_hot = EmbedConfig(action="one_hot", character="one_hot", stage="one_hot")
    assert np.isfinite(embed(series, one_hot, 1).dense).all()


def test_scripted_games_end_at_the_documented_frames() -> None:
    env = ScriptedEnv(4, time_limit=[5, 8, 100, 6], edge=10.0, start=4.0, speed=1.0)
    assert env.steps_to_edge == 7  # floor((10 - 4) / 1) + 1
    # game 0: port 0 walks right but is still left of port 1 at the time limit: port 1 wins
    # game 1: port 1 walks left and is level with port 0 on the time limit's step: a draw
    # game 2: port 0 walks off the left edge on step 7: terminated, port 1 wins
    # game 3: the two walk past each other; port 0 is right of port 1 at the time limit (6)
    p0, p1 = sticks(1.0, 0.0, -1.0, 1.0), sticks(0.0, -1.0, 0.0, -1.0)
    ends: dict[int, list[tuple[int, str, int]]] = {g: [] for g in range(4)}
    for t in range(1, 11):
        step = env.step(p0, p1)
        assert not (step.terminated & step.truncated).any()
        assert np.array_equal(step.reward[:, 1], -step.reward[:, 0])  # zero-sum
        for r in step.results:
            ends[r.game].append((t, r.reason, r.winner))
            assert step.terminated[r.game] == (r.reason == "edge")
            assert step.truncated[r.game] == (r.reason == "timeout")
            assert step.frames.frame[r.game] == 0  # auto-reset: already the next game
        assert step.done.sum() == len(step.results)
        if t == 7:
            assert step.final_frames is not None
            final = step.final_frames
            assert [r.game for r in step.results] == [2]
            assert final.players[0].action.tolist() == [DEAD_LEFT]
            assert final.players[0].stocks.tolist() == [0]
            assert final.players[1].stocks.tolist() == [1]
            assert final.players[0].x.tolist() == [-11.0]
            assert step.reward[2].tolist() == pytest.approx([-0.01 - 1.0, 0.01 + 1.0])
            assert step.results[0] == GameOutcome(2, 1, "edge", 7, (0, 1), (0.0, 0.0))
        if t < 7:
            assert step.reward[2, 0] == pytest.approx(-0.01)  # left of the opponent
        if t == 8:  # game 1 on its draw step: level, no reward either way
            assert step.reward[1].tolist() == [0.0, 0.0]
        if t == 6:  # game 3: port 0 right of port 1 and the winner
            assert step.reward[3].tolist() == pytest.approx([0.01 + 1.0, -0.01 - 1.0])
    assert ends == {
        0: [(5, "timeout", 1), (10, "timeout", 1)],
        1: [(8, "timeout", -1)],
        2: [(7, "edge", 1)],
        3: [(6, "timeout", 0)],
    }
    s = env.statistics()
    assert (s.steps, s.frames_stepped, s.games_finished) == (10, 40, 5)
    assert (s.games_terminated, s.games_truncated) == (1, 4)
    assert (s.port0_wins, s.port1_wins, s.draws) == (1, 3, 1)
    assert s.game_frames == 5 + 5 + 8 + 7 + 6 and s.mean_game_frames == 31 / 5


def test_scripted_rule_movement_facing_actions_and_reward_sign() -> None:
    env = ScriptedEnv(1, start=2.0, speed=0.5)
    fr = env.step(sticks(1.0), sticks(0.0)).frames
    assert fr.players[0].x.tolist() == [-1.5] and fr.players[0].vx_ground.tolist() == [0.5]
    assert fr.players[0].action.tolist() == [WALK_MIDDLE] and fr.players[1].action[0] == WAIT
    assert fr.players[0].main_x.tolist() == [1.0]  # the controls that produced the frame
    for _ in range(8):
        step = env.step(sticks(1.0), sticks(0.0))
    fr = step.frames
    assert fr.players[0].x.tolist() == [2.5]  # passed port 1 (at 2.0)
    assert fr.players[0].action_frame.tolist() == [8.0]
    assert step.reward[0].tolist() == pytest.approx([0.01, -0.01])
    fr = env.step(sticks(-0.5), sticks(0.0)).frames  # turns around
    assert fr.players[0].facing.tolist() == [-1] and fr.players[0].x.tolist() == [2.25]
    assert fr.players[1].facing.tolist() == [-1]  # never moved: still faces the center


@pytest.mark.parametrize("make", [lambda: MockEnv(2), lambda: ScriptedEnv(2)])
def test_bad_controls_raise_naming_the_port_and_column(make: Any) -> None:
    env: GameEnv = make()
    before = env.reset()
    nan = Controls.neutral(2)
    nan.main_x[1] = np.nan
    with pytest.raises(ValueError, match=r"^port 1's controls\.main_x has NaN$"):
        env.step(Controls.neutral(2), nan)
    with pytest.raises(ValueError, match=r"port 0's controls\.main_x has shape \(3,\)"):
        env.step(Controls.neutral(3), Controls.neutral(2))
    bad = Controls.neutral(2)
    object.__setattr__(bad, "buttons", np.array([0, 300]))
    with pytest.raises(ValueError, match=r"port 0's controls\.buttons must be uint8"):
        env.step(bad, Controls.neutral(2))
    with pytest.raises(TypeError, match="port 0's controls must be Controls"):
        env.step("A", Controls.neutral(2))  # type: ignore[arg-type]
    assert env.statistics().steps == 0
    after = env.step(Controls.neutral(2), Controls.neutral(2)).frames
    assert after.frame.tolist() == [1, 1]
    assert before.players[0].x.tolist() == after.players[0].x.tolist()


def test_scripted_is_deterministic_fast_and_refuses_bad_options() -> None:
    n, steps = 100, 100
    rng = np.random.default_rng(1)
    controls = [(sticks(*rng.uniform(-1, 1, n)), sticks(*rng.uniform(-1, 1, n))) for _ in range(4)]
    a, b = ScriptedEnv(n, time_limit=30), ScriptedEnv(n, time_limit=30)
    t0 = time.perf_counter()
    for t in range(steps):
        sa = a.step(*controls[t % 4])
    elapsed = time.perf_counter() - t0
    for t in range(steps):
        sb = b.step(*controls[t % 4])
    assert np.array_equal(sa.frames.players[1].x, sb.frames.players[1].x)
    assert np.array_equal(sa.reward, sb.reward)
    assert elapsed < 1.0, f"{n * steps} frames took {elapsed:.3f} s"  # ~10 ms
    a.close()
    with pytest.raises(RuntimeError, match="closed"):
        a.step(*controls[0])
    with pytest.raises(ValueError, match="time_limit must be one int or 3"):
        ScriptedEnv(3, time_limit=[1, 2])
    with pytest.raises(ValueError, match="time_limit must be at least 1"):
        ScriptedEnv(1, time_limit=0)
    with pytest.raises(ValueError, match="start must be in"):
        ScriptedEnv(1, start=11.0, edge=10.0)
    with pytest.raises(ValueError, match="speed must be > 0"):
        ScriptedEnv(1, speed=0.0)
    with pytest.raises(ValueError, match="n must be at least 1"):
        ScriptedEnv(0)
