"""Backbones: step == forward, per-row reset, causality, the Mamba scan, config, gradients."""

from __future__ import annotations

import msgspec
import pytest
import torch
import torch.nn.functional as F

from exphil.nets import (
    BACKBONE_KINDS,
    Backbone,
    BackboneConfig,
    BackboneState,
    MambaMixer,
    build_backbone,
    clone_state,
    jamba_layer_kinds,
    mamba_ssm_available,
    reset_state,
    select_state,
    selective_scan,
)

D_IN = 12
T = 20
WINDOW = 8
ATOL = 1e-5


def make(kind: str, *, seed: int = 0, dropout: float = 0.0) -> Backbone:
    torch.manual_seed(seed)
    cfg = BackboneConfig(kind=kind, hidden=32, layers=2, window=WINDOW, dropout=dropout)
    return build_backbone(cfg, D_IN).eval()


def run_steps(model: Backbone, state: BackboneState, x: torch.Tensor) -> torch.Tensor:
    """Step through ``x [B, T, D]`` from ``state``: outputs ``[B, T, H]``."""
    ys = []
    for t in range(x.shape[1]):
        state, y = model.step(state, x[:, t])
        ys.append(y)
    return torch.stack(ys, dim=1)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_step_equals_forward(kind: str) -> None:
    model = make(kind)
    torch.manual_seed(1)
    x = torch.randn(3, T, D_IN)
    with torch.inference_mode():
        seq = model(x)
        steps = run_steps(model, model.initial_state(3), x)
    assert seq.shape == (3, T, model.output_dim) == (3, T, 32)
    torch.testing.assert_close(steps, seq, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_step_with_autograd_is_functional_and_differentiable(kind: str) -> None:
    """Outside inference mode ``step`` does not update the state in place, so a game can be
    stepped through and backpropagated (BPTT through ``step``)."""
    model = make(kind)
    torch.manual_seed(9)
    x = torch.randn(2, 12, D_IN)
    state = model.initial_state(2)
    steps = run_steps(model, state, x)
    torch.testing.assert_close(steps, model(x), atol=ATOL, rtol=0)
    assert all(not t.any() for t in state)  # the initial state was not consumed
    steps.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_in_place_step_sees_weight_updates(kind: str) -> None:
    """The in-place step keeps derived tables (Mamba's A, attention's bias table) between
    frames; an optimizer step (in place on the weights) must not leave them stale."""
    model = make(kind)
    torch.manual_seed(3)
    x = torch.randn(2, 6, D_IN)
    with torch.inference_mode():
        run_steps(model, model.initial_state(2), x)  # fills any cache
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).square().mean().backward()
    for p in model.parameters():  # every weight moves (not uniformly), A_log and rel_bias too
        assert p.grad is not None
        p.grad.add_(torch.randn_like(p))
    opt.step()
    with torch.inference_mode():
        torch.testing.assert_close(
            run_steps(model, model.initial_state(2), x), model(x), atol=ATOL, rtol=0
        )


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_initial_state_is_batch_first_zeros(kind: str) -> None:
    model = make(kind)
    state = model.initial_state(5)
    assert isinstance(state, tuple)
    if kind == "mlp":
        assert state == ()
    else:
        assert len(state) >= 2
    for t in state:
        assert t.shape[0] == 5
        assert not t.any()


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_reset_state_starts_a_new_game_in_one_row(kind: str) -> None:
    model = make(kind)
    torch.manual_seed(2)
    x = torch.randn(3, T, D_IN)
    r = 7  # the new game in row 1 starts at frame 7
    with torch.inference_mode():
        plain = run_steps(model, model.initial_state(3), x)
        state = model.initial_state(3)
        ys = []
        for t in range(T):
            if t == r:
                state = model.reset_state(state, torch.tensor([False, True, False]))
            state, y = model.step(state, x[:, t])
            ys.append(y)
        reset = torch.stack(ys, dim=1)
        fresh = run_steps(model, model.initial_state(1), x[1:2, r:])
    torch.testing.assert_close(reset[1, r:], fresh[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(reset[1, :r], plain[1, :r], atol=0, rtol=0)
    torch.testing.assert_close(reset[[0, 2]], plain[[0, 2]], atol=ATOL, rtol=0)
    if model.temporal:  # the reset really changed something in row 1
        assert (reset[1, r:] - plain[1, r:]).abs().max() > 1e-3


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_select_state_and_clone(kind: str) -> None:
    model = make(kind)
    torch.manual_seed(3)
    x = torch.randn(4, 12, D_IN)
    with torch.inference_mode():
        state = model.initial_state(4)
        for t in range(6):
            state, _ = model.step(state, x[:, t])
        kept = clone_state(state)
        rows = torch.tensor([3, 1])
        sub = run_steps(model, select_state(state, rows), x[rows, 6:])
        full = run_steps(model, state, x[:, 6:])
        again = run_steps(model, kept, x[:, 6:])
    torch.testing.assert_close(sub, full[rows], atol=ATOL, rtol=0)
    torch.testing.assert_close(again, full, atol=0, rtol=0)


def test_reset_state_function_zeroes_only_masked_rows() -> None:
    state = (torch.ones(3, 2, 2), torch.arange(3))
    out = reset_state(state, torch.tensor([True, False, True]))
    assert out[0][1].eq(1).all() and not out[0][[0, 2]].any()
    assert out[1].tolist() == [0, 1, 0]
    assert state[0].eq(1).all()  # the input is not modified
    with pytest.raises(ValueError, match="mask must have shape"):
        reset_state(state, torch.tensor([True, False]))


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_causal(kind: str) -> None:
    model = make(kind)
    torch.manual_seed(4)
    x = torch.randn(2, T, D_IN)
    x2 = x.clone()
    x2[:, 10] += torch.randn(2, D_IN)
    with torch.inference_mode():
        y, y2 = model(x), model(x2)
    assert torch.equal(y[:, :10], y2[:, :10])
    assert (y[:, 10] - y2[:, 10]).abs().max() > 1e-4
    if kind == "mlp":
        assert torch.equal(y[:, 11:], y2[:, 11:])


def test_attention_window_slides() -> None:
    """With 2 layers of width-8 windows, input 0 reaches outputs 0..14 and no further."""
    model = make("attention")
    torch.manual_seed(5)
    x = torch.randn(2, T, D_IN)
    x2 = x.clone()
    x2[:, 0] += torch.randn(2, D_IN)
    with torch.inference_mode():
        y, y2 = model(x), model(x2)
    reach = 2 * (WINDOW - 1)
    assert (y[:, reach] - y2[:, reach]).abs().max() > 1e-6
    assert torch.equal(y[:, reach + 1 :], y2[:, reach + 1 :])


def naive_scan(
    x: torch.Tensor,
    dt: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    d: torch.Tensor,
    z: torch.Tensor,
    h0: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The selective SSM written out one game, one frame, one channel at a time."""
    bt, t_len, e = x.shape
    n = a.shape[1]
    y = torch.zeros_like(x)
    last = torch.zeros_like(h0)
    for i in range(bt):
        for ch in range(e):
            h = h0[i, ch].clone()
            for t in range(t_len):
                a_bar = torch.exp(dt[i, t, ch] * a[ch])  # [N]
                b_bar = dt[i, t, ch] * b[i, t]  # [N]
                h = a_bar * h + b_bar * x[i, t, ch]
                out = sum(c[i, t, k] * h[k] for k in range(n)) + d[ch] * x[i, t, ch]
                gate = z[i, t, ch] * torch.sigmoid(z[i, t, ch])
                y[i, t, ch] = out * gate
            last[i, ch] = h
    return y, last


@pytest.mark.parametrize("method", ["sequential", "parallel", "auto"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_selective_scan_matches_naive_recurrence(method: str, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(6)
    bt, t_len, e, n = 2, 11, 5, 4

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    x, z = r(bt, t_len, e), r(bt, t_len, e)
    dt = F.softplus(r(bt, t_len, e))
    a = -torch.exp(r(e, n) * 0.5)
    b, c = r(bt, t_len, n), r(bt, t_len, n)
    d, h0 = r(e), r(bt, e, n)
    ref_y, ref_h = naive_scan(x, dt, a, b, c, d, z, h0)
    args = [v.to(dtype) for v in (x, dt, a, b, c, d, z, h0)]
    y, h = selective_scan(*args[:5], D=args[5], z=args[6], h0=args[7], method=method)  # type: ignore[arg-type]
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(y.double(), ref_y, atol=tol, rtol=tol)
    torch.testing.assert_close(h.double(), ref_h, atol=tol, rtol=tol)
    # without h0, D or z: the plain SSM from a zero state
    y0, _ = selective_scan(*args[:5], method=method)  # type: ignore[arg-type]
    zero = torch.zeros_like(h0)
    ones_z = torch.full_like(z, 50.0)  # silu(50) == 50 to double precision, undone below
    ref0, _ = naive_scan(x, dt, a, b, c, torch.zeros_like(d), ones_z, zero)
    torch.testing.assert_close(y0.double(), ref0 / 50.0, atol=tol, rtol=tol)


def test_mamba_mixer_scans_agree() -> None:
    torch.manual_seed(7)
    mixer = MambaMixer(16, state=8, conv=3, expand=2).eval()
    u = torch.randn(2, 13, 16)
    with torch.inference_mode():
        mixer.scan = "sequential"
        seq = mixer(u)
        mixer.scan = "parallel"
        par = mixer(u)
    torch.testing.assert_close(par, seq, atol=ATOL, rtol=0)


def test_selective_scan_rejects_bad_shapes_and_methods() -> None:
    x = torch.zeros(1, 3, 4)
    a, b = -torch.ones(4, 2), torch.zeros(1, 3, 2)
    with pytest.raises(ValueError, match="A must be"):
        selective_scan(x, x, -torch.ones(5, 2), b, b)
    with pytest.raises(ValueError, match="C must be"):
        selective_scan(x, x, a, b, torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="unknown scan method"):
        selective_scan(x, x, a, b, b, method="fast")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="needs mamba_ssm"):
        selective_scan(x, x, a, b, b, method="cuda")


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_gradients_flow(kind: str) -> None:
    model = make(kind, dropout=0.1).train()
    torch.manual_seed(8)
    y = model(torch.randn(3, T, D_IN))
    y.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_jamba_layer_kinds() -> None:
    assert jamba_layer_kinds(2, 2) == ["mamba", "attention"]
    assert jamba_layer_kinds(6, 3) == ["mamba", "mamba", "attention"] * 2
    assert jamba_layer_kinds(2, 3) == ["mamba", "mamba"]
    model = build_backbone(BackboneConfig(kind="jamba", hidden=32, layers=4), 8)
    assert model.layer_kinds == ["mamba", "attention"] * 2  # type: ignore[comparison-overlap]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "transformer"),
        ("hidden", 0),
        ("hidden", 1.5),
        ("layers", -1),
        ("layers", True),
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("dropout", "0.1"),
        ("residual", 1),
        ("layer_norm", "yes"),
        ("state", 0),
        ("conv", 0),
        ("expand", 0),
        ("heads", 0),
        ("window", 0),
        ("attention_every", 0),
    ],
)
def test_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"BackboneConfig\.{field} "):
        BackboneConfig(**{field: value})  # type: ignore[arg-type]


def test_config_heads_must_divide_hidden() -> None:
    with pytest.raises(ValueError, match=r"BackboneConfig\.heads"):
        BackboneConfig(kind="attention", hidden=30, heads=4)
    BackboneConfig(kind="lstm", hidden=30, heads=4)  # heads does not matter for lstm


def test_config_decoding_names_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="hiddn"):
        msgspec.convert({"kind": "gru", "hiddn": 64}, BackboneConfig)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.layers"):
        msgspec.convert({"layers": "two"}, BackboneConfig)
    with pytest.raises(msgspec.ValidationError, match=r"BackboneConfig\.window"):
        msgspec.convert({"kind": "attention", "window": 0}, BackboneConfig)
    cfg = BackboneConfig(kind="jamba", hidden=64, attention_every=3)
    assert msgspec.json.decode(msgspec.json.encode(cfg), type=BackboneConfig) == cfg
    assert msgspec.convert({"dropout": 0}, BackboneConfig).dropout == 0


def test_build_backbone_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="input_dim"):
        build_backbone(BackboneConfig(), 0)
    with pytest.raises(TypeError, match="BackboneConfig"):
        build_backbone({"kind": "mlp"}, 8)  # type: ignore[arg-type]
    model = build_backbone(BackboneConfig(kind="gru", hidden=16, layers=1), 8)
    with pytest.raises(ValueError, match="step takes x"):
        model.step(model.initial_state(2), torch.zeros(2, 1, 8))
    with pytest.raises(ValueError, match="state has"):
        model.step((), torch.zeros(2, 8))


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_defaults_build(kind: str) -> None:
    model = build_backbone(BackboneConfig(kind=kind), 169)
    assert model.output_dim == 256
    with torch.inference_mode():
        _, y = model.step(model.initial_state(2), torch.zeros(2, 169))
    assert y.shape == (2, 256)


@pytest.mark.skipif(
    not (torch.cuda.is_available() and mamba_ssm_available()),
    reason="needs CUDA and mamba_ssm (the fused selective-scan kernel)",
)
def test_mamba_ssm_kernel_matches_the_pure_pytorch_scan() -> None:
    g = torch.Generator().manual_seed(10)
    bt, t_len, e, n = 2, 33, 16, 8
    x, z = torch.randn(bt, t_len, e, generator=g), torch.randn(bt, t_len, e, generator=g)
    dt = F.softplus(torch.randn(bt, t_len, e, generator=g))
    a = -torch.exp(torch.randn(e, n, generator=g) * 0.5)
    b, c = torch.randn(bt, t_len, n, generator=g), torch.randn(bt, t_len, n, generator=g)
    d = torch.randn(e, generator=g)
    args = [v.cuda() for v in (x, dt, a, b, c, d, z)]
    ref, ref_h = selective_scan(*args[:5], D=args[5], z=args[6], method="sequential")
    out, h = selective_scan(*args[:5], D=args[5], z=args[6], method="cuda")
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(h, ref_h, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["lstm", "mamba", "attention"])
def test_gradient_checkpointing_gives_the_same_gradients(kind: str) -> None:
    x = torch.randn(2, 10, D_IN)
    grads = []
    for on in (False, True):
        model = make(kind).train()
        model.gradient_checkpointing = on
        model(x).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})  # type: ignore[union-attr]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-5)
