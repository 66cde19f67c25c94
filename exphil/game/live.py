"""libmelee adapter: ``melee.GameState`` → ``Frames`` rows, and a policy's action → a
``melee.Controller``.

``melee`` is imported lazily (inside functions): importing this module does not import it.

The rows have exactly the column conventions of the replay path (``exphil.game.peppi``); the
parity test (``tests/exphil/game/test_live.py``) reads the shared replays with both libraries
and compares every column. The gamestates are assumed to come from ``melee.Console.step``
(Dolphin, or a ``.slp`` file with ``is_dolphin=False``); these are the normalisations, the only
ones the parity test allows:

* **ports**: ``gamestate.players`` is keyed by the 1-based port; ``Frames.players[0]`` is the
  lower of the two ports, ``[1]`` the higher (or the ``ports`` the caller fixes). A port absent
  from a gamestate gives a row with ``exists`` False and zeros (as peppi does).
* **frame id**: ``gamestate.frame`` is the pre-frame event's frame id, the same number peppi
  reports (the first frame is -123): taken as is.
* **rollback**: ``read_slp_with_libmelee`` steps with ``skip_rollback_frames=False`` and
  ``FrameRecorder`` keeps the **last** row of a frame id that occurs more than once (peppi's
  rule); rows come out in increasing frame-id order. (libmelee's default,
  ``skip_rollback_frames=True``, would keep the *first* occurrence.)
* **stage**: libmelee's ``Stage`` enum holds *internal* ids and knows the six legal stages only
  (any other stage reads as ``NO_STAGE``); ``Frames.stage`` is the *external* id
  (``exphil.game.ids.Stage.from_internal``), and **0** where libmelee does not know the stage.
* **character**: libmelee's ``Character`` values are the internal ids, as ``Frames.character``.
* **action**: the action-state id (``Action`` or ``UnknownAnimation``) ``.value``.
* **action_frame**: libmelee truncates the replay's float ``state_age`` to an int and then
  (``Console.__fixframeindexing``, leaders only, not Nana) adds 1 to the actions it lists as
  zero-indexed (``melee/actiondata.csv``). This adapter subtracts that 1 again, so
  ``action_frame`` == ``trunc(state_age)``: equal to peppi's value except for its fractional part,
  which libmelee drops (about 5% of frames have one, e.g. rate-scaled animations).
* **facing**: ``+1`` if ``facing`` (direction > 0) else ``-1``. A direction of exactly 0 (seen
  in one shared replay, action 0x131) reads -1, here and in ``peppi.py`` alike.
* **hitlag**: ``hitlag_left`` = ``trunc`` of the replay's float (peppi keeps the float).
* **hitstun**: libmelee's ``hitstun_frames_left`` is ``trunc(misc_as)`` on every frame, but
  ``misc_as`` is only hitstun while the hitstun state flag is set (peppi's rule), and libmelee
  does not expose that flag. On the shared replays the flag is set only in the damage actions
  ``DAMAGE_HIGH_1..DAMAGE_FLY_ROLL`` (0x4B-0x5B), ``DAMAGE_GROUND`` (0xC1) and ``BOUNCE_WALL``
  (0xF7), and in those actions ``misc_as`` truncates to 0 whenever the flag is clear; so
  ``hitstun`` = ``hitstun_frames_left`` in ``HITSTUN_ACTIONS`` (those, plus their siblings
  ``LYING_GROUND_UP_HIT`` 0xB9 and ``BOUNCE_CEILING`` 0xF8), else 0. It equals
  ``trunc(peppi hitstun)``.
* **speeds**: ``speed_air_x_self``, ``speed_y_self``, ``speed_x_attack``, ``speed_y_attack``,
  ``speed_ground_x_self`` → ``vx_air``, ``vy_self``, ``vx_knockback``, ``vy_knockback``,
  ``vx_ground``; ``shield_strength`` → ``shield``; ``stock`` → ``stocks``.
* **sticks**: libmelee stores ``v / 2 + 0.5`` in float32 for the replay's processed stick value
  ``v`` ∈ [-1, 1]; this adapter computes ``(s - 0.5) * 2`` in float64. The float32 rounding of
  libmelee's ``+ 0.5`` leaves an error of at most 2**-24 (about 6e-8).
* **shoulder**: ``l_shoulder`` (libmelee sets ``l_shoulder`` = ``r_shoulder`` = the processed
  analog trigger, which is peppi's ``pre.triggers``): exact.
* **buttons**: from ``controller_state.processed_button`` (the pre-frame *processed* bits, as
  peppi's ``pre.buttons``), not ``controller_state.button`` (the physical bits), packed in
  ``BUTTONS`` order.
* **Nana**: ``player.nana`` → ``Frames.nana[i]`` (``exists`` True while she is alive). libmelee
  replaces Nana's ``PlayerState`` in the post-frame event, dropping what her pre-frame event
  set: her controller columns are therefore always neutral (0) on this path.
* **items**: ``gamestate.projectiles`` carry the item's ``spawn_id``, so the slots follow
  peppi's rule exactly: slot = spawn id mod 15; on a collision the lowest spawn id keeps the
  slot and the others (in event order) take the lowest free slot; items beyond 15 are dropped
  (counted in ``FrameRecorder.items_dropped``). ``owner`` is the owner's index in ``Frames.players``
  (-1 for none; libmelee's is the 1-based port, 0 for none and -1 before Slippi 3.6); ``timer`` is
  ``expiration_frames``, the ``trunc`` of the replay's float; ``vx, vy`` are ``speed``.
* fields an old replay does not record (``GameInfo.missing``, Slippi < 3.x): libmelee reads
  whatever bytes follow the event instead of a neutral value, so those columns are meaningless
  on that path (the parity test compares only the columns peppi reports as recorded; live
  Dolphin always sends them).

Controller output (``apply_action``): one row of a :class:`~exphil.game.Controls` goes to a
``melee.Controller``. Sticks are **clamped** to [-1, 1] and sent as ``(v + 1) / 2`` to
``tilt_analog``; the shoulder is clamped to [0, 1] and sent as the analog L press; NaN anywhere
raises ``ValueError``, as do buttons outside a uint8 bitmask.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from exphil.game.controls import AXIS_COLUMNS, Controls
from exphil.game.frames import (
    BUTTON_BITS,
    BUTTONS,
    ITEM_SLOTS,
    Frames,
    ItemFrames,
    PlayerFrames,
)
from exphil.game.ids import Stage

__all__ = [
    "HITSTUN_ACTIONS",
    "ROLLBACK_MARGIN",
    "ControllerLike",
    "FrameRecorder",
    "apply_action",
    "frame_row",
    "read_slp_with_libmelee",
]

HITSTUN_ACTIONS: Final[frozenset[int]] = frozenset([*range(0x4B, 0x5C), 0xB9, 0xC1, 0xF7, 0xF8])
"""Action states in which ``misc_as`` (libmelee's ``hitstun_frames_left``) is hitstun."""

ROLLBACK_MARGIN: Final = 30
"""Frames ``read_slp_with_libmelee(max_frames=...)`` reads past the cap: a frame id is final
once the game is this far past it (Slippi rolls back at most 7 frames)."""

_PLAYER_COLUMNS: Final = tuple(PlayerFrames.DTYPES)
_ITEM_COLUMNS: Final = ("type", "owner", "x", "y", "vx", "vy", "timer")
_ZERO_PLAYER: Final = (0,) * len(_PLAYER_COLUMNS)

_PlayerRow = tuple[Any, ...]  # one PlayerState, in PlayerFrames.DTYPES order
_ItemRow = tuple[Any, ...]  # (spawn id, type, owner, x, y, vx, vy, timer)
# the libmelee attribute names of BUTTONS, in order
_MELEE_BUTTONS: Final = tuple(f"BUTTON_{name}" for name in BUTTONS)


@functools.cache
def _zero_indexed() -> frozenset[tuple[int, int]]:
    """``(internal character, action)`` pairs libmelee shifts by +1 (its ``actiondata.csv``)."""
    import melee

    path = os.path.join(os.path.dirname(os.path.realpath(melee.__file__)), "actiondata.csv")
    with open(path, newline="") as fh:
        return frozenset(
            (int(row["character"]), int(row["action"]))
            for row in csv.DictReader(fh)
            if row["zeroindex"] == "True"
        )


@functools.cache
def _external_stage(internal_id: int) -> int:
    try:
        return int(Stage.from_internal(internal_id))
    except ValueError:
        return 0


def _stick(v: Any) -> float:
    return (float(v) - 0.5) * 2.0


@functools.cache
def _button_bits() -> tuple[tuple[Any, int], ...]:
    """``(melee Button, bit)`` for the ``BUTTONS``."""
    from melee.enums import Button

    return tuple(
        (getattr(Button, attr), BUTTON_BITS[name])
        for name, attr in zip(BUTTONS, _MELEE_BUTTONS, strict=True)
    )


def _player_row(ps: Any, leader: bool, zero_indexed: frozenset[tuple[int, int]]) -> _PlayerRow:
    """One ``PlayerState`` as a tuple in ``PlayerFrames.DTYPES`` order."""
    character = int(ps.character.value)
    action = int(ps.action.value)
    action_frame = int(ps.action_frame)
    if leader and (character, action) in zero_indexed:
        action_frame -= 1
    cs = ps.controller_state
    pressed = cs.processed_button
    buttons = 0
    for button, bit in _button_bits():
        if pressed.get(button, False):
            buttons |= bit
    main_x, main_y = cs.main_stick
    c_x, c_y = cs.c_stick
    return (
        True,
        float(ps.position.x),
        float(ps.position.y),
        float(ps.speed_air_x_self),
        float(ps.speed_y_self),
        float(ps.speed_x_attack),
        float(ps.speed_y_attack),
        float(ps.speed_ground_x_self),
        float(ps.percent),
        int(ps.stock),
        1 if ps.facing else -1,
        action,
        action_frame,
        character,
        int(ps.jumps_left),
        float(ps.shield_strength),
        bool(ps.on_ground),
        bool(ps.invulnerable),
        float(ps.hitlag_left),
        float(ps.hitstun_frames_left) if action in HITSTUN_ACTIONS else 0.0,
        _stick(main_x),
        _stick(main_y),
        _stick(c_x),
        _stick(c_y),
        float(cs.l_shoulder),
        buttons,
    )


def _item_row(pr: Any, ports: tuple[int, int]) -> _ItemRow:
    """``(spawn id, type, owner, x, y, vx, vy, timer)`` of one ``Projectile``; ``owner`` is
    the owner's index in ``ports`` (libmelee's owner is the 1-based port)."""
    owner = int(pr.owner)
    return (
        int(pr.spawn_id),
        int(pr.type.value),
        ports.index(owner) if owner in ports else -1,
        float(pr.position.x),
        float(pr.position.y),
        float(pr.speed.x),
        float(pr.speed.y),
        float(pr.expiration_frames),
    )


def _check_ports(ports: tuple[int, int]) -> tuple[int, int]:
    a, b = (int(p) for p in ports)
    if a == b or not (1 <= a <= 4 and 1 <= b <= 4):
        raise ValueError(f"ports must be two distinct 1-based ports (1..4), got {ports!r}")
    return a, b


@dataclass(slots=True)
class _Row:
    stage: int
    players: tuple[_PlayerRow, _PlayerRow]
    nana: tuple[_PlayerRow | None, _PlayerRow | None]
    items: list[_ItemRow]


class FrameRecorder:
    """Accumulates libmelee gamestates; ``frames()`` builds the numpy columns once.

    ``ports`` (1-based) are fixed by the caller, or taken from the first gamestate that has
    exactly two players (lower port first). A frame id seen again replaces its earlier row
    (rollback: the last occurrence wins).
    """

    def __init__(self, ports: tuple[int, int] | None = None) -> None:
        self._ports = _check_ports(ports) if ports is not None else None
        self._rows: dict[int, _Row] = {}
        self.items_dropped = 0
        """Items beyond ``ITEM_SLOTS`` in one frame, dropped by the last ``frames()``."""

    @property
    def ports(self) -> tuple[int, int] | None:
        return self._ports

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, gamestate: Any) -> None:
        """Record one gamestate (any menu state: filter in-game frames before calling)."""
        players = gamestate.players
        if self._ports is None:
            if len(players) != 2:
                raise ValueError(
                    f"cannot pick the two ports of a {len(players)}-player gamestate; "
                    "pass ports=(a, b)"
                )
            low, high = sorted(players)
            self._ports = _check_ports((low, high))
        zi = _zero_indexed()
        leaders: list[_PlayerRow] = []
        nanas: list[_PlayerRow | None] = []
        for port in self._ports:
            ps = players.get(port)
            if ps is None:
                leaders.append(_ZERO_PLAYER)
                nanas.append(None)
                continue
            leaders.append(_player_row(ps, True, zi))
            nana = ps.nana
            nanas.append(None if nana is None else _player_row(nana, False, zi))
        stage = gamestate.stage
        self._rows[int(gamestate.frame)] = _Row(
            stage=_external_stage(int(stage.value)) if stage is not None else 0,
            players=(leaders[0], leaders[1]),
            nana=(nanas[0], nanas[1]),
            items=[_item_row(pr, self._ports) for pr in gamestate.projectiles],
        )

    def frames(self) -> Frames:
        """The recorded rows as one ``Frames``, in increasing frame-id order."""
        ids = sorted(self._rows)
        rows = [self._rows[i] for i in ids]
        items, self.items_dropped = _items([r.items for r in rows])
        return Frames(
            frame=np.asarray(ids, dtype=np.int32),
            stage=np.asarray([r.stage for r in rows], dtype=np.uint8),
            players=(
                _player_frames([r.players[0] for r in rows]),
                _player_frames([r.players[1] for r in rows]),
            ),
            nana=(
                _player_frames([r.nana[0] for r in rows]),
                _player_frames([r.nana[1] for r in rows]),
            ),
            items=items,
        )


