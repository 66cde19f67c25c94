"""The mock game written the plain way: one game at a time, Python floats and ints.

:class:`ScalarGame` plays exactly the game :class:`~exphil.envs.mock.MockEnv` plays (the rules
in ``exphil.envs._rules``), one frame per :meth:`ScalarGame.step`, with a ``PlayerState`` per
player and an if/elif state machine instead of masks. It has two jobs:

* benchmark baseline: :class:`ScalarEnv` steps N of them with a Python loop, the way a game
  loop would be written without numpy, to compare with the vectorized env;
* test oracle: for the same controls it produces bit-identical frames, rewards and results.
  Both compute in float64 with the same order of operations (``x + (vx + kbx)``, the
  knockback formula, the knockback decay, friction as ``v - clip(v, -f, f)`` (a speed that
  stops ends at +0.0), numpy's ``maximum``/``minimum``/``clip`` tie rules for signed zeros), and
  only the output is rounded to float32.

The vectorized env saves the whole state before a frame and restores it afterwards for the
players that were in hitlag when the frame began; here such a player simply skips its frame
(the controller still advances, so button presses during hitlag are consumed) and its hitlag
counts down by one. Numpy is used only to read the rule tables at import and to build outputs.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from exphil.envs import _rules as R
from exphil.envs._characters import CharacterPhysics
from exphil.envs._characters import physics as character_physics
from exphil.envs._protocol import GameOutcome
from exphil.envs.mock import STAGE_DEPTH, MockConfig, platforms
from exphil.game.controls import Controls
from exphil.game.frames import BUTTON_BITS, ITEM_SLOTS, Frames, ItemFrames, PlayerFrames

__all__ = ["PlayerState", "ScalarGame", "ScalarEnv", "COLUMNS", "item_frames"]

# --- the rule tables as Python lists ------------------------------------------------------
_STATE_ROWS: Final[list[list[int]]] = R.STATE_TABLE.tolist()
_ACTION: Final = [r[R.T_ACTION] for r in _STATE_ROWS]
_FLAGS: Final = [r[R.T_FLAGS] for r in _STATE_ROWS]
_DURATION: Final = [r[R.T_DURATION] for r in _STATE_ROWS]
_NEXT: Final = [r[R.T_NEXT] for r in _STATE_ROWS]
_LANDING: Final = [r[R.T_LANDING] for r in _STATE_ROWS]
_VARIANT: Final = [r[R.T_VARIANT] for r in _STATE_ROWS]
_AF_SHOWN: Final = [r[R.T_AF_SHOWN] for r in _STATE_ROWS]
_AF_FIXED: Final = [bool(r[R.T_AF_FIXED]) for r in _STATE_ROWS]
_INTANG: Final = [r[R.T_INTANGIBLE] for r in _STATE_ROWS]
_THROW: Final = [r[R.T_THROW] for r in _STATE_ROWS]  # a throw's move, else -1
_THROWN: Final = [r[R.T_THROWN] for r in _STATE_ROWS]  # the thrown player's state
# the grab boxes: state -> (first, last, dx, dy, reach = radius + hurtbox radius)
_GRAB_BOX: Final[dict[int, tuple[int, int, float, float, float]]] = {
    R.S[name]: (first, last, dx, dy, radius + R.HURT_RADIUS)
    for name, (first, last, dx, dy, radius) in R.GRAB_BOXES.items()
}
_DAIR_INPUT: Final = R.NUM_STATES  # the down-air input, resolved per character
_INTANG_FROM: Final = [r[R.T_INTANGIBLE_FROM] for r in _STATE_ROWS]
_LATE: Final = [r[R.T_LATE] for r in _STATE_ROWS]  # a state's late hit's move, else -1
_OFF_EDGE: Final = [r[R.T_OFF_EDGE] for r in _STATE_ROWS]  # goes on in this off its surface
_STILL_FRAMES: Final = [r[R.T_STILL] for r in _STATE_ROWS]
_OWN_FRICTION: Final = [float(r[0]) for r in R.STATE_PHYS.tolist()]  # 0: the character's
_OWN_GRAVITY: Final = [float(r[1]) for r in R.STATE_PHYS.tolist()]
_ANIM: Final = [float(r[2]) for r in R.STATE_PHYS.tolist()]  # its action_frame's animation
_HOLDS: Final = frozenset(R.LEDGE_HOLD)  # the ledge is taken in these states
_GETUP_DONE: Final = frozenset(R.S[n] for n, k in R.LEDGE_GETUP_END.items() if k != "jump")
_LEDGE_JUMP_1: Final = frozenset(R.S[n] for n, k in R.LEDGE_GETUP_END.items() if k == "jump")


@dataclass(frozen=True, slots=True)
class _Move:
    first: int
    last: int
    dx: float
    dy: float
    reach: float  # hitbox radius + hurtbox radius
    damage: float
    cos: float
    sin: float
    base: float
    growth: float
    hitlag: int
    shieldstun: int
    every: int  # a multi-hit move's period (0: one hit)
    air_cos: float  # the launch direction for an airborne defender
    air_sin: float


_MOVES: Final = tuple(
    _Move(
        first=int(m[R.MV_FIRST]),
        last=int(m[R.MV_LAST]),
        dx=m[R.MV_DX],
        dy=m[R.MV_DY],
        reach=m[R.MV_RADIUS] + R.HURT_RADIUS,
        damage=m[R.MV_DAMAGE],
        cos=m[R.MV_COS],
        sin=m[R.MV_SIN],
        base=m[R.MV_BASE],
        growth=m[R.MV_GROWTH],
        hitlag=int(m[R.MV_HITLAG]),
        shieldstun=int(m[R.MV_SHIELDSTUN]),
        every=int(m[R.MV_EVERY]),
        air_cos=m[R.MV_AIR_COS],
        air_sin=m[R.MV_AIR_SIN],
    )
    for m in R.MOVE_TABLE.tolist()
)

# flags
_GROUND: Final = R.GROUND
_ACT_G: Final = R.ACT_G
_ACT_A: Final = R.ACT_A
_DRIFT: Final = R.DRIFT
_FF_OK: Final = R.FF_OK
_SHIELDING: Final = R.SHIELDING
_INTANGIBLE: Final = R.INTANGIBLE
_FROZEN_POS: Final = R.FROZEN_POS
_HITSTUN: Final = R.HITSTUN
_TIMED: Final = R.TIMED
_SELF_MOVE: Final = R.SELF_MOVE
_TECHABLE: Final = R.TECHABLE
_NO_GRAVITY: Final = R.NO_GRAVITY
_HOVER: Final = R.HOVER
_LCANCEL: Final = R.LCANCEL
_LEDGE: Final = R.LEDGE
_LEDGE_OK: Final = R.LEDGE_OK
_LEDGE_ACT: Final = R.LEDGE_ACT
_HOLD_B: Final = R.HOLD_B
_JUMP_CANCEL: Final = R.JUMP_CANCEL
_STALL: Final = R.STALL
_STILL: Final = R.STILL
_LAND_KEEP: Final = R.LAND_KEEP
_HOLDING: Final = R.HOLDING
_CAPTURED: Final = R.CAPTURED
_GLIDE: Final = R.GLIDE
_DOUBLE_TRACTION: Final = R.DOUBLE_TRACTION
_TRAVEL: Final = R.TRAVEL
_OWN_FALL: Final = R.OWN_FALL
_CROUCH: Final = R.CROUCH
_REPEAT_B: Final = R.REPEAT_B
_GUN: Final = R.GUN
_REFLECT: Final = R.REFLECT
_SHOT: Final = [r[R.T_SHOT] for r in _STATE_ROWS]  # a laser loop's shot frame, else -1
_LASER_ITEM, _GUN_ITEM = 1, 2  # an item's kind (exphil.envs._items)
_LASER_REACH2: Final = (R.LASER_RADIUS + R.HURT_RADIUS) ** 2

# states
STAND: Final = R.S["STAND"]
WALK: Final = R.S["WALK"]
DASH: Final = R.S["DASH"]
RUN: Final = R.S["RUN"]
TURN: Final = R.S["TURN"]
SQUAT: Final = R.S["SQUAT"]
SQUAT_RV: Final = R.S["SQUAT_RV"]
KNEE_BEND: Final = R.S["KNEE_BEND"]
JUMP_F: Final = R.S["JUMP_F"]
JUMP_B: Final = R.S["JUMP_B"]
DJUMP_F: Final = R.S["DJUMP_F"]
DJUMP_B: Final = R.S["DJUMP_B"]
FALL: Final = R.S["FALL"]
SHINE_START_G: Final = R.S["SHINE_START_G"]
SHINE_START_A: Final = R.S["SHINE_START_A"]
JAB: Final = R.S["JAB"]
FTILT: Final = R.S["FTILT"]
FSMASH: Final = R.S["FSMASH"]
DASH_ATTACK: Final = R.S["DASH_ATTACK"]
UTILT: Final = R.S["UTILT"]
DTILT: Final = R.S["DTILT"]
USMASH: Final = R.S["USMASH"]
DSMASH: Final = R.S["DSMASH"]
UAIR: Final = R.S["UAIR"]
NAIR: Final = R.S["NAIR"]
FAIR: Final = R.S["FAIR"]
BAIR: Final = R.S["BAIR"]
UPB_HOLD_G: Final = R.S["UPB_HOLD_G"]
UPB_HOLD_A: Final = R.S["UPB_HOLD_A"]
UPB_TRAVEL: Final = R.S["UPB_TRAVEL"]
SIDEB_START_G: Final = R.S["SIDEB_START_G"]
LASER_START_G: Final = R.S["LASER_START_G"]
LASER_START_A: Final = R.S["LASER_START_A"]
SIDEB_START_A: Final = R.S["SIDEB_START_A"]
SIDEB_END_G: Final = R.S["SIDEB_END_G"]
SIDEB_END_A: Final = R.S["SIDEB_END_A"]
SHIELD_START: Final = R.S["SHIELD_START"]
SHIELD: Final = R.S["SHIELD"]
SHIELD_RELEASE: Final = R.S["SHIELD_RELEASE"]
SHIELD_STUN: Final = R.S["SHIELD_STUN"]
DAMAGE_G: Final = R.S["DAMAGE_G"]
DAMAGE_A: Final = R.S["DAMAGE_A"]
DAMAGE_FLY: Final = R.S["DAMAGE_FLY"]
TECH: Final = R.S["TECH"]
TECH_MISS: Final = R.S["TECH_MISS"]
LYING: Final = R.S["LYING"]
GETUP: Final = R.S["GETUP"]
SB_FLY: Final = R.S["SB_FLY"]
DEAD: Final = R.S["DEAD"]
HALO: Final = R.S["HALO"]
AIRDODGE: Final = R.S["AIRDODGE"]
CLIFF_CATCH: Final = R.S["CLIFF_CATCH"]
CLIFF_WAIT: Final = R.S["CLIFF_WAIT"]
GRAB: Final = R.S["GRAB"]
DASH_GRAB: Final = R.S["DASH_GRAB"]
CATCH_PULL: Final = R.S["CATCH_PULL"]
DASH_CATCH_PULL: Final = R.S["DASH_CATCH_PULL"]
CATCH_WAIT: Final = R.S["CATCH_WAIT"]
CATCH_ATTACK: Final = R.S["CATCH_ATTACK"]
CATCH_CUT: Final = R.S["CATCH_CUT"]
THROW_F: Final = R.S["THROW_F"]
THROW_B: Final = R.S["THROW_B"]
THROW_HI: Final = R.S["THROW_HI"]
THROW_LW: Final = R.S["THROW_LW"]
CAPTURE_PULLED: Final = R.S["CAPTURE_PULLED"]
CAPTURE_DAMAGE: Final = R.S["CAPTURE_DAMAGE"]
CAPTURE_CUT: Final = R.S["CAPTURE_CUT"]
_THROWN_STATES: Final = frozenset(R.S[f"THROWN_{k}"] for k in ("F", "B", "HI", "LW"))
_PUMMEL: Final = R.M["PUMMEL"]
_CATCH_LAST: Final = R.STATES[CLIFF_CATCH].duration - 1
# the ledge options: (quick, slow) states
_LEDGE_OPTIONS: Final = {
    kind: (R.S[f"CLIFF_{kind}_QUICK{suffix}"], R.S[f"CLIFF_{kind}_SLOW{suffix}"])
    for kind, suffix in (("JUMP", "_1"), ("ATTACK", ""), ("ROLL", ""), ("CLIMB", ""))
}

# buttons
_A: Final = BUTTON_BITS["A"]
_B: Final = BUTTON_BITS["B"]
_JUMP: Final = BUTTON_BITS["X"] | BUTTON_BITS["Y"]
_SHIELD_BUTTONS: Final = BUTTON_BITS["L"] | BUTTON_BITS["R"]
_Z: Final = BUTTON_BITS["Z"]
# the buttons whose press mashes out of a grab
_MASH: Final = _A | _B | _JUMP | _Z | _SHIELD_BUTTONS

# the float columns of a player's row, in the order they are rounded to float32
_FLOAT_COLUMNS: Final = (
    "x",
    "y",
    "vx_air",
    "vy_self",
    "vx_knockback",
    "vy_knockback",
    "vx_ground",
    "percent",
    "action_frame",
    "shield",
    "hitlag",
    "hitstun",
    "main_x",
    "main_y",
    "c_x",
    "c_y",
    "shoulder",
)
_F32_ROW: Final = struct.Struct(f"<{len(_FLOAT_COLUMNS)}f")
_F32: Final = struct.Struct("<f")

COLUMNS: Final[tuple[str, ...]] = (*PlayerFrames.DTYPES, "frame")
"""The keys of each player's dict from :meth:`ScalarGame.row`."""

