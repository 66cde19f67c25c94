"""The Agent: delay FIFO, feedback of the previous controller, resets that never leak."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from exphil.agent import Agent
from exphil.envs import MockConfig, MockEnv
from exphil.game import Controls, Frames
from exphil.nets import BackboneConfig, Policy, PolicyConfig, save_policy

COLS = ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons")


def _policy(kind: str = "gru", seed: int = 0) -> Policy:
    torch.manual_seed(seed)
    cfg = PolicyConfig(backbone=BackboneConfig(kind=kind, hidden=32, layers=1), head_hidden=32)
    return Policy(cfg).eval()


def _frames(n: int, steps: int, seed: int = 0) -> list[Frames]:
    """Frames of ``n`` mock games under random controls."""
    env = MockEnv(n, MockConfig())
    rng = np.random.default_rng(seed)
    out = [env.reset()]
    for _ in range(steps - 1):
        sticks = [rng.uniform(-1, 1, n).astype(np.float32) for _ in range(8)]
        z, b = np.zeros(n, np.float32), np.zeros(n, np.uint8)
        c = [Controls(*sticks[4 * p : 4 * p + 4], z, b) for p in range(2)]
        out.append(env.step(*c).frames)
    return out


def _eq(a: Controls, b: Controls) -> bool:
    return all(np.array_equal(getattr(a, c), getattr(b, c)) for c in COLS)


def test_delay_fifo_applies_each_decision_d_frames_later() -> None:
    d = 3
    agent = Agent(_policy(), 2, 0, delay=d, seed=1)
    chosen, sent = [], []
    for f in _frames(2, 12):
        sent.append(agent.act(f))
        chosen.append(agent.prev.take(np.arange(2)))  # the decision of this frame
    for t in range(d):
        assert _eq(sent[t], Controls.neutral(2))
    for t in range(d, 12):
        assert _eq(sent[t], chosen[t - d])
    # no delay: what is chosen is sent at once
    a0 = Agent(_policy(), 2, 0, delay=0, seed=1)
    for f in _frames(2, 4):
        out = a0.act(f)
        assert _eq(out, a0.prev)


def test_previous_controller_is_fed_back() -> None:
    agent = Agent(_policy("mlp"), 3, 1, delay=2, seed=0)
    frames = _frames(3, 3)
    agent.act(frames[0])
    first = agent.prev.take(np.arange(3))
    agent.act(frames[1])
    dec = agent.last
    assert dec is not None
    # the embedding's last block is prev.* : buttons bits, 4 sticks, shoulder (14 columns)
    prev_block = dec.dense[:, -13:]
    np.testing.assert_allclose(prev_block[:, 8:12], np.stack([first.main_x, first.main_y,
                               first.c_x, first.c_y], 1), atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("kind", ["gru", "attention"])
def test_a_game_ending_mid_batch_leaks_nothing(kind: str) -> None:
    policy = _policy(kind)
    frames = _frames(2, 20, seed=3)
    a = Agent(policy, 2, 0, delay=2, deterministic=True)
    for f in frames[:10]:
        a.act(f)
    a.end_games(np.array([True, False]))  # game slot 0 ended; slot 1 goes on
    fresh = Agent(policy, 2, 0, delay=2, deterministic=True)
    cont = Agent(policy, 2, 0, delay=2, deterministic=True)
    for f in frames[:10]:
        cont.act(f)
    for f in frames[10:]:
        out = a.act(f)
        ref_new = fresh.act(f)
        ref_old = cont.act(f)
        assert _eq(out.take([0]), ref_new.take([0]))
        assert _eq(out.take([1]), ref_old.take([1]))
        np.testing.assert_allclose(a.last.value[0], fresh.last.value[0], atol=1e-5)
        np.testing.assert_allclose(a.last.value[1], cont.last.value[1], atol=1e-5)


def test_subset_rows_equal_whole_batch() -> None:
    policy = _policy("lstm")
    frames = _frames(4, 8, seed=5)
    whole = Agent(policy, 4, 0, delay=1, deterministic=True)
    split = Agent(policy, 4, 0, delay=1, deterministic=True)
    for f in frames:
        w = whole.act(f)
        lo = split.act(f.take(np.array([0, 2])), np.array([0, 2]))
        hi = split.act(f.take(np.array([1, 3])), np.array([1, 3]))
        assert _eq(w.take([0, 2]), lo) and _eq(w.take([1, 3]), hi)


def test_from_file_reads_the_trained_delay(tmp_path) -> None:
    policy = _policy("mlp")
    path = tmp_path / "p.safetensors"
    save_policy(policy, path, metadata={"delay": 7})
    assert Agent.from_file(path, 2, 0).delay == 7
    assert Agent.from_file(path, 2, 0, delay=0).delay == 0
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not a policy")
    with pytest.raises(ValueError, match="not a safetensors"):
        Agent.from_file(bad, 1, 0)


def test_an_unseeded_agent_leaves_the_global_rng_alone() -> None:
    policy = _policy("mlp")
    before = torch.get_rng_state()
    Agent(policy, 2, 0)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("kind", ["mlp", "lstm", "gru", "mamba", "attention", "jamba"])
def test_bf16_inference_plays_like_fp32(kind: str) -> None:
    """``Agent(bf16=True)`` steps the backbone under bf16 autocast (CPU autocast here; a
    GPU's in deployment): every backbone plays whole batches and subsets of rows, and its
    value estimates stay near fp32's (attention's ring buffer is bf16 then)."""
    policy = _policy(kind)
    frames = _frames(4, 12, seed=3)
    fp32 = Agent(policy, 4, 0, deterministic=True)
    bf16 = Agent(policy, 4, 0, deterministic=True, bf16=True)
    if kind == "attention":  # (one jamba layer is a Mamba block)
        assert any(t.dtype == torch.bfloat16 for t in bf16.state)
    for t, f in enumerate(frames):
        rows = None if t % 3 else np.array([0, 2])
        sub = f if rows is None else f.take(rows)
        fp32.act(sub, rows)
        bf16.act(sub, rows)
        a, b = fp32.last, bf16.last
        assert a is not None and b is not None
        assert np.isfinite(b.value).all() and np.isfinite(b.log_prob).all()
        np.testing.assert_allclose(b.value, a.value, atol=0.1)
    peek = bf16.peek_values(frames[-1].take(np.array([1, 3])), np.array([1, 3]))
    np.testing.assert_allclose(
        peek, fp32.peek_values(frames[-1].take(np.array([1, 3])), np.array([1, 3])), atol=0.1
    )