def _player_frames(rows: list[_PlayerRow | None]) -> PlayerFrames:
    n = len(rows)
    table = np.asarray([_ZERO_PLAYER if r is None else r for r in rows], dtype=np.float64).reshape(
        n, len(_PLAYER_COLUMNS)
    )
    return PlayerFrames(
        **{
            name: table[:, j].astype(dtype)
            for j, (name, dtype) in enumerate(PlayerFrames.DTYPES.items())
        }
    )


def _items(per_frame: list[list[_ItemRow]]) -> tuple[ItemFrames, int]:
    """peppi's slot rule: spawn id mod 15; the lowest spawn id keeps a contested slot, the
    others (in event order) take the lowest free slot; no free slot: dropped."""
    out = ItemFrames.zeros(len(per_frame))
    cols = {name: getattr(out, name) for name in _ITEM_COLUMNS}
    dropped = 0
    for r, items in enumerate(per_frame):
        if not items:
            continue
        slots: list[int | None] = [None] * len(items)
        taken = [False] * ITEM_SLOTS
        for k in sorted(range(len(items)), key=lambda k: items[k][0]):
            s = items[k][0] % ITEM_SLOTS
            if not taken[s]:
                taken[s] = True
                slots[k] = s
        for k, s in enumerate(slots):
            if s is not None:
                continue
            free = next((f for f in range(ITEM_SLOTS) if not taken[f]), None)
            if free is None:
                dropped += 1
                continue
            taken[free] = True
            slots[k] = free
        for k, s in enumerate(slots):
            if s is None:
                continue
            out.exists[r, s] = True
            for name, value in zip(_ITEM_COLUMNS, items[k][1:], strict=True):
                cols[name][r, s] = value
    return out, dropped


