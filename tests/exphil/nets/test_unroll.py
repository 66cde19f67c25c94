"""``unroll``: chunks that continue from a state and cross game boundaries equal ``step``
frame by frame with ``reset_state`` at the resets, for every backbone."""

from __future__ import annotations

from typing import cast

import pytest
import torch
import torch.nn.functional as F

from exphil.nets import (
    BACKBONE_KINDS,
    Backbone,
    BackboneConfig,
    BackboneState,
    Mixer,
    Policy,
    PolicyConfig,
    PreNormResidual,
    ScanMethod,
    StackBackbone,
    build_backbone,
    clone_state,
    selective_scan,
)

D_IN = 7
WINDOW = 5
ATOL = 1e-5


def make(kind: str, seed: int = 0) -> Backbone:
    torch.manual_seed(seed)
    cfg = BackboneConfig(
        kind=kind, hidden=16, layers=2, heads=2, window=WINDOW, state=4, attention_every=2
    )
    return build_backbone(cfg, D_IN).eval()


def stepped(
    model: Backbone, state: BackboneState, x: torch.Tensor, resets: torch.Tensor | None = None
) -> tuple[torch.Tensor, BackboneState]:
    """The reference: ``step`` frame by frame, ``reset_state`` before each reset frame."""
    ys = []
    for t in range(x.shape[1]):
        if resets is not None:
            state = model.reset_state(state, resets[:, t])
        state, y = model.step(state, x[:, t])
        ys.append(y)
    return torch.stack(ys, dim=1), state


def resets_for(b: int, t: int, frames: dict[int, list[int]]) -> torch.Tensor:
    r = torch.zeros(b, t, dtype=torch.bool)
    for row, ts in frames.items():
        r[row, ts] = True
    return r


def warm_state(model: Backbone, b: int, frames: int = 8) -> BackboneState:
    """A state some frames into a game (longer than the attention window: the ring wraps)."""
    with torch.inference_mode():
        _, state = stepped(model, model.initial_state(b), torch.randn(b, frames, D_IN))
    return clone_state(state)


def assert_states_close(a: BackboneState, b: BackboneState) -> None:
    assert len(a) == len(b)
    for s, r in zip(a, b, strict=True):
        assert s.shape == r.shape and s.dtype == r.dtype
        torch.testing.assert_close(s, r, atol=ATOL, rtol=0)


