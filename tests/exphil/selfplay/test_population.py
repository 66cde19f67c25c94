"""Population: snapshots persisted in the run folder (kept to history_size, seen again on
resume) and the opponent mixes drawn from them (shares 40/30/20/10 by default)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from exphil.nets import BackboneConfig, Policy, PolicyConfig, read_policy_config, save_policy
from exphil.rl import OpponentConfig
from exphil.selfplay import Population, weights_of
from exphil.wire import MixEntry


def tiny(seed: int) -> Policy:
    torch.manual_seed(seed)
    cfg = PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), head_hidden=16)
    return Policy(cfg)


def shares(mix: list[MixEntry]) -> dict[str, float]:
    total = sum(e.weight for e in mix)
    return {e.name: e.weight / total for e in mix}


def test_snapshots_are_persisted_kept_to_history_size_and_resumed(tmp_path: Path) -> None:
    pop = Population(tmp_path, OpponentConfig(history_size=2))
    policies = {v: tiny(v) for v in (10, 20, 30)}
    for v, p in policies.items():
        assert pop.add_snapshot(p, v, {"update": v}) == f"v{v}"
    folder = tmp_path / "population"
    assert pop.snapshots == ["v20", "v30"]
    assert sorted(f.name for f in folder.glob("*.safetensors")) == ["v20.safetensors",
                                                                   "v30.safetensors"]  # fmt: skip
    assert json.loads((folder / "index.json").read_text())["snapshots"] == ["v20", "v30"]
    assert read_policy_config(folder / "v30.safetensors")[1] == {"update": 30}
    pop.add_snapshot(policies[30], 30, {})  # the same version again: no second entry
    assert pop.snapshots == ["v20", "v30"]

    again = Population(tmp_path, OpponentConfig(history_size=2))  # a resumed run
    assert again.snapshots == ["v20", "v30"]
    for k, v in weights_of(policies[20]).items():
        assert np.array_equal(again.weights("v20")[k], v), k
    with pytest.raises(KeyError, match="v10"):  # dropped
        again.weights("v10")
    with pytest.raises(KeyError, match="nobody"):
        again.weights("nobody")
    save_policy(policies[10], tmp_path / "initial.safetensors")
    for k, v in weights_of(policies[10]).items():
        assert np.array_equal(again.weights("initial")[k], v), k


def test_fixed_opponents_get_equal_weights(tmp_path: Path) -> None:
    pop = Population(tmp_path, OpponentConfig(fixed=("current", "cpu:3", "initial", "v40")))
    mix = pop.mix(4)
    assert [(e.name, e.kind, e.weight) for e in mix] == [
        ("current", "current", 1.0), ("cpu:3", "cpu", 1.0),
        ("initial", "snapshot", 1.0), ("v40", "snapshot", 1.0),
    ]  # fmt: skip
    assert pop.anchors() == ["cpu:3", "initial", "v40"]


def test_the_default_mix_gives_each_group_its_share(tmp_path: Path) -> None:
    cfg = OpponentConfig()  # current 0.4, history 0.3, cpu 0.2, uniform 0.1; recent 5
    pop = Population(tmp_path, cfg, seed=1)
    p = tiny(0)
    for v in range(1, 10):
        pop.add_snapshot(p, v, {})
    recent, older = {f"v{v}" for v in range(5, 10)}, {"initial"} | {f"v{v}" for v in range(1, 5)}
    levels = [f"cpu:{lv}" for lv in cfg.cpu_levels]
    for slots in (1, 3):  # every mix: current 0.4, each CPU level 0.2 / 5, snapshots 0.4
        for _ in range(50):
            s = shares(pop.mix(slots))
            assert s["current"] == pytest.approx(0.4)
            assert [s[c] for c in levels] == pytest.approx([0.04] * 5)
            assert sum(s[n] for n in recent | older if n in s) == pytest.approx(0.4)
            assert len([n for n in s if n in recent | older]) <= slots
    # one slot: "history" (0.3) picks among the 5 newest, "uniform" (0.1) among all 10
    got: dict[str, float] = defaultdict(float)
    draws = 4000
    for _ in range(draws):
        for name, share in shares(pop.mix(1)).items():
            got[name] += share / draws
    assert sum(got[n] for n in recent) == pytest.approx(0.3 + 0.1 * 5 / 10, abs=0.01)
    assert sum(got[n] for n in older) == pytest.approx(0.1 * 5 / 10, abs=0.01)
    assert all(got[n] > 0 for n in recent | older)  # everyone is drawn now and then


def test_without_snapshots_the_initial_policy_is_the_only_pick(tmp_path: Path) -> None:
    pop = Population(tmp_path, OpponentConfig(), seed=2)
    for _ in range(20):
        mix = pop.mix(3)
        assert [e.name for e in mix if e.kind == "snapshot"] == ["initial"]
        s = shares(mix)  # the empty "history" group's share goes to the others
        assert s["current"] == pytest.approx(0.4 / 0.7)
        assert s["initial"] == pytest.approx(0.1 / 0.7)
    none = Population(tmp_path / "b", OpponentConfig(include_initial=False, cpu=0.0))
    assert [(e.name, e.kind) for e in none.mix(3)] == [("current", "current")]


def test_the_mix_draws_resume_where_they_left_off(tmp_path: Path) -> None:
    pop = Population(tmp_path, OpponentConfig(), seed=3)
    for v in range(1, 8):
        pop.add_snapshot(tiny(0), v, {})
    pop.mix(2)
    state = pop.state_dict()
    again = Population(tmp_path, OpponentConfig(), seed=99)
    again.load_state_dict(state)
    assert [pop.mix(2) for _ in range(5)] == [again.mix(2) for _ in range(5)]
