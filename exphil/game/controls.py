"""``Controls``: THE controller type. Columns for N games, one port.

Every environment takes it (``GameEnv.step(p0, p1)``), every decoder returns it
(``exphil.embed.decode_controller``), the CPU bots emit it and the live adapter writes one row
of it to a ``melee.Controller`` (``exphil.game.live.apply_action``). The policy's output space
is a different thing: class indices (``exphil.embed.DiscreteController``).

Columns (``Frames``' controller conventions), arrays of shape ``[N]``:

* ``main_x, main_y, c_x, c_y``: sticks, float32, in [-1, 1] with 0 at neutral;
* ``shoulder``: the analog trigger, float32, in [0, 1];
* ``buttons``: a uint8 bitmask in ``BUTTONS`` order (A B X Y Z L R D-up).

Construction does not check anything (it is on the per-frame path); :meth:`Controls.validate`
does, and the envs call it on what they are given. Values outside the ranges are clamped by
whoever consumes them (the mock, the live adapter); NaN and infinities are refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from exphil.game.frames import BUTTON_BITS, BUTTONS, PlayerFrames

__all__ = ["Controls", "CONTROL_COLUMNS", "AXIS_COLUMNS"]

AXIS_COLUMNS: Final = ("main_x", "main_y", "c_x", "c_y", "shoulder")
"""The float columns: the four stick axes and the shoulder."""
CONTROL_COLUMNS: Final = (*AXIS_COLUMNS, "buttons")
"""Every column, in the constructor's order."""

Array = np.ndarray[Any, Any]


def _button_mask(buttons: int | Iterable[str]) -> int:
    if isinstance(buttons, str):
        raise ValueError(f"buttons: pass a tuple of names such as ('A', 'X'), not {buttons!r}")
    if isinstance(buttons, bool):
        raise ValueError(f"buttons must be a uint8 bitmask or button names, got {buttons!r}")
    if isinstance(buttons, int | np.integer):
        if not 0 <= buttons <= 0xFF:
            raise ValueError(f"buttons must be a uint8 bitmask, got {buttons}")
        return int(buttons)
    bits = 0
    for name in buttons:
        if name not in BUTTON_BITS:
            raise ValueError(f"unknown button {name!r}; expected one of {BUTTONS}")
        bits |= BUTTON_BITS[name]
    return bits