# row 0: a reset at frame 0; row 1: several, two in a row; row 2: at the last frame;
# row 3: none (13 frames: longer than the window)
RESETS = {0: [0], 1: [2, 7, 8], 2: [12]}


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
@pytest.mark.parametrize("warm", [False, True], ids=["initial", "warm"])
def test_unroll_with_resets_equals_stepping(kind: str, warm: bool) -> None:
    model = make(kind)
    torch.manual_seed(1)
    state = warm_state(model, 4) if warm else None
    kept = clone_state(state) if state is not None else None
    x = torch.randn(4, 13, D_IN)
    resets = resets_for(4, 13, RESETS)
    with torch.inference_mode():
        start = clone_state(state) if state is not None else model.initial_state(4)
        ref, ref_state = stepped(model, start, x, resets)
        out, new_state = model.unroll(x, state, resets)
    assert out.shape == (4, 13, 16)
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    assert_states_close(new_state, ref_state)
    if state is not None and kept is not None:  # unroll does not touch the state it got
        for s, k in zip(state, kept, strict=True):
            assert torch.equal(s, k)
    if model.temporal:  # the resets really changed rows 0..2 (0: only from a warm state)
        with torch.no_grad():
            plain, _ = model.unroll(x, state)
        for row in [0, 1, 2] if warm else [1, 2]:
            assert (plain[row] - out[row]).abs().max() > 1e-4
        torch.testing.assert_close(plain[3], out[3], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_chunks_continue(kind: str) -> None:
    """unroll(chunk 1) then unroll(chunk 2, state) == one unroll == stepping; chunk 1 is
    shorter than the attention window, chunk 2 longer, and resets fall in both."""
    model = make(kind)
    torch.manual_seed(2)
    start = warm_state(model, 3, frames=3)
    x = torch.randn(3, 12, D_IN)
    resets = resets_for(3, 12, {0: [1], 1: [3, 9], 2: [11]})
    with torch.no_grad():
        y1, s1 = model.unroll(x[:, :3], start, resets[:, :3])
        y2, s2 = model.unroll(x[:, 3:], s1, resets[:, 3:])
        whole, s_whole = model.unroll(x, start, resets)
        ref, ref_state = stepped(model, clone_state(start), x, resets)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), whole, atol=ATOL, rtol=0)
    torch.testing.assert_close(whole, ref, atol=ATOL, rtol=0)
    assert_states_close(s2, s_whole)
    assert_states_close(s2, ref_state)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_unroll_without_state_equals_forward(kind: str) -> None:
    model = make(kind)
    torch.manual_seed(3)
    x = torch.randn(3, 11, D_IN)
    with torch.no_grad():
        seq = model(x)
        y, state = model.unroll(x)
        y0, _ = model.unroll(x, model.initial_state(3), torch.zeros(3, 11, dtype=torch.bool))
        _, ref_state = stepped(model, model.initial_state(3), x)
    torch.testing.assert_close(y, seq, atol=ATOL, rtol=0)
    torch.testing.assert_close(y0, seq, atol=ATOL, rtol=0)
    assert_states_close(state, ref_state)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_gradients_equal_the_stepwise_path(kind: str) -> None:
    """PPO back-propagates through a chunk from a detached state: the weight gradients of
    ``unroll`` equal those of stepping with autograd on (functional ``step``)."""
    model = make(kind)
    torch.manual_seed(4)
    state = warm_state(model, 3)  # an inference-mode state, as a rollout leaves it
    x = torch.randn(3, 9, D_IN)
    resets = resets_for(3, 9, {0: [0], 1: [4, 6]})
    target = torch.randn(3, 9, 16)
    grads = []
    for path in ("unroll", "step"):
        model.zero_grad()
        if path == "unroll":
            y, _ = model.unroll(x, state, resets)
        else:
            y, _ = stepped(model, tuple(s.clone() for s in state), x, resets)
        F.mse_loss(y, target).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() == {n for n, _ in model.named_parameters()}
    for name, g in grads[0].items():
        assert g.abs().sum() > 0, name
        torch.testing.assert_close(g, grads[1][name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_step_and_unroll_states_interchange(kind: str) -> None:
    """A state left by in-place ``step`` continues with ``unroll`` (in inference mode and
    with autograd on), and a state left by ``unroll`` continues with in-place ``step``."""
    model = make(kind)
    torch.manual_seed(5)
    x = torch.randn(2, 16, D_IN)
    resets = resets_for(2, 16, {0: [9], 1: [13]})
    with torch.inference_mode():
        ref, _ = stepped(model, model.initial_state(2), x, resets)
        _, s = stepped(model, model.initial_state(2), x[:, :6], resets[:, :6])  # in place
        y_inf, s_unrolled = model.unroll(x[:, 6:12], s, resets[:, 6:12])
    y_grad, _ = model.unroll(x[:, 6:12], s, resets[:, 6:12])  # autograd on, inference state
    assert y_grad.requires_grad
    torch.testing.assert_close(y_inf, ref[:, 6:12], atol=ATOL, rtol=0)
    torch.testing.assert_close(y_grad.detach(), ref[:, 6:12], atol=ATOL, rtol=0)
    with torch.inference_mode():
        y_steps, _ = stepped(model, s_unrolled, x[:, 12:], resets[:, 12:])  # in place
    torch.testing.assert_close(y_steps, ref[:, 12:], atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "mamba", "attention"])
def test_generic_step_through_unroll_agrees(kind: str) -> None:
    """The base classes' frame-by-frame ``unroll`` (for backbones and mixers that do not
    override it) agrees with the built-in sequence-parallel ones."""
    model = make(kind)
    torch.manual_seed(9)
    state = warm_state(model, 3)
    kept = clone_state(state)
    x = torch.randn(3, 7, D_IN)
    resets = resets_for(3, 7, {0: [0], 2: [3, 4]})
    with torch.inference_mode():
        fast, fast_state = model.unroll(x, state, resets)
        slow, slow_state = Backbone.unroll(model, x, state, resets)
        u = torch.randn(3, 7, 16)
        mixer = cast(PreNormResidual, cast(StackBackbone, model).blocks[0]).mixer
        sub = state[: mixer.n_state]
        y_mix, s_mix = mixer.unroll(u, sub, resets)
        y_gen, s_gen = Mixer.unroll(mixer, u, sub, resets)
    torch.testing.assert_close(slow, fast, atol=ATOL, rtol=0)
    assert_states_close(slow_state, fast_state)
    torch.testing.assert_close(y_gen, y_mix, atol=ATOL, rtol=0)
    assert_states_close(s_gen, s_mix)
    for s, k in zip(state, kept, strict=True):  # the in-place steps worked on a copy
        assert torch.equal(s, k)


@pytest.mark.parametrize("kind", ["lstm", "jamba"])
def test_gradient_checkpointing_in_unroll(kind: str) -> None:
    torch.manual_seed(6)
    x = torch.randn(2, 8, D_IN)
    resets = resets_for(2, 8, {1: [3]})
    grads = []
    for on in (False, True):
        model = make(kind).train()
        model.gradient_checkpointing = on
        state = warm_state(model, 2)
        y, _ = model.unroll(x, state, resets)
        y.square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})  # type: ignore[union-attr]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5)


