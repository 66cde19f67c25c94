"""The mock's rules as one compiled per-game kernel (numba), looped over the games of a batch.

:class:`~exphil.envs.mock.MockEnv` keeps its state in game-major arrays (``F[n, 2, NF]``
floats, ``I[n, 2, NZ]`` ints, the last step's controls ``C[n, 2, 5]`` and buttons ``BT[n, 2]``,
the item slots ``[n, ITEM_SLOTS, 4]``: each game's state one block, each field a constant
offset in it) and calls :func:`step_games` once per step: for each game, the players' frame,
ledges, grabs, hits, items and blast zones in a fixed order (port 0 first), in float64 with
the outputs rounded to float32 once, then the game-over check and the rewards.
:func:`read_controls` and :func:`write_frames` move a step's controls in and its output
columns out. Resets and the game results stay in Python (they happen once a game).

The same source, run as plain Python with numba off, is the test oracle and the benchmark
baseline (``exphil.envs._scalar.ScalarEnv``): the parity tests hold the compiled kernel to it
bit for bit. So the code keeps to what both run alike: no allocation, float64 and int64
scalars, tables read by index.

Tables are module globals (numba freezes them into the compiled code); what depends on the
env's config (each port's physics row, its character's states and moves, the stage) comes in
as small arrays. Compiled functions are cached on disk (``cache=True``), so a process after the
first pays no compile time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

import numpy as np
from numba import njit

from exphil.envs import _rules as R
from exphil.envs._characters import FIELDS as PHYSICS_FIELDS
from exphil.game.frames import BUTTON_BITS, ITEM_SLOTS

__all__ = [
    "step_games",
    "write_frames",
    "read_controls",
    "FRAME_PAD",
    "NF",
    "NZ",
    "GEO_FIELDS",
    "PH_INDEX",
]

Array = np.ndarray[Any, Any]

# --- the state's layout (MockEnv's arrays) ----------------------------------------------------
# float state, [n, 2, NF] float64
X, Y, VX, VY, KBX, KBY, PCT, SHIELD, RUN_ANIM = range(9)
NF: Final = 9
# int state, [n, 2, NZ] int64
(ST, VAR, AF, FACING, JUMPS, STOCKS, SURF, TIMER, INVULN, HITLAG, HITDONE, FF, TECH, LEDGE_SIDE,
 REGRAB, DRP) = range(16)  # fmt: skip
NZ: Final = 16
# item slots: ints [n, ITEM_SLOTS, 4] (kind, type, owner, move), floats [...] (x, y, vx, timer)
IT_KIND, IT_TYPE, IT_OWNER, IT_MOVE = range(4)
IT_X, IT_Y, IT_VX, IT_TIMER = range(4)
EMPTY, LASER_ITEM, GUN_ITEM = 0, 1, 2
# the env's constants, float64 [len(GEO_FIELDS)]
GEO_FIELDS: Final = (
    "edge", "blast_left", "blast_right", "blast_top", "blast_bottom", "stage_depth",
    "w_stock", "w_damage", "w_win", "w_approach", "w_offstage",
)  # fmt: skip
(G_EDGE, G_LEFT, G_RIGHT, G_TOP, G_BOTTOM, G_DEPTH, G_STOCK, G_DAMAGE, G_WIN, G_APPROACH,
 G_OFFSTAGE) = range(11)  # fmt: skip
# surfaces, float64 [4, K]: height, left, right, pass-through (0/1); K index 0 = the main stage
SF_H, SF_L, SF_R, SF_THROUGH = range(4)

# each port's physics row, float64 [2, len(PHYSICS_FIELDS)] (exphil.envs._characters)
PH_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(PHYSICS_FIELDS)}
P_GRAVITY: Final = PH_INDEX["gravity"]
P_TERMINAL: Final = PH_INDEX["terminal"]
P_FAST_FALL: Final = PH_INDEX["fast_fall"]
P_AIR_SPEED: Final = PH_INDEX["air_speed"]
P_AIR_ACCEL_BASE: Final = PH_INDEX["air_accel_base"]
P_AIR_ACCEL_STICK: Final = PH_INDEX["air_accel_stick"]
P_AIR_FRICTION: Final = PH_INDEX["air_friction"]
P_JUMP_SQUAT: Final = PH_INDEX["jump_squat"]
P_FULL_HOP: Final = PH_INDEX["full_hop"]
P_SHORT_HOP: Final = PH_INDEX["short_hop"]
P_JUMP_H: Final = PH_INDEX["jump_h"]
P_JUMP_GROUND_MULT: Final = PH_INDEX["jump_ground_mult"]
P_JUMP_H_MAX: Final = PH_INDEX["jump_h_max"]
P_DOUBLE_JUMP_MULT: Final = PH_INDEX["double_jump_mult"]
P_DOUBLE_JUMP_H: Final = PH_INDEX["double_jump_h"]
P_WALK_SPEED: Final = PH_INDEX["walk_speed"]
P_DASH_INITIAL: Final = PH_INDEX["dash_initial"]
P_DASH_FRAMES: Final = PH_INDEX["dash_frames"]
P_DASH_LENGTH: Final = PH_INDEX["dash_length"]
P_RUN_SPEED: Final = PH_INDEX["run_speed"]
P_DASH_ACCEL_BASE: Final = PH_INDEX["dash_accel_base"]
P_DASH_ACCEL_STICK: Final = PH_INDEX["dash_accel_stick"]
P_TRACTION: Final = PH_INDEX["traction"]
P_WEIGHT: Final = PH_INDEX["weight"]
P_LCANCEL_DIVISOR: Final = PH_INDEX["lcancel_divisor"]
P_HANG_DX: Final = PH_INDEX["hang_dx"]
P_HANG_Y: Final = PH_INDEX["hang_y"]
P_LEDGE_JUMP_VX: Final = PH_INDEX["ledge_jump_vx"]
P_LEDGE_JUMP_VY: Final = PH_INDEX["ledge_jump_vy"]
P_HOLD_DX: Final = PH_INDEX["hold_dx"]
P_SIDEB_SPEED: Final = PH_INDEX["sideb_speed"]
P_SIDEB_END_VX: Final = PH_INDEX["sideb_end_vx"]
P_UPB_HOLD_GRAVITY: Final = PH_INDEX["upb_hold_gravity"]
P_UPB_SPEED: Final = PH_INDEX["upb_speed"]
P_UPB_FULL: Final = PH_INDEX["upb_full"]
P_UPB_DECEL: Final = PH_INDEX["upb_decel"]
P_UPB_FRAMES: Final = PH_INDEX["upb_frames"]
P_LASER_ITEM: Final = PH_INDEX["laser_item"]
P_GUN_ITEM: Final = PH_INDEX["gun_item"]
P_LASER_SPEED: Final = PH_INDEX["laser_speed"]
P_LASER_LIFE: Final = PH_INDEX["laser_life"]
P_LASER_DX_GROUND: Final = PH_INDEX["laser_dx_ground"]
P_LASER_DY_GROUND: Final = PH_INDEX["laser_dy_ground"]
P_LASER_DX_AIR: Final = PH_INDEX["laser_dx_air"]
P_LASER_DY_AIR: Final = PH_INDEX["laser_dy_air"]

# --- the rule tables ----------------------------------------------------------------------------
_T = R.STATE_TABLE.astype(np.int64)
FLAGS: Final = np.ascontiguousarray(_T[:, R.T_FLAGS])
ACTION: Final = np.ascontiguousarray(_T[:, R.T_ACTION])
DURATION: Final = np.ascontiguousarray(_T[:, R.T_DURATION])
NEXT: Final = np.ascontiguousarray(_T[:, R.T_NEXT])
LANDING: Final = np.ascontiguousarray(_T[:, R.T_LANDING])
VARIANT: Final = np.ascontiguousarray(_T[:, R.T_VARIANT])
AF_SHOWN: Final = np.ascontiguousarray(_T[:, R.T_AF_SHOWN])
AF_FIXED: Final = np.ascontiguousarray(_T[:, R.T_AF_FIXED])
INTANG: Final = np.ascontiguousarray(_T[:, R.T_INTANGIBLE])
INTANG_FROM: Final = np.ascontiguousarray(_T[:, R.T_INTANGIBLE_FROM])
THROW: Final = np.ascontiguousarray(_T[:, R.T_THROW])  # a throw's move, else -1
THROWN: Final = np.ascontiguousarray(_T[:, R.T_THROWN])  # the thrown player's state
LATE: Final = np.ascontiguousarray(_T[:, R.T_LATE])  # a state's late hit's move, else -1
OFF_EDGE: Final = np.ascontiguousarray(_T[:, R.T_OFF_EDGE])
STILL_FRAMES: Final = np.ascontiguousarray(_T[:, R.T_STILL])
SHOT: Final = np.ascontiguousarray(_T[:, R.T_SHOT])  # a laser loop's shot frame, else -1
OWN_FRICTION: Final = np.ascontiguousarray(R.STATE_PHYS[:, 0].astype(np.float64))
OWN_GRAVITY: Final = np.ascontiguousarray(R.STATE_PHYS[:, 1].astype(np.float64))
ANIM: Final = np.ascontiguousarray(R.STATE_PHYS[:, 2].astype(np.float64))
MOVES: Final = np.ascontiguousarray(R.MOVE_TABLE.astype(np.float64))
GRAB_BOX: Final = np.ascontiguousarray(R.GRAB_BOX_TABLE.astype(np.float64))
_NS = R.NUM_STATES
IS_HOLD: Final = np.zeros(_NS, dtype=np.bool_)  # the ledge is taken in these states
IS_HOLD[list(R.LEDGE_HOLD)] = True
IS_GETUP_DONE: Final = np.zeros(_NS, dtype=np.bool_)
IS_LEDGE_JUMP_1: Final = np.zeros(_NS, dtype=np.bool_)
for _name, _kind in R.LEDGE_GETUP_END.items():
    (IS_LEDGE_JUMP_1 if _kind == "jump" else IS_GETUP_DONE)[R.S[_name]] = True
IS_THROWN: Final = np.zeros(_NS, dtype=np.bool_)
for _k in ("F", "B", "HI", "LW"):
    IS_THROWN[R.S[f"THROWN_{_k}"]] = True
# the ledge options, [4, 2]: (quick, slow) states of JUMP, ATTACK, ROLL, CLIMB
LEDGE_OPTIONS: Final = np.array(
    [
        [R.S[f"CLIFF_{kind}_QUICK{suffix}"], R.S[f"CLIFF_{kind}_SLOW{suffix}"]]
        for kind, suffix in (("JUMP", "_1"), ("ATTACK", ""), ("ROLL", ""), ("CLIMB", ""))
    ],
    dtype=np.int64,
)
OPT_JUMP, OPT_ATTACK, OPT_ROLL, OPT_CLIMB = range(4)
DAIR_INPUT: Final = _NS  # the down-air input, resolved per character
PUMMEL: Final = R.M["PUMMEL"]
MV_FIRST: Final = R.MV_FIRST
MV_LAST: Final = R.MV_LAST
MV_DX: Final = R.MV_DX
MV_DY: Final = R.MV_DY
MV_RADIUS: Final = R.MV_RADIUS
MV_DAMAGE: Final = R.MV_DAMAGE
MV_COS: Final = R.MV_COS
MV_SIN: Final = R.MV_SIN
MV_BASE: Final = R.MV_BASE
MV_GROWTH: Final = R.MV_GROWTH
MV_HITLAG: Final = R.MV_HITLAG
MV_SHIELDSTUN: Final = R.MV_SHIELDSTUN
MV_EVERY: Final = R.MV_EVERY
MV_AIR_COS: Final = R.MV_AIR_COS
MV_AIR_SIN: Final = R.MV_AIR_SIN

# flags
GROUND: Final = R.GROUND
ACT_G: Final = R.ACT_G
ACT_A: Final = R.ACT_A
DRIFT: Final = R.DRIFT
FF_OK: Final = R.FF_OK
SHIELDING: Final = R.SHIELDING
INTANGIBLE: Final = R.INTANGIBLE
FROZEN_POS: Final = R.FROZEN_POS
HITSTUN: Final = R.HITSTUN
TIMED: Final = R.TIMED
SELF_MOVE: Final = R.SELF_MOVE
TECHABLE: Final = R.TECHABLE
NO_GRAVITY: Final = R.NO_GRAVITY
HOVER: Final = R.HOVER
LCANCEL: Final = R.LCANCEL
LEDGE: Final = R.LEDGE
LEDGE_OK: Final = R.LEDGE_OK
LEDGE_ACT: Final = R.LEDGE_ACT
HOLD_B: Final = R.HOLD_B
JUMP_CANCEL: Final = R.JUMP_CANCEL
STALL: Final = R.STALL
STILL: Final = R.STILL
LAND_KEEP: Final = R.LAND_KEEP
HOLDING: Final = R.HOLDING
CAPTURED: Final = R.CAPTURED
GLIDE: Final = R.GLIDE
DOUBLE_TRACTION: Final = R.DOUBLE_TRACTION
TRAVEL: Final = R.TRAVEL
OWN_FALL: Final = R.OWN_FALL
CROUCH: Final = R.CROUCH
REPEAT_B: Final = R.REPEAT_B
GUN: Final = R.GUN
REFLECT: Final = R.REFLECT

# rule constants
DEADZONE: Final = R.DEADZONE
DASH_THRESHOLD: Final = R.DASH_THRESHOLD
TAP_JUMP: Final = R.TAP_JUMP
DOWN_THRESHOLD: Final = R.DOWN_THRESHOLD
UP_B_THRESHOLD: Final = R.UP_B_THRESHOLD
DOWN_B_THRESHOLD: Final = R.DOWN_B_THRESHOLD
SIDE_B_THRESHOLD: Final = R.SIDE_B_THRESHOLD
CSTICK_THRESHOLD: Final = R.CSTICK_THRESHOLD
SHOULDER_THRESHOLD: Final = R.SHOULDER_THRESHOLD
HURT_LOW: Final = R.HURT_LOW
HURT_HIGH: Final = R.HURT_HIGH
HURT_RADIUS: Final = R.HURT_RADIUS
KB_DECAY: Final = R.KB_DECAY
KB_SPEED: Final = R.KB_SPEED
HITSTUN_PER_KB: Final = R.HITSTUN_PER_KB
TUMBLE_KB: Final = R.TUMBLE_KB
SHIELD_MAX: Final = R.SHIELD_MAX
SHIELD_DECAY: Final = R.SHIELD_DECAY
SHIELD_REGEN: Final = R.SHIELD_REGEN
SHIELD_AFTER_BREAK: Final = R.SHIELD_AFTER_BREAK
SHIELD_BREAK_VY: Final = R.SHIELD_BREAK_VY
SHIELD_PUSH: Final = R.SHIELD_PUSH
TECH_WINDOW: Final = R.TECH_WINDOW
LCANCEL_WINDOW: Final = R.LCANCEL_WINDOW
LYING_MAX: Final = R.LYING_MAX
HALO_MAX: Final = R.HALO_MAX
RESPAWN_INVULNERABLE: Final = R.RESPAWN_INVULNERABLE
RESPAWN_HEIGHT: Final = R.RESPAWN_HEIGHT
SPAWN_X: Final = R.SPAWN_X
UP_B_HOLD_STILL: Final = R.UP_B_HOLD_STILL
UP_B_HOLD_KEEP: Final = R.UP_B_HOLD_KEEP
SHINE_AIR_VX: Final = R.SHINE_AIR_VX
SHINE_GRAVITY: Final = R.SHINE_GRAVITY
SIDEB_AIR_VX: Final = R.SIDEB_AIR_VX
SIDEB_END_VX_AIR: Final = R.SIDEB_END_VX_AIR
CROUCH_CANCEL: Final = R.CROUCH_CANCEL
DI_MAX: Final = R.DI_MAX
GUN_TIMER: Final = R.GUN_TIMER
LASER_REACH2: Final = (R.LASER_RADIUS + R.HURT_RADIUS) ** 2
GRAB_ESCAPE_BASE: Final = R.GRAB_ESCAPE_BASE
GRAB_ESCAPE_PER_PERCENT: Final = R.GRAB_ESCAPE_PER_PERCENT
GRAB_MASH: Final = R.GRAB_MASH
LEDGE_BOX_OUT: Final = R.LEDGE_BOX_OUT
LEDGE_BOX_TOP: Final = R.LEDGE_BOX_TOP
LEDGE_BOX_BOTTOM: Final = R.LEDGE_BOX_BOTTOM
LEDGE_INTANGIBLE: Final = R.LEDGE_INTANGIBLE
LEDGE_HANG_MAX: Final = R.LEDGE_HANG_MAX
LEDGE_REGRAB_DELAY: Final = R.LEDGE_REGRAB_DELAY
LEDGE_SLOW_PERCENT: Final = R.LEDGE_SLOW_PERCENT
AIRDODGE_SPEED: Final = R.AIRDODGE_SPEED
AIRDODGE_DECAY: Final = R.AIRDODGE_DECAY
AIRDODGE_GLIDE: Final = R.AIRDODGE_GLIDE
RUN_ANIM_RATE: Final = R.RUN_ANIM_RATE
RUN_ANIM_LOOP: Final = R.RUN_ANIM_LOOP
WALK_SLOW: Final = R.WALK_SLOW
WALK_MIDDLE: Final = R.WALK_MIDDLE
WALK_FAST: Final = R.WALK_FAST
DEAD_DOWN: Final = R.DEAD_DOWN
DEAD_LEFT: Final = R.DEAD_LEFT
DEAD_RIGHT: Final = R.DEAD_RIGHT
DEAD_UP: Final = R.DEAD_UP

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
SIDEB_START_A: Final = R.S["SIDEB_START_A"]
SIDEB_END_G: Final = R.S["SIDEB_END_G"]
SIDEB_END_A: Final = R.S["SIDEB_END_A"]
LASER_START_G: Final = R.S["LASER_START_G"]
LASER_START_A: Final = R.S["LASER_START_A"]
SHIELD_START: Final = R.S["SHIELD_START"]
SHIELD_ST: Final = R.S["SHIELD"]
SHIELD_RELEASE: Final = R.S["SHIELD_RELEASE"]
SHIELD_STUN: Final = R.S["SHIELD_STUN"]
DAMAGE_G: Final = R.S["DAMAGE_G"]
DAMAGE_A: Final = R.S["DAMAGE_A"]
DAMAGE_FLY: Final = R.S["DAMAGE_FLY"]
TECH_ST: Final = R.S["TECH"]
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
CATCH_LAST: Final = R.STATES[CLIFF_CATCH].duration - 1  # its last frame has the getup options

# buttons
B_A: Final = BUTTON_BITS["A"]
B_B: Final = BUTTON_BITS["B"]
B_JUMP: Final = BUTTON_BITS["X"] | BUTTON_BITS["Y"]
B_SHIELD: Final = BUTTON_BITS["L"] | BUTTON_BITS["R"]
B_Z: Final = BUTTON_BITS["Z"]
B_MASH: Final = B_A | B_B | B_JUMP | B_Z | B_SHIELD  # presses that mash out of a grab
SLOTS: Final = ITEM_SLOTS
FRAME_PAD: Final = 16
"""Extra floats at the end of each row of :func:`write_frames`'s float block: rows n floats
apart would fall in one L1 cache set at n = 1024 (4 KB aliasing: the 17 rows' writes evicted
each other, 5x slower)."""


# --- compilation --------------------------------------------------------------------------------
# cached on disk; no reference counting (the kernel allocates nothing: numba's refcounts on the
# array arguments cost more than the rules); helpers inlined into the entry points by LLVM
# (a call with a dozen array arguments costs as much as a player's whole frame)
_OPTIONS: Final[dict[str, Any]] = {"cache": True, "_nrt": False}
_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def _entry(fn: _Fn) -> _Fn:
    """A kernel entry point (called from Python)."""
    return cast(_Fn, njit(**_OPTIONS)(fn))


def _inline(fn: _Fn) -> _Fn:
    """A helper, inlined where it is called."""
    return cast(_Fn, njit(forceinline=True, **_OPTIONS)(fn))


# --- small helpers ------------------------------------------------------------------------------
@_inline
def _clip(v: float, lo: float, hi: float) -> float:
    """``np.clip`` for one float."""
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


@_inline
def _friction(v: float, f: float) -> float:
    """``v`` slowed by ``f`` toward 0, stopping at +0.0 (``v - clip(v, -f, f)``)."""
    return v - (-f if v < -f else f if v > f else v)


@_inline
def _shrink(x: float, y: float, by: float) -> tuple[float, float]:
    """``(x, y)`` shortened by ``by`` along its direction, stopping at zero."""
    mag = math.sqrt(x * x + y * y)
    if mag > 0.0:
        m = mag - by
        scale = (m if m > 0.0 else 0.0) / mag
    else:
        scale = 0.0
    return x * scale, y * scale


@_inline
def _intangible(I: Array, p: int, g: int) -> bool:  # noqa: E741
    """Hitboxes pass through: an intangible state, its intangible frames, invulnerability."""
    st = I[g, p, ST]
    af = I[g, p, AF]
    return bool(
        (FLAGS[st] & INTANGIBLE) != 0
        or (INTANG_FROM[st] <= af and af < INTANG[st])
        or I[g, p, INVULN] > 0
    )


@_inline
def _di(F: Array, p: int, g: int, sx: float, sy: float) -> None:
    """DI: the stick (out of the dead zone) turns the launch (R.DI_MAX at most)."""
    kbx = F[g, p, KBX]
    kby = F[g, p, KBY]
    speed = math.sqrt(kbx * kbx + kby * kby)
    if speed > 0.0 and math.sqrt(sx * sx + sy * sy) >= DEADZONE:
        cross = _clip((sx * kby - sy * kbx) / speed, -1.0, 1.0)
        d = -DI_MAX * cross  # R.di_turn
        d2 = d * d
        c = 1.0 - d2 / 2.0 + d2 * d2 / 24.0 - d2 * d2 * d2 / 720.0
        s = d - d * d2 / 6.0 + d * d2 * d2 / 120.0
        F[g, p, KBX] = kbx * c - kby * s
        F[g, p, KBY] = kbx * s + kby * c


# --- one player's frame -------------------------------------------------------------------------
@_inline
def _advance(
    F: Array, I: Array, C: Array, BT: Array, NC: Array, NB: Array, p: int, g: int,  # noqa: E741
    PH: Array, CST: Array, LAG: Array, LEND: Array, SURFS: Array, ORDER: Array, geo: Array,
) -> bool:  # fmt: skip
    """Everything of a frame that concerns player ``p`` of game ``g`` alone: controller,
    timers, transitions, physics, collisions, shield. Returns whether it was frozen in hitlag.
    Hitlag: a player in hitlag sits its frame out (its controller still moves on, so presses
    during hitlag are consumed) and its hitlag counts down; DI turns the launch on its last
    frame of hitlag."""
    sx = NC[g, p, 0]
    sy = NC[g, p, 1]
    cx = NC[g, p, 2]
    cy = NC[g, p, 3]
    sh = NC[g, p, 4]
    buttons = NB[g, p]
    # the controller: edges against the last step's
    psx = C[g, p, 0]
    psy = C[g, p, 1]
    pcx = C[g, p, 2]
    pcy = C[g, p, 3]
    psh = C[g, p, 4]
    pb = BT[g, p]
    C[g, p, 0] = sx
    C[g, p, 1] = sy
    C[g, p, 2] = cx
    C[g, p, 3] = cy
    C[g, p, 4] = sh
    BT[g, p] = buttons

    # hitlag: the player sits this frame out (the controller above still moved on)
    if I[g, p, HITLAG] > 0:
        I[g, p, HITLAG] -= 1
        stf = FLAGS[I[g, p, ST]]
        if I[g, p, HITLAG] == 0 and (stf & HITSTUN) != 0 and (stf & GROUND) == 0:
            _di(F, p, g, sx, sy)  # its last frame of hitlag: DI turns the launch
        return True

    pressed = buttons & ~pb
    took_off = False  # the take-off frame: no gravity, no drift
    fresh = False  # a jump's first frame: no drift
    abs_sx = abs(sx)
    jump_p = (pressed & B_JUMP) != 0 or (sy >= TAP_JUMP and psy < TAP_JUMP)
    jump_h = (buttons & B_JUMP) != 0 or sy >= TAP_JUMP
    attack_p = (pressed & B_A) != 0
    special_p = (pressed & B_B) != 0
    grab_p = (pressed & B_Z) != 0
    shield_h = (buttons & B_SHIELD) != 0 or sh >= SHOULDER_THRESHOLD
    shield_was = (pb & B_SHIELD) != 0 or psh >= SHOULDER_THRESHOLD
    c_on = abs(cx) >= CSTICK_THRESHOLD or abs(cy) >= CSTICK_THRESHOLD
    c_was = abs(pcx) >= CSTICK_THRESHOLD or abs(pcy) >= CSTICK_THRESHOLD
    c_p = c_on and not c_was
    down_p = sy <= DOWN_THRESHOLD and psy > DOWN_THRESHOLD
    smash_x = abs_sx >= DASH_THRESHOLD and abs(psx) < DASH_THRESHOLD
    stick_dir = 1 if sx >= 0 else -1
    tilted = abs_sx >= DEADZONE

    # the state into locals
    x = F[g, p, X]
    y = F[g, p, Y]
    vx = F[g, p, VX]
    vy = F[g, p, VY]
    kbx = F[g, p, KBX]
    kby = F[g, p, KBY]
    st = I[g, p, ST]
    af = I[g, p, AF]
    facing = I[g, p, FACING]
    jumps = I[g, p, JUMPS]
    surf = I[g, p, SURF]
    timer = I[g, p, TIMER]
    invuln = I[g, p, INVULN]
    hitdone = I[g, p, HITDONE]
    ff = I[g, p, FF]
    tech = I[g, p, TECH]
    ledge = I[g, p, LEDGE_SIDE]
    regrab = I[g, p, REGRAB]
    drp = I[g, p, DRP]
    x0 = x
    y0 = y
    edge = geo[G_EDGE]

    # --- timers and timed ends ----------------------------------------------------------
    af += 1
    timer = timer - 1 if timer > 1 else 0
    invuln = invuln - 1 if invuln > 1 else 0
    tech = tech - 1 if tech > 1 else 0
    drp = drp - 1 if drp > 1 else 0
    if (FLAGS[st] & CAPTURED) != 0 and (pressed & B_MASH) != 0:  # mashing out of a grab
        timer = timer - GRAB_MASH if timer > GRAB_MASH else 0
    if shield_h and not shield_was:
        tech = TECH_WINDOW

    flags = FLAGS[st]
    if st == DASH and not (tilted and stick_dir == facing):
        end = af >= PH[p, P_DASH_LENGTH]  # let go: the dash plays out, then a stand
    elif (flags & TIMED) != 0:
        end = timer <= 0
    else:
        dur = DURATION[st]
        end = dur > 0 and af >= dur
        if end and (flags & HOLD_B) != 0 and (pb & B_B) != 0:  # a loop goes on while B is held
            end = False
        elif (flags & TRAVEL) != 0 and special_p:  # B cuts side-B's dash short
            end = True
        elif end and (flags & REPEAT_B) != 0 and (pb & B_B) != 0:  # a laser loop starts over
            end = False
            af = 0
    if end and not (st == DEAD and I[g, p, STOCKS] == 0):  # a last stock stays dead
        af = 0
        if st == KNEE_BEND:  # take-off: full hop while jump is held, else a short hop
            vy = PH[p, P_FULL_HOP] if jump_h else PH[p, P_SHORT_HOP]
            jhm = PH[p, P_JUMP_H_MAX]
            vx = _clip(vx * PH[p, P_JUMP_GROUND_MULT] + psx * PH[p, P_JUMP_H], -jhm, jhm)
            back = abs(psx) >= DEADZONE and (1 if psx >= 0 else -1) != facing
            st = JUMP_B if back else JUMP_F
            took_off = True
            fresh = True
            jumps = 1
            surf = -1
            ff = 0
        elif st in (UPB_HOLD_G, UPB_HOLD_A):  # up-B travels where the stick points
            dy = (sy if sy > 0.0 else 0.0) if surf >= 0 else sy
            norm = math.sqrt(sx * sx + dy * dy)
            if norm >= DEADZONE:
                ux = sx / norm
                uy = dy / norm
            else:
                ux = 0.0
                uy = 1.0
            vx = ux * PH[p, P_UPB_SPEED]
            vy = uy * PH[p, P_UPB_SPEED]
            if abs(ux) > 0.1:
                facing = 1 if ux >= 0 else -1
            st = NEXT[st]
            timer = int(PH[p, P_UPB_FRAMES])
            surf = -1
            ff = 0
            hitdone = 0
        elif st == DEAD:  # respawn on the halo
            x = SPAWN_X if p else -SPAWN_X
            y = RESPAWN_HEIGHT
            vx = 0.0
            vy = 0.0
            kbx = 0.0
            kby = 0.0
            F[g, p, PCT] = 0.0
            F[g, p, SHIELD] = SHIELD_MAX
            st = HALO
            I[g, p, VAR] = 0
            timer = HALO_MAX
            facing = -1 if p else 1
            jumps = 1
            ff = 0
            hitdone = 0
            surf = -1
            regrab = 0
            drp = 0
        elif st == HALO:
            st = FALL
            invuln = RESPAWN_INVULNERABLE
        elif st == DASH and not (tilted and stick_dir == facing):
            st = STAND
        elif (flags & TRAVEL) != 0:  # side-B's dash is over: the end starts at its own speed
            if (flags & GROUND) != 0:
                vx = facing * PH[p, P_SIDEB_END_VX]
                st = SIDEB_END_G
            else:
                vx = facing * SIDEB_END_VX_AIR
                st = SIDEB_END_A
        elif IS_GETUP_DONE[st]:  # standing on the stage at the getup's end point
            x = ledge * (edge + LEND[p, st, 0])
            y = 0.0
            vx = 0.0
            vy = 0.0
            surf = 0
            jumps = 2
            st = NEXT[st]
        elif IS_LEDGE_JUMP_1[st]:  # the second part takes off toward the stage
            vx = -ledge * PH[p, P_LEDGE_JUMP_VX]
            vy = PH[p, P_LEDGE_JUMP_VY]
            took_off = True
            fresh = True
            st = NEXT[st]
        else:
            if st == CLIFF_WAIT:  # hung too long: let go
                drp = LEDGE_REGRAB_DELAY
            st = NEXT[st]
            if st == LYING:
                timer = LYING_MAX
            elif st == CLIFF_WAIT:
                timer = LEDGE_HANG_MAX

    # --- input-driven transitions --------------------------------------------------------
    flags = FLAGS[st]
    new = st
    enter = False
    if (flags & ACT_G) != 0:
        c_smash = c_p and abs(cx) >= CSTICK_THRESHOLD
        if special_p and sy >= UP_B_THRESHOLD:
            new = UPB_HOLD_G
            enter = True
        elif special_p and sy <= DOWN_B_THRESHOLD:  # shine
            new = SHINE_START_G
            enter = True
        elif special_p and abs_sx >= SIDE_B_THRESHOLD:  # side-B, toward the stick
            new = SIDEB_START_G
            facing = stick_dir
            enter = True
        elif special_p:  # neutral-B: lasers
            new = LASER_START_G
            enter = True
        elif attack_p and sy >= TAP_JUMP and psy < TAP_JUMP:  # up-smash
            new = USMASH
            enter = True
        elif grab_p or (attack_p and shield_h):  # Z, or A with the shield held
            new = DASH_GRAB if (st in (DASH, RUN)) else GRAB
            enter = True
        elif jump_p:
            new = KNEE_BEND
            timer = int(PH[p, P_JUMP_SQUAT])
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
                elif sy >= DEADZONE and sy > abs_sx:
                    new = UTILT
                elif sy <= -DEADZONE and -sy > abs_sx:
                    new = DTILT
                elif tilted:
                    new = FTILT
                    facing = stick_dir
                else:
                    new = JAB
                enter = True
            else:  # movement (a crouch while the stick is held down)
                down_h = sy <= DOWN_THRESHOLD and -sy > abs_sx
                if down_h:
                    if (flags & CROUCH) == 0:
                        new = SQUAT
                        enter = True
                elif (flags & CROUCH) != 0:  # let go: up from the crouch
                    new = SQUAT_RV
                    enter = True
                elif abs_sx >= DASH_THRESHOLD:
                    if not running or stick_dir != facing:
                        new = DASH
                        facing = stick_dir
                        timer = int(PH[p, P_DASH_FRAMES])
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
                            I[g, p, VAR] = WALK_SLOW
                        elif abs_sx < 0.65:
                            I[g, p, VAR] = WALK_MIDDLE
                        else:
                            I[g, p, VAR] = WALK_FAST
                elif st in (WALK, RUN):  # (a dash plays out: above)
                    new = STAND
                    enter = True
                if surf > 0 and down_p:  # drop through the platform
                    new = FALL
                    surf = -1
                    jumps = 1
                    enter = True
    elif st in (SHIELD_ST, SHIELD_START):
        if jump_p:  # jump out of shield
            new = KNEE_BEND
            timer = int(PH[p, P_JUMP_SQUAT])
            enter = True
        elif grab_p or (attack_p and shield_h):  # a grab out of shield (still held)
            new = GRAB
            enter = True
        elif st == SHIELD_ST and not shield_h:
            new = SHIELD_RELEASE
            enter = True
    elif st == CATCH_WAIT:  # holding: A pummels, a direction throws (the c-stick too)
        if attack_p:
            new = CATCH_ATTACK
            enter = True
        else:
            d = cx if c_p else sx
            dy = cy if c_p else sy
            if abs(dy) >= DEADZONE and abs(dy) > abs(d):
                new = THROW_HI if dy > 0 else THROW_LW
                enter = True
            elif abs(d) >= DEADZONE:
                new = THROW_F if (1 if d >= 0 else -1) == facing else THROW_B
                enter = True
    elif (flags & ACT_A) != 0:
        if special_p and sy >= UP_B_THRESHOLD:
            new = UPB_HOLD_A
            enter = True
        elif special_p and sy <= DOWN_B_THRESHOLD:  # shine: stalls, halves vx
            new = SHINE_START_A
            vx = vx * SHINE_AIR_VX
            vy = 0.0
            ff = 0
            enter = True
        elif special_p and abs_sx >= SIDE_B_THRESHOLD:  # side-B: keeps 2/3 of vx
            new = SIDEB_START_A
            facing = stick_dir
            vx = vx * SIDEB_AIR_VX
            vy = 0.0
            ff = 0
            enter = True
        elif special_p:  # neutral-B: lasers
            new = LASER_START_A
            enter = True
        elif jump_p and jumps > 0:
            new = DJUMP_B if (tilted and stick_dir != facing) else DJUMP_F
            vy = PH[p, P_FULL_HOP] * PH[p, P_DOUBLE_JUMP_MULT]
            vx = sx * PH[p, P_DOUBLE_JUMP_H]
            fresh = True
            jumps -= 1
            ff = 0
            enter = True
        elif attack_p or c_p:
            d = cx if c_p else sx
            dy = cy if c_p else sy
            if abs(dy) >= DEADZONE and abs(dy) > abs(d):
                new = UAIR if dy > 0 else DAIR_INPUT
            elif abs(d) < DEADZONE:
                new = NAIR
            elif (1 if d >= 0 else -1) == facing:
                new = FAIR
            else:
                new = BAIR
            enter = True
        elif shield_h and not shield_was:  # an air dodge where the stick points
            new = AIRDODGE
            mag = math.sqrt(sx * sx + sy * sy)
            if mag >= DEADZONE:
                vx = sx / mag * AIRDODGE_SPEED
                vy = sy / mag * AIRDODGE_SPEED
            else:
                vx = 0.0
                vy = 0.0
            ff = 0
            enter = True
    elif (flags & JUMP_CANCEL) != 0 and jump_p:  # the shine's loop: jump-cancelled
        if (flags & GROUND) != 0:
            new = KNEE_BEND
            timer = int(PH[p, P_JUMP_SQUAT])
            enter = True
        elif jumps > 0:
            new = DJUMP_B if (tilted and stick_dir != facing) else DJUMP_F
            vy = PH[p, P_FULL_HOP] * PH[p, P_DOUBLE_JUMP_MULT]
            vx = sx * PH[p, P_DOUBLE_JUMP_H]
            fresh = True
            jumps -= 1
            ff = 0
            enter = True
    elif (flags & LEDGE_ACT) != 0 or (st == CLIFF_CATCH and af == CATCH_LAST):
        # on a ledge: the getup options (from the catch's last frame), letting go
        toward = -ledge
        prev_tilted = abs(psx) >= DEADZONE
        prev_dir = 1 if psx >= 0 else -1
        toward_p = tilted and stick_dir == toward and not (prev_tilted and prev_dir == toward)
        away_p = tilted and stick_dir == ledge and not (prev_tilted and prev_dir == ledge)
        c_drop = c_p and (cy <= -CSTICK_THRESHOLD or cx * ledge >= CSTICK_THRESHOLD)
        slow = 1 if F[g, p, PCT] >= LEDGE_SLOW_PERCENT else 0
        if jump_p:
            new = LEDGE_OPTIONS[OPT_JUMP, slow]
        elif attack_p or special_p:
            new = LEDGE_OPTIONS[OPT_ATTACK, slow]
        elif shield_h and not shield_was:
            new = LEDGE_OPTIONS[OPT_ROLL, slow]
        elif toward_p:
            new = LEDGE_OPTIONS[OPT_CLIMB, slow]
        elif st == CLIFF_WAIT and (down_p or away_p or c_drop):
            new = FALL
            drp = LEDGE_REGRAB_DELAY
        enter = new != st
    elif st in (LYING, HALO):
        any_input = pressed != 0 or tilted or abs(sy) >= DEADZONE
        if any_input:
            if st == LYING:
                new = GETUP
                enter = True
            elif af >= 1:
                new = FALL
                invuln = RESPAWN_INVULNERABLE
                enter = True
    if enter:  # the port's character's own moves
        new = CST[p, new]
    st = new
    if enter:
        af = 0
        hitdone = 0

    # --- physics --------------------------------------------------------------------------
    flags = FLAGS[st]
    if (flags & FF_OK) != 0 and down_p and vy < 0:
        ff = 1
    if (flags & GROUND) != 0:
        if (flags & SELF_MOVE) != 0:
            if st == WALK:
                vx = sx * PH[p, P_WALK_SPEED]
            elif st == DASH and af == 0:  # a dash starts at its initial speed
                vx = facing * PH[p, P_DASH_INITIAL]
            else:  # toward the cap (run speed x |stick x|); above it, by the traction
                speed = vx * facing
                cap = PH[p, P_RUN_SPEED] * abs_sx
                if speed < cap:
                    up = speed + (PH[p, P_DASH_ACCEL_BASE] + PH[p, P_DASH_ACCEL_STICK] * abs_sx)
                    speed = up if up < cap else cap
                else:
                    down = speed - PH[p, P_TRACTION]
                    speed = down if down > cap else cap
                vx = facing * speed
        else:  # friction: toward 0, stopping at +0.0
            f = OWN_FRICTION[st]
            if f == 0.0:
                f = PH[p, P_TRACTION]
            if (flags & DOUBLE_TRACTION) != 0:
                f = f * 2.0
            vx = _friction(vx, f)
        vy = 0.0
        kby = 0.0
    elif (flags & (FROZEN_POS | LEDGE)) != 0:
        vx = 0.0
        vy = 0.0
        kbx = 0.0
        kby = 0.0
    elif (flags & GLIDE) != 0 and af < AIRDODGE_GLIDE:  # the air dodge's glide
        vx = vx * AIRDODGE_DECAY
        vy = vy * AIRDODGE_DECAY
    else:
        if (flags & DRIFT) != 0 and tilted and not fresh:
            gap = sx * PH[p, P_AIR_SPEED] - vx
            if gap * sx > 0:
                rate = PH[p, P_AIR_ACCEL_BASE] + PH[p, P_AIR_ACCEL_STICK] * abs_sx
            else:
                rate = PH[p, P_AIR_FRICTION]
            vx = vx + _clip(gap, -rate, rate)
        elif (flags & HOVER) != 0:  # the up-B charge keeps most speed on its first frame
            if af == 0:
                vx = vx * UP_B_HOLD_KEEP
            vx = _friction(vx, PH[p, P_AIR_FRICTION])
        elif (flags & NO_GRAVITY) != 0 or fresh:
            pass
        else:
            f = OWN_FRICTION[st]
            if f == 0.0:
                f = PH[p, P_AIR_FRICTION]
            vx = _friction(vx, f)
        terminal = PH[p, P_TERMINAL]
        if (flags & HOVER) != 0:  # the up-B charge: still, then its own slow fall
            vy = 0.0 if af < UP_B_HOLD_STILL else vy - PH[p, P_UPB_HOLD_GRAVITY]
        elif (flags & NO_GRAVITY) != 0 or took_off:
            pass
        elif (flags & OWN_FALL) != 0:  # still for the state's first frames, then its gravity
            if af < STILL_FRAMES[st]:
                vy = 0.0
            else:
                vy = vy - OWN_GRAVITY[st]
                if not vy > -terminal:
                    vy = -terminal
        elif (flags & STALL) != 0:  # the air shine: still, then its own slow fall
            if (flags & STILL) != 0 or ((flags & HOLD_B) != 0 and af == 0):
                vy = 0.0
            else:
                vy = vy - SHINE_GRAVITY
                if not vy > -terminal:
                    vy = -terminal
        elif ff == 1:
            vy = -PH[p, P_FAST_FALL]
        else:
            vy = vy - PH[p, P_GRAVITY]
            if not vy > -terminal:
                vy = -terminal
    if (flags & TRAVEL) != 0:  # side-B's dash: still on its first frame, then its speed
        vx = facing * PH[p, P_SIDEB_SPEED] if af else 0.0
        vy = 0.0
    if st == UPB_TRAVEL and af >= PH[p, P_UPB_FULL]:  # up-B's travel slows after its start
        vx, vy = _shrink(vx, vy, PH[p, P_UPB_DECEL])
    # a dash's first frame records its initial speed but does not move
    if st == DASH and af == 0:
        x += kbx
    else:
        x += vx + kbx
    y += vy + kby
    if (flags & LEDGE) != 0:  # hanging or getting up: the position follows the ledge
        hd = PH[p, P_HANG_DX]
        hy = PH[p, P_HANG_Y]
        end_d = LEND[p, st, 0]
        end_y = LEND[p, st, 1]
        dur = DURATION[st]
        frac = (af + 1) / (dur if dur > 1 else 1)
        d = hd + (end_d - hd) * frac
        x = ledge * (edge + d)
        y = hy + (end_y - hy) * frac
    if kbx != 0.0 or kby != 0.0:  # knockback decays by KB_DECAY per frame along it
        kbx, kby = _shrink(kbx, kby, KB_DECAY)

    # --- collisions -----------------------------------------------------------------------
    if (flags & (GROUND | FROZEN_POS | LEDGE)) == 0:
        if vy + kby < 0:  # landing: the highest surface crossed this frame
            for j in range(ORDER.shape[0]):
                k = ORDER[j]
                h = SURFS[SF_H, k]
                if (
                    y0 >= h
                    and y <= h
                    and x >= SURFS[SF_L, k]
                    and x <= SURFS[SF_R, k]
                    and (SURFS[SF_THROUGH, k] == 0.0 or sy > DOWN_THRESHOLD)
                ):
                    y = h
                    surf = k
                    if (flags & TECHABLE) != 0:
                        st = TECH_ST if tech > 0 else TECH_MISS
                    else:
                        st = LANDING[st]
                    if (flags & LAND_KEEP) == 0:  # the air shine lands at the same frame
                        af = 0
                    vy = 0.0
                    kby = 0.0
                    ff = 0
                    jumps = 2
                    # a timed landing lasts the character's lag; an L-cancel divides an
                    # aerial's
                    timer = LAG[p, st]
                    if (FLAGS[st] & LCANCEL) != 0 and tech > TECH_WINDOW - LCANCEL_WINDOW:
                        timer //= int(PH[p, P_LCANCEL_DIVISOR])
                    hitdone = 0
                    break
    elif (flags & GROUND) != 0 and surf >= 0:  # walking off the surface one stands on
        lft = SURFS[SF_L, surf]
        rgt = SURFS[SF_R, surf]
        if x < lft or x > rgt:
            if (flags & ACT_G) != 0:
                st = FALL
                af = 0
                jumps = 1
                surf = -1
            elif OFF_EDGE[st] >= 0:  # side-B goes on in the air, at the same frame
                st = OFF_EDGE[st]
                jumps = 1
                surf = -1
            else:  # busy players stop at the edge
                x = _clip(x, lft, rgt)
                vx = 0.0
                kbx = 0.0
    ground_now = (FLAGS[st] & GROUND) != 0
    if (
        not ground_now
        and (FLAGS[st] & LEDGE) == 0
        and abs(x) < edge
        and y < 0
        and y > -geo[G_DEPTH]
    ):
        # the main stage is a solid block: pushed out to the side it came from, or below
        if abs(x0) >= edge:
            x = (1.0 if x > 0 else -1.0 if x < 0 else 0.0) * edge
            vx = 0.0
            kbx = 0.0
        else:
            y = -geo[G_DEPTH]
            vy = 0.0
            kby = 0.0
    if not ground_now:
        surf = -1
    else:
        regrab = 0  # the ground: the next grab is intangible again

    # --- shield health --------------------------------------------------------------------
    if st in (SHIELD_ST, SHIELD_START):
        shield = F[g, p, SHIELD] - SHIELD_DECAY
        if shield <= 0:  # shield break
            st = SB_FLY
            af = 0
            surf = -1
            vy = SHIELD_BREAK_VY
            shield = SHIELD_AFTER_BREAK
        F[g, p, SHIELD] = shield
    else:
        shield = F[g, p, SHIELD] + SHIELD_REGEN
        F[g, p, SHIELD] = shield if shield < SHIELD_MAX else SHIELD_MAX

    # a run's animation: 0, 1, then by the ground speed the frame began with (looping)
    if st == RUN:
        if af <= 1:
            F[g, p, RUN_ANIM] = float(af)
        else:
            anim = F[g, p, RUN_ANIM] + abs(F[g, p, VX]) / RUN_ANIM_RATE
            F[g, p, RUN_ANIM] = anim - RUN_ANIM_LOOP if anim >= RUN_ANIM_LOOP else anim
    else:
        F[g, p, RUN_ANIM] = 0.0
    F[g, p, X] = x
    F[g, p, Y] = y
    F[g, p, VX] = vx
    F[g, p, VY] = vy
    F[g, p, KBX] = kbx
    F[g, p, KBY] = kby
    I[g, p, ST] = st
    I[g, p, AF] = af
    I[g, p, FACING] = facing
    I[g, p, JUMPS] = jumps
    I[g, p, SURF] = surf
    I[g, p, TIMER] = timer
    I[g, p, INVULN] = invuln
    I[g, p, HITDONE] = hitdone
    I[g, p, FF] = ff
    I[g, p, TECH] = tech
    I[g, p, LEDGE_SIDE] = ledge
    I[g, p, REGRAB] = regrab
    I[g, p, DRP] = drp
    return False


@_inline
def _ledge_grab(
    F: Array, I: Array, C: Array, p: int, g: int, frozen: bool, x0: float, y0: float,  # noqa: E741
    PH: Array, edge: float,
) -> None:  # fmt: skip
    """``p`` catches a ledge (CLIFF_CATCH) if falling, its frame began in the grab box, it
    faces the ledge, does not hold down and the other player does not hold that ledge (port 0
    is checked first); a first grab since the ground (or a hit) is intangible."""
    st = I[g, p, ST]
    if frozen or (FLAGS[st] & LEDGE_OK) == 0:
        return
    if not (F[g, p, VY] + F[g, p, KBY] < 0 or st == UPB_TRAVEL):
        return
    if C[g, p, 1] <= DOWN_THRESHOLD or I[g, p, DRP] != 0:
        return
    side = 1 if x0 > 0 else -1
    d = side * x0 - edge
    if I[g, p, FACING] != -side or not (d >= 0.0 and d <= LEDGE_BOX_OUT):
        return
    if not (y0 >= LEDGE_BOX_BOTTOM and y0 <= LEDGE_BOX_TOP):
        return
    o = 1 - p
    if IS_HOLD[I[g, o, ST]] and I[g, o, LEDGE_SIDE] == side:
        return  # ledge-hog: the ledge is taken
    I[g, p, ST] = CLIFF_CATCH
    I[g, p, AF] = 0
    I[g, p, FF] = 0
    I[g, p, HITDONE] = 0
    I[g, p, SURF] = -1
    I[g, p, JUMPS] = 1
    I[g, p, LEDGE_SIDE] = side
    if I[g, p, REGRAB] == 0 and not I[g, p, INVULN] > LEDGE_INTANGIBLE:
        I[g, p, INVULN] = LEDGE_INTANGIBLE
    I[g, p, REGRAB] = 1
    F[g, p, VX] = 0.0
    F[g, p, VY] = 0.0
    F[g, p, KBX] = 0.0
    F[g, p, KBY] = 0.0
    F[g, p, X] = side * (edge + PH[p, P_HANG_DX])
    F[g, p, Y] = PH[p, P_HANG_Y]


# --- the two players together ---------------------------------------------------------------
@_inline
def _hold(F: Array, I: Array, a: int, d: int, g: int, PH: Array) -> None:  # noqa: E741
    """``d`` is held in front of ``a``, facing it, on its surface."""
    F[g, d, X] = F[g, a, X] + I[g, a, FACING] * PH[a, P_HOLD_DX]
    F[g, d, Y] = F[g, a, Y]
    F[g, d, VX] = 0.0
    F[g, d, VY] = 0.0
    F[g, d, KBX] = 0.0
    F[g, d, KBY] = 0.0
    I[g, d, FACING] = -I[g, a, FACING]
    I[g, d, SURF] = I[g, a, SURF]


@_inline
def _take_hit(
    F: Array, I: Array, p: int, g: int, mv: int, att_facing: int, away: int, flags: int,  # noqa: E741
    weight: float,
) -> None:  # fmt: skip
    """``p`` (whose state had ``flags`` when the hits were resolved) is hit by move ``mv``;
    ``away`` points from the attacker to ``p``."""
    dmg = MOVES[mv, MV_DAMAGE]
    if (flags & SHIELDING) != 0:
        shield = F[g, p, SHIELD] - dmg
        if shield <= 0:  # shield break
            I[g, p, ST] = SB_FLY
            I[g, p, AF] = 0
            I[g, p, SURF] = -1
            F[g, p, VY] = SHIELD_BREAK_VY
            F[g, p, SHIELD] = SHIELD_AFTER_BREAK
        else:
            F[g, p, SHIELD] = shield
            I[g, p, ST] = SHIELD_STUN
            I[g, p, AF] = 0
            I[g, p, TIMER] = int(MOVES[mv, MV_SHIELDSTUN])
            F[g, p, VX] = away * SHIELD_PUSH * dmg
        return
    pct = F[g, p, PCT] + dmg
    F[g, p, PCT] = pct
    growth = MOVES[mv, MV_GROWTH]
    base = MOVES[mv, MV_BASE]
    kb = ((pct / 10 + pct * dmg / 20) * 200 / (weight + 100) * 1.4 + 18) * growth / 100 + base
    if (flags & CROUCH) != 0:  # crouch cancel
        kb = kb * CROUCH_CANCEL
    speed = kb * KB_SPEED
    airborne = (flags & GROUND) == 0  # (some moves launch airborne defenders their own way)
    if airborne:
        kbx = speed * MOVES[mv, MV_AIR_COS] * att_facing
        kby = speed * MOVES[mv, MV_AIR_SIN]
    else:
        kbx = speed * MOVES[mv, MV_COS] * att_facing
        kby = speed * MOVES[mv, MV_SIN]
    tumble = kb >= TUMBLE_KB
    lifted = airborne or (tumble and kby > 0)
    I[g, p, ST] = DAMAGE_FLY if tumble else DAMAGE_A if lifted else DAMAGE_G
    F[g, p, KBX] = kbx
    F[g, p, KBY] = kby if lifted else 0.0
    F[g, p, VX] = 0.0
    F[g, p, VY] = 0.0
    I[g, p, AF] = 0
    I[g, p, TIMER] = math.floor(kb * HITSTUN_PER_KB)
    I[g, p, FACING] = -away
    I[g, p, FF] = 0
    I[g, p, HITDONE] = 0
    I[g, p, REGRAB] = 0  # a hit: the next grab is intangible again
    if lifted:
        I[g, p, SURF] = -1


@_inline
def _grab(F: Array, I: Array, a: int, g: int, frozen: bool, PH: Array) -> None:  # noqa: E741
    """``a``'s grab of the other player (port 0's first): a released player goes free, a grab
    box catches, a holder whose player went free lets go, the pummel hits, a throw takes the
    player and releases it on its frame; the held player is placed in front."""
    d = 1 - a
    st = I[g, a, ST]
    flags = FLAGS[st]
    dflags = FLAGS[I[g, d, ST]]
    if (flags & CAPTURED) != 0:  # held by a player that no longer holds: free
        if not ((dflags & HOLDING) != 0 or THROW[I[g, d, ST]] >= 0):
            I[g, a, ST] = CAPTURE_CUT
            I[g, a, AF] = 0
        return
    if GRAB_BOX[st, 0] >= 0:
        first = GRAB_BOX[st, 0]
        last = GRAB_BOX[st, 1]
        reach = GRAB_BOX[st, 4] + HURT_RADIUS
        af = I[g, a, AF]
        if (
            not frozen
            and first <= af
            and af <= last
            and (dflags & (CAPTURED | HOLDING | LEDGE | FROZEN_POS)) == 0
            and not _intangible(I, d, g)
        ):
            hx = F[g, a, X] + I[g, a, FACING] * GRAB_BOX[st, 2]
            hy = F[g, a, Y] + GRAB_BOX[st, 3]
            ddx = hx - F[g, d, X]
            dyd = F[g, d, Y]
            ddy = hy - _clip(hy, dyd + HURT_LOW, dyd + HURT_HIGH)
            if ddx * ddx + ddy * ddy <= reach * reach:  # caught
                I[g, a, ST] = DASH_CATCH_PULL if st == DASH_GRAB else CATCH_PULL
                I[g, a, AF] = 0
                F[g, a, VX] = 0.0
                I[g, a, HITDONE] = 0
                I[g, d, ST] = CAPTURE_PULLED
                I[g, d, AF] = 0
                I[g, d, TIMER] = math.floor(
                    GRAB_ESCAPE_BASE + GRAB_ESCAPE_PER_PERCENT * F[g, d, PCT]
                )
                I[g, d, FF] = 0
                I[g, d, HITDONE] = 0
                _hold(F, I, a, d, g, PH)
        return
    if (flags & HOLDING) != 0:
        if (dflags & CAPTURED) == 0:  # the grabbed player broke free
            I[g, a, ST] = CATCH_CUT
            I[g, a, AF] = 0
            return
        if st == CATCH_ATTACK and I[g, a, AF] == 0 and I[g, a, HITDONE] == 0 and not frozen:
            F[g, d, PCT] = F[g, d, PCT] + MOVES[PUMMEL, MV_DAMAGE]
            I[g, d, ST] = CAPTURE_DAMAGE
            I[g, d, AF] = 0
            I[g, a, HITDONE] = 1
            hl = int(MOVES[PUMMEL, MV_HITLAG])
            if hl > I[g, a, HITLAG]:
                I[g, a, HITLAG] = hl
            if hl > I[g, d, HITLAG]:
                I[g, d, HITLAG] = hl
        _hold(F, I, a, d, g, PH)
        return
    mv = THROW[st]
    if mv < 0 or (dflags & CAPTURED) == 0:
        return
    if not IS_THROWN[I[g, d, ST]]:  # the throw takes the grabbed player
        I[g, d, ST] = THROWN[st]
        I[g, d, AF] = 0
    if I[g, a, AF] != MOVES[mv, MV_FIRST]:
        _hold(F, I, a, d, g, PH)
        return
    # the release: placed where the throw lets go, launched (into the air, as Melee's)
    fa = I[g, a, FACING]
    mdx = MOVES[mv, MV_DX]
    F[g, d, X] = F[g, a, X] + fa * mdx
    F[g, d, Y] = F[g, a, Y]
    away = fa if mdx >= 0 else -fa
    _take_hit(F, I, d, g, mv, fa, away, 0, PH[d, P_WEIGHT])


@_inline
def _connects(F: Array, I: Array, att: int, g: int, frozen: bool, MOVE_OF: Array) -> int:  # noqa: E741
    """The move ``att``'s hitbox hits the other player with this frame, else -1."""
    st = I[g, att, ST]
    mv = MOVE_OF[att, st]
    if mv < 0 or frozen:
        return -1
    af = I[g, att, AF]
    if af < MOVES[mv, MV_FIRST] or af > MOVES[mv, MV_LAST]:  # the late hit, on its frames
        mv = LATE[st]
        if mv < 0:
            return -1
        if af < MOVES[mv, MV_FIRST] or af > MOVES[mv, MV_LAST]:
            return -1
    every = int(MOVES[mv, MV_EVERY])
    if every:  # a multi-hit move: out every `every` frames, each time a new hit
        if (af - int(MOVES[mv, MV_FIRST])) % every:
            return -1
        I[g, att, HITDONE] = 0
    if I[g, att, HITDONE] != 0:
        return -1
    dfn = 1 - att
    hx = F[g, att, X] + I[g, att, FACING] * MOVES[mv, MV_DX]
    hy = F[g, att, Y] + MOVES[mv, MV_DY]
    ddx = hx - F[g, dfn, X]
    dy = F[g, dfn, Y]
    ddy = hy - _clip(hy, dy + HURT_LOW, dy + HURT_HIGH)
    reach = MOVES[mv, MV_RADIUS] + HURT_RADIUS
    if ddx * ddx + ddy * ddy <= reach * reach and not _intangible(I, dfn, g):
        return int(mv)
    return -1


