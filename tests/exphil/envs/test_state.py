"""Saving and restoring game-side state: a run resumed from a checkpoint continues exactly.

States go through ``torch.save`` and ``torch.load(weights_only=True)``, as PPO checkpoints do.
Each state is taken, the original run continues, and only then is the state serialized: a
state that aliased live arrays would have moved on with the run and fail the comparison.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

from exphil.envs import MockConfig, MockEnv, ScriptedEnv, StepResult
from exphil.envs.cpu import ScriptedCpu
from exphil.game import Controls, Frames
from exphil.game.frames import BUTTON_BITS
from exphil.players import CpuPlayer, NoopPlayer, Player, RandomPlayer

N = 8
CONFIG = MockConfig(stocks=1, time_limit=100)


def through_torch(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    out: dict[str, Any] = torch.load(buf, weights_only=True)
    return out


def frame_bytes(fr: Frames | None) -> list[tuple[str, str, bytes]] | None:
    """Every column of ``fr`` as (name, dtype, bytes): equal means bit-identical."""
    if fr is None:
        return None
    cols = {"frame": fr.frame, "stage": fr.stage}
    for p in (0, 1):
        cols |= {f"p{p}.{k}": v for k, v in fr.players[p].columns().items()}
        cols |= {f"nana{p}.{k}": v for k, v in fr.nana[p].columns().items()}
    cols |= {f"items.{k}": v for k, v in fr.items.columns().items()}
    return [(k, v.dtype.str, np.ascontiguousarray(v).tobytes()) for k, v in cols.items()]


def ctrl_bytes(c: Controls) -> list[tuple[str, str, bytes]]:
    return [(k, v.dtype.str, np.ascontiguousarray(v).tobytes()) for k, v in c.columns().items()]


def record(r: StepResult) -> tuple[Any, ...]:
    return (
        frame_bytes(r.frames),
        r.reward.dtype.str,
        r.reward.tobytes(),
        r.terminated.tobytes(),
        r.truncated.tobytes(),
        frame_bytes(r.final_frames),
        r.results,
    )


def play(
    env: MockEnv | ScriptedEnv, p0: Player, p1: Player, steps: int
) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Step ``steps`` frames from the env's current frame; the step records and the
    controls the players chose."""
    fr = env.frames
    out, controls = [], []
    for _ in range(steps):
        c0, c1 = p0.act(fr), p1.act(fr)
        controls.append((ctrl_bytes(c0), ctrl_bytes(c1)))
        r = env.step(c0, c1)
        p0.end_games(r.done)
        p1.end_games(r.done)
        out.append(record(r))
        fr = r.frames
    return out, controls


