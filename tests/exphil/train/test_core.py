"""The shared training core: Optimization against a hand-written reference loop
(accumulation, clipping, schedule, EMA), its state round trip, and the RNG capture."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from exphil.train import (
    EMA,
    OptimConfig,
    Optimization,
    capture_rng,
    lr_factor,
    restore_rng,
)
from exphil.train._checkpoint import load_training_state, save_training_state

CPU = torch.device("cpu")


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(6, 4, generator=g) * 3, torch.randn(6, 2, generator=g)) for _ in range(n)]


def loss_of(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return (m(x) - y).square().mean()


CONFIG = OptimConfig(
    lr=0.05,
    schedule="cosine",
    warmup_steps=2,
    grad_accum=3,
    clip_norm=0.5,
    ema=0.9,
    weight_decay=0.01,
    bf16="off",
    compile="off",
)


def test_optimization_matches_a_reference_loop() -> None:
    """Accumulation over 3 batches (loss / 3), clipping at 0.5, warm-up then cosine over the
    horizon, AdamW, EMA: weights, EMA and reported lr / grad norm equal a plain loop."""
    data = batches(12)
    total = 4
    ours = model()
    opt = Optimization(ours, CONFIG, device=CPU, total_steps=total)
    clipped: list[float] = []
    opt.optimizer.register_step_pre_hook(
        lambda o, a, k: clipped.append(
            float(torch.nn.utils.get_total_norm([p.grad for p in ours.parameters()]))
        )
    )
    steps = []
    for i, batch in enumerate(data):
        with opt.autocast():
            loss = loss_of(opt.forward_model, batch)
        opt.backward(loss)
        assert opt.accumulating == ((i + 1) % 3 != 0)
        if not opt.accumulating:
            steps.append(opt.step())

    ref = model()
    adam = torch.optim.AdamW(ref.parameters(), lr=CONFIG.lr, weight_decay=0.01)
    ema = EMA(ref, 0.9)
    norms, lrs = [], []
    for s in range(total):
        for batch in data[3 * s : 3 * s + 3]:
            (loss_of(ref, batch) / 3).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)))
        lrs.append(CONFIG.lr * lr_factor(s, CONFIG, total))
        for group in adam.param_groups:
            group["lr"] = lrs[-1]
        adam.step()
        adam.zero_grad()
        ema.update(ref)

    assert [s.step for s in steps] == [1, 2, 3, 4] and opt.steps == 4
    assert [s.lr for s in steps] == lrs
    assert lrs[0] < lrs[1] and lrs[-1] < lrs[1]  # warm-up, then the cosine comes down
    assert [s.grad_norm for s in steps] == pytest.approx(norms)
    assert all(n > 0.5 for n in norms)  # the clip was active ...
    assert clipped == pytest.approx([0.5] * total, rel=1e-5)  # ... AdamW saw clipped grads
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)
    for k, v in opt.ema.shadow.items() if opt.ema else ():
        assert torch.equal(v, ema.shadow[k])


def test_an_early_step_closes_a_partial_group_and_no_clip_still_reports_the_norm() -> None:
    cfg = OptimConfig(grad_accum=4, clip_norm=0.0, bf16="off", compile="off")
    m = model()
    opt = Optimization(m, cfg, device=CPU, total_steps=10)
    opt.backward(loss_of(m, batches(1)[0]))
    assert opt.accumulating
    norm = float(torch.nn.utils.get_total_norm([p.grad for p in m.parameters()]))
    info = opt.step()  # e.g. an epoch's last, partial group
    assert info.grad_norm == pytest.approx(norm) and info.step == 1
    assert all(p.grad is None for p in m.parameters())
    assert opt.accumulating  # a new group starts empty


def test_state_round_trip_continues_exactly(tmp_path: Path) -> None:
    data = batches(10)
    cfg = OptimConfig(lr=0.02, grad_accum=1, ema=0.8, bf16="off", compile="off")
    m = model()
    opt = Optimization(m, cfg, device=CPU, total_steps=10)
    for batch in data[:5]:
        opt.backward(loss_of(m, batch))
        opt.step()
    with opt.ema_applied():  # the model holds the average inside, its own weights after
        averaged = copy.deepcopy(m.state_dict())
    assert not torch.equal(averaged["0.weight"], m.state_dict()["0.weight"])
    assert opt.ema is not None
    assert torch.equal(averaged["0.weight"], opt.ema.shadow["0.weight"])
    save_training_state(tmp_path / "s.pt", {"optim": opt.state_dict()})
    state = load_training_state(tmp_path / "s.pt")["optim"]  # weights_only=True

    twin = model()  # fresh weights: the raw ones come from the state
    twin.load_state_dict(averaged)  # what a resume gets from the (EMA) policy file
    opt2 = Optimization(twin, cfg, device=CPU, total_steps=10)
    opt2.load_state_dict(state)
    assert opt2.steps == 5
    for batch in data[5:]:
        for mm, oo in ((m, opt), (twin, opt2)):
            oo.backward(loss_of(mm, batch))
            oo.step()
    for a, b in zip(m.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt2.ema is not None
    for k, v in opt.ema.shadow.items():
        assert torch.equal(v, opt2.ema.shadow[k])
    with pytest.raises(ValueError, match="missing"):
        opt2.load_state_dict({"steps": 1})


def test_config_and_horizon_are_checked() -> None:
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        Optimization(model(), OptimConfig(), device=CPU, total_steps=0)
    with pytest.raises(TypeError, match="OptimConfig"):
        Optimization(model(), {"lr": 1}, device=CPU, total_steps=1)  # type: ignore[arg-type]


def test_capture_and_restore_rng_through_a_saved_state(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.random(), np.random.rand(3), torch.rand(2)  # move every stream along
    save_training_state(tmp_path / "rng.pt", {"rng": capture_rng(CPU)})

    def draw() -> tuple[float, list[float], list[float]]:
        return random.random(), np.random.rand(3).tolist(), torch.rand(2).tolist()

    first = draw()
    draw()
    restore_rng(load_training_state(tmp_path / "rng.pt")["rng"], CPU)
    assert draw() == first