@_inline
def _hits(
    F: Array, I: Array, g: int, frozen0: bool, frozen1: bool, PH: Array, MOVE_OF: Array,  # noqa: E741
) -> None:  # fmt: skip
    """Hitboxes against hurtboxes, both ways from the same state (trades hit both)."""
    hit0 = _connects(F, I, 0, g, frozen0, MOVE_OF)  # player 0 hits player 1 with that move
    hit1 = _connects(F, I, 1, g, frozen1, MOVE_OF)
    if hit0 < 0 and hit1 < 0:
        return
    facing0 = I[g, 0, FACING]
    facing1 = I[g, 1, FACING]
    flags0 = FLAGS[I[g, 0, ST]]
    flags1 = FLAGS[I[g, 1, ST]]
    if hit0 >= 0:
        I[g, 0, HITDONE] = 1
        hl = int(MOVES[hit0, MV_HITLAG])
        if hl > I[g, 0, HITLAG]:
            I[g, 0, HITLAG] = hl
    if hit1 >= 0:
        I[g, 1, HITDONE] = 1
        hl = int(MOVES[hit1, MV_HITLAG])
        if hl > I[g, 1, HITLAG]:
            I[g, 1, HITLAG] = hl
    if hit0 >= 0:
        hl = int(MOVES[hit0, MV_HITLAG])
        if hl > I[g, 1, HITLAG]:
            I[g, 1, HITLAG] = hl
    if hit1 >= 0:
        hl = int(MOVES[hit1, MV_HITLAG])
        if hl > I[g, 0, HITLAG]:
            I[g, 0, HITLAG] = hl
    away0 = 1 if F[g, 0, X] >= F[g, 1, X] else -1  # from player 1 toward player 0
    away1 = 1 if F[g, 1, X] >= F[g, 0, X] else -1
    if hit1 >= 0:
        _take_hit(F, I, 0, g, hit1, facing1, away0, flags0, PH[0, P_WEIGHT])
    if hit0 >= 0:
        _take_hit(F, I, 1, g, hit0, facing0, away1, flags1, PH[1, P_WEIGHT])