def frame_row(gamestate: Any, ports: tuple[int, int] | None = None) -> Frames:
    """One libmelee ``GameState`` as a one-row ``Frames`` (see the module's normalisations)."""
    rec = FrameRecorder(ports)
    rec.append(gamestate)
    return rec.frames()


def read_slp_with_libmelee(
    path: str | os.PathLike[str],
    *,
    ports: tuple[int, int] | None = None,
    max_frames: int | None = None,
) -> Frames:
    """A ``.slp`` file read through libmelee (``Console(is_dolphin=False)``): the parity path.

    Only in-game frames (``IN_GAME`` / ``SUDDEN_DEATH``) are recorded. ``max_frames`` keeps the
    frame ids ``first .. first + max_frames - 1`` and stops reading ``ROLLBACK_MARGIN`` frames
    past them (so those rows are final). libmelee's own exceptions (unreadable or unsupported
    files) propagate unchanged; a file with no in-game frame raises ``ValueError``.
    """
    import melee

    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    console = melee.Console(
        path=os.fspath(path),
        is_dolphin=False,
        allow_old_version=True,
        skip_rollback_frames=False,
    )
    if not console.connect():
        raise OSError(f"{os.fspath(path)}: libmelee could not open the file")
    in_game = (melee.Menu.IN_GAME, melee.Menu.SUDDEN_DEATH)
    rec = FrameRecorder(ports)
    first: int | None = None
    try:
        while (gs := console.step()) is not None:
            if gs.menu_state not in in_game or not gs.players:
                continue
            frame = int(gs.frame)
            if first is None:
                first = frame
            if max_frames is not None and frame >= first + max_frames:
                if frame >= first + max_frames + ROLLBACK_MARGIN:
                    break
                continue
            rec.append(gs)
    finally:
        console.stop()
    if first is None:
        raise ValueError(f"{os.fspath(path)}: no in-game frame")
    return rec.frames()


