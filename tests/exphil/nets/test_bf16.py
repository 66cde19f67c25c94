"""bf16 autocast on every backbone (CPU autocast stands in for CUDA's): forward, unroll and
step, with and without autograd, give finite outputs near fp32's, and a whole training step
(the trainer's loss, backward, clipping, AdamW) runs and moves the weights.

Before the fix, attention's (and so jamba's) ``step`` raised ``scatter(): Expected
self.dtype to be equal to src.dtype`` under autocast: the ring buffer is fp32, the
projection bf16."""

from __future__ import annotations

import functools

import msgspec
import pytest
import torch

from exphil.nets import BACKBONE_KINDS, BackboneConfig, Policy, PolicyConfig
from exphil.train import BCOptimConfig, DataConfig, TrainConfig
from exphil.train._core import Optimization
from exphil.train._synthetic import synthetic_batch
from exphil.train._trainer import compute_loss

B, T = 3, 10
#: bf16 keeps 8 bits of mantissa: outputs (layer-normed, order 1) within this of fp32's
BF16_ATOL = 0.25


def small(kind: str) -> PolicyConfig:
    backbone = msgspec.convert(
        {"kind": kind, "hidden": 32, "layers": 2, "window": 8, "heads": 4, "state": 4,
         "expand": 1, "attention_every": 2},
        BackboneConfig,
    )  # fmt: skip
    return PolicyConfig(backbone=backbone, id_embed_dim=8, head_hidden=32)


def autocast() -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16)


def inputs(policy: Policy) -> tuple[torch.Tensor, torch.Tensor]:
    batch = synthetic_batch(policy.config, B, T, seed=1)
    return batch.dense, batch.ids


def steps(policy: Policy, dense: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    state = policy.initial_state(B)
    out = []
    for t in range(T):
        state, y = policy.step(state, dense[:, t], ids[:, t])
        out.append(y)
    return torch.stack(out, dim=1)


@functools.cache
def cpu_bf16_lstm() -> str | None:
    """Why CPU autocast cannot run a bf16 LSTM from a given state here, or None: oneDNN's
    bf16 LSTM needs CPU features some machines lack (seen: an AMD EPYC without AVX-512 raised
    "could not create a primitive descriptor for the LSTM forward propagation primitive");
    CUDA's autocast, what the stand-in is for, does not depend on them."""
    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    state = (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4))
    try:
        with torch.no_grad(), autocast():
            lstm(torch.zeros(1, 2, 4), state)
    except RuntimeError as e:
        return str(e).split(".")[0]
    return None


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_forward_unroll_and_step_under_bf16_autocast(kind: str) -> None:
    if kind == "lstm" and (why := cpu_bf16_lstm()) is not None:
        pytest.skip(f"this CPU's oneDNN has no bf16 LSTM: {why}")
    torch.manual_seed(0)
    policy = Policy(small(kind)).eval()
    dense, ids = inputs(policy)
    with torch.no_grad():
        ref = policy(dense, ids)
    resets = torch.zeros(B, T, dtype=torch.bool)
    resets[1, 4] = True
    with autocast():
        fwd = policy(dense, ids)
        unrolled, state = policy.unroll(dense, ids, policy.initial_state(B), resets)
        again, _ = policy.unroll(dense, ids, state, resets)  # from a carried state
        stepped = steps(policy, dense, ids)  # autograd on: functional state updates
        with torch.no_grad():
            stepped_nograd = steps(policy, dense, ids)
        with torch.inference_mode():  # play: in-place state updates
            stepped_inference = steps(policy, dense, ids)
        # a state made under autocast (the attention ring in bf16), stepped outside it
        bf16_state = policy.initial_state(B)
    with torch.no_grad():
        _, mixed = policy.step(bf16_state, dense[:, 0], ids[:, 0])
    for name, y in [("forward", fwd), ("unroll", unrolled), ("unroll again", again),
                    ("step", stepped), ("step no_grad", stepped_nograd),
                    ("step inference", stepped_inference)]:  # fmt: skip
        assert y.shape == (B, T, 32), name
        assert torch.isfinite(y.float()).all(), name
    for name, y in [("forward", fwd), ("step", stepped), ("step inference", stepped_inference)]:
        torch.testing.assert_close(y.float(), ref, atol=BF16_ATOL, rtol=0, msg=name)
    torch.testing.assert_close(mixed.float(), ref[:, 0], atol=BF16_ATOL, rtol=0)


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_a_training_step_under_bf16_autocast(kind: str) -> None:
    torch.manual_seed(0)
    window = 1 if kind == "mlp" else T
    cfg = TrainConfig(
        policy=small(kind),
        data=DataConfig(window=window, burnin=0 if kind == "mlp" else 2, batch_size=B),
        optim=BCOptimConfig(bf16="on", compile="off", lr=1e-3),
    )
    device = torch.device("cpu")
    policy = Policy(cfg.policy)
    opt = Optimization(policy, cfg.optim, device=device, total_steps=2)
    before = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    batch = synthetic_batch(cfg.policy, B, window, seed=2)
    for _ in range(2):
        with opt.autocast():
            loss, values, frames = compute_loss(opt.forward_model, batch, cfg, device)
        assert torch.isfinite(loss)
        opt.backward(loss)
        info = opt.step()
        assert info.grad_norm > 0 and torch.isfinite(torch.tensor(info.grad_norm))
    assert frames == B * (window - cfg.data.burnin)
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    moved = [k for k, v in policy.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("backbone.") for k in moved)
    assert any(k.startswith("controller_head.") for k in moved)