# --- items (lasers, blasters) -------------------------------------------------------------------
@_inline
def _spawn(
    IT: Array, ITF: Array, g: int, p: int, kind: int, x: float, y: float, vx: float,
    timer: float, PH: Array, LMOVE: Array,
) -> None:  # fmt: skip
    """An item of ``kind`` owned by ``p`` in the lowest free slot (none free: none)."""
    for k in range(SLOTS):
        if IT[g, k, IT_KIND] == EMPTY:
            IT[g, k, IT_KIND] = kind
            if kind == LASER_ITEM:
                IT[g, k, IT_TYPE] = int(PH[p, P_LASER_ITEM])
                IT[g, k, IT_MOVE] = LMOVE[p]
            else:
                IT[g, k, IT_TYPE] = int(PH[p, P_GUN_ITEM])
                IT[g, k, IT_MOVE] = 0
            IT[g, k, IT_OWNER] = p
            ITF[g, k, IT_X] = x
            ITF[g, k, IT_Y] = y
            ITF[g, k, IT_VX] = vx
            ITF[g, k, IT_TIMER] = timer
            return


@_inline
def _clear(IT: Array, ITF: Array, k: int, g: int) -> None:
    for j in range(4):
        IT[g, k, j] = 0
        ITF[g, k, j] = 0.0


