"""LR schedules follow the run's real horizon; the EMA averages and swaps weights."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from exphil.train._config import OptimConfig
from exphil.train._schedule import EMA, lr_factor


def curve(cfg: OptimConfig, total: int) -> list[float]:
    return [lr_factor(s, cfg, total) for s in range(total)]


def test_warmup_then_cosine_ends_at_the_floor_at_the_real_horizon() -> None:
    cfg = OptimConfig(schedule="cosine", warmup_steps=10, min_lr_ratio=0.1)
    c = curve(cfg, 110)
    assert c[0] == pytest.approx(0.1) and c[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in itertools.pairwise(c[:10]))  # warm-up rises
    assert all(a >= b for a, b in itertools.pairwise(c[9:]))  # then decays
    assert c[60] == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the cosine
    assert lr_factor(110, cfg, 110) == pytest.approx(0.1)
    # a longer run stretches the same shape: the horizon follows the number of steps
    assert lr_factor(210, cfg, 410) == pytest.approx(c[60])


def test_constant_linear_and_restarts() -> None:
    assert set(curve(OptimConfig(schedule="constant"), 50)) == {1.0}
    lin = curve(OptimConfig(schedule="linear"), 100)
    assert lin[0] == 1.0 and lin[50] == pytest.approx(0.5)
    sgdr = OptimConfig(schedule="cosine_restarts", restart_period=10, restart_mult=2.0)
    c = curve(sgdr, 70)
    assert c[0] == 1.0 and c[10] == 1.0 and c[30] == 1.0  # restarts at 10 and 10 + 20
    assert c[5] == pytest.approx(0.5) and c[20] == pytest.approx(0.5)
    assert min(c[10:30]) == pytest.approx(0.5 * (1 + math.cos(math.pi * 19 / 20)))


def test_ema_averages_and_swaps_weights_back() -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)  # first update: d = 1/10, mostly the new weights
    assert torch.allclose(ema.shadow["weight"], 0.1 * start + 0.9 * (start + 1))
    for _ in range(200):
        ema.update(model)
    assert torch.allclose(ema.shadow["weight"], model.weight, atol=1e-4)
    with torch.no_grad():
        model.weight.zero_()
    with ema.applied(model):
        assert torch.allclose(model.weight, start + 1, atol=1e-4)
    assert (model.weight == 0).all()  # restored
    restored = EMA(nn.Linear(3, 2), decay=0.5)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 201 and restored.decay == 0.9
    assert torch.equal(restored.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)