@dataclass(frozen=True, slots=True, eq=False)
class Controls:
    """One port's controller for N games (see the module docstring for the columns).

    Frozen (the fields cannot be rebound) but the arrays are ordinary numpy arrays: fill them
    in place when you own them (``neutral`` and ``full`` return fresh ones).
    """

    main_x: Array
    main_y: Array
    c_x: Array
    c_y: Array
    shoulder: Array
    buttons: Array

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def neutral(cls, n: int) -> Controls:
        """Nobody touches the controller (fresh arrays: safe to fill in place)."""
        return cls.full(n)

    @classmethod
    def full(
        cls,
        n: int,
        *,
        main_x: float = 0.0,
        main_y: float = 0.0,
        c_x: float = 0.0,
        c_y: float = 0.0,
        shoulder: float = 0.0,
        buttons: int | Iterable[str] = 0,
    ) -> Controls:
        """The same controller in all ``n`` games: stick values, and ``buttons`` as a bitmask
        or button names (``("A", "X")``). Fresh arrays."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        bits = _button_mask(buttons)

        def f(v: float) -> Array:
            return np.full(n, v, dtype=np.float32)

        return cls(
            f(main_x), f(main_y), f(c_x), f(c_y), f(shoulder), np.full(n, bits, dtype=np.uint8)
        )

    @classmethod
    def from_player(cls, player: PlayerFrames) -> Controls:
        """The controller columns of ``player`` (a replay's or an env's own; shared, not
        copied)."""
        return cls(
            player.main_x, player.main_y, player.c_x, player.c_y, player.shoulder, player.buttons
        )

    @classmethod
    def concat(cls, parts: Sequence[Controls]) -> Controls:
        """The rows of ``parts``, one after the other (fresh arrays)."""
        if not parts:
            raise ValueError("Controls.concat needs at least one part")
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in CONTROL_COLUMNS))

    # --- rows -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.main_x)

    def columns(self) -> dict[str, Array]:
        """The six columns by name, in ``CONTROL_COLUMNS`` order."""
        return {name: getattr(self, name) for name in CONTROL_COLUMNS}

    def take(self, index: Any) -> Controls:
        """Rows ``index`` (an int array, a boolean mask or a slice) of every column."""
        return Controls(
            self.main_x[index],
            self.main_y[index],
            self.c_x[index],
            self.c_y[index],
            self.shoulder[index],
            self.buttons[index],
        )

    def row(self, i: int) -> Controls:
        """Row ``i`` as a ``Controls`` of length 1 (a copy). ``IndexError`` if out of range."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return self.take([i])

    def where(self, mask: Array, other: Controls) -> Controls:
        """Rows where ``mask`` (``[N]`` bool) is true from ``other``, the rest from ``self``
        (fresh arrays, ``self``'s dtypes)."""
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (len(self),):
            raise ValueError(
                f"where: mask must be a bool array of shape ({len(self)},), got {m.dtype} {m.shape}"
            )
        if len(other) != len(self):
            raise ValueError(f"where: other has {len(other)} rows, expected {len(self)}")
        return Controls(
            *(
                np.where(m, getattr(other, name), getattr(self, name)).astype(
                    getattr(self, name).dtype, copy=False
                )
                for name in CONTROL_COLUMNS
            )
        )

    # --- checks -----------------------------------------------------------------------------
    def validate(
        self, n: int | None = None, name: str = "controls", *, finite: bool = True
    ) -> None:
        """Check shapes, dtypes and values; ``ValueError`` naming the column otherwise.

        Every column must be a 1-D numpy array of ``n`` rows (of equal length when ``n`` is
        None). Sticks and shoulder: a floating dtype (float32 is the convention; float64 is
        accepted and kept exact by the mock) with no NaN or infinity. ``buttons``: an integer
        dtype with values in 0..255 (uint8 is the convention). Out-of-range stick values are
        not errors: consumers clamp them. ``name`` prefixes the messages, e.g. ``"port 1's
        controls"`` gives ``"port 1's controls.main_x has NaN"``. ``finite=False`` skips the
        NaN/infinity check (for a reader that checks as it copies).
        """
        expected = n
        floats: list[Array] = []
        for col in CONTROL_COLUMNS:
            arr = getattr(self, col)
            if not isinstance(arr, np.ndarray):
                raise ValueError(f"{name}.{col} must be a numpy array, got {type(arr).__name__}")
            if expected is None:
                expected = len(arr) if arr.ndim == 1 else -1
            if arr.shape != (expected,):
                want = f"({expected},)" if expected >= 0 else "one dimension"
                raise ValueError(f"{name}.{col} has shape {arr.shape}, expected {want}")
            if col == "buttons":
                if arr.dtype.kind not in "ui":
                    raise ValueError(f"{name}.buttons must be uint8 bitmasks, got {arr.dtype}")
                if arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 0xFF):
                    raise ValueError(f"{name}.buttons must be uint8 bitmasks (values 0..255)")
            elif arr.dtype.kind != "f":
                raise ValueError(f"{name}.{col} must be a float array, got {arr.dtype}")
            else:
                floats.append(arr)
        if not finite or np.isfinite(np.concatenate(floats)).all():  # one check for all five
            return
        for col, arr in zip(AXIS_COLUMNS, floats, strict=True):
            if not np.isfinite(arr).all():
                what = "NaN" if np.isnan(arr).any() else "an infinity"
                raise ValueError(f"{name}.{col} has {what}")

    def pressed(self, i: int = 0) -> tuple[str, ...]:
        """The names of the buttons pressed in row ``i``, in ``BUTTONS`` order."""
        b = int(self.buttons[i])
        return tuple(name for name in BUTTONS if b & BUTTON_BITS[name])