@_inline
def _items(
    F: Array, I: Array, IT: Array, ITF: Array, g: int, frozen0: bool, frozen1: bool,  # noqa: E741
    PH: Array, LMOVE: Array, geo: Array,
) -> None:  # fmt: skip
    """The items' frame (exphil.envs._items's order): lasers fly and run out, meet players
    (a shine reflects them all, else the lowest slot's hits), blasters follow their owners,
    shots are fired."""
    gun0 = (FLAGS[I[g, 0, ST]] & GUN) != 0
    gun1 = (FLAGS[I[g, 1, ST]] & GUN) != 0
    any_item = False
    for k in range(SLOTS):
        if IT[g, k, IT_KIND] != EMPTY:
            any_item = True
            break
    if not (gun0 or gun1 or any_item):
        return
    left = geo[G_LEFT]
    right = geo[G_RIGHT]
    for k in range(SLOTS):  # lasers fly, run out, leave
        if IT[g, k, IT_KIND] == LASER_ITEM:
            ITF[g, k, IT_X] = ITF[g, k, IT_X] + ITF[g, k, IT_VX]
            ITF[g, k, IT_TIMER] = ITF[g, k, IT_TIMER] - 1.0
            xk = ITF[g, k, IT_X]
            if ITF[g, k, IT_TIMER] <= 0 or xk < left or xk > right:
                _clear(IT, ITF, k, g)
    for q in range(2):  # a shine reflects them all; else the lowest slot's laser hits
        vst = I[g, q, ST]
        reflects = (FLAGS[vst] & REFLECT) != 0
        hittable = not (_intangible(I, q, g) or (FLAGS[vst] & CAPTURED) != 0)
        vxp = F[g, q, X]
        vyp = F[g, q, Y]
        for k in range(SLOTS):
            if IT[g, k, IT_KIND] != LASER_ITEM or IT[g, k, IT_OWNER] == q:
                continue
            iy = ITF[g, k, IT_Y]
            ddx = ITF[g, k, IT_X] - vxp
            ddy = iy - _clip(iy, vyp + HURT_LOW, vyp + HURT_HIGH)
            if ddx * ddx + ddy * ddy > LASER_REACH2:
                continue
            if reflects:  # turned back, the reflector's now
                IT[g, k, IT_OWNER] = q
                ITF[g, k, IT_VX] = -ITF[g, k, IT_VX]
            elif hittable:
                mv = IT[g, k, IT_MOVE]
                direction = 1 if ITF[g, k, IT_VX] >= 0 else -1
                _clear(IT, ITF, k, g)
                _lasered(F, I, q, g, mv, direction, PH)
                break
    for k in range(SLOTS):  # a blaster follows its owner while it shoots
        if IT[g, k, IT_KIND] == GUN_ITEM:
            owner = IT[g, k, IT_OWNER]
            if (FLAGS[I[g, owner, ST]] & GUN) != 0:
                ITF[g, k, IT_X] = F[g, owner, X]
                ITF[g, k, IT_Y] = F[g, owner, Y]
            else:
                _clear(IT, ITF, k, g)
    for p in range(2):
        if (FLAGS[I[g, p, ST]] & GUN) != 0:
            has = False
            for k in range(SLOTS):
                if IT[g, k, IT_KIND] == GUN_ITEM and IT[g, k, IT_OWNER] == p:
                    has = True
            if not has:
                _spawn(IT, ITF, g, p, GUN_ITEM, F[g, p, X], F[g, p, Y], 0.0, GUN_TIMER, PH, LMOVE)
    for p in range(2):
        frozen = frozen0 if p == 0 else frozen1
        st = I[g, p, ST]
        if SHOT[st] == I[g, p, AF] and not frozen:
            if (FLAGS[st] & GROUND) != 0:
                dx = PH[p, P_LASER_DX_GROUND]
                dy = PH[p, P_LASER_DY_GROUND]
            else:
                dx = PH[p, P_LASER_DX_AIR]
                dy = PH[p, P_LASER_DY_AIR]
            fa = I[g, p, FACING]
            _spawn(
                IT, ITF, g, p, LASER_ITEM, F[g, p, X] + fa * dx, F[g, p, Y] + dy,
                fa * PH[p, P_LASER_SPEED], float(int(PH[p, P_LASER_LIFE])), PH, LMOVE,
            )  # fmt: skip


