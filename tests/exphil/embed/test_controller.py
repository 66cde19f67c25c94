"""Controller discretization: exact round trips, nearest values, k-means centers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exphil.embed import (
    ControllerConfig,
    DiscreteController,
    decode_controller,
    encode_controller,
    fit_stick_centers,
    save_stick_centers,
)
from exphil.game import Controls


def controls(**cols: list[float]) -> Controls:
    n = len(next(iter(cols.values())))
    f = {
        k: np.asarray(cols.get(k, [0.0] * n), dtype=np.float32)
        for k in ("main_x", "main_y", "c_x", "c_y", "shoulder")
    }
    b = np.asarray(cols.get("buttons", [0] * n), dtype=np.uint8)
    return Controls(f["main_x"], f["main_y"], f["c_x"], f["c_y"], f["shoulder"], b)


@pytest.mark.parametrize(
    "config",
    [ControllerConfig(), ControllerConfig(axis_buckets=32, shoulder_buckets=2),
     ControllerConfig(stick_centers=(-1.0, -0.5, -0.1, 0.0, 0.3, 0.7, 1.0))],
)  # fmt: skip
def test_round_trip_is_exact_on_representable_values(config: ControllerConfig) -> None:
    axes, sh = config.axis_values, config.shoulder_values
    n = len(axes)
    c = controls(
        main_x=list(axes),
        main_y=list(axes[::-1]),
        c_x=list(axes),
        c_y=list(axes),
        shoulder=[float(sh[i % len(sh)]) for i in range(n)],
        buttons=[i * 37 % 256 for i in range(n)],
    )
    enc = encode_controller(c, config)
    assert enc.main_x.tolist() == list(range(n)) and enc.main_y.tolist() == list(range(n))[::-1]
    dec = decode_controller(enc, config)
    assert isinstance(dec, Controls) and len(dec) == n
    for name in ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons"):
        assert np.array_equal(getattr(dec, name), getattr(c, name)), name
        assert getattr(dec, name).dtype == getattr(c, name).dtype, name
    dec.validate(n)
    again = encode_controller(dec, config)
    assert np.array_equal(again.main_x, enc.main_x) and np.array_equal(again.buttons, enc.buttons)


def test_default_has_17_axis_classes_with_neutral_and_extremes() -> None:
    cfg = ControllerConfig()
    assert cfg.axis_classes == 17 and cfg.shoulder_classes == 5
    assert cfg.axis_values[0] == -1 and cfg.axis_values[8] == 0 and cfg.axis_values[16] == 1


def test_inputs_decode_to_the_nearest_representable_value() -> None:
    cfg = ControllerConfig()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 1000).astype(np.float32)
    s = rng.uniform(0, 1, 1000).astype(np.float32)
    dec = decode_controller(encode_controller(controls(main_x=list(x), shoulder=list(s)), cfg), cfg)
    best = cfg.axis_values[np.abs(x[:, None] - cfg.axis_values[None]).argmin(axis=1)]
    assert np.allclose(np.abs(dec.main_x - x), np.abs(best - x))
    assert (np.abs(dec.main_x - x) <= 1 / 16 + 1e-6).all()
    assert (np.abs(dec.shoulder - s) <= 1 / 8 + 1e-6).all()
    # a tie between two centers goes to the lower one
    tie = encode_controller(controls(main_x=[np.float32(1 / 16)]), cfg)
    assert tie.main_x.tolist() == [8]


def test_bad_values_and_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="main_y"):
        encode_controller(controls(main_x=[0.0], main_y=[np.nan]))
    bad = DiscreteController(np.zeros((1, 8), np.uint8), *(np.array([17]),) * 4, np.array([0]))
    with pytest.raises(ValueError, match=r"main_x classes must be in 0\.\.16"):
        decode_controller(bad)
    with pytest.raises(ValueError, match="strictly increasing"):
        ControllerConfig(stick_centers=(0.0, -0.5))
    with pytest.raises(ValueError, match="axis_buckets"):
        ControllerConfig(axis_buckets=1)


def test_kmeans_centers_fit_clusters_and_keep_neutral(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    true = np.array([-1.0, -0.6, -0.2, 0.0, 0.35, 0.8, 1.0])
    data = np.concatenate([c + rng.normal(0, 0.01, 4000) for c in true]).clip(-1, 1)
    centers = fit_stick_centers(data, k=7, seed=3, symmetric=False)
    assert len(centers) == 7 and (np.diff(centers) > 0).all()
    assert np.abs(centers - true).max() < 0.02
    assert 0.0 in centers.tolist()
    path = tmp_path / "sticks.json"
    save_stick_centers(path, centers, source="test")
    cfg = ControllerConfig.from_centers_file(path)
    assert np.array_equal(cfg.axis_values, centers)
    with pytest.raises(ValueError, match="at least 31 distinct"):
        fit_stick_centers(np.zeros(100), k=31)
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ValueError, match="not a stick-centers file"):
        ControllerConfig.from_centers_file(tmp_path / "junk.json")


def test_symmetric_centers_and_ties_toward_neutral() -> None:
    """Mirror augmentation needs encode(-x) to be the mirror class of encode(x): the fitted
    centers are symmetric by default and values exactly between two classes go to the one
    nearer neutral on both sides."""
    rng = np.random.default_rng(2)
    data = np.concatenate([c + rng.normal(0, 0.02, 3000) for c in (-0.7, 0.0, 0.3, 0.9)])
    centers = fit_stick_centers(data.clip(-1, 1), k=9, seed=1)
    assert np.array_equal(centers, -centers[::-1]) and 0.0 in centers.tolist()
    with pytest.raises(ValueError, match="odd k"):
        fit_stick_centers(data, k=8)
    kmeans = ControllerConfig(stick_centers=tuple(float(c) for c in centers))
    for cfg in (ControllerConfig(), kmeans):
        values = cfg.axis_values.astype(np.float64)
        mids = ((values[:-1] + values[1:]) / 2).astype(np.float32)
        x = np.concatenate([values.astype(np.float32), mids, rng.uniform(-1, 1, 500)])
        x = x.astype(np.float32)
        pos = encode_controller(controls(main_x=list(x)), cfg).main_x
        neg = encode_controller(controls(main_x=list(-x)), cfg).main_x
        assert np.array_equal(neg, len(values) - 1 - pos)
        at_mid = encode_controller(controls(main_x=list(mids)), cfg).main_x
        lower = np.arange(len(mids))
        nearer_neutral = np.where(
            np.abs(values[lower]) <= np.abs(values[lower + 1]), lower, lower + 1
        )
        assert np.array_equal(at_mid, nearer_neutral)
