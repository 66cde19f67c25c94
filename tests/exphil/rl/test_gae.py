"""GAE against a straightforward per-game reference, with terminations and truncations."""

from __future__ import annotations

import numpy as np
import pytest

from exphil.rl import RunningMeanStd, gae


def reference(rewards, values, term, trunc, final_values, next_values, gamma, lam):
    """Split each slot into games, compute each game's advantages from its own end."""
    t_len, n = rewards.shape
    adv = np.zeros((t_len, n))
    for slot in range(n):
        start = 0
        for t in range(t_len + 1):
            end_here = t < t_len and (term[t, slot] or trunc[t, slot])
            if t == t_len or end_here:
                stop = t + 1 if end_here else t_len
                seg = range(start, stop)
                if end_here:
                    boot = 0.0 if term[t, slot] else final_values[t, slot]
                else:
                    boot = next_values[slot]
                running = 0.0
                for i in reversed(seg):
                    nxt = values[i + 1, slot] if i + 1 < stop else boot
                    delta = rewards[i, slot] + gamma * nxt - values[i, slot]
                    running = delta + gamma * lam * running
                    adv[i, slot] = running
                start = stop
                if t == t_len:
                    break
    return adv, adv + values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gae_matches_per_game_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t_len, n = 40, 7
    rewards = rng.normal(size=(t_len, n)).astype(np.float32)
    values = rng.normal(size=(t_len, n)).astype(np.float32)
    term = rng.random((t_len, n)) < 0.06
    trunc = (rng.random((t_len, n)) < 0.06) & ~term
    term[-1, 0] = True  # a game ending on the chunk's last step
    trunc[-1, 1] = True
    term[5, 2] = trunc[5, 2] = True  # both: terminated wins
    final_values = np.where(trunc, rng.normal(size=(t_len, n)), 0).astype(np.float32)
    next_values = rng.normal(size=n).astype(np.float32)
    adv, ret = gae(rewards, values, term, trunc, final_values, next_values, gamma=0.97, lam=0.9)
    t2 = trunc & ~term
    ref_adv, ref_ret = reference(rewards, values, term, t2, final_values, next_values, 0.97, 0.9)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, ref_ret, rtol=1e-5, atol=1e-5)


def test_gae_by_hand() -> None:
    # one slot, 3 steps: a termination at step 1 cuts the bootstrap, step 2 bootstraps
    r = np.array([[1.0], [2.0], [0.5]])
    v = np.array([[0.5], [1.0], [0.25]])
    term = np.array([[False], [True], [False]])
    trunc = np.zeros_like(term)
    adv, _ = gae(r, v, term, trunc, np.zeros_like(r), np.array([2.0]), gamma=0.5, lam=0.5)
    d1 = 2.0 - 1.0  # terminated: nothing beyond
    d0 = 1.0 + 0.5 * 1.0 - 0.5
    d2 = 0.5 + 0.5 * 2.0 - 0.25
    np.testing.assert_allclose(adv[:, 0], [d0 + 0.25 * d1, d1, d2], rtol=1e-6)
    # the same step truncated instead bootstraps from the final frame's value
    adv2, _ = gae(r, v, trunc, term, np.full_like(r, 4.0), np.array([2.0]), gamma=0.5, lam=0.5)
    assert adv2[1, 0] == pytest.approx(2.0 + 0.5 * 4.0 - 1.0)


def test_running_mean_std_merges_exactly() -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(loc=i, scale=i + 1, size=50 + 10 * i) for i in range(4)]
    merged = RunningMeanStd()
    for p in parts:
        w = RunningMeanStd()
        w.update(p)
        merged.merge(w)
    allv = np.concatenate(parts)
    assert merged.count == len(allv)
    assert merged.mean == pytest.approx(allv.mean())
    assert merged.var == pytest.approx(allv.var())