@_inline
def _lasered(F: Array, I: Array, p: int, g: int, mv: int, direction: int, PH: Array) -> None:  # noqa: E741
    """``p`` is hit by a laser (``mv``) flying in ``direction``: a move with no knockback
    (Fox's) only deals its damage, unless it meets a shield."""
    flags = FLAGS[I[g, p, ST]]
    if MOVES[mv, MV_BASE] == 0 and MOVES[mv, MV_GROWTH] == 0 and (flags & SHIELDING) == 0:
        F[g, p, PCT] = F[g, p, PCT] + MOVES[mv, MV_DAMAGE]
        return
    hl = int(MOVES[mv, MV_HITLAG])
    if hl > I[g, p, HITLAG]:
        I[g, p, HITLAG] = hl
    _take_hit(F, I, p, g, mv, direction, direction, flags, PH[p, P_WEIGHT])


@_inline
def _blast_zone(F: Array, I: Array, p: int, g: int, geo: Array) -> None:  # noqa: E741
    if (FLAGS[I[g, p, ST]] & FROZEN_POS) != 0:
        return
    x = F[g, p, X]
    y = F[g, p, Y]
    if x < geo[G_LEFT]:
        side = DEAD_LEFT
    elif x > geo[G_RIGHT]:
        side = DEAD_RIGHT
    elif y > geo[G_TOP]:
        side = DEAD_UP
    elif y < geo[G_BOTTOM]:
        side = DEAD_DOWN
    else:
        return
    I[g, p, ST] = DEAD
    I[g, p, VAR] = side
    I[g, p, AF] = 0
    I[g, p, STOCKS] -= 1
    I[g, p, TIMER] = 0
    I[g, p, HITLAG] = 0
    I[g, p, FF] = 0
    I[g, p, INVULN] = 0
    I[g, p, SURF] = -1
    F[g, p, VX] = 0.0
    F[g, p, VY] = 0.0
    F[g, p, KBX] = 0.0
    F[g, p, KBY] = 0.0
    F[g, p, RUN_ANIM] = 0.0