def test_unroll_checks_its_arguments() -> None:
    model = make("gru")
    x = torch.zeros(2, 4, D_IN)
    with pytest.raises(ValueError, match="resets must have shape"):
        model.unroll(x, None, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="resets must be a bool"):
        model.unroll(x, None, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="state has 1 tensors"):
        model.unroll(x, model.initial_state(2)[:1])
    with pytest.raises(ValueError, match=r"state\[0\] has batch 3"):
        model.unroll(x, model.initial_state(3))
    with pytest.raises(ValueError, match="unroll takes x"):
        model.unroll(x[0])
    with pytest.raises(ValueError, match="at least one frame"):
        model.unroll(x[:, :0])
    # integer 0/1 resets are taken as bool
    y_int, _ = model.unroll(x, None, torch.tensor([[0, 1, 0, 0], [0, 0, 0, 0]]))
    y_bool, _ = model.unroll(x, None, torch.tensor([[0, 1, 0, 0], [0, 0, 0, 0]]).bool())
    assert torch.equal(y_int, y_bool)


@pytest.mark.parametrize("method", ["sequential", "parallel"])
def test_selective_scan_resets_restart_from_zero(method: ScanMethod) -> None:
    """A reset at frame r drops the carried state: the frames from r on equal a scan of
    them alone from a zero state."""
    g = torch.Generator().manual_seed(7)
    bt, t_len, e, n = 2, 9, 3, 4
    x, z = torch.randn(bt, t_len, e, generator=g), torch.randn(bt, t_len, e, generator=g)
    dt = F.softplus(torch.randn(bt, t_len, e, generator=g))
    a = -torch.exp(torch.randn(e, n, generator=g) * 0.5)
    b, c = torch.randn(bt, t_len, n, generator=g), torch.randn(bt, t_len, n, generator=g)
    d, h0 = torch.randn(e, generator=g), torch.randn(bt, e, n, generator=g)
    resets = resets_for(bt, t_len, {1: [5]})
    y, h = selective_scan(x, dt, a, b, c, d, z, h0, resets=resets, method=method)
    plain, _ = selective_scan(x, dt, a, b, c, d, z, h0, method=method)
    torch.testing.assert_close(y[0], plain[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(y[1, :5], plain[1, :5], atol=ATOL, rtol=0)
    row1 = (slice(1, 2), slice(5, None))  # row 1 from its reset on
    fresh, h_fresh = selective_scan(
        x[row1], dt[row1], a, b[row1], c[row1], d, z[row1], method=method
    )
    torch.testing.assert_close(y[1:2, 5:], fresh, atol=ATOL, rtol=0)
    torch.testing.assert_close(h[1:2], h_fresh, atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="resets must be a bool tensor"):
        selective_scan(x, dt, a, b, c, resets=resets[:, :3], method=method)


def test_policy_unroll_equals_policy_step() -> None:
    torch.manual_seed(8)
    policy = Policy(
        PolicyConfig(backbone=BackboneConfig(kind="gru", hidden=16, layers=1), head_hidden=16)
    ).eval()
    b, t = 2, 6
    dense = torch.randn(b, t, policy.dense_dim)
    ids = torch.stack([torch.randint(0, spec.size, (b, t)) for spec in policy.id_specs], dim=-1)
    resets = resets_for(b, t, {1: [2]})
    with torch.inference_mode():
        state = policy.initial_state(b)
        ys = []
        for i in range(t):
            state = policy.reset_state(state, resets[:, i])
            state, y = policy.step(state, dense[:, i], ids[:, i])
            ys.append(y)
        trunk, new_state = policy.unroll(dense, ids, None, resets)
    torch.testing.assert_close(trunk, torch.stack(ys, dim=1), atol=ATOL, rtol=0)
    assert_states_close(new_state, state)
    with pytest.raises(ValueError, match="dense inputs have width"):
        policy.unroll(dense[..., :-1], ids)
