"""``Controls``, the one controller type: construction, rows, and the checks envs rely on."""

from __future__ import annotations

import numpy as np
import pytest

from exphil.envs import Controls as EnvControls
from exphil.game import CONTROL_COLUMNS, Controls, PlayerFrames
from exphil.game.frames import BUTTON_BITS


def sample(n: int) -> Controls:
    c = Controls.neutral(n)
    c.main_x[:] = np.linspace(-1, 1, n)
    c.c_y[:] = -np.linspace(-1, 1, n)
    c.shoulder[:] = np.linspace(0, 1, n)
    c.buttons[:] = np.arange(n) * 7
    return c


def test_one_class_everywhere() -> None:
    assert EnvControls is Controls


def test_neutral_and_full_have_the_conventional_dtypes() -> None:
    c = Controls.full(3, main_y=0.5, buttons=("A", "D_UP"))
    assert len(c) == 3
    for name in CONTROL_COLUMNS[:5]:
        assert getattr(c, name).dtype == np.float32 and getattr(c, name).shape == (3,)
    assert c.buttons.dtype == np.uint8
    assert c.main_y.tolist() == [0.5] * 3 and c.buttons.tolist() == [0x81] * 3
    assert c.pressed(2) == ("A", "D_UP")
    assert Controls.full(1, buttons=BUTTON_BITS["B"]).pressed() == ("B",)
    n = Controls.neutral(2)
    assert all(not getattr(n, name).any() for name in CONTROL_COLUMNS)
    n.validate(2)
    with pytest.raises(ValueError, match="unknown button 'START'"):
        Controls.full(1, buttons=("START",))
    with pytest.raises(ValueError, match="tuple of names"):
        Controls.full(1, buttons="AX")
    with pytest.raises(ValueError, match="uint8 bitmask"):
        Controls.full(1, buttons=256)


def test_rows_take_concat_where() -> None:
    c = sample(5)
    r = c.row(3)
    assert len(r) == 1 and r.main_x.tolist() == [c.main_x[3]] and r.buttons.tolist() == [21]
    r.main_x[0] = 9.0  # a copy
    assert c.main_x[3] != 9.0
    assert c.row(-1).buttons.tolist() == [28]
    with pytest.raises(IndexError, match="row 5"):
        c.row(5)
    back = Controls.concat([c.row(i) for i in range(5)])
    for name in CONTROL_COLUMNS:
        assert np.array_equal(getattr(back, name), getattr(c, name))
        assert getattr(back, name).dtype == getattr(c, name).dtype
    assert len(Controls.concat([c, c.take(slice(0, 2))])) == 7
    with pytest.raises(ValueError, match="at least one"):
        Controls.concat([])

    mask = np.array([True, False, True, False, False])
    w = c.where(mask, Controls.neutral(5))
    assert w.main_x.tolist() == [0.0, c.main_x[1], 0.0, c.main_x[3], c.main_x[4]]
    assert w.buttons.tolist() == [0, 7, 0, 21, 28] and w.buttons.dtype == np.uint8
    assert w.main_x.dtype == np.float32
    with pytest.raises(ValueError, match="mask"):
        c.where(np.ones(4, bool), Controls.neutral(5))
    with pytest.raises(ValueError, match="other has 4 rows"):
        c.where(mask, Controls.neutral(4))


def test_from_player_shares_the_columns() -> None:
    p = PlayerFrames.zeros(2)
    p.main_x[1] = 0.5
    c = Controls.from_player(p)
    assert c.main_x is p.main_x and c.main_x[1] == 0.5
    c.validate(2)


def test_validate_names_the_column() -> None:
    c = sample(4)
    c.validate()
    c.validate(4)
    with pytest.raises(ValueError, match=r"^controls\.main_x has shape \(4,\), expected \(3,\)$"):
        c.validate(3)
    c.c_y[2] = np.nan
    with pytest.raises(ValueError, match=r"^port 1's controls\.c_y has NaN$"):
        c.validate(4, "port 1's controls")
    c.c_y[2] = np.inf
    with pytest.raises(ValueError, match=r"c_y has an infinity"):
        c.validate()
    c.c_y[2] = 0.0
    ragged = Controls(c.main_x, c.main_y, c.c_x, c.c_y, c.shoulder, np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"controls\.buttons has shape \(3,\), expected \(4,\)"):
        ragged.validate()
    sq = np.zeros((2, 2), np.float32)
    flat2d = Controls(sq, sq, sq, sq, sq, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"main_x has shape \(2, 2\), expected one dimension"):
        flat2d.validate()
    i32 = np.zeros(2, np.int32)
    ints = Controls(i32, i32, i32, i32, i32, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="main_x must be a float array, got int32"):
        ints.validate()
    z = np.zeros(1, np.float32)
    listy = Controls([0.0], z, z, z, z, np.zeros(1, np.uint8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="main_x must be a numpy array, got list"):
        listy.validate()
    floats = np.zeros(4, np.float32)
    for bad, msg in (
        (np.zeros(4, bool), "must be uint8 bitmasks, got bool"),
        (np.zeros(4, np.float32), "must be uint8 bitmasks, got float32"),
        (np.array([0, 1, 2, 256]), r"must be uint8 bitmasks \(values 0\.\.255\)"),
    ):
        with pytest.raises(ValueError, match=rf"controls\.buttons {msg}"):
            Controls(floats, floats, floats, floats, floats, bad).validate()
    # float64 sticks and wide integer buttons in range are accepted (the mock keeps them exact)
    f64 = np.zeros(2)
    Controls(f64, f64, f64, f64, f64, np.array([0, 255])).validate(2)