# --- the step -----------------------------------------------------------------------------------
@_entry
def step_games(
    F: Array, I: Array, C: Array, BT: Array, IT: Array, ITF: Array, frame: Array,  # noqa: E741
    NC: Array, NB: Array, PH: Array, CST: Array, MOVE_OF: Array, LAG: Array, LEND: Array,
    LMOVE: Array, SURFS: Array, ORDER: Array, geo: Array, time_limit: int,
    reward: Array, done: Array, winner: Array, reason: Array,
) -> int:  # fmt: skip
    """One frame of every game: the players, ledges, grabs, hits, items, blast zones, then
    the game-over check (``done``, ``winner`` -1 for a draw, ``reason`` 1 stocks / 2 time)
    and the rewards (``reward[g, port]`` float32). The state arrays are updated in place
    (``C``/``BT`` become the new controls); a game that ended is not reset here. Returns how
    many games ended."""
    n = F.shape[0]
    ended = 0
    w_stock = geo[G_STOCK]
    w_damage = geo[G_DAMAGE]
    w_win = geo[G_WIN]
    w_approach = geo[G_APPROACH]
    w_offstage = geo[G_OFFSTAGE]
    edge = geo[G_EDGE]
    for g in range(n):
        prev_pct0 = F[g, 0, PCT]
        prev_pct1 = F[g, 1, PCT]
        prev_stocks0 = I[g, 0, STOCKS]
        prev_stocks1 = I[g, 1, STOCKS]
        prev_x0 = F[g, 0, X]
        prev_x1 = F[g, 1, X]
        prev_live = (FLAGS[I[g, 0, ST]] & FROZEN_POS) == 0 and (
            FLAGS[I[g, 1, ST]] & FROZEN_POS
        ) == 0
        sx0 = F[g, 0, X]  # where the frame began (the ledge grab box)
        sy0 = F[g, 0, Y]
        sx1 = F[g, 1, X]
        sy1 = F[g, 1, Y]
        # each step of the frame for port 0, then port 1 (one call site each: compiled once)
        frozen0 = False
        frozen1 = False
        for p in range(2):
            fz = _advance(F, I, C, BT, NC, NB, p, g, PH, CST, LAG, LEND, SURFS, ORDER, geo)
            if p == 0:
                frozen0 = fz
            else:
                frozen1 = fz
        for p in range(2):
            if p == 0:
                _ledge_grab(F, I, C, p, g, frozen0, sx0, sy0, PH, edge)
            else:
                _ledge_grab(F, I, C, p, g, frozen1, sx1, sy1, PH, edge)
        for p in range(2):
            _grab(F, I, p, g, frozen0 if p == 0 else frozen1, PH)
        _hits(F, I, g, frozen0, frozen1, PH, MOVE_OF)
        _items(F, I, IT, ITF, g, frozen0, frozen1, PH, LMOVE, geo)
        for p in range(2):
            _blast_zone(F, I, p, g, geo)
        frame[g] += 1

        # game over: a stock-out, else the timer
        s0 = I[g, 0, STOCKS]
        s1 = I[g, 1, STOCKS]
        pct0 = F[g, 0, PCT]
        pct1 = F[g, 1, PCT]
        z0 = s0 == 0
        z1 = s1 == 0
        why = 0
        if z0 or z1:
            why = 1
        elif frame[g] >= time_limit:
            why = 2
        win = -1
        if why:
            ended += 1
            if z1 and not z0:
                win = 0
            elif z0 and not z1:
                win = 1
            elif s0 > s1:
                win = 0
            elif s1 > s0:
                win = 1
            elif pct0 < pct1:
                win = 0
            elif pct1 < pct0:
                win = 1
        done[g] = why != 0
        winner[g] = win
        reason[g] = why

        # rewards: the zero-sum core, then the shaping terms (float32 arithmetic)
        lost0 = prev_stocks0 - s0
        lost1 = prev_stocks1 - s1
        taken0 = pct0 - prev_pct0
        taken0 = taken0 if taken0 > 0.0 else 0.0
        taken1 = pct1 - prev_pct1
        taken1 = taken1 if taken1 > 0.0 else 0.0
        won = (1.0 if win == 0 else -1.0 if win == 1 else 0.0) if why else 0.0
        core = w_stock * (lost1 - lost0) + w_damage * (taken1 - taken0) + w_win * won
        r0 = float(np.float32(core))
        r1 = float(np.float32(-core))
        live0 = (FLAGS[I[g, 0, ST]] & FROZEN_POS) == 0  # shaping counts players in play only
        live1 = (FLAGS[I[g, 1, ST]] & FROZEN_POS) == 0
        if w_approach != 0.0:
            before = abs(prev_x0 - prev_x1)
            after = abs(F[g, 0, X] - F[g, 1, X])
            closed = before - after if (prev_live and live0 and live1) else 0.0
            a = float(np.float32(w_approach * closed))
            r0 = float(np.float32(r0 + a))
            r1 = float(np.float32(r1 + a))
        if w_offstage != 0.0:
            off0 = 1.0 if abs(F[g, 0, X]) > edge and live0 else 0.0
            off1 = 1.0 if abs(F[g, 1, X]) > edge and live1 else 0.0
            r0 = float(np.float32(r0 - float(np.float32(w_offstage * off0))))
            r1 = float(np.float32(r1 - float(np.float32(w_offstage * off1))))
        reward[g, 0] = r0
        reward[g, 1] = r1
    return ended


