"""``Frames``: one 2-player game as struct-of-arrays (numpy), the shape every path produces.

Replays (``exphil.game.peppi``), the live adapter and the mock environment all fill the same
columns, so an embedding or a policy never knows where a game came from.

Conventions (one per column, everywhere):

* positions, velocities, percent, shield: Melee units, float32;
* ``facing``: +1 right, -1 left (int8); ``action``: the action-state id; ``action_frame``: as
  in replays (``state_age``, a float; libmelee truncates it and adds 1 for the actions it
  lists as zero-indexed, which ``exphil.game.live`` undoes);
* ``character``: the **internal** id (per-frame data); ``exphil.game.Character.from_internal``
  names it;
* sticks ``main_x, main_y, c_x, c_y`` in [-1, 1] with 0 at neutral (libmelee's [0, 1] with 0.5
  neutral is converted at its boundary); ``shoulder`` in [0, 1];
* ``buttons``: a uint8 bitmask in the policy's order ``BUTTONS`` (A B X Y Z L R D-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Final, TypeVar

import numpy as np

__all__ = [
    "BUTTONS",
    "BUTTON_BITS",
    "ITEM_SLOTS",
    "PlayerFrames",
    "ItemFrames",
    "Frames",
]

BUTTONS: Final = ("A", "B", "X", "Y", "Z", "L", "R", "D_UP")
BUTTON_BITS: Final = {name: 1 << i for i, name in enumerate(BUTTONS)}
ITEM_SLOTS: Final = 15

T = TypeVar("T", bound="_Columns")


@dataclass(frozen=True, slots=True)
class _Columns:
    """Equal-length numpy columns with a fixed dtype each (``DTYPES``)."""

    DTYPES: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        n: int | None = None
        for f in fields(self):
            arr = getattr(self, f.name)
            want = np.dtype(self.DTYPES[f.name])
            if not isinstance(arr, np.ndarray) or arr.dtype != want:
                raise TypeError(
                    f"{type(self).__name__}.{f.name} must be a numpy {want} array, got "
                    f"{getattr(arr, 'dtype', type(arr))}"
                )
            if n is None:
                n = len(arr)
            elif len(arr) != n:
                raise ValueError(
                    f"{type(self).__name__}.{f.name} has {len(arr)} rows, expected {n}"
                )

    def __len__(self) -> int:
        return len(getattr(self, next(iter(self.DTYPES))))

    @classmethod
    def zeros(cls: type[T], n: int, **shape: Any) -> T:
        cols = {}
        for name, dtype in cls.DTYPES.items():
            cols[name] = np.zeros((n, *cls._extra_shape(shape)), dtype=dtype)
        return cls(**cols)

    @classmethod
    def _extra_shape(cls, shape: Mapping[str, Any]) -> tuple[int, ...]:
        return ()

    @classmethod
    def _trusted(cls: type[T], columns: Mapping[str, np.ndarray[Any, Any]]) -> T:
        """Build without the per-column checks, for readers that validated the column table
        already (the game cache)."""
        obj = object.__new__(cls)
        for name in cls.DTYPES:
            object.__setattr__(obj, name, columns[name])
        return obj

    def take(self: T, index: Any) -> T:
        """Rows ``index`` (an int array, a boolean mask or a slice) of every column."""
        return type(self)(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def columns(self) -> dict[str, np.ndarray[Any, Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class PlayerFrames(_Columns):
    """One character's state and controller, per frame (a leader, or Nana with ``exists``)."""

    DTYPES: ClassVar[Mapping[str, str]] = {
        "exists": "bool",
        "x": "float32",
        "y": "float32",
        "vx_air": "float32",
        "vy_self": "float32",
        "vx_knockback": "float32",
        "vy_knockback": "float32",
        "vx_ground": "float32",
        "percent": "float32",
        "stocks": "uint8",
        "facing": "int8",
        "action": "uint16",
        "action_frame": "float32",
        "character": "uint8",
        "jumps_left": "uint8",
        "shield": "float32",
        "on_ground": "bool",
        "invulnerable": "bool",
        "hitlag": "float32",
        "hitstun": "float32",
        "main_x": "float32",
        "main_y": "float32",
        "c_x": "float32",
        "c_y": "float32",
        "shoulder": "float32",
        "buttons": "uint8",
    }

    exists: np.ndarray[Any, Any]
    x: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    vx_air: np.ndarray[Any, Any]
    vy_self: np.ndarray[Any, Any]
    vx_knockback: np.ndarray[Any, Any]
    vy_knockback: np.ndarray[Any, Any]
    vx_ground: np.ndarray[Any, Any]
    percent: np.ndarray[Any, Any]
    stocks: np.ndarray[Any, Any]
    facing: np.ndarray[Any, Any]
    action: np.ndarray[Any, Any]
    action_frame: np.ndarray[Any, Any]
    character: np.ndarray[Any, Any]
    jumps_left: np.ndarray[Any, Any]
    shield: np.ndarray[Any, Any]
    on_ground: np.ndarray[Any, Any]
    invulnerable: np.ndarray[Any, Any]
    hitlag: np.ndarray[Any, Any]
    hitstun: np.ndarray[Any, Any]
    main_x: np.ndarray[Any, Any]
    main_y: np.ndarray[Any, Any]
    c_x: np.ndarray[Any, Any]
    c_y: np.ndarray[Any, Any]
    shoulder: np.ndarray[Any, Any]
    buttons: np.ndarray[Any, Any]

    def button(self, name: str) -> np.ndarray[Any, Any]:
        """One button as a bool column (``"A"``, ..., ``"D_UP"``)."""
        out: np.ndarray[Any, Any] = (self.buttons & BUTTON_BITS[name]) != 0
        return out


