"""NodePlay: a worker node's batched inference. The learner's decisions over several runners'
rows equal one Agent stepping all the games; one forward pass per distinct opponent per frame
(never one per game); weights load in place; the scripted CPU acts on a subset of rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

from exphil.agent import Agent
from exphil.envs import MockConfig, MockEnv
from exphil.envs.cpu import ScriptedCpu
from exphil.game import Controls
from exphil.game.frames import concat_frames
from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.selfplay import NodePlay, load_weights, weights_of
from exphil.wire import MixEntry

COLUMNS = ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons")


def tiny(kind: str, seed: int = 0) -> Policy:
    torch.manual_seed(seed)
    cfg = PolicyConfig(backbone=BackboneConfig(kind=kind, hidden=16, layers=1), head_hidden=16)
    return Policy(cfg).eval()


def same_controls(a: Controls, b: Controls) -> bool:
    return all(np.array_equal(getattr(a, c), getattr(b, c)) for c in COLUMNS)


class Runners:
    """Several runners' mock envs (different time limits: games end at different frames)."""

    def __init__(self, sizes: list[int], limits: list[int]) -> None:
        self.envs = [
            MockEnv(k, MockConfig(time_limit=t)) for k, t in zip(sizes, limits, strict=True)
        ]
        self.sizes = sizes
        self.frames = [e.reset() for e in self.envs]

    def all_frames(self) -> Any:
        return concat_frames(self.frames)

    def step(self, p0: Controls, p1: Controls) -> np.ndarray:
        """Step each env with its slice of the controllers; the done mask over all rows."""
        done, start = [], 0
        for i, (env, k) in enumerate(zip(self.envs, self.sizes, strict=True)):
            sl = np.arange(start, start + k)
            start += k
            out = env.step(p0.take(sl), p1.take(sl))
            self.frames[i] = out.frames
            done.append(out.terminated | out.truncated)
        return np.concatenate(done)


def test_several_runners_in_one_call_equal_one_agent_bit_for_bit() -> None:
    policy = tiny("gru")
    sizes = [2, 3, 2]
    n = sum(sizes)
    runners = Runners(sizes, limits=[7, 11, 13])
    play = NodePlay(policy, n, delay=2, seed=5)
    agent = Agent(policy, n, 0, delay=2, seed=5)
    rows = np.arange(n)
    ended = 0
    for _ in range(30):
        frames = runners.all_frames()
        step = play.act(frames, rows)  # explicit rows: the server's subset path
        c = agent.act(frames)
        d, ref = step.decision, agent.last
        assert ref is not None
        assert same_controls(step.p0, c)
        assert np.array_equal(d.rows, rows)
        assert np.array_equal(d.dense, ref.dense) and np.array_equal(d.ids, ref.ids)
        for k, v in ref.actions.items():
            assert np.array_equal(d.actions[k], v), k
        assert np.array_equal(d.log_prob, ref.log_prob)
        assert np.array_equal(d.value, ref.value)
        done = runners.step(step.p0, step.p1)
        if done.any():
            play.end_games(np.flatnonzero(done))
            agent.end_games(done)
            ended += int(done.sum())
    assert ended >= 2 * n  # every runner's games ended at least twice, at different frames
    assert play.games_ended == ended


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_each_game_plays_as_if_alone(kind: str) -> None:
    """Deterministic play of n batched games equals n agents of one game each. Controllers
    are bit-identical; values agree to float32 rounding only (a batch of n and a batch of 1
    take different matrix-multiply kernels, ~1e-7 apart), so they are compared at 1e-6."""
    policy = tiny(kind, seed=1)
    n = 4
    env = MockEnv(n, MockConfig(time_limit=9))
    play = NodePlay(policy, n, seed=2)
    play.learner.deterministic = True
    alone = [Agent(policy, 1, 0, deterministic=True) for _ in range(n)]
    frames = env.reset()
    for _ in range(20):
        step = play.act(frames)
        for i, a in enumerate(alone):
            c = a.act(frames.take(np.array([i])))
            assert same_controls(c, step.p0.take(np.array([i])))
            assert a.last is not None
            np.testing.assert_allclose(a.last.value, step.decision.value[i : i + 1], atol=1e-6)
        out = env.step(step.p0, step.p1)
        done = out.terminated | out.truncated
        if done.any():
            play.end_games(np.flatnonzero(done))
            for i, a in enumerate(alone):
                a.end_games(done[i : i + 1])
        frames = out.frames