@_entry
def write_frames(
    F: Array, I: Array, C: Array, BT: Array, f: Array, action: Array, stocks: Array,  # noqa: E741
    facing: Array, jumps: Array, grounded: Array, invulnerable: Array, buttons: Array,
) -> None:  # fmt: skip
    """The state as a step's output columns: ``f[17, 2, n]`` float32 (x, y, vx_air, vy_self,
    vx_knockback, vy_knockback, percent, shield, vx_ground, action_frame, hitlag, hitstun,
    main_x, main_y, c_x, c_y, shoulder; a view of a block with :data:`FRAME_PAD` more floats
    per row) and the ``[2, n]`` int and bool columns."""
    n = F.shape[0]
    for p in range(2):
        for g in range(n):
            st = I[g, p, ST]
            fl = FLAGS[st]
            ground = (fl & GROUND) != 0
            af = I[g, p, AF]
            vx = F[g, p, VX]
            f[0, p, g] = F[g, p, X]
            f[1, p, g] = F[g, p, Y]
            f[2, p, g] = 0.0 if ground else vx
            f[3, p, g] = F[g, p, VY]
            f[4, p, g] = F[g, p, KBX]
            f[5, p, g] = F[g, p, KBY]
            f[6, p, g] = F[g, p, PCT]
            f[7, p, g] = F[g, p, SHIELD]
            f[8, p, g] = vx if ground else 0.0
            # the action_frame column as replays count it: frames, or a landing's animation
            # played over its length
            if AF_FIXED[st]:
                a = -1.0
            elif st == RUN:
                a = F[g, p, RUN_ANIM]
            elif ANIM[st] > 0:
                length = af + I[g, p, TIMER] if (fl & TIMED) != 0 else DURATION[st]
                a = af * ANIM[st] / (length if length > 1 else 1)
            else:
                a = float(af + AF_SHOWN[st])
            f[9, p, g] = a
            f[10, p, g] = I[g, p, HITLAG]
            f[11, p, g] = I[g, p, TIMER] if (fl & HITSTUN) != 0 else 0
            for k in range(5):
                f[12 + k, p, g] = C[g, p, k]
            action[p, g] = ACTION[st] + I[g, p, VAR] * VARIANT[st]
            stocks[p, g] = I[g, p, STOCKS]
            facing[p, g] = I[g, p, FACING]
            jumps[p, g] = I[g, p, JUMPS]
            grounded[p, g] = ground
            invulnerable[p, g] = _intangible(I, p, g)
            buttons[p, g] = BT[g, p]


