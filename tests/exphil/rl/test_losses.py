"""PPO loss pieces against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from exphil.rl import approx_kl, clipped_surrogate, controller_kl, value_loss


def test_clipped_surrogate_by_hand() -> None:
    old = torch.zeros(3)
    new = torch.log(torch.tensor([1.5, 0.5, 1.1]))
    adv = torch.tensor([2.0, -1.0, 1.0])
    # ratio 1.5, A>0: min(3.0, 1.2*2=2.4) = 2.4; ratio 0.5, A<0: min(-0.5, 0.8*-1=-0.8) = -0.8;
    # ratio 1.1: inside the clip: 1.1
    expected = -(2.4 - 0.8 + 1.1) / 3
    assert float(clipped_surrogate(new, old, adv, 0.2)) == pytest.approx(expected, rel=1e-6)


def test_value_loss_clipped_by_hand() -> None:
    new, old, ret = torch.tensor([3.0, 0.0]), torch.tensor([1.0, 0.0]), torch.tensor([3.0, 1.0])
    assert float(value_loss(new, old, ret, None)) == pytest.approx(0.5 * (0 + 1) / 2)
    # clipped: v1 = 1 + clamp(2, -0.5, 0.5) = 1.5 -> (1.5-3)^2 = 2.25 > 0: max = 2.25
    assert float(value_loss(new, old, ret, 0.5)) == pytest.approx(0.5 * (2.25 + 1) / 2)


def test_controller_kl_by_hand() -> None:
    p = {
        "buttons": torch.tensor([[0.0, 2.0]]),
        "main_x": torch.log(torch.tensor([[0.5, 0.25, 0.25]])),
    }
    q = {
        "buttons": torch.tensor([[1.0, 2.0]]),
        "main_x": torch.log(torch.tensor([[0.25, 0.5, 0.25]])),
    }
    s = 1 / (1 + math.exp(-1.0))
    kl_button = 0.5 * math.log(0.5 / s) + 0.5 * math.log(0.5 / (1 - s))
    kl_cat = 0.5 * math.log(2) + 0.25 * math.log(0.5)
    assert float(controller_kl(p, q)[0]) == pytest.approx(kl_button + kl_cat, rel=1e-5)
    assert float(controller_kl(p, p)[0]) == pytest.approx(0.0, abs=1e-7)


def test_approx_kl_by_hand() -> None:
    old = torch.zeros(2)
    new = torch.log(torch.tensor([2.0, 0.5]))
    expected = ((2 - 1 - math.log(2)) + (0.5 - 1 - math.log(0.5))) / 2
    assert float(approx_kl(new, old)) == pytest.approx(expected, rel=1e-6)
