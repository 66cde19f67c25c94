"""The synchronous PPO loop on the scripted env (milliseconds per update), the recurrent
replay of a rollout, and the NaN guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exphil.agent import Agent
from exphil.envs import ScriptedEnv
from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.rl import (
    EnvConfig,
    OpponentConfig,
    OpponentPool,
    PPOConfig,
    PPOLossConfig,
    SelfPlay,
    Teacher,
    collect,
    train_ppo,
)
from exphil.rl._update import unroll
from exphil.train import OptimConfig


def _config(kind: str = "mlp", **kw: object) -> PPOConfig:
    base: dict[str, object] = {
        "policy": PolicyConfig(
            backbone=BackboneConfig(kind=kind, hidden=32, layers=1, window=8), head_hidden=32
        ),
        "env": EnvConfig(games=16),
        "opponents": OpponentConfig(fixed=("noop",)),
        "rollout": 32,
        "epochs": 2,
        "minibatches": 2,
        "updates": 3,
        "optim": OptimConfig(
            lr=1e-3, weight_decay=0.0, schedule="constant", bf16="off", compile="off"
        ),
    }
    base.update(kw)
    return PPOConfig(**base)  # type: ignore[arg-type]


def test_ppo_learns_the_scripted_rule() -> None:
    """Standing right of the opponent pays: PPO learns to push the stick right."""
    cfg = _config(
        updates=25,
        loss=PPOLossConfig(gamma=0.9, entropy=0.0, target_kl=None),
        optim=OptimConfig(
            lr=3e-3, weight_decay=0.0, schedule="constant", bf16="off", compile="off"
        ),
    )
    env = ScriptedEnv(16, time_limit=40, start=4.0, edge=30.0, step_reward=0.05, win=0.0)
    torch.manual_seed(0)
    result = train_ppo(cfg, env=env)
    first, last = result.stats[0], result.stats[-1]
    assert last["reward_per_frame"] > first["reward_per_frame"] + 0.02
    assert last["reward_per_frame"] > 0.03


@pytest.mark.parametrize("kind", ["gru", "attention", "mlp"])
def test_the_update_replays_exactly_what_was_played(kind: str) -> None:
    """Unrolling a rollout from its saved state, across the game starts inside it, gives the
    log-probabilities and values the agent acted with (the PPO ratio starts at 1)."""
    torch.manual_seed(1)
    cfg = _config(kind)
    policy = Policy(cfg.policy).eval()
    n = 6
    env = ScriptedEnv(n, time_limit=[5, 7, 9, 11, 40, 40], start=2.0, edge=6.0)
    learner = Agent(policy, n, 0, delay=2, seed=3)
    pool = OpponentPool(cfg.opponents, n, current=policy, initial=None, delay=0)
    sp = SelfPlay(env, learner, pool, Teacher(policy, n, torch.device("cpu")), None, env.reset())
    collect(sp, 10)  # start mid-game
    ro = collect(sp, 24)
    assert ro.resets.any() and (ro.terminated | ro.truncated).any()

    def slots(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.swapaxes(a, 0, 1)))

    with torch.no_grad():
        trunk = unroll(policy, slots(ro.dense), slots(ro.ids), ro.state0, slots(ro.resets))
        h = trunk.reshape(-1, trunk.shape[-1])
        targets = {k: slots(v).reshape(-1, *v.shape[2:]) for k, v in ro.actions.items()}
        out = policy.controller_head(h, targets=targets, with_entropy=False)
        values = policy.value(h)
    np.testing.assert_allclose(out.log_prob.numpy(), slots(ro.log_prob).reshape(-1).numpy(),
                               atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(values.numpy(), slots(ro.values).reshape(-1).numpy(), atol=1e-5)


def test_truncated_games_bootstrap_from_their_last_frame() -> None:
    torch.manual_seed(2)
    cfg = _config()
    policy = Policy(cfg.policy).eval()
    env = ScriptedEnv(4, time_limit=5)
    learner = Agent(policy, 4, 0, seed=0)
    pool = OpponentPool(cfg.opponents, 4, current=policy, initial=None, delay=0)
    sp = SelfPlay(env, learner, pool, None, None, env.reset())
    ro = collect(sp, 12)
    assert ro.truncated[4].all() and not ro.terminated.any()
    assert (ro.final_values[4] != 0).all() and (ro.final_values[:4] == 0).all()
    assert ro.resets[5].all() and not ro.resets[6:10].any()


def test_a_nan_rollout_stops_before_any_weight_changes() -> None:
    torch.manual_seed(3)
    cfg = _config()
    policy = Policy(cfg.policy)
    before = {k: v.clone() for k, v in policy.state_dict().items()}

    class Poisoned(ScriptedEnv):
        def step(self, p0, p1):  # type: ignore[no-untyped-def]
            out = super().step(p0, p1)
            out.reward[0, 0] = np.nan
            return out

    with pytest.raises(FloatingPointError, match="rewards"):
        train_ppo(cfg, env=Poisoned(16), policy=policy)
    for k, v in policy.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_the_update_reads_the_device_once_per_minibatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A minibatch's loss and statistics come back in one host read (a ``tolist`` of one
    vector), the gradient norm once per update: no ``float(tensor)`` per statistic. The means
    it reports equal the minibatch values read one by one."""
    from exphil.rl import gae, ppo_update
    from exphil.train import Optimization

    torch.manual_seed(4)
    cfg = _config(minibatches=2, epochs=2, loss=PPOLossConfig(target_kl=None))
    policy = Policy(cfg.policy).eval()
    n = 4
    env = ScriptedEnv(n, time_limit=9, start=2.0, edge=6.0)
    learner = Agent(policy, n, 0, seed=0)
    pool = OpponentPool(cfg.opponents, n, current=policy, initial=None, delay=0)
    sp = SelfPlay(env, learner, pool, None, None, env.reset())
    ro = collect(sp, 12)
    adv, ret = gae(ro.rewards, ro.values, ro.terminated, ro.truncated, ro.final_values,
                   ro.next_values, gamma=0.99, lam=0.95)  # fmt: skip

    reads: list[list[float]] = []
    floats = 0
    tolist, to_float = torch.Tensor.tolist, torch.Tensor.__float__

    def counted_tolist(self: torch.Tensor) -> object:
        out = tolist(self)
        reads.append(list(out))  # type: ignore[call-overload]
        return out

    def counted_float(self: torch.Tensor) -> float:
        nonlocal floats
        floats += 1
        return to_float(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counted_tolist)
    monkeypatch.setattr(torch.Tensor, "__float__", counted_float)
    optim = Optimization(policy, cfg.optim, total_steps=10, device=torch.device("cpu"))
    stats = ppo_update(policy, optim, ro, adv, ret, cfg, teacher=None, value_only=False,
                       rng=np.random.default_rng(0), device=torch.device("cpu"))  # fmt: skip
    monkeypatch.undo()
    assert len(reads) == cfg.epochs * cfg.minibatches  # one read per minibatch
    assert floats <= 2  # the gradient norm at the end (and the optimizer's own bookkeeping)
    mean = np.mean(np.array(reads), axis=0)
    assert stats.policy_loss == pytest.approx(mean[1], rel=1e-12)
    assert stats.value_loss == pytest.approx(mean[2], rel=1e-12)
    assert stats.entropy == pytest.approx(mean[3], rel=1e-12)
    assert stats.approx_kl == pytest.approx(mean[5], rel=1e-12)
    assert stats.clip_fraction == pytest.approx(mean[6], rel=1e-12)
    assert np.isfinite(stats.grad_norm) and stats.epochs == cfg.epochs