def test_one_forward_pass_per_distinct_opponent_per_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy, frozen = tiny("mlp", seed=0), tiny("mlp", seed=3)
    n = 12
    env = MockEnv(n)
    play = NodePlay(policy, n, seed=0)
    mix = [
        MixEntry(name="current", kind="current", weight=1.0),
        MixEntry(name="v3", kind="snapshot", weight=1.0),
        MixEntry(name="cpu:7", kind="cpu", weight=1.0),
        MixEntry(name="cpu:3", kind="cpu", weight=1.0),
    ]
    play.set_mix(mix, {"v3": frozen})
    assert sorted(play.loaded()) == ["cpu:3", "cpu:7", "current", "v3"]
    play.end_games(np.arange(n))  # every game draws its opponent
    assert set(play.assign) == {"current", "v3", "cpu:7", "cpu:3"}  # 12 draws: all appear
    assert play.cpu is not None  # each CPU game plays at its own level
    assert {int(play.cpu.levels[i]) for i, a in enumerate(play.assign) if a == "cpu:7"} == {7}
    assert {int(play.cpu.levels[i]) for i, a in enumerate(play.assign) if a == "cpu:3"} == {3}

    calls: Counter[str] = Counter()
    who = {id(p): "cpu" if name.startswith("cpu:") else name for name, p in play.players.items()}
    who[id(play.learner)] = "learner"
    agent_act, cpu_act = Agent.act, ScriptedCpu.act_rows

    def counting_agent(self: Agent, *a: Any, **kw: Any) -> Controls:
        calls[who[id(self)]] += 1
        return agent_act(self, *a, **kw)

    def counting_cpu(self: ScriptedCpu, *a: Any, **kw: Any) -> Controls:
        calls[who[id(self)]] += 1
        return cpu_act(self, *a, **kw)

    monkeypatch.setattr(Agent, "act", counting_agent)
    monkeypatch.setattr(ScriptedCpu, "act_rows", counting_cpu)
    frames = env.reset()
    for _ in range(3):
        calls.clear()
        play.act(frames)
        assert calls == {"learner": 1, "current": 1, "v3": 1, "cpu": 1}  # all levels: one
        frames = env.step(Controls.neutral(n), Controls.neutral(n)).frames
    # a runner's rows: one pass per opponent among them only
    rows = np.array([i for i, name in enumerate(play.assign) if name != "v3"])
    calls.clear()
    step = play.act(frames.take(rows), rows)
    assert calls == {"learner": 1, "current": 1, "cpu": 1}
    assert len(step.p0) == len(step.p1) == len(rows)


def test_the_cpu_acts_on_a_subset_of_rows_alone() -> None:
    n = 6
    env = MockEnv(n, MockConfig(time_limit=40))
    whole, by_rows, subset = (ScriptedCpu(7, n, seed=4) for _ in range(3))
    sub = np.array([1, 4])
    rest = np.array([0, 2, 3, 5])
    frames = env.reset()
    for t in range(60):  # games end at frame 40: a CPU sees the new game by its frame number
        a = whole.act(frames, 1)
        b = by_rows.act_rows(frames, 1, np.arange(n))
        assert same_controls(a, b)
        before = {k: v.clone() for k, v in subset.state_dict().items() if hasattr(v, "clone")}
        c = subset.act_rows(frames.take(sub), 1, sub)
        assert same_controls(c, a.take(sub))  # a game's play depends only on its own rows
        after = subset.state_dict()
        for k, v in before.items():
            assert torch.equal(after[k][rest], v[rest]), (t, k)  # the others' plans untouched
        frames = env.step(Controls.neutral(n), a).frames
    for k, v in whole.state_dict().items():  # the rows-only CPU ended where act's did
        if hasattr(v, "clone"):
            assert torch.equal(by_rows.state_dict()[k], v), k


def test_set_weights_changes_the_learner_and_the_current_opponent() -> None:
    n = 3
    frames = MockEnv(n).reset()
    old, new = tiny("gru", seed=0), tiny("gru", seed=9)
    a, b = NodePlay(old, n, seed=1), NodePlay(tiny("gru", seed=0), n, seed=1)
    b.set_weights(weights_of(new), 7)
    assert b.version == 7 and a.version == 0
    assert b.players["current"].policy is b.policy  # type: ignore[union-attr]
    for k, v in weights_of(new).items():
        assert np.array_equal(weights_of(b.policy)[k], v), k
    sa, sb = a.act(frames), b.act(frames)
    assert sb.version == 7 and sa.version == 0
    assert not np.array_equal(sa.decision.value, sb.decision.value)
    opp_a, opp_b = a.players["current"].last, b.players["current"].last  # type: ignore[union-attr]
    assert opp_a is not None and opp_b is not None
    assert not np.array_equal(opp_a.value, opp_b.value)
    # equal to a fresh NodePlay built on the new weights
    c = NodePlay(new, n, seed=1, version=7)
    sc = c.act(frames)
    assert np.array_equal(sc.decision.value, sb.decision.value)
    assert same_controls(sc.p0, sb.p0) and same_controls(sc.p1, sb.p1)


def test_load_weights_refuses_what_does_not_fit_naming_the_key() -> None:
    policy = tiny("mlp")
    w = weights_of(policy)
    key = list(w)[-1]  # the last key: the others fit and must not be loaded either
    shifted = {k: v + 1 if v.dtype.kind == "f" else v for k, v in w.items()}
    with pytest.raises(ValueError, match=key.replace(".", r"\.") + r" is \(1, 2, 3\)"):
        load_weights(policy, shifted | {key: np.zeros((1, 2, 3), np.float32)})
    with pytest.raises(ValueError, match="missing.*" + key.replace(".", r"\.")):
        load_weights(policy, {k: v for k, v in w.items() if k != key})
    with pytest.raises(ValueError, match=r"unexpected.*bogus"):
        load_weights(policy, dict(w) | {"bogus": np.zeros(1, np.float32)})
    for k, v in weights_of(policy).items():  # nothing loaded: still the same weights
        assert np.array_equal(v, w[k]), k


def test_bf16_inference_node_plays() -> None:
    """``nodes.inference_bf16``: the learner and its opponents step under bf16 autocast."""
    policy = tiny("attention")
    env = MockEnv(3, MockConfig())
    play = NodePlay(policy, 3, seed=0, bf16=True)
    assert play.learner.bf16 and all(p.bf16 for p in play.players.values() if isinstance(p, Agent))
    frames = env.reset()
    for _ in range(5):
        step = play.act(frames)
        assert np.isfinite(step.decision.value).all() and len(step.decision.rows) == 3
        frames = env.step(step.p0, step.p1).frames