@_entry
def read_controls(
    mx0: Array, my0: Array, cx0: Array, cy0: Array, sh0: Array, b0: Array,
    mx1: Array, my1: Array, cx1: Array, cy1: Array, sh1: Array, b1: Array,
    NC: Array, NB: Array,
) -> None:  # fmt: skip
    """Both ports' controller columns (validated: finite, buttons 0..255) into the kernel's
    ``NC[n, 2, 5]`` float64 (sticks clipped to [-1, 1], the shoulder to [0, 1], as
    ``np.clip``) and ``NB[n, 2]``."""
    n = NC.shape[0]
    for g in range(n):
        NC[g, 0, 0] = _clip(float(mx0[g]), -1.0, 1.0)
        NC[g, 0, 1] = _clip(float(my0[g]), -1.0, 1.0)
        NC[g, 0, 2] = _clip(float(cx0[g]), -1.0, 1.0)
        NC[g, 0, 3] = _clip(float(cy0[g]), -1.0, 1.0)
        NC[g, 0, 4] = _clip(float(sh0[g]), 0.0, 1.0)
        NB[g, 0] = b0[g]
        NC[g, 1, 0] = _clip(float(mx1[g]), -1.0, 1.0)
        NC[g, 1, 1] = _clip(float(my1[g]), -1.0, 1.0)
        NC[g, 1, 2] = _clip(float(cx1[g]), -1.0, 1.0)
        NC[g, 1, 3] = _clip(float(cy1[g]), -1.0, 1.0)
        NC[g, 1, 4] = _clip(float(sh1[g]), 0.0, 1.0)
        NB[g, 1] = b1[g]