class ControllerLike(Protocol):
    """The part of ``melee.Controller`` that ``apply_action`` uses."""

    def press_button(self, button: Any) -> None: ...
    def release_button(self, button: Any) -> None: ...
    def tilt_analog(self, button: Any, x: float, y: float) -> None: ...
    def press_shoulder(self, button: Any, amount: float) -> None: ...


def _row_values(controls: Controls, row: int, what: str) -> tuple[float, ...]:
    """``(main_x, main_y, c_x, c_y, shoulder, buttons)`` of one row, clamped and checked."""
    if not isinstance(controls, Controls):
        raise TypeError(f"{what} must be Controls, got {type(controls).__name__}")
    n = len(controls)
    if not -n <= row < n:
        raise IndexError(f"{what}: row {row} out of range for {n} rows")
    out: list[float] = []
    for name in AXIS_COLUMNS:
        v = float(getattr(controls, name)[row])
        if math.isnan(v):
            raise ValueError(f"{what}.{name} is NaN (row {row})")
        lo = 0.0 if name == "shoulder" else -1.0
        out.append(min(max(v, lo), 1.0))
    b = controls.buttons[row]
    if not isinstance(b, np.integer) or not 0 <= int(b) <= 0xFF:
        raise ValueError(f"{what}.buttons must be a uint8 bitmask, got {b!r} (row {row})")
    out.append(int(b))
    return tuple(out)