def test_mock_env_with_cpus_resumes_bit_identically() -> None:
    env = MockEnv(N, CONFIG)
    p0, p1 = CpuPlayer(5, N, 0, seed=1), CpuPlayer(9, N, 1, seed=2)
    env.reset()
    play(env, p0, p1, 126)  # every game timed out once at frame 100; the CPUs are mid-plan
    # half the games: port 0 or 1 falls to its last stock's death in a few frames
    for g in range(0, N, 2):
        env.place(g, (g // 2) % 2, x=-100.0, y=-141.0, jumps=0)
    states = [env.state_dict(), p0.state_dict(), p1.state_dict()]
    now = frame_bytes(env.frames)
    steps, controls = play(env, p0, p1, 150)
    stats = env.statistics()
    terminated = sum(np.frombuffer(s[3], dtype=bool).sum() for s in steps)
    truncated = sum(np.frombuffer(s[4], dtype=bool).sum() for s in steps)
    assert terminated == N // 2 and truncated > 0  # both ways to end happen after the save

    saved = through_torch({"env": states[0], "p0": states[1], "p1": states[2]})
    env2 = MockEnv(N, MockConfig(stage="fd", stocks=1, time_limit=100))  # an alias: same config
    q0, q1 = CpuPlayer(5, N, 0, seed=7), CpuPlayer(9, N, 1, seed=8)  # seeds come from the state
    env2.load_state_dict(saved["env"])
    q0.load_state_dict(saved["p0"])
    q1.load_state_dict(saved["p1"])
    assert frame_bytes(env2.frames) == now
    steps2, controls2 = play(env2, q0, q1, 150)
    assert controls2 == controls
    for a, b in zip(steps, steps2, strict=True):
        assert a == b
    assert env2.statistics() == stats


def make_scripted() -> ScriptedEnv:
    return ScriptedEnv(6, time_limit=(5, 7, 9, 11, 13, 17), edge=10.0, start=4.0)


def test_scripted_env_with_random_players_resumes_bit_identically() -> None:
    env = make_scripted()
    p0, p1 = RandomPlayer(6, seed=1), RandomPlayer(6, seed=2)
    play(env, p0, p1, 23)
    state = {"env": env.state_dict(), "p0": p0.state_dict(), "p1": p1.state_dict()}
    now = frame_bytes(env.frames)
    steps, controls = play(env, p0, p1, 60)
    assert any(np.frombuffer(s[3], dtype=bool).any() for s in steps)  # falls off the edge
    assert any(np.frombuffer(s[4], dtype=bool).any() for s in steps)  # timeouts

    saved = through_torch(state)
    env2, q0, q1 = make_scripted(), RandomPlayer(6, seed=5), RandomPlayer(6, seed=6)
    env2.load_state_dict(saved["env"])
    q0.load_state_dict(saved["p0"])
    q1.load_state_dict(saved["p1"])
    assert frame_bytes(env2.frames) == now  # the last controls are in the frame's columns
    steps2, controls2 = play(env2, q0, q1, 60)
    assert controls2 == controls
    assert steps2 == steps
    assert env2.statistics() == env.statistics()


def test_inputs_held_across_a_save_are_not_pressed_again() -> None:
    """Presses are edges against the last step's inputs: stick up and X held through a save
    must not double-jump after a restore."""
    env = MockEnv(2)
    held = Controls.neutral(2)
    held.main_y[0] = 1.0  # game 0: tap jump held
    held.buttons[1] = BUTTON_BITS["X"]  # game 1: X held
    for _ in range(12):  # jump squat, then airborne with one jump left
        env.step(held, held)
    state = through_torch(env.state_dict())
    after = [record(env.step(held, held)) for _ in range(20)]
    env2 = MockEnv(2)
    env2.load_state_dict(state)
    assert [record(env2.step(held, held)) for _ in range(20)] == after


def test_random_player_resumes_its_draws() -> None:
    p = RandomPlayer(5, seed=3)
    fr = Frames.zeros(5)
    p.act(fr)
    state = p.state_dict()
    rows = np.array([1, 3])
    after = [p.act(fr), p.act(fr, rows), p.act(fr)]
    q = RandomPlayer(5, seed=4)
    q.load_state_dict(through_torch(state))
    again = [q.act(fr), q.act(fr, rows), q.act(fr)]
    assert [ctrl_bytes(c) for c in again] == [ctrl_bytes(c) for c in after]
    with pytest.raises(ValueError, match="n"):
        RandomPlayer(4).load_state_dict(through_torch(state))


def test_scripted_cpu_state_restores_plans_and_seeds() -> None:
    levels = [1, 1, 2, 5, 9]
    env = MockEnv(5)
    cpu = ScriptedCpu(levels, 5, seed=2)  # game 1 wanders left
    fr = env.reset()
    for _ in range(45):  # levels 1, 2 and 5 are mid-plan (level 1 wandering either way)
        fr = env.step(cpu.act(fr, 0), Controls.neutral(5)).frames
    state = through_torch(cpu.state_dict())
    other = ScriptedCpu(levels, 5, seed=12)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.seeds, cpu.seeds)
    for _ in range(20):  # the CPUs see the same frames: they must choose the same
        a = cpu.act(fr, 0)
        assert ctrl_bytes(other.act(fr, 0)) == ctrl_bytes(a)
        fr = env.step(a, Controls.neutral(5)).frames
    with pytest.raises(ValueError, match="levels"):
        ScriptedCpu([1, 1, 2, 5, 8], 5).load_state_dict(state)
    with pytest.raises(ValueError, match="n is 5"):
        ScriptedCpu(5, 4).load_state_dict(state)


def test_a_mismatched_state_is_refused_and_changes_nothing() -> None:
    env = MockEnv(4, MockConfig(time_limit=100))
    state = through_torch(env.state_dict())
    with pytest.raises(ValueError, match=r"time_limit: saved 100, this env 200"):
        MockEnv(4, MockConfig(time_limit=200)).load_state_dict(state)
    with pytest.raises(ValueError, match=r"characters"):
        MockEnv(4, MockConfig(characters=("fox", "falco"), time_limit=100)).load_state_dict(state)
    with pytest.raises(ValueError, match=r"n is 4 games, this env has 3"):
        MockEnv(3, MockConfig(time_limit=100)).load_state_dict(state)
    with pytest.raises(ValueError, match=r"kind: expected 'MockEnv', got 'ScriptedEnv'"):
        env.load_state_dict(ScriptedEnv(4).state_dict())

    target = MockEnv(4, MockConfig(time_limit=100))
    target.step(Controls.neutral(4), Controls.neutral(4))
    before = target.state_dict()
    bad = dict(state, buttons=torch.zeros(2, 4, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"buttons must be int64 of shape \(2, 4\)"):
        target.load_state_dict(bad)
    after = target.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if isinstance(v, torch.Tensor))
    assert target.statistics().steps == 1

    # values the compiled kernel would index its tables with: checked, not trusted
    for key, index, value, message in (
        ("int_state", (0, 1, 2), 10_000, r"int_state: state out of range \(player 1 of game 2\)"),
        ("int_state", (6, 0, 3), 7, r"surface out of range \(player 0 of game 3\): 7, expected -1"),
        ("item_ints", (2, 4, 1), 2, r"item_ints: owner out of range \(slot 4 of game 1\)"),
        ("item_ints", (3, 0, 0), -1, r"move out of range"),
    ):
        bad_values = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}
        bad_values[key][index] = value
        with pytest.raises(ValueError, match=message):
            target.load_state_dict(bad_values)
    after = target.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if isinstance(v, torch.Tensor))

    scripted = ScriptedEnv(2, speed=1.0).state_dict()
    with pytest.raises(ValueError, match=r"speed: saved 1.0, this env 2.0"):
        ScriptedEnv(2, speed=2.0).load_state_dict(scripted)


def test_player_states_name_their_kind_and_shape() -> None:
    NoopPlayer(3).load_state_dict(through_torch(NoopPlayer(3).state_dict()))
    with pytest.raises(ValueError, match="noop"):
        NoopPlayer(3).load_state_dict(RandomPlayer(3).state_dict())
    with pytest.raises(ValueError, match="port"):
        CpuPlayer(5, 2, 1).load_state_dict(CpuPlayer(5, 2, 0).state_dict())
    with pytest.raises(ValueError, match="levels"):
        CpuPlayer(5, 2, 0).load_state_dict(CpuPlayer(6, 2, 0).state_dict())