ControlTuple = tuple[float, float, float, float, float, int]
"""One port's controller for one frame: ``(main_x, main_y, c_x, c_y, shoulder, buttons)``."""


def _f32(value: float) -> float:
    """``value`` rounded to float32 (as a Python float)."""
    out: float = _F32.unpack(_F32.pack(value))[0]
    return out


def _di(p: PlayerState, sx: float, sy: float) -> None:
    """DI: the stick (out of the dead zone) turns ``p``'s launch (R.DI_MAX at most)."""
    kbx, kby = p.kbx, p.kby
    speed = math.sqrt(kbx * kbx + kby * kby)
    if speed > 0.0 and math.sqrt(sx * sx + sy * sy) >= R.DEADZONE:
        cross = _clip((sx * kby - sy * kbx) / speed, -1.0, 1.0)
        c, s = R.di_turn(cross)
        p.kbx = kbx * c - kby * s
        p.kby = kbx * s + kby * c


def _shrink(x: float, y: float, by: float) -> tuple[float, float]:
    """``(x, y)`` shortened by ``by`` along its direction, stopping at zero (MockEnv's
    ``_shrink_scale``: ``max(|v| - by, 0) / |v|``, 0 for a zero vector)."""
    mag = math.sqrt(x * x + y * y)
    if mag > 0.0:
        m = mag - by
        scale = (m if m > 0.0 else 0.0) / mag
    else:
        scale = 0.0
    return x * scale, y * scale


def _clip(v: float, lo: float, hi: float) -> float:
    """``np.clip`` for one float: ``v`` unless it is below ``lo`` or above ``hi``."""
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


@dataclass(slots=True)
class PlayerState:
    """One player's state (float64 floats and ints) and the controller of the last step."""

    port: int
    x: float = 0.0
    y: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    kbx: float = 0.0
    kby: float = 0.0
    percent: float = 0.0
    shield: float = R.SHIELD_MAX
    st: int = STAND
    var: int = 0  # action variant (walk speed, side of a death)
    af: int = 0  # frames in the current state
    run_anim: float = 0.0  # a run's animation frame (its action_frame column)
    facing: int = 1
    jumps: int = 2
    stocks: int = R.STOCKS
    surf: int = 0  # surface stood on (0 = main stage), -1 in the air
    timer: int = 0  # hitstun, shield stun, halo
    invuln: int = 0
    hitlag: int = 0
    hitdone: int = 0  # this state's hitbox already connected
    ff: int = 0  # fast falling
    tech: int = 0  # frames left in the tech window
    ledge: int = 0  # side of the ledge held (+1 right, -1 left; read in a LEDGE state)
    regrab: int = 0  # grabbed since the ground or a hit: the next grab is not intangible
    drp: int = 0  # frames before a grab is possible again after letting go
    # controller of the last step (clipped)
    main_x: float = 0.0
    main_y: float = 0.0
    c_x: float = 0.0
    c_y: float = 0.0
    shoulder: float = 0.0
    buttons: int = 0

    def reset(self, stocks: int) -> None:
        self.x = R.SPAWN_X if self.port else -R.SPAWN_X
        self.y = 0.0
        self.vx = self.vy = self.kbx = self.kby = self.percent = self.run_anim = 0.0
        self.shield = R.SHIELD_MAX
        self.st = STAND
        self.var = self.af = 0
        self.facing = -1 if self.port else 1
        self.jumps = 2
        self.stocks = stocks
        self.surf = self.timer = self.invuln = self.hitlag = self.hitdone = 0
        self.ff = self.tech = 0
        self.ledge = self.regrab = self.drp = 0
        self.main_x = self.main_y = self.c_x = self.c_y = self.shoulder = 0.0
        self.buttons = 0

    def intangible(self) -> bool:
        st = self.st
        return bool(
            (_FLAGS[st] & _INTANGIBLE)
            or _INTANG_FROM[st] <= self.af < _INTANG[st]
            or self.invuln > 0
        )