@dataclass(frozen=True, slots=True)
class ItemFrames(_Columns):
    """Items and projectiles in ``ITEM_SLOTS`` slots per frame, shape ``[T, 15]``.

    An item keeps its slot for its whole life (slots are assigned by spawn id), so a model
    can follow it across frames; ``owner`` is the owner's index in ``Frames.players`` (0 or 1;
    -1 for none or another port), so an embedding can make items owner-relative.
    """

    DTYPES: ClassVar[Mapping[str, str]] = {
        "exists": "bool",
        "type": "uint16",
        "owner": "int8",
        "x": "float32",
        "y": "float32",
        "vx": "float32",
        "vy": "float32",
        "timer": "float32",
    }

    exists: np.ndarray[Any, Any]
    type: np.ndarray[Any, Any]
    owner: np.ndarray[Any, Any]
    x: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    vx: np.ndarray[Any, Any]
    vy: np.ndarray[Any, Any]
    timer: np.ndarray[Any, Any]

    @classmethod
    def _extra_shape(cls, shape: Mapping[str, Any]) -> tuple[int, ...]:
        return (ITEM_SLOTS,)


@dataclass(frozen=True, slots=True)
class Frames:
    """A 2-player game: ``frame`` ids, ``stage`` (external id) per frame, the two players in
    port order, their Nanas (``exists`` False unless Ice Climbers), and the items."""

    frame: np.ndarray[Any, Any]
    stage: np.ndarray[Any, Any]
    players: tuple[PlayerFrames, PlayerFrames]
    nana: tuple[PlayerFrames, PlayerFrames]
    items: ItemFrames

    def __post_init__(self) -> None:
        n = len(self.frame)
        if self.frame.dtype != np.int32 or self.stage.dtype != np.uint8:
            raise TypeError("Frames.frame must be int32 and Frames.stage uint8")
        parts: list[tuple[str, int]] = [("stage", len(self.stage)), ("items", len(self.items))]
        for i in range(2):
            parts += [(f"players[{i}]", len(self.players[i])), (f"nana[{i}]", len(self.nana[i]))]
        for what, rows in parts:
            if rows != n:
                raise ValueError(f"Frames.{what} has {rows} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def _trusted(
        cls,
        frame: np.ndarray[Any, Any],
        stage: np.ndarray[Any, Any],
        players: tuple[PlayerFrames, PlayerFrames],
        nana: tuple[PlayerFrames, PlayerFrames],
        items: ItemFrames,
    ) -> Frames:
        """Build without the shape checks, for producers whose shapes hold by construction
        (the mock environment, once per step)."""
        obj = object.__new__(cls)
        for name, value in (
            ("frame", frame),
            ("stage", stage),
            ("players", players),
            ("nana", nana),
            ("items", items),
        ):
            object.__setattr__(obj, name, value)
        return obj

    def take(self, index: Any) -> Frames:
        """The same game restricted to rows ``index`` (int array, mask or slice)."""
        return Frames(
            frame=self.frame[index],
            stage=self.stage[index],
            players=(self.players[0].take(index), self.players[1].take(index)),
            nana=(self.nana[0].take(index), self.nana[1].take(index)),
            items=self.items.take(index),
        )

    @classmethod
    def zeros(cls, n: int) -> Frames:
        return cls(
            frame=np.arange(n, dtype=np.int32),
            stage=np.zeros(n, dtype=np.uint8),
            players=(PlayerFrames.zeros(n), PlayerFrames.zeros(n)),
            nana=(PlayerFrames.zeros(n), PlayerFrames.zeros(n)),
            items=ItemFrames.zeros(n),
        )
