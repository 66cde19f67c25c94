"""Reaction-delay pairing: exact, never across a game's end; augmentation in range."""

from __future__ import annotations

import numpy as np
import pytest

from exphil.embed import delay_pairs, sample_delays


def test_state_t_pairs_with_the_controller_at_t_plus_d() -> None:
    controller = np.arange(100) * 10  # the controller of frame t is 10 t
    states, actions = delay_pairs(100, 4)
    assert states.tolist() == list(range(96))
    assert (controller[actions] == controller[states] + 40).all()
    assert delay_pairs(3, 5)[0].size == 0  # a game shorter than the delay gives nothing
    s0, a0 = delay_pairs(10, 0)
    assert np.array_equal(s0, a0)


def test_per_row_delays_drop_rows_past_the_end() -> None:
    d = np.array([0, 1, 2, 3, 4, 5])
    states, actions = delay_pairs(6, d)
    assert states.tolist() == [0, 1, 2]
    assert (actions - states).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=">= 0"):
        delay_pairs(4, np.array([0, -1, 0, 0]))


def test_sampled_delays_stay_in_their_window() -> None:
    rng = np.random.default_rng(0)
    d = sample_delays(10_000, 4, 2, rng)
    assert d.min() == 2 and d.max() == 6
    assert set(np.unique(d).tolist()) == {2, 3, 4, 5, 6}
    assert (sample_delays(50, 1, 3, rng) >= 0).all()
    assert (sample_delays(5, 3) == 3).all()