class ScalarGame:
    """One mock game, stepped one frame at a time with plain Python."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        cfg = self.config
        st = cfg.stage_id
        geo = st.geometry
        self._edge: float = geo.edge
        self._blast_left: float = geo.blast_left
        self._blast_right: float = geo.blast_right
        self._blast_top: float = geo.blast_top
        self._blast_bottom: float = geo.blast_bottom
        # surfaces: (height, left, right, pass-through, index); 0 = the main stage
        surfaces = [(0.0, -geo.edge, geo.edge, False)]
        surfaces += [(h, lft, rgt, True) for h, lft, rgt in platforms(st)]
        self._surf_l: list[float] = [s[1] for s in surfaces]
        self._surf_r: list[float] = [s[2] for s in surfaces]
        order = sorted(range(len(surfaces)), key=lambda i: -surfaces[i][0])  # highest first
        self._surfaces: tuple[tuple[float, float, float, bool, int], ...] = tuple(
            (*surfaces[k], k) for k in order
        )
        self._stage_id = int(st)
        self._characters = tuple(c.internal for c in cfg.character_ids)
        # each port's physics (exphil.envs._characters) and landing lags by landing state
        rows = tuple(character_physics(c) for c in cfg.character_ids)
        self._phys: tuple[CharacterPhysics, CharacterPhysics] = (rows[0], rows[1])
        # the state each port enters for the state its input picks (its character's moves)
        self._char_states: tuple[list[int], ...] = tuple(
            R.character_states(c.name) for c in cfg.character_ids
        )
        self._landing_lag: tuple[dict[int, int], dict[int, int]] = (
            _landing_lags(rows[0]),
            _landing_lags(rows[1]),
        )
        # where each ledge state's position ends, per port: {state: (outward distance, y)}
        self._ledge_end: tuple[dict[int, tuple[float, float]], ...] = tuple(
            _ledge_ends(r) for r in rows
        )
        w = cfg.rewards
        self._w_stock = w.stock
        self._w_damage = w.damage
        self._w_win = w.win
        self._w_approach = w.approach
        self._w_offstage = w.offstage
        self.players: tuple[PlayerState, PlayerState] = (PlayerState(0), PlayerState(1))
        # the items (lasers, blasters), as exphil.envs._items: ITEM_SLOTS slots, each None or
        # [kind, type, owner, move, x, y, vx, timer]
        self.items: list[list[Any] | None] = [None] * ITEM_SLOTS
        self._laser_move = tuple(R.M[R.LASER_MOVES[c.name]] for c in cfg.character_ids)
        # the move each port hits with in each state (its character's)
        self._move_of: tuple[list[int], ...] = tuple(
            R.character_moves(c.name) for c in cfg.character_ids
        )
        self.frame = 0
        self.final: tuple[dict[str, Any], dict[str, Any]] | None = None
        """The last frame (:meth:`row`) of the game that ended on the latest step, else None."""
        self.final_items: list[tuple[Any, ...]] | None = None
        """The items (:meth:`item_rows`) of that last frame, else None."""
        self.reset()

    # --- public API -----------------------------------------------------------------------
    def reset(self) -> None:
        """Start the game over (frame 0, nobody has pressed anything yet)."""
        stocks = self.config.stocks
        for p in self.players:
            p.reset(stocks)
        self.items = [None] * ITEM_SLOTS
        self.frame = 0

    def step(
        self, c0: ControlTuple, c1: ControlTuple, game: int = 0
    ) -> tuple[float, float, bool, GameOutcome | None]:
        """Advance one frame with port 0's and port 1's controls.

        Returns ``(reward0, reward1, done, result)``; the rewards are float32 values (as Python
        floats). When the game ends, ``result`` is its :class:`GameOutcome` (``game`` is put in
        its ``game`` field), :attr:`final` holds its last frame, and the game is already reset
        (the current frame is frame 0 of the next game).
        """
        p0, p1 = self.players
        prev_pct0, prev_pct1 = p0.percent, p1.percent
        prev_stocks0, prev_stocks1 = p0.stocks, p1.stocks
        prev_x0, prev_x1 = p0.x, p1.x
        prev_live = not (_FLAGS[p0.st] & _FROZEN_POS or _FLAGS[p1.st] & _FROZEN_POS)
        start = ((p0.x, p0.y), (p1.x, p1.y))  # where the frame began (the ledge grab box)
        frozen0 = self._advance(p0, c0)
        frozen1 = self._advance(p1, c1)
        self._ledge_grab(p0, p1, frozen0, start[0])
        self._ledge_grab(p1, p0, frozen1, start[1])
        self._grab(p0, p1, frozen0)
        self._grab(p1, p0, frozen1)
        self._hits(frozen0, frozen1)
        self._items(frozen0, frozen1)
        self._blast_zone(p0)
        self._blast_zone(p1)
        self.frame += 1

        # game over: a stock-out, else the timer
        z0 = p0.stocks == 0
        z1 = p1.stocks == 0
        done = True
        if z0 or z1:
            reason = "stocks"
        elif self.frame >= self.config.time_limit:
            reason = "timeout"
        else:
            done = False
        winner = -1
        if done:
            if z1 and not z0:
                winner = 0
            elif z0 and not z1:
                winner = 1
            elif p0.stocks > p1.stocks:
                winner = 0
            elif p1.stocks > p0.stocks:
                winner = 1
            elif p0.percent < p1.percent:
                winner = 0
            elif p1.percent < p0.percent:
                winner = 1

        # rewards: the zero-sum core, then the shaping terms (float32 arithmetic, as MockEnv)
        lost0 = prev_stocks0 - p0.stocks
        lost1 = prev_stocks1 - p1.stocks
        taken0 = p0.percent - prev_pct0
        taken0 = taken0 if taken0 > 0.0 else 0.0
        taken1 = p1.percent - prev_pct1
        taken1 = taken1 if taken1 > 0.0 else 0.0
        won = (1.0 if winner == 0 else -1.0 if winner == 1 else 0.0) if done else 0.0
        core = (
            self._w_stock * (lost1 - lost0) + self._w_damage * (taken1 - taken0) + self._w_win * won
        )
        r0 = _f32(core)
        r1 = _f32(-core)
        live0 = not _FLAGS[p0.st] & _FROZEN_POS  # shaping counts players in play only
        live1 = not _FLAGS[p1.st] & _FROZEN_POS
        if self._w_approach:
            before = abs(prev_x0 - prev_x1)
            after = abs(p0.x - p1.x)
            closed = before - after if (prev_live and live0 and live1) else 0.0
            a = _f32(self._w_approach * closed)
            r0 = _f32(r0 + a)
            r1 = _f32(r1 + a)
        if self._w_offstage:
            edge = self._edge
            off0 = 1.0 if abs(p0.x) > edge and live0 else 0.0
            off1 = 1.0 if abs(p1.x) > edge and live1 else 0.0
            r0 = _f32(r0 - _f32(self._w_offstage * off0))
            r1 = _f32(r1 - _f32(self._w_offstage * off1))

        if not done:
            self.final = None
            self.final_items = None
            return r0, r1, False, None
        result = GameOutcome(
            game=game,
            winner=winner,
            reason=reason,
            frames=self.frame,
            stocks=(p0.stocks, p1.stocks),
            percent=(p0.percent, p1.percent),
        )
        self.final = self.row()
        self.final_items = self.item_rows()
        self.reset()
        return r0, r1, True, result

    def row(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The current frame: for each player, every ``PlayerFrames`` column (and ``frame``)
        as the Python value MockEnv's frames hold (floats rounded to float32)."""
        return self._player_row(self.players[0]), self._player_row(self.players[1])

    def item_rows(self) -> list[tuple[Any, ...]]:
        """The current frame's item slots as ``Frames.items`` holds them: per slot
        ``(exists, type, owner, x, y, vx, vy, timer)``, floats rounded to float32, an empty
        slot ``(False, 0, -1, 0.0, ...)``."""
        out: list[tuple[Any, ...]] = []
        for it in self.items:
            if it is None:
                out.append((False, 0, -1, 0.0, 0.0, 0.0, 0.0, 0.0))
            else:
                x, y, vx, timer = (_f32(v) for v in (it[4], it[5], it[6], it[7]))
                out.append((True, it[1], it[2], x, y, vx, 0.0, timer))
        return out

    # --- items (exphil.envs._items: the same steps, in the same order) --------------------
    def _items(self, frozen0: bool, frozen1: bool) -> None:
        players = self.players
        items = self.items
        if not (
            _FLAGS[players[0].st] & _GUN
            or _FLAGS[players[1].st] & _GUN
            or any(it is not None for it in items)
        ):
            return
        left, right = self._blast_left, self._blast_right
        for k, it in enumerate(items):  # lasers fly, run out, leave
            if it is not None and it[0] == _LASER_ITEM:
                it[4] = it[4] + it[6]
                it[7] = it[7] - 1.0
                if it[7] <= 0 or it[4] < left or it[4] > right:
                    items[k] = None
        for q in (0, 1):  # a shine reflects them all; else the lowest slot's laser hits
            victim = players[q]
            reflects = _FLAGS[victim.st] & _REFLECT
            hittable = not (victim.intangible() or _FLAGS[victim.st] & _CAPTURED)
            for k, it in enumerate(items):
                if it is None or it[0] != _LASER_ITEM or it[2] == q:
                    continue
                ddx = it[4] - victim.x
                ddy = it[5] - _clip(it[5], victim.y + R.HURT_LOW, victim.y + R.HURT_HIGH)
                if ddx * ddx + ddy * ddy > _LASER_REACH2:
                    continue
                if reflects:  # turned back, the reflector's now
                    it[2] = q
                    it[6] = -it[6]
                elif hittable:
                    items[k] = None
                    self._lasered(victim, _MOVES[it[3]], 1 if it[6] >= 0 else -1)
                    break
        for k, it in enumerate(items):  # a blaster follows its owner while it shoots
            if it is not None and it[0] == _GUN_ITEM:
                owner = players[it[2]]
                if _FLAGS[owner.st] & _GUN:
                    it[4] = owner.x
                    it[5] = owner.y
                else:
                    items[k] = None
        for p in (0, 1):
            pl = players[p]
            has = any(it is not None and it[0] == _GUN_ITEM and it[2] == p for it in items)
            if _FLAGS[pl.st] & _GUN and not has:
                self._spawn(p, _GUN_ITEM, pl.x, pl.y, 0.0, R.GUN_TIMER)
        for p, frozen in ((0, frozen0), (1, frozen1)):
            pl = players[p]
            if _SHOT[pl.st] == pl.af and not frozen:
                ph = self._phys[p]
                ground = _FLAGS[pl.st] & _GROUND
                dx = ph.laser_dx_ground if ground else ph.laser_dx_air
                dy = ph.laser_dy_ground if ground else ph.laser_dy_air
                self._spawn(
                    p,
                    _LASER_ITEM,
                    pl.x + pl.facing * dx,
                    pl.y + dy,
                    pl.facing * ph.laser_speed,
                    float(ph.laser_life),
                )

    def _spawn(self, p: int, kind: int, x: float, y: float, vx: float, timer: float) -> None:
        """An item of ``kind`` owned by ``p`` in the lowest free slot (none free: none)."""
        items = self.items
        for k, it in enumerate(items):
            if it is None:
                ph = self._phys[p]
                typ = ph.laser_item if kind == _LASER_ITEM else ph.gun_item
                move = self._laser_move[p] if kind == _LASER_ITEM else 0
                items[k] = [kind, typ, p, move, x, y, vx, timer]
                return

    def _lasered(self, p: PlayerState, move: _Move, direction: int) -> None:
        """``p`` is hit by a laser (``move``) flying in ``direction``: a move with no
        knockback (Fox's) only deals its damage, unless it meets a shield."""
        flags = _FLAGS[p.st]
        if move.base == 0 and move.growth == 0 and not flags & _SHIELDING:
            p.percent = p.percent + move.damage
            return
        if move.hitlag > p.hitlag:
            p.hitlag = move.hitlag
        self._take_hit(p, move, direction, direction, flags, self._phys[p.port].weight)

    # --- one player's frame ---------------------------------------------------------------
    def _advance(self, p: PlayerState, c: ControlTuple) -> bool:
        """Everything of a frame that concerns ``p`` alone: controller, timers, transitions,
        physics, collisions, shield. Returns whether ``p`` was frozen in hitlag."""
        sx, sy, cx, cy, sh, buttons = c
        if not (
            math.isfinite(sx)
            and math.isfinite(sy)
            and math.isfinite(cx)
            and math.isfinite(cy)
            and math.isfinite(sh)
        ):
            raise ValueError(f"port {p.port}'s controls must be finite, got {c}")
        if not 0 <= buttons <= 0xFF:
            raise ValueError(f"port {p.port}'s buttons must be a uint8 bitmask, got {buttons}")
        # the sticks in [-1, 1], the shoulder in [0, 1] (np.clip's rules)
        sx = -1.0 if sx < -1.0 else 1.0 if sx > 1.0 else float(sx)
        sy = -1.0 if sy < -1.0 else 1.0 if sy > 1.0 else float(sy)
        cx = -1.0 if cx < -1.0 else 1.0 if cx > 1.0 else float(cx)
        cy = -1.0 if cy < -1.0 else 1.0 if cy > 1.0 else float(cy)
        sh = 0.0 if sh < 0.0 else 1.0 if sh > 1.0 else float(sh)
        buttons = int(buttons)

        # --- controller: edges against the last step's controller --------------------------
        psx, psy, pcx, pcy, psh, pb = p.main_x, p.main_y, p.c_x, p.c_y, p.shoulder, p.buttons
        p.main_x, p.main_y, p.c_x, p.c_y, p.shoulder, p.buttons = sx, sy, cx, cy, sh, buttons

        # hitlag: the player sits this frame out (the controller above still moved on)
        if p.hitlag > 0:
            p.hitlag -= 1
            if p.hitlag == 0 and _FLAGS[p.st] & _HITSTUN and not _FLAGS[p.st] & _GROUND:
                _di(p, sx, sy)  # its last frame of hitlag: DI turns the launch
            return True

        pressed = buttons & ~pb
        ph = self._phys[p.port]
        took_off = False  # the take-off frame: no gravity, no drift
        fresh = False  # a jump's first frame: no drift
        abs_sx = abs(sx)
        jump_p = bool(pressed & _JUMP) or (sy >= R.TAP_JUMP and psy < R.TAP_JUMP)
        jump_h = bool(buttons & _JUMP) or sy >= R.TAP_JUMP
        attack_p = bool(pressed & _A)
        special_p = bool(pressed & _B)
        grab_p = bool(pressed & _Z)
        shield_h = bool(buttons & _SHIELD_BUTTONS) or sh >= R.SHOULDER_THRESHOLD
        shield_was = bool(pb & _SHIELD_BUTTONS) or psh >= R.SHOULDER_THRESHOLD
        c_on = abs(cx) >= R.CSTICK_THRESHOLD or abs(cy) >= R.CSTICK_THRESHOLD
        c_was = abs(pcx) >= R.CSTICK_THRESHOLD or abs(pcy) >= R.CSTICK_THRESHOLD
        c_p = c_on and not c_was
        down_p = sy <= R.DOWN_THRESHOLD and psy > R.DOWN_THRESHOLD
        smash_x = abs_sx >= R.DASH_THRESHOLD and abs(psx) < R.DASH_THRESHOLD
        stick_dir = 1 if sx >= 0 else -1
        tilted = abs_sx >= R.DEADZONE

        # the state into locals
        x, y, vx, vy, kbx, kby = p.x, p.y, p.vx, p.vy, p.kbx, p.kby
        st, af, facing, jumps, surf = p.st, p.af, p.facing, p.jumps, p.surf
        timer, invuln, hitdone, ff, tech = p.timer, p.invuln, p.hitdone, p.ff, p.tech
        ledge, regrab, drp = p.ledge, p.regrab, p.drp
        x0, y0 = x, y

        # --- timers and timed ends ----------------------------------------------------------
        af += 1
        timer = timer - 1 if timer > 1 else 0
        invuln = invuln - 1 if invuln > 1 else 0
        tech = tech - 1 if tech > 1 else 0
        drp = drp - 1 if drp > 1 else 0
        if _FLAGS[st] & _CAPTURED and pressed & _MASH:  # mashing out of a grab
            timer = timer - R.GRAB_MASH if timer > R.GRAB_MASH else 0
        if shield_h and not shield_was:
            tech = R.TECH_WINDOW

        flags = _FLAGS[st]
        if st == DASH and not (tilted and stick_dir == facing):
            end = af >= ph.dash_length  # let go: the dash plays out, then a stand
        elif flags & _TIMED:
            end = timer <= 0
        else:
            dur = _DURATION[st]
            end = dur > 0 and af >= dur
            if end and flags & _HOLD_B and pb & _B:  # a loop goes on while B is held
                end = False
            elif flags & _TRAVEL and special_p:  # B cuts side-B's dash short
                end = True
            elif end and flags & _REPEAT_B and pb & _B:  # a laser loop starts over
                end = False
                af = 0
        if end and not (st == DEAD and p.stocks == 0):  # a last stock stays dead
            af = 0
            if st == KNEE_BEND:  # take-off: full hop while jump is held, else a short hop
                # the horizontal speed: the ground speed carried over plus the stick's (as it
                # was on the squat's last frame), clipped
                vy = ph.full_hop if jump_h else ph.short_hop
                vx = _clip(
                    vx * ph.jump_ground_mult + psx * ph.jump_h, -ph.jump_h_max, ph.jump_h_max
                )
                back = abs(psx) >= R.DEADZONE and (1 if psx >= 0 else -1) != facing
                st = JUMP_B if back else JUMP_F
                took_off = fresh = True
                jumps = 1
                surf = -1
                ff = 0
            elif st in (UPB_HOLD_G, UPB_HOLD_A):  # up-B travels where the stick points
                dy = (sy if sy > 0.0 else 0.0) if surf >= 0 else sy
                norm = math.sqrt(sx * sx + dy * dy)
                if norm >= R.DEADZONE:
                    ux = sx / norm
                    uy = dy / norm
                else:
                    ux = 0.0
                    uy = 1.0
                vx = ux * ph.upb_speed
                vy = uy * ph.upb_speed
                if abs(ux) > 0.1:
                    facing = 1 if ux >= 0 else -1
                st = _NEXT[st]
                timer = ph.upb_frames
                surf = -1
                ff = 0
                hitdone = 0
            elif st == DEAD:  # respawn on the halo
                x = R.SPAWN_X if p.port else -R.SPAWN_X
                y = R.RESPAWN_HEIGHT
                vx = vy = kbx = kby = 0.0
                p.percent = 0.0
                p.shield = R.SHIELD_MAX
                st = HALO
                p.var = 0
                timer = R.HALO_MAX
                facing = -1 if p.port else 1
                jumps = 1
                ff = 0
                hitdone = 0
                surf = -1
                regrab = drp = 0
            elif st == HALO:
                st = FALL
                invuln = R.RESPAWN_INVULNERABLE
            elif st == DASH and not (tilted and stick_dir == facing):
                st = STAND
            elif flags & _TRAVEL:  # side-B's dash is over: the end starts at its own speed
                vx = facing * (ph.sideb_end_vx if flags & _GROUND else R.SIDEB_END_VX_AIR)
                st = SIDEB_END_G if flags & _GROUND else SIDEB_END_A
            elif st in _GETUP_DONE:  # standing on the stage at the getup's end point
                x = ledge * (self._edge + self._ledge_end[p.port][st][0])
                y = 0.0
                vx = vy = 0.0
                surf = 0
                jumps = 2
                st = _NEXT[st]
            elif st in _LEDGE_JUMP_1:  # the second part takes off toward the stage
                vx = -ledge * ph.ledge_jump_vx
                vy = ph.ledge_jump_vy
                took_off = fresh = True
                st = _NEXT[st]
            else:
                if st == CLIFF_WAIT:  # hung too long: let go
                    drp = R.LEDGE_REGRAB_DELAY
                st = _NEXT[st]
                if st == LYING:
                    timer = R.LYING_MAX
                elif st == CLIFF_WAIT:
                    timer = R.LEDGE_HANG_MAX

        # --- input-driven transitions (same priorities as MockEnv) --------------------------
        flags = _FLAGS[st]
        new = st
        enter = False
        if flags & _ACT_G:
            c_smash = c_p and abs(cx) >= R.CSTICK_THRESHOLD
            if special_p and sy >= R.UP_B_THRESHOLD:
                new = UPB_HOLD_G
                enter = True
            elif special_p and sy <= R.DOWN_B_THRESHOLD:  # shine
                new = SHINE_START_G
                enter = True
            elif special_p and abs_sx >= R.SIDE_B_THRESHOLD:  # side-B, toward the stick
                new = SIDEB_START_G
                facing = stick_dir
                enter = True
            elif special_p:  # neutral-B: lasers
                new = LASER_START_G
                enter = True
            elif attack_p and sy >= R.TAP_JUMP and psy < R.TAP_JUMP:
                # up-smash: A with the stick just pushed up (not a jump then)
                new = USMASH
                enter = True
            elif grab_p or (attack_p and shield_h):  # Z, or A with the shield held
                new = DASH_GRAB if st in (DASH, RUN) else GRAB
                enter = True
            elif jump_p:
                new = KNEE_BEND
                timer = ph.jump_squat
                enter = True
            elif shield_h:
                new = SHIELD_START
                enter = True
            else:
                running = st in (DASH, RUN)
                if c_smash or (attack_p and smash_x):
                    new = FSMASH
                    facing = (1 if cx >= 0 else -1) if c_smash else stick_dir
                    enter = True
                elif attack_p and down_p:
                    new = DSMASH  # A with the stick just pushed down
                    enter = True
                elif attack_p:
                    if running:
                        new = DASH_ATTACK
                    elif sy >= R.DEADZONE and sy > abs_sx:
                        new = UTILT
                    elif sy <= -R.DEADZONE and -sy > abs_sx:
                        new = DTILT  # A with the stick held down (not just pushed: a smash)
                    elif tilted:
                        new = FTILT
                        facing = stick_dir
                    else:
                        new = JAB
                    enter = True
                else:  # movement (a crouch while the stick is held down)
                    down_h = sy <= R.DOWN_THRESHOLD and -sy > abs_sx
                    if down_h:
                        if not flags & _CROUCH:
                            new = SQUAT
                            enter = True
                    elif flags & _CROUCH:  # let go: up from the crouch
                        new = SQUAT_RV
                        enter = True
                    elif abs_sx >= R.DASH_THRESHOLD:
                        if not running or stick_dir != facing:
                            new = DASH
                            facing = stick_dir
                            timer = ph.dash_frames
                            enter = True
                    elif tilted:
                        if stick_dir != facing:
                            new = TURN
                            facing = -facing
                            enter = True
                        else:
                            if st != WALK:
                                new = WALK
                                enter = True
                            if abs_sx < 0.5:
                                p.var = R.WALK_SLOW
                            elif abs_sx < 0.65:
                                p.var = R.WALK_MIDDLE
                            else:
                                p.var = R.WALK_FAST
                    elif st in (WALK, RUN):  # (a dash plays out: above)
                        new = STAND
                        enter = True
                    if surf > 0 and down_p:  # drop through the platform
                        new = FALL
                        surf = -1
                        jumps = 1
                        enter = True
        elif st in (SHIELD, SHIELD_START):
            if jump_p:  # jump out of shield
                new = KNEE_BEND
                timer = ph.jump_squat
                enter = True
            elif grab_p or (attack_p and shield_h):  # a grab out of shield (still held)
                new = GRAB
                enter = True
            elif st == SHIELD and not shield_h:
                new = SHIELD_RELEASE
                enter = True
        elif st == CATCH_WAIT:  # holding: A pummels, a direction throws (the c-stick too)
            if attack_p:
                new = CATCH_ATTACK
                enter = True
            else:
                d = cx if c_p else sx
                dy = cy if c_p else sy
                if abs(dy) >= R.DEADZONE and abs(dy) > abs(d):
                    new = THROW_HI if dy > 0 else THROW_LW
                    enter = True
                elif abs(d) >= R.DEADZONE:
                    new = THROW_F if (1 if d >= 0 else -1) == facing else THROW_B
                    enter = True
        elif flags & _ACT_A:
            if special_p and sy >= R.UP_B_THRESHOLD:
                new = UPB_HOLD_A
                enter = True
            elif special_p and sy <= R.DOWN_B_THRESHOLD:  # shine: stalls, halves vx
                new = SHINE_START_A
                vx = vx * R.SHINE_AIR_VX
                vy = 0.0
                ff = 0
                enter = True
            elif special_p and abs_sx >= R.SIDE_B_THRESHOLD:  # side-B: keeps 2/3 of vx
                new = SIDEB_START_A
                facing = stick_dir
                vx = vx * R.SIDEB_AIR_VX
                vy = 0.0
                ff = 0
                enter = True
            elif special_p:  # neutral-B: lasers
                new = LASER_START_A
                enter = True
            elif jump_p and jumps > 0:
                new = DJUMP_B if (tilted and stick_dir != facing) else DJUMP_F
                vy = ph.full_hop * ph.double_jump_mult
                vx = sx * ph.double_jump_h
                fresh = True
                jumps -= 1
                ff = 0
                enter = True
            elif attack_p or c_p:
                d = cx if c_p else sx
                dy = cy if c_p else sy
                if abs(dy) >= R.DEADZONE and abs(dy) > abs(d):
                    new = UAIR if dy > 0 else _DAIR_INPUT
                elif abs(d) < R.DEADZONE:
                    new = NAIR
                elif (1 if d >= 0 else -1) == facing:
                    new = FAIR
                else:
                    new = BAIR
                enter = True
            elif shield_h and not shield_was:  # an air dodge where the stick points
                new = AIRDODGE
                mag = math.sqrt(sx * sx + sy * sy)
                if mag >= R.DEADZONE:
                    vx = sx / mag * R.AIRDODGE_SPEED
                    vy = sy / mag * R.AIRDODGE_SPEED
                else:
                    vx = vy = 0.0
                ff = 0
                enter = True
        elif flags & _JUMP_CANCEL and jump_p:  # the shine's loop: jump-cancelled
            if flags & _GROUND:
                new = KNEE_BEND
                timer = ph.jump_squat
                enter = True
            elif jumps > 0:
                new = DJUMP_B if (tilted and stick_dir != facing) else DJUMP_F
                vy = ph.full_hop * ph.double_jump_mult
                vx = sx * ph.double_jump_h
                fresh = True
                jumps -= 1
                ff = 0
                enter = True
        elif flags & _LEDGE_ACT or (st == CLIFF_CATCH and af == _CATCH_LAST):
            # on a ledge: the getup options (from the catch's last frame), letting go
            toward = -ledge
            prev_tilted = abs(psx) >= R.DEADZONE
            prev_dir = 1 if psx >= 0 else -1
            toward_p = tilted and stick_dir == toward and not (prev_tilted and prev_dir == toward)
            away_p = tilted and stick_dir == ledge and not (prev_tilted and prev_dir == ledge)
            c_drop = c_p and (cy <= -R.CSTICK_THRESHOLD or cx * ledge >= R.CSTICK_THRESHOLD)
            slow = 1 if p.percent >= R.LEDGE_SLOW_PERCENT else 0
            if jump_p:
                new = _LEDGE_OPTIONS["JUMP"][slow]
            elif attack_p or special_p:
                new = _LEDGE_OPTIONS["ATTACK"][slow]
            elif shield_h and not shield_was:
                new = _LEDGE_OPTIONS["ROLL"][slow]
            elif toward_p:
                new = _LEDGE_OPTIONS["CLIMB"][slow]
            elif st == CLIFF_WAIT and (down_p or away_p or c_drop):
                new = FALL
                drp = R.LEDGE_REGRAB_DELAY
            enter = new != st
        elif st in (LYING, HALO):
            any_input = pressed != 0 or tilted or abs(sy) >= R.DEADZONE
            if any_input:
                if st == LYING:
                    new = GETUP
                    enter = True
                elif af >= 1:
                    new = FALL
                    invuln = R.RESPAWN_INVULNERABLE
                    enter = True
        if enter:  # the port's character's own moves
            new = self._char_states[p.port][new]
        st = new
        if enter:
            af = 0
            hitdone = 0

        # --- physics --------------------------------------------------------------------------
        flags = _FLAGS[st]
        if flags & _FF_OK and down_p and vy < 0:
            ff = 1
        if flags & _GROUND:
            if flags & _SELF_MOVE:
                if st == WALK:
                    vx = sx * ph.walk_speed
                elif st == DASH and af == 0:  # a dash starts at its initial speed
                    vx = facing * ph.dash_initial
                else:  # toward the cap (run speed x |stick x|); above it, by the traction
                    speed = vx * facing
                    cap = ph.run_speed * abs_sx
                    if speed < cap:
                        up = speed + (ph.dash_accel_base + ph.dash_accel_stick * abs_sx)
                        speed = up if up < cap else cap
                    else:
                        down = speed - ph.traction
                        speed = down if down > cap else cap
                    vx = facing * speed
            else:  # friction: toward 0, stopping at +0.0 (vx - clip(vx, -f, f))
                f = _OWN_FRICTION[st] or ph.traction
                if flags & _DOUBLE_TRACTION:
                    f = f * 2.0
                vx = vx - (-f if vx < -f else f if vx > f else vx)
            vy = 0.0
            kby = 0.0
        elif flags & (_FROZEN_POS | _LEDGE):
            vx = vy = kbx = kby = 0.0
        elif flags & _GLIDE and af < R.AIRDODGE_GLIDE:  # the air dodge's glide
            vx = vx * R.AIRDODGE_DECAY
            vy = vy * R.AIRDODGE_DECAY
        else:
            if flags & _DRIFT and tilted and not fresh:
                gap = sx * ph.air_speed - vx
                rate = (
                    ph.air_accel_base + ph.air_accel_stick * abs_sx
                    if gap * sx > 0
                    else ph.air_friction
                )
                vx = vx + _clip(gap, -rate, rate)
            elif flags & _HOVER:  # the up-B charge keeps most speed on its first frame
                if af == 0:
                    vx = vx * R.UP_B_HOLD_KEEP
                f = ph.air_friction
                vx = vx - (-f if vx < -f else f if vx > f else vx)
            elif flags & _NO_GRAVITY or fresh:
                pass
            else:
                f = _OWN_FRICTION[st] or ph.air_friction
                vx = vx - (-f if vx < -f else f if vx > f else vx)
            if flags & _HOVER:  # the up-B charge: still, then its own slow fall
                vy = 0.0 if af < R.UP_B_HOLD_STILL else vy - ph.upb_hold_gravity
            elif flags & _NO_GRAVITY or took_off:
                pass
            elif flags & _OWN_FALL:  # still for the state's first frames, then its own gravity
                if af < _STILL_FRAMES[st]:
                    vy = 0.0
                else:
                    vy = vy - _OWN_GRAVITY[st]
                    if not vy > -ph.terminal:
                        vy = -ph.terminal
            elif flags & _STALL:  # the air shine: still, then its own slow fall
                if flags & _STILL or (flags & _HOLD_B and af == 0):
                    vy = 0.0
                else:
                    vy = vy - R.SHINE_GRAVITY
                    if not vy > -ph.terminal:
                        vy = -ph.terminal
            elif ff == 1:
                vy = -ph.fast_fall
            else:
                vy = vy - ph.gravity
                if not vy > -ph.terminal:
                    vy = -ph.terminal
        if flags & _TRAVEL:  # side-B's dash: still on its first frame, then its speed
            vx = facing * ph.sideb_speed if af else 0.0
            vy = 0.0
        if st == UPB_TRAVEL and af >= ph.upb_full:  # up-B's travel slows after its first frames
            vx, vy = _shrink(vx, vy, ph.upb_decel)
        # a dash's first frame records its initial speed but does not move
        x += kbx if st == DASH and af == 0 else vx + kbx
        y += vy + kby
        if flags & _LEDGE:  # hanging or getting up: the position follows the ledge
            hd, hy = ph.hang_dx, ph.hang_y
            end_d, end_y = self._ledge_end[p.port][st]
            dur = _DURATION[st]
            frac = (af + 1) / (dur if dur > 1 else 1)
            d = hd + (end_d - hd) * frac
            x = ledge * (self._edge + d)
            y = hy + (end_y - hy) * frac
        if kbx or kby:  # knockback decays by KB_DECAY per frame along its direction
            kbx, kby = _shrink(kbx, kby, R.KB_DECAY)

        # --- collisions -----------------------------------------------------------------------
        if not flags & (_GROUND | _FROZEN_POS | _LEDGE):
            if vy + kby < 0:  # landing: the highest surface crossed this frame
                for h, lft, rgt, through, k in self._surfaces:
                    if (
                        y0 >= h
                        and y <= h
                        and x >= lft
                        and x <= rgt
                        and (not through or sy > R.DOWN_THRESHOLD)
                    ):
                        y = h
                        surf = k
                        if flags & _TECHABLE:
                            st = TECH if tech > 0 else TECH_MISS
                        else:
                            st = _LANDING[st]
                        if not flags & _LAND_KEEP:  # the air shine lands at the same frame
                            af = 0
                        vy = 0.0
                        kby = 0.0
                        ff = 0
                        jumps = 2
                        # a timed landing lasts the character's lag; an L-cancel divides an
                        # aerial's
                        timer = self._landing_lag[p.port].get(st, 0)
                        if _FLAGS[st] & _LCANCEL and tech > R.TECH_WINDOW - R.LCANCEL_WINDOW:
                            timer //= ph.lcancel_divisor
                        hitdone = 0
                        break
        elif flags & _GROUND and surf >= 0:  # walking off the surface one stands on
            lft = self._surf_l[surf]
            rgt = self._surf_r[surf]
            if x < lft or x > rgt:
                if flags & _ACT_G:
                    st = FALL
                    af = 0
                    jumps = 1
                    surf = -1
                elif _OFF_EDGE[st] >= 0:  # side-B goes on in the air, at the same frame
                    st = _OFF_EDGE[st]
                    jumps = 1
                    surf = -1
                else:  # busy players stop at the edge
                    x = _clip(x, lft, rgt)
                    vx = 0.0
                    kbx = 0.0
        ground_now = _FLAGS[st] & _GROUND
        edge = self._edge
        if (
            not ground_now
            and not _FLAGS[st] & _LEDGE
            and abs(x) < edge
            and y < 0
            and y > -STAGE_DEPTH
        ):
            # the main stage is a solid block: pushed out to the side it came from, or below
            if abs(x0) >= edge:
                x = (1.0 if x > 0 else -1.0 if x < 0 else 0.0) * edge
                vx = 0.0
                kbx = 0.0
            else:
                y = -STAGE_DEPTH
                vy = 0.0
                kby = 0.0
        if not ground_now:
            surf = -1
        else:
            regrab = 0  # the ground: the next grab is intangible again

        # --- shield health --------------------------------------------------------------------
        if st in (SHIELD, SHIELD_START):
            shield = p.shield - R.SHIELD_DECAY
            if shield <= 0:  # shield break
                st = SB_FLY
                af = 0
                surf = -1
                vy = R.SHIELD_BREAK_VY
                shield = R.SHIELD_AFTER_BREAK
            p.shield = shield
        else:
            shield = p.shield + R.SHIELD_REGEN
            p.shield = shield if shield < R.SHIELD_MAX else R.SHIELD_MAX

        # a run's animation: 0, 1, then by the ground speed the frame began with (looping)
        if st == RUN:
            if af <= 1:
                p.run_anim = float(af)
            else:
                anim = p.run_anim + abs(p.vx) / R.RUN_ANIM_RATE
                p.run_anim = anim - R.RUN_ANIM_LOOP if anim >= R.RUN_ANIM_LOOP else anim
        else:
            p.run_anim = 0.0
        p.x, p.y, p.vx, p.vy, p.kbx, p.kby = x, y, vx, vy, kbx, kby
        p.st, p.af, p.facing, p.jumps, p.surf = st, af, facing, jumps, surf
        p.timer, p.invuln, p.hitdone, p.ff, p.tech = timer, invuln, hitdone, ff, tech
        p.ledge, p.regrab, p.drp = ledge, regrab, drp
        return False

    def _ledge_grab(
        self, p: PlayerState, other: PlayerState, frozen: bool, start: tuple[float, float]
    ) -> None:
        """``p`` catches a ledge (CLIFF_CATCH) if falling, its frame began in the grab box,
        it faces the ledge, does not hold down and ``other`` does not hold that ledge (port 0
        is checked first); a first grab since the ground (or a hit) is intangible."""
        if frozen or not _FLAGS[p.st] & _LEDGE_OK:
            return
        if not (p.vy + p.kby < 0 or p.st == UPB_TRAVEL):
            return
        if p.main_y <= R.DOWN_THRESHOLD or p.drp != 0:
            return
        x0, y0 = start
        side = 1 if x0 > 0 else -1
        d = side * x0 - self._edge
        if p.facing != -side or not (0.0 <= d <= R.LEDGE_BOX_OUT):
            return
        if not (R.LEDGE_BOX_BOTTOM <= y0 <= R.LEDGE_BOX_TOP):
            return
        if other.st in _HOLDS and other.ledge == side:
            return  # ledge-hog: the ledge is taken
        ph = self._phys[p.port]
        p.st = CLIFF_CATCH
        p.af = p.ff = p.hitdone = 0
        p.surf = -1
        p.jumps = 1
        p.ledge = side
        if p.regrab == 0:
            p.invuln = p.invuln if p.invuln > R.LEDGE_INTANGIBLE else R.LEDGE_INTANGIBLE
        p.regrab = 1
        p.vx = p.vy = p.kbx = p.kby = 0.0
        p.x = side * (self._edge + ph.hang_dx)
        p.y = ph.hang_y

    # --- the two players together -----------------------------------------------------------
    def _grab(self, a: PlayerState, d: PlayerState, frozen: bool) -> None:
        """``a``'s grab of ``d`` (port 0's first): a released player goes free, a grab box
        catches, a holder whose player went free lets go, the pummel hits, a throw takes the
        player and releases it on its frame; the held player is placed in front."""
        st = a.st
        flags = _FLAGS[st]
        if flags & _CAPTURED:  # held by a player that no longer holds: free
            if not (_FLAGS[d.st] & _HOLDING or _THROW[d.st] >= 0):
                a.st = CAPTURE_CUT
                a.af = 0
            return
        box = _GRAB_BOX.get(st)
        if box is not None:
            first, last, bdx, bdy, reach = box
            if (
                not frozen
                and first <= a.af <= last
                and not _FLAGS[d.st] & (_CAPTURED | _HOLDING | _LEDGE | _FROZEN_POS)
                and not d.intangible()
            ):
                hx = a.x + a.facing * bdx
                hy = a.y + bdy
                ddx = hx - d.x
                ddy = hy - _clip(hy, d.y + R.HURT_LOW, d.y + R.HURT_HIGH)
                if ddx * ddx + ddy * ddy <= reach * reach:  # caught
                    a.st = DASH_CATCH_PULL if st == DASH_GRAB else CATCH_PULL
                    a.af = 0
                    a.vx = 0.0
                    a.hitdone = 0
                    d.st = CAPTURE_PULLED
                    d.af = 0
                    d.timer = math.floor(R.GRAB_ESCAPE_BASE + R.GRAB_ESCAPE_PER_PERCENT * d.percent)
                    d.ff = 0
                    d.hitdone = 0
                    self._hold(a, d)
            return
        if flags & _HOLDING:
            if not _FLAGS[d.st] & _CAPTURED:  # the grabbed player broke free
                a.st = CATCH_CUT
                a.af = 0
                return
            if st == CATCH_ATTACK and a.af == 0 and a.hitdone == 0 and not frozen:
                move = _MOVES[_PUMMEL]
                d.percent = d.percent + move.damage
                d.st = CAPTURE_DAMAGE
                d.af = 0
                a.hitdone = 1
                if move.hitlag > a.hitlag:
                    a.hitlag = move.hitlag
                if move.hitlag > d.hitlag:
                    d.hitlag = move.hitlag
            self._hold(a, d)
            return
        mv = _THROW[st]
        if mv < 0 or not _FLAGS[d.st] & _CAPTURED:
            return
        if d.st not in _THROWN_STATES:  # the throw takes the grabbed player
            d.st = _THROWN[st]
            d.af = 0
        move = _MOVES[mv]
        if a.af != move.first:
            self._hold(a, d)
            return
        # the release: placed where the throw lets go, launched (into the air, as Melee's)
        d.x = a.x + a.facing * move.dx
        d.y = a.y
        away = a.facing if move.dx >= 0 else -a.facing
        self._take_hit(d, move, a.facing, away, 0, self._phys[d.port].weight)

    def _hold(self, a: PlayerState, d: PlayerState) -> None:
        """``d`` is held in front of ``a``, facing it, on its surface."""
        d.x = a.x + a.facing * self._phys[a.port].hold_dx
        d.y = a.y
        d.vx = d.vy = d.kbx = d.kby = 0.0
        d.facing = -a.facing
        d.surf = a.surf

    def _hits(self, frozen0: bool, frozen1: bool) -> None:
        """Hitboxes against hurtboxes, both ways from the same state (trades hit both)."""
        p0, p1 = self.players
        hit0 = self._connects(p0, p1, frozen0)  # player 0 hits player 1 with that move
        hit1 = self._connects(p1, p0, frozen1)
        if hit0 < 0 and hit1 < 0:
            return
        # what the defender needs to know, read before anything changes
        move0 = _MOVES[hit0] if hit0 >= 0 else None
        move1 = _MOVES[hit1] if hit1 >= 0 else None
        facing0, facing1 = p0.facing, p1.facing
        flags0, flags1 = _FLAGS[p0.st], _FLAGS[p1.st]
        if move0 is not None:
            p0.hitdone = 1
            if move0.hitlag > p0.hitlag:
                p0.hitlag = move0.hitlag
        if move1 is not None:
            p1.hitdone = 1
            if move1.hitlag > p1.hitlag:
                p1.hitlag = move1.hitlag
        if move0 is not None and move0.hitlag > p1.hitlag:
            p1.hitlag = move0.hitlag
        if move1 is not None and move1.hitlag > p0.hitlag:
            p0.hitlag = move1.hitlag
        away0 = 1 if p0.x >= p1.x else -1  # from player 1 toward player 0
        away1 = 1 if p1.x >= p0.x else -1
        if move1 is not None:
            self._take_hit(p0, move1, facing1, away0, flags0, self._phys[0].weight)
        if move0 is not None:
            self._take_hit(p1, move0, facing0, away1, flags1, self._phys[1].weight)

    def _connects(self, att: PlayerState, dfn: PlayerState, frozen: bool) -> int:
        """The move ``att``'s hitbox hits ``dfn`` with this frame, else -1."""
        mv = self._move_of[att.port][att.st]
        if mv < 0 or frozen:
            return -1
        move = _MOVES[mv]
        af = att.af
        if af < move.first or af > move.last:  # the late hit, on its own frames
            mv = _LATE[att.st]
            if mv < 0:
                return -1
            move = _MOVES[mv]
            if af < move.first or af > move.last:
                return -1
        if move.every:  # a multi-hit move: out every `every` frames, each time a new hit
            if (af - move.first) % move.every:
                return -1
            att.hitdone = 0
        if att.hitdone != 0:
            return -1
        hx = att.x + att.facing * move.dx
        hy = att.y + move.dy
        ddx = hx - dfn.x
        ddy = hy - _clip(hy, dfn.y + R.HURT_LOW, dfn.y + R.HURT_HIGH)
        reach = move.reach
        if ddx * ddx + ddy * ddy <= reach * reach and not dfn.intangible():
            return mv
        return -1

    @staticmethod
    def _take_hit(
        p: PlayerState, move: _Move, att_facing: int, away: int, flags: int, weight: float
    ) -> None:
        """``p`` (whose state had ``flags`` when the hits were resolved, whose character
        weighs ``weight``) is hit by ``move``; ``away`` points from the attacker to ``p``."""
        dmg = move.damage
        if flags & _SHIELDING:
            shield = p.shield - dmg
            if shield <= 0:  # shield break
                p.st = SB_FLY
                p.af = 0
                p.surf = -1
                p.vy = R.SHIELD_BREAK_VY
                p.shield = R.SHIELD_AFTER_BREAK
            else:
                p.shield = shield
                p.st = SHIELD_STUN
                p.af = 0
                p.timer = move.shieldstun
                p.vx = away * R.SHIELD_PUSH * dmg
            return
        pct = p.percent + dmg
        p.percent = pct
        kb = R.knockback(pct, dmg, move.growth, move.base, weight)
        if flags & _CROUCH:  # crouch cancel
            kb = kb * R.CROUCH_CANCEL
        speed = kb * R.KB_SPEED
        airborne = not flags & _GROUND  # (some moves launch airborne defenders their own way)
        kbx = speed * (move.air_cos if airborne else move.cos) * att_facing
        kby = speed * (move.air_sin if airborne else move.sin)
        tumble = kb >= R.TUMBLE_KB
        lifted = not (flags & _GROUND) or (tumble and kby > 0)
        p.st = DAMAGE_FLY if tumble else DAMAGE_A if lifted else DAMAGE_G
        p.kbx = kbx
        p.kby = kby if lifted else 0.0
        p.vx = 0.0
        p.vy = 0.0
        p.af = 0
        p.timer = math.floor(kb * R.HITSTUN_PER_KB)
        p.facing = -away
        p.ff = 0
        p.hitdone = 0
        p.regrab = 0  # a hit: the next grab is intangible again
        if lifted:
            p.surf = -1

    def _blast_zone(self, p: PlayerState) -> None:
        x, y = p.x, p.y
        if _FLAGS[p.st] & _FROZEN_POS:
            return
        if x < self._blast_left:
            side = R.DEAD_LEFT
        elif x > self._blast_right:
            side = R.DEAD_RIGHT
        elif y > self._blast_top:
            side = R.DEAD_UP
        elif y < self._blast_bottom:
            side = R.DEAD_DOWN
        else:
            return
        p.st = DEAD
        p.var = side
        p.af = 0
        p.stocks -= 1
        p.timer = p.hitlag = p.ff = p.invuln = 0
        p.surf = -1
        p.vx = p.vy = p.kbx = p.kby = p.run_anim = 0.0

    # --- output ---------------------------------------------------------------------------
    @staticmethod
    def _action_frame(p: PlayerState) -> float:
        """The action_frame column as replays count it: frames, or a landing's animation
        played over its length."""
        st = p.st
        if st == RUN:
            return p.run_anim
        anim = _ANIM[st]
        if anim > 0:
            length = p.af + p.timer if _FLAGS[st] & _TIMED else _DURATION[st]
            return p.af * anim / max(length, 1)
        return p.af + _AF_SHOWN[st]

    def _player_row(self, p: PlayerState) -> dict[str, Any]:
        st = p.st
        flags = _FLAGS[st]
        grounded = bool(flags & _GROUND)
        vx = p.vx
        f = _F32_ROW.unpack(
            _F32_ROW.pack(
                p.x,
                p.y,
                0.0 if grounded else vx,
                p.vy,
                p.kbx,
                p.kby,
                vx if grounded else 0.0,
                p.percent,
                -1 if _AF_FIXED[st] else self._action_frame(p),  # as replays count it
                p.shield,
                p.hitlag,
                p.timer if flags & _HITSTUN else 0,
                p.main_x,
                p.main_y,
                p.c_x,
                p.c_y,
                p.shoulder,
            )
        )
        return {
            "exists": True,
            "x": f[0],
            "y": f[1],
            "vx_air": f[2],
            "vy_self": f[3],
            "vx_knockback": f[4],
            "vy_knockback": f[5],
            "vx_ground": f[6],
            "percent": f[7],
            "stocks": p.stocks,
            "facing": p.facing,
            "action": _ACTION[st] + p.var * _VARIANT[st],
            "action_frame": f[8],
            "character": self._characters[p.port],
            "jumps_left": p.jumps,
            "shield": f[9],
            "on_ground": grounded,
            "invulnerable": p.intangible(),
            "hitlag": f[10],
            "hitstun": f[11],
            "main_x": f[12],
            "main_y": f[13],
            "c_x": f[14],
            "c_y": f[15],
            "shoulder": f[16],
            "buttons": p.buttons,
            "frame": self.frame,
        }


