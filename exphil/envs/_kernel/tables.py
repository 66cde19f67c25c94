"""The kernel's data: the state's layout in MockEnv's arrays, the physics row's fields, the
rule tables (``exphil.envs._rules``) as arrays, and every constant the rules read. No code
here: numba freezes these module globals into the compiled functions."""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from exphil.envs import _rules as R
from exphil.envs._characters import FIELDS as PHYSICS_FIELDS
from exphil.game.frames import BUTTON_BITS, ITEM_SLOTS

Array = np.ndarray[Any, Any]

# --- the state's layout (MockEnv's arrays) ----------------------------------------------------
# float state, [n, 2, NF] float64
X, Y, VX, VY, KBX, KBY, PCT, SHIELD, RUN_ANIM = range(9)
NF: Final = 9
# int state, [n, 2, NZ] int64
(ST, VAR, AF, FACING, JUMPS, STOCKS, SURF, TIMER, INVULN, HITLAG, HITDONE, FF, TECH, LEDGE_SIDE,
 REGRAB, DRP) = range(16)  # fmt: skip
NZ: Final = 16
# item slots: ints [n, 4, ITEM_SLOTS] (kind, type, owner, move), floats [...] (x, y, vx, timer)
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

__all__ = [
    "Array", "X", "Y", "VX", "VY", "KBX", "KBY", "PCT", "SHIELD", "RUN_ANIM", "NF", "ST", "VAR",
    "AF", "FACING", "JUMPS", "STOCKS", "SURF", "TIMER", "INVULN", "HITLAG", "HITDONE", "FF",
    "TECH", "LEDGE_SIDE", "REGRAB", "DRP", "NZ", "IT_KIND", "IT_TYPE", "IT_OWNER", "IT_MOVE",
    "IT_X", "IT_Y", "IT_VX", "IT_TIMER", "EMPTY", "LASER_ITEM", "GUN_ITEM", "GEO_FIELDS",
    "G_EDGE", "G_LEFT", "G_RIGHT", "G_TOP", "G_BOTTOM", "G_DEPTH", "G_STOCK", "G_DAMAGE",
    "G_WIN", "G_APPROACH", "G_OFFSTAGE", "SF_H", "SF_L", "SF_R", "SF_THROUGH", "PH_INDEX",
    "P_GRAVITY", "P_TERMINAL", "P_FAST_FALL", "P_AIR_SPEED", "P_AIR_ACCEL_BASE",
    "P_AIR_ACCEL_STICK", "P_AIR_FRICTION", "P_JUMP_SQUAT", "P_FULL_HOP", "P_SHORT_HOP",
    "P_JUMP_H", "P_JUMP_GROUND_MULT", "P_JUMP_H_MAX", "P_DOUBLE_JUMP_MULT", "P_DOUBLE_JUMP_H",
    "P_WALK_SPEED", "P_DASH_INITIAL", "P_DASH_FRAMES", "P_DASH_LENGTH", "P_RUN_SPEED",
    "P_DASH_ACCEL_BASE", "P_DASH_ACCEL_STICK", "P_TRACTION", "P_WEIGHT", "P_LCANCEL_DIVISOR",
    "P_HANG_DX", "P_HANG_Y", "P_LEDGE_JUMP_VX", "P_LEDGE_JUMP_VY", "P_HOLD_DX", "P_SIDEB_SPEED",
    "P_SIDEB_END_VX", "P_UPB_HOLD_GRAVITY", "P_UPB_SPEED", "P_UPB_FULL", "P_UPB_DECEL",
    "P_UPB_FRAMES", "P_LASER_ITEM", "P_GUN_ITEM", "P_LASER_SPEED", "P_LASER_LIFE",
    "P_LASER_DX_GROUND", "P_LASER_DY_GROUND", "P_LASER_DX_AIR", "P_LASER_DY_AIR", "FLAGS",
    "ACTION", "DURATION", "NEXT", "LANDING", "VARIANT", "AF_SHOWN", "AF_FIXED", "INTANG",
    "INTANG_FROM", "THROW", "THROWN", "LATE", "OFF_EDGE", "STILL_FRAMES", "SHOT",
    "OWN_FRICTION", "OWN_GRAVITY", "ANIM", "MOVES", "GRAB_BOX", "IS_HOLD", "IS_GETUP_DONE",
    "IS_LEDGE_JUMP_1", "IS_THROWN", "LEDGE_OPTIONS", "OPT_JUMP", "OPT_ATTACK", "OPT_ROLL",
    "OPT_CLIMB", "DAIR_INPUT", "PUMMEL", "MV_FIRST", "MV_LAST", "MV_DX", "MV_DY", "MV_RADIUS",
    "MV_DAMAGE", "MV_COS", "MV_SIN", "MV_BASE", "MV_GROWTH", "MV_HITLAG", "MV_SHIELDSTUN",
    "MV_EVERY", "MV_AIR_COS", "MV_AIR_SIN", "GROUND", "ACT_G", "ACT_A", "DRIFT", "FF_OK",
    "SHIELDING", "INTANGIBLE", "FROZEN_POS", "HITSTUN", "TIMED", "SELF_MOVE", "TECHABLE",
    "NO_GRAVITY", "HOVER", "LCANCEL", "LEDGE", "LEDGE_OK", "LEDGE_ACT", "HOLD_B", "JUMP_CANCEL",
    "STALL", "STILL", "LAND_KEEP", "HOLDING", "CAPTURED", "GLIDE", "DOUBLE_TRACTION", "TRAVEL",
    "OWN_FALL", "CROUCH", "REPEAT_B", "GUN", "REFLECT", "DEADZONE", "DASH_THRESHOLD",
    "TAP_JUMP", "DOWN_THRESHOLD", "UP_B_THRESHOLD", "DOWN_B_THRESHOLD", "SIDE_B_THRESHOLD",
    "CSTICK_THRESHOLD", "SHOULDER_THRESHOLD", "HURT_LOW", "HURT_HIGH", "HURT_RADIUS",
    "KB_DECAY", "KB_SPEED", "HITSTUN_PER_KB", "TUMBLE_KB", "SHIELD_MAX", "SHIELD_DECAY",
    "SHIELD_REGEN", "SHIELD_AFTER_BREAK", "SHIELD_BREAK_VY", "SHIELD_PUSH", "TECH_WINDOW",
    "LCANCEL_WINDOW", "LYING_MAX", "HALO_MAX", "RESPAWN_INVULNERABLE", "RESPAWN_HEIGHT",
    "SPAWN_X", "UP_B_HOLD_STILL", "UP_B_HOLD_KEEP", "SHINE_AIR_VX", "SHINE_GRAVITY",
    "SIDEB_AIR_VX", "SIDEB_END_VX_AIR", "CROUCH_CANCEL", "DI_MAX", "GUN_TIMER", "LASER_REACH2",
    "GRAB_ESCAPE_BASE", "GRAB_ESCAPE_PER_PERCENT", "GRAB_MASH", "LEDGE_BOX_OUT",
    "LEDGE_BOX_TOP", "LEDGE_BOX_BOTTOM", "LEDGE_INTANGIBLE", "LEDGE_HANG_MAX",
    "LEDGE_REGRAB_DELAY", "LEDGE_SLOW_PERCENT", "AIRDODGE_SPEED", "AIRDODGE_DECAY",
    "AIRDODGE_GLIDE", "RUN_ANIM_RATE", "RUN_ANIM_LOOP", "WALK_SLOW", "WALK_MIDDLE", "WALK_FAST",
    "DEAD_DOWN", "DEAD_LEFT", "DEAD_RIGHT", "DEAD_UP", "STAND", "WALK", "DASH", "RUN", "TURN",
    "SQUAT", "SQUAT_RV", "KNEE_BEND", "JUMP_F", "JUMP_B", "DJUMP_F", "DJUMP_B", "FALL",
    "SHINE_START_G", "SHINE_START_A", "JAB", "FTILT", "FSMASH", "DASH_ATTACK", "UTILT", "DTILT",
    "USMASH", "DSMASH", "UAIR", "NAIR", "FAIR", "BAIR", "UPB_HOLD_G", "UPB_HOLD_A",
    "UPB_TRAVEL", "SIDEB_START_G", "SIDEB_START_A", "SIDEB_END_G", "SIDEB_END_A",
    "LASER_START_G", "LASER_START_A", "SHIELD_START", "SHIELD_ST", "SHIELD_RELEASE",
    "SHIELD_STUN", "DAMAGE_G", "DAMAGE_A", "DAMAGE_FLY", "TECH_ST", "TECH_MISS", "LYING",
    "GETUP", "SB_FLY", "DEAD", "HALO", "AIRDODGE", "CLIFF_CATCH", "CLIFF_WAIT", "GRAB",
    "DASH_GRAB", "CATCH_PULL", "DASH_CATCH_PULL", "CATCH_WAIT", "CATCH_ATTACK", "CATCH_CUT",
    "THROW_F", "THROW_B", "THROW_HI", "THROW_LW", "CAPTURE_PULLED", "CAPTURE_DAMAGE",
    "CAPTURE_CUT", "CATCH_LAST", "B_A", "B_B", "B_JUMP", "B_SHIELD", "B_Z", "B_MASH", "SLOTS",
    "FRAME_PAD",
]  # fmt: skip
