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
    "FramesError",
    "validate_frames",
    "concat_frames",
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


class FramesError(ValueError):
    """``Frames`` whose values are impossible in Melee (see :func:`validate_frames`)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        super().__init__(f"invalid Frames: {shown}{more}")


_FLOAT_COLUMNS: Final = tuple(k for k, v in PlayerFrames.DTYPES.items() if v == "float32")


def validate_frames(frames: Frames, *, series: bool = True) -> None:
    """Check that every value is one Melee can produce; raise :class:`FramesError` listing
    what is not.

    Every source (replays, the live adapter, the mock environment) must pass: it is the
    contract the embedding relies on. ``series`` adds the checks for one game's frames in
    order (frame ids strictly increasing, one stage); a batch of games (one row each, as the
    mock environment emits per step) is validated with ``series=False``.
    """
    from exphil.game.ids import NUM_INTERNAL_CHARACTERS, Stage

    problems: list[str] = []
    n = len(frames)
    if series and n > 1 and not (np.diff(frames.frame.astype(np.int64)) > 0).all():
        problems.append("frame ids are not strictly increasing")
    stages = np.unique(frames.stage)
    known = {int(s) for s in Stage}
    bad_stages = [int(s) for s in stages if int(s) not in known]
    if bad_stages:
        problems.append(f"unknown stage ids {bad_stages}")
    if series and len(stages) > 1:
        problems.append(f"one game has several stages {stages.tolist()}")

    def check(name: str, ok: np.ndarray[Any, Any]) -> None:
        if not ok.all():
            rows = np.flatnonzero(~ok)
            problems.append(f"{name}: {len(rows)} bad rows (first at row {int(rows[0])})")

    for group, people in (("players", frames.players), ("nana", frames.nana)):
        for i, p in enumerate(people):
            if group == "players" and not p.exists.all():
                check(f"players[{i}].exists", p.exists)
            e = p.exists
            if not e.any():
                continue
            tag = f"{group}[{i}]"
            for col in _FLOAT_COLUMNS:
                check(f"{tag}.{col} is finite", np.isfinite(getattr(p, col)[e]))
            for col in ("main_x", "main_y", "c_x", "c_y"):
                v = getattr(p, col)[e]
                check(f"{tag}.{col} in [-1, 1]", (v >= -1) & (v <= 1))
            check(f"{tag}.shoulder in [0, 1]", (p.shoulder[e] >= 0) & (p.shoulder[e] <= 1))
            check(f"{tag}.facing is +1 or -1", np.abs(p.facing[e]) == 1)
            check(f"{tag}.percent in [0, 999]", (p.percent[e] >= 0) & (p.percent[e] <= 999))
            check(f"{tag}.shield in [0, 60]", (p.shield[e] >= 0) & (p.shield[e] <= 60.001))
            check(f"{tag}.stocks <= 99", p.stocks[e] <= 99)
            check(f"{tag}.jumps_left <= 6", p.jumps_left[e] <= 6)
            check(f"{tag}.character is an internal id", p.character[e] < NUM_INTERNAL_CHARACTERS)
            check(f"{tag}.action is an action-state id", p.action[e] <= 0x3FF)
            check(f"{tag}.hitlag >= 0", p.hitlag[e] >= 0)
    it = frames.items
    check("items.owner in {-1, 0, 1}", (it.owner >= -1) & (it.owner <= 1))
    e = it.exists
    for col in ("x", "y", "vx", "vy", "timer"):
        check(f"items.{col} is finite", np.isfinite(getattr(it, col)[e]))
    if problems:
        raise FramesError(problems)


def concat_frames(parts: list[Frames]) -> Frames:
    """Rows of several ``Frames`` one after the other (e.g. one game's rows, step by step)."""
    if not parts:
        raise ValueError("concat_frames needs at least one Frames")

    def cat(kind: type[T], cols: list[T]) -> T:
        return kind(**{k: np.concatenate([getattr(c, k) for c in cols]) for k in kind.DTYPES})

    return Frames(
        frame=np.concatenate([p.frame for p in parts]),
        stage=np.concatenate([p.stage for p in parts]),
        players=(
            cat(PlayerFrames, [p.players[0] for p in parts]),
            cat(PlayerFrames, [p.players[1] for p in parts]),
        ),
        nana=(
            cat(PlayerFrames, [p.nana[0] for p in parts]),
            cat(PlayerFrames, [p.nana[1] for p in parts]),
        ),
        items=cat(ItemFrames, [p.items for p in parts]),
    )