class ScalarEnv:
    """``n`` :class:`ScalarGame` stepped one after the other with a Python loop: the plain
    baseline for ``MockEnv``, taking and returning the same things as its ``step``."""

    def __init__(self, n: int, config: MockConfig | None = None) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.config = config or MockConfig()
        self.games = [ScalarGame(self.config) for _ in range(n)]

    def reset(self) -> None:
        for g in self.games:
            g.reset()

    def step(
        self, c0: Controls, c1: Controls
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], tuple[GameOutcome, ...]]:
        """Step every game; returns ``(reward [N, 2] float32, done [N] bool, results)``."""
        n = self.n
        cols0 = [np.asarray(getattr(c0, k)).tolist() for k in _CONTROL_FIELDS]
        cols1 = [np.asarray(getattr(c1, k)).tolist() for k in _CONTROL_FIELDS]
        for cols in (cols0, cols1):
            if any(len(col) != n for col in cols):
                raise ValueError(f"controls must have {n} rows")
        rewards: list[tuple[float, float]] = []
        dones: list[bool] = []
        results: list[GameOutcome] = []
        for i, (g, ctl0, ctl1) in enumerate(
            zip(self.games, zip(*cols0, strict=True), zip(*cols1, strict=True), strict=True)
        ):
            r0, r1, done, result = g.step(ctl0, ctl1, i)
            rewards.append((r0, r1))
            dones.append(done)
            if result is not None:
                results.append(result)
        return (
            np.array(rewards, dtype=np.float32),
            np.array(dones, dtype=bool),
            tuple(results),
        )

    def rows(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every game's current frame (:meth:`ScalarGame.row`)."""
        return [g.row() for g in self.games]

    def item_frames(self) -> ItemFrames:
        """Every game's current items (:meth:`ScalarGame.item_rows`) as ``Frames.items``."""
        return item_frames([g.item_rows() for g in self.games])

    def frames(self) -> Frames:
        """Every game's current frame as :class:`~exphil.game.Frames` (like MockEnv.frames)."""
        rows = self.rows()
        n = self.n
        players = []
        for p in (0, 1):
            cols = {
                name: np.array([r[p][name] for r in rows], dtype=dtype)
                for name, dtype in PlayerFrames.DTYPES.items()
            }
            players.append(PlayerFrames(**cols))
        st = self.config.stage_id
        items = self.item_frames()
        return Frames(
            frame=np.array([g.frame for g in self.games], dtype=np.int32),
            stage=np.full(n, int(st), dtype=np.uint8),
            players=(players[0], players[1]),
            nana=(PlayerFrames.zeros(n), PlayerFrames.zeros(n)),
            items=items,
        )


_CONTROL_FIELDS: Final = ("main_x", "main_y", "c_x", "c_y", "shoulder", "buttons")


def item_frames(rows: list[list[tuple[Any, ...]]]) -> ItemFrames:
    """Games' :meth:`ScalarGame.item_rows` as one :class:`ItemFrames` ``[n, ITEM_SLOTS]``."""
    cols = list(ItemFrames.DTYPES.items())
    return ItemFrames(
        **{
            name: np.array([[slot[k] for slot in game] for game in rows], dtype=dtype)
            for k, (name, dtype) in enumerate(cols)
        }
    )


def _ledge_ends(ph: CharacterPhysics) -> dict[int, tuple[float, float]]:
    """Each ledge state's end point for one character (as ``exphil.envs.mock._ledge_ends``):
    the hang point while hanging, a getup's end point, a ledge jump's take-off point."""
    out = {R.S["CLIFF_CATCH"]: (ph.hang_dx, ph.hang_y), R.S["CLIFF_WAIT"]: (ph.hang_dx, ph.hang_y)}
    for name, kind in R.LEDGE_GETUP_END.items():
        if kind == "jump":
            out[R.S[name]] = (
                -ph.ledge_jump_dx + ph.ledge_jump_vx,
                ph.ledge_jump_y - ph.ledge_jump_vy,
            )
        else:
            dx = {"climb": ph.climb_dx, "roll": ph.roll_dx, "attack": ph.ledge_attack_dx}[kind]
            out[R.S[name]] = (-dx, 0.0)
    return out


def _landing_lags(ph: CharacterPhysics) -> dict[int, int]:
    """The timed landing states and their lag for one character."""
    return {
        R.S["LANDING"]: ph.landing_lag,
        R.S["NAIR_LANDING"]: ph.nair_landing,
        R.S["FAIR_LANDING"]: ph.fair_landing,
        R.S["BAIR_LANDING"]: ph.bair_landing,
        R.S["UAIR_LANDING"]: ph.uair_landing,
        R.S["DAIR_LANDING"]: ph.dair_landing,
    }
