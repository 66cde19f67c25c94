"""The autoregressive controller head, the value head, the losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from exphil.embed import ControllerConfig
from exphil.nets._heads import COMPONENTS, ControllerHead, ValueHead, controller_loss

CFG = ControllerConfig(axis_buckets=4, shoulder_buckets=2)  # 5 stick classes, 3 shoulder


def make(seed: int = 0) -> ControllerHead:
    torch.manual_seed(seed)
    return ControllerHead(12, CFG, hidden=16).eval()


def test_log_prob_is_the_chain_rule_sum() -> None:
    head = make()
    trunk = torch.randn(5, 12)
    sampled = head(trunk).actions
    out = head(trunk, targets=sampled)
    # by hand: each component's probability given the components chosen before it
    ctx = head.project(trunk)
    manual = torch.zeros(5)
    for name in COMPONENTS:
        logits = head.heads[name](ctx)
        if name == "buttons":
            b = sampled[name].float()
            p = torch.sigmoid(logits)
            manual += (b * p.log() + (1 - b) * (1 - p).log()).sum(-1)
            ctx = ctx + head.feed[name](b)
        else:
            idx = sampled[name]
            manual += F.log_softmax(logits, -1)[torch.arange(5), idx]
            ctx = ctx + head.feed[name](idx)
    assert torch.allclose(out.log_prob, manual, atol=1e-5)
    # and the components really condition on each other: other buttons, other stick odds
    flipped = {k: v.clone() for k, v in sampled.items()}
    flipped["buttons"] = 1 - flipped["buttons"]
    other = head(trunk, targets=flipped)
    assert not torch.allclose(other.logits["main_x"], out.logits["main_x"])


def test_sampling_frequencies_match_the_distribution() -> None:
    head = make(1)
    with torch.no_grad():  # buttons always off, so main_x's distribution is known exactly
        head.heads["buttons"][-1].bias.fill_(-30.0)
    trunk = torch.randn(1, 12).expand(20000, 12)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        out = head(trunk, generator=gen)
        zero = {"buttons": torch.zeros(1, 8, dtype=torch.uint8)}
        probs = F.softmax(
            head(
                trunk[:1],
                targets=zero | {k: torch.zeros(1, dtype=torch.long) for k in COMPONENTS[1:]},
            ).logits["main_x"],
            -1,
        )[0]
    assert out.actions["buttons"].sum() == 0
    freq = torch.bincount(out.actions["main_x"], minlength=CFG.axis_classes).float() / 20000
    assert torch.allclose(freq, probs, atol=0.015), (freq, probs)


def test_deterministic_takes_the_most_likely_value_each_step() -> None:
    head = make(2)
    trunk = torch.randn(4, 12)
    a = head(trunk, deterministic=True)
    b = head(trunk, deterministic=True)
    for k in COMPONENTS:
        assert torch.equal(a.actions[k], b.actions[k])
    assert torch.equal(a.actions["main_x"], a.logits["main_x"].argmax(-1))
    with pytest.raises(ValueError, match="temperature"):
        head(trunk, temperature=0)


def test_entropy_is_the_sum_of_conditional_entropies() -> None:
    head = make(3)
    trunk = torch.randn(3, 12)
    out = head(trunk)
    h = torch.zeros(3)
    for name in COMPONENTS:
        lg = out.logits[name]
        if name == "buttons":
            p = torch.sigmoid(lg)
            h += -(p * p.log() + (1 - p) * (1 - p).log()).sum(-1)
        else:
            lp = F.log_softmax(lg, -1)
            h += -(lp.exp() * lp).sum(-1)
    assert torch.allclose(out.entropy, h, atol=1e-5)


def test_losses_smooth_categoricals_only_and_focus_on_hard_examples() -> None:
    head = make(4)
    trunk = torch.randn(6, 12)
    targets = head(trunk).actions
    logits = head(trunk, targets=targets).logits
    plain = controller_loss(logits, targets)
    smooth = controller_loss(logits, targets, label_smoothing=0.2)
    assert torch.equal(plain["buttons"], smooth["buttons"])  # never smoothed
    assert not torch.equal(plain["main_x"], smooth["main_x"])
    focal = controller_loss(logits, targets, focal_gamma=2.0)
    assert (focal["main_x"] < plain["main_x"]).item()
    weighted = controller_loss(logits, targets, weights={"buttons": 0.0})
    assert math.isclose(
        weighted["total"].item(), sum(plain[k].item() for k in COMPONENTS[1:]), rel_tol=1e-5
    )
    with pytest.raises(ValueError, match="unknown loss weights"):
        controller_loss(logits, targets, weights={"stick": 1.0})


def test_value_head_and_gradients() -> None:
    head, value = make(5), ValueHead(12)
    trunk = torch.randn(4, 12, requires_grad=True)
    out = head(trunk, targets=head(trunk).actions)
    (-(out.log_prob.sum()) + value(trunk).pow(2).sum()).backward()
    assert trunk.grad is not None and torch.isfinite(trunk.grad).all()
    assert value(trunk).shape == (4,)


def test_sampling_reads_explicit_noise() -> None:
    """Equal noise gives equal controllers (what the ONNX graphs rely on); buttons are
    pressed with their probability; a lower temperature sharpens; bad noise is refused."""
    from exphil.nets import NOISE_WIDTH

    head = make(3)
    trunk = torch.randn(1, 12).expand(20000, 12)
    noise = torch.rand(20000, NOISE_WIDTH, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = head(trunk, noise=noise)
        b = head(trunk, noise=noise.clone())
        p_buttons = torch.sigmoid(head.heads["buttons"](head.project(trunk[:1])))[0]
        cold = head(trunk, noise=noise, temperature=0.25)
    for k in COMPONENTS:
        assert torch.equal(a.actions[k], b.actions[k])
    freq = a.actions["buttons"].float().mean(0)
    assert torch.allclose(freq, p_buttons, atol=0.015), (freq, p_buttons)
    # colder sampling presses the likely buttons more often and the unlikely ones less
    likely = p_buttons > 0.5
    cold_freq = cold.actions["buttons"].float().mean(0)
    assert (cold_freq[likely] >= freq[likely]).all() and (cold_freq[~likely] <= freq[~likely]).all()
    with pytest.raises(ValueError, match="noise must have shape"):
        head(trunk[:2], noise=torch.rand(2, NOISE_WIDTH - 1))


def test_entropy_can_be_skipped_for_play() -> None:
    head = make(4)
    trunk = torch.randn(6, 12)
    noise = torch.rand(6, 13, generator=torch.Generator().manual_seed(0))
    full = head(trunk, noise=noise)
    lean = head(trunk, noise=noise, with_entropy=False)
    assert lean.entropy is None and full.entropy is not None
    assert torch.equal(lean.log_prob, full.log_prob)
    for k in COMPONENTS:
        assert torch.equal(lean.actions[k], full.actions[k])


def test_a_fresh_head_plays_calmly() -> None:
    """A new policy presses buttons rarely and rests the c-stick and shoulder (PPO from
    scratch starts from calm play, not a button masher)."""
    torch.manual_seed(0)
    head = ControllerHead(32, ControllerConfig(), hidden=32)
    out = head(torch.randn(4000, 32) * 0.1)
    press = out.actions["buttons"].float().mean()
    assert 0.02 < float(press) < 0.1
    neutral = 8  # class of value 0 with 16 buckets
    assert float((out.actions["c_x"] == neutral).float().mean()) > 0.4
    assert float((out.actions["shoulder"] == 0).float().mean()) > 0.6


@pytest.mark.parametrize("buckets", [16, 4])
def test_teacher_forced_heads_at_once_equal_the_chain(buckets: int) -> None:
    """Teacher-forced, the six heads run at once (padded logits ``[6, B, C]``): the logits,
    the chain-rule log-probability and the entropy equal the chain's; the fused loss equals
    ``controller_loss`` with smoothing, focal loss and weights."""
    from exphil.nets._heads import PAD_LOGIT, _target, fused_controller_loss

    torch.manual_seed(0)
    ctrl = ControllerConfig(axis_buckets=buckets)
    head = ControllerHead(24, ctrl, hidden=16).double()
    trunk = torch.randn(40, 24, dtype=torch.float64)
    targets = {"buttons": (torch.rand(40, 8) < 0.3).to(torch.uint8)}
    for k in COMPONENTS[1:]:
        targets[k] = torch.randint(0, head.sizes[k], (40,))
    ref = head.chain(trunk, lambda name, logits, j: _target(targets, name, logits))
    out = head(trunk, targets=targets)
    assert out.padded is not None and out.padded.shape == (6, 40, head.width)
    for k in COMPONENTS:
        assert out.logits[k].shape == ref.logits[k].shape
        torch.testing.assert_close(out.logits[k], ref.logits[k], rtol=0, atol=1e-12)
    assert ref.entropy is not None and out.entropy is not None
    torch.testing.assert_close(out.log_prob, ref.log_prob, rtol=0, atol=1e-12)
    torch.testing.assert_close(out.entropy, ref.entropy, rtol=0, atol=1e-12)
    for k in COMPONENTS:
        assert torch.equal(out.actions[k].long(), targets[k].long())
    # both ways of running the heads at once (batched products: CUDA's default; a loop)
    for batched in (True, False):
        padded = head.padded_logits(trunk, targets, batched=batched)
        torch.testing.assert_close(padded, out.padded, rtol=0, atol=1e-12)
        assert (padded[5, :, head.sizes["shoulder"] :] == PAD_LOGIT).all()
    for smoothing, gamma, weights in [
        (0.0, 0.0, None), (0.1, 0.0, None), (0.05, 2.0, {"buttons": 2.0, "c_y": 0.5}),
    ]:  # fmt: skip
        want = controller_loss(
            ref.logits, targets, weights=weights, label_smoothing=smoothing, focal_gamma=gamma
        )
        total, losses = fused_controller_loss(
            out.padded, targets, head.sizes, weights=weights,
            label_smoothing=smoothing, focal_gamma=gamma,
        )  # fmt: skip
        assert total.item() == pytest.approx(want["total"].item(), rel=1e-5)
        got = losses.detach().tolist()
        assert got == pytest.approx([want[k].item() for k in COMPONENTS], rel=1e-5)