def apply_action(
    controller: ControllerLike,
    controls: Controls,
    row: int = 0,
    previous: Controls | None = None,
    previous_row: int = 0,
) -> None:
    """Send row ``row`` of ``controls`` to a ``melee.Controller`` (the caller flushes, e.g.
    ``console.step``).

    With ``previous`` (what was sent last: row ``previous_row`` of it), only what changed is
    sent; without it, every button, both sticks and both analog shoulders are set (R's analog
    to 0: the shoulder goes through L). Values are clamped to their range (sticks [-1, 1],
    shoulder [0, 1]); NaN or buttons outside a uint8 bitmask raise ``ValueError`` and send
    nothing.
    """
    from melee.enums import Button

    mx, my, cx, cy, sh, buttons = _row_values(controls, row, "controls")
    prev = None if previous is None else _row_values(previous, previous_row, "previous")
    for button, bit in _button_bits():
        now = bool(int(buttons) & bit)
        if prev is not None and now == bool(int(prev[5]) & bit):
            continue
        if now:
            controller.press_button(button)
        else:
            controller.release_button(button)
    if prev is None or (mx, my) != prev[0:2]:
        controller.tilt_analog(Button.BUTTON_MAIN, (mx + 1.0) / 2.0, (my + 1.0) / 2.0)
    if prev is None or (cx, cy) != prev[2:4]:
        controller.tilt_analog(Button.BUTTON_C, (cx + 1.0) / 2.0, (cy + 1.0) / 2.0)
    if prev is None or sh != prev[4]:
        controller.press_shoulder(Button.BUTTON_L, sh)
    if prev is None:
        controller.press_shoulder(Button.BUTTON_R, 0.0)
