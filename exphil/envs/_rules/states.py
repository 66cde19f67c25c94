"""The mock's states: the flags, :class:`StateDef` and the state table (each state shown
as a real Melee action-state id), the ledge states and the per-character states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .constants import (
    DEAD_FRAMES,
    SIDEB_END_STILL,
    SIDEB_FRICTION_END,
    SIDEB_FRICTION_G,
    SIDEB_FRICTION_START,
    SIDEB_GRAVITY,
    SIDEB_START_FRICTION_G,
)

__all__ = [
    "GROUND",
    "ACT_G",
    "ACT_A",
    "DRIFT",
    "FF_OK",
    "SHIELDING",
    "INTANGIBLE",
    "FROZEN_POS",
    "HITSTUN",
    "TIMED",
    "SELF_MOVE",
    "TECHABLE",
    "NO_GRAVITY",
    "HOVER",
    "LCANCEL",
    "LEDGE",
    "LEDGE_OK",
    "LEDGE_ACT",
    "HOLD_B",
    "JUMP_CANCEL",
    "STALL",
    "STILL",
    "LAND_KEEP",
    "HOLDING",
    "CAPTURED",
    "GLIDE",
    "DOUBLE_TRACTION",
    "TRAVEL",
    "OWN_FALL",
    "CROUCH",
    "REPEAT_B",
    "GUN",
    "REFLECT",
    "StateDef",
    "LANDING_ANIM",
    "RUN_ANIM_RATE",
    "RUN_ANIM_LOOP",
    "STATES",
    "S",
    "NUM_STATES",
    "TECH_INTANGIBLE",
    "LEDGE_HOLD",
    "LEDGE_GETUP_END",
    "CHARACTER_STATES",
    "DAIR_INPUT",
    "LASER_MOVES",
    "character_states",
    "DEAD_DOWN",
    "DEAD_LEFT",
    "DEAD_RIGHT",
    "DEAD_UP",
    "WALK_SLOW",
    "WALK_MIDDLE",
    "WALK_FAST",
]

# --- states ---------------------------------------------------------------------------------
# flags
GROUND: Final = 1 << 0  # lives on the ground
ACT_G: Final = 1 << 1  # grounded and actionable (attacks, jumps, shield, movement)
ACT_A: Final = 1 << 2  # airborne and actionable (double jump, aerials, up-B)
DRIFT: Final = 1 << 3  # air drift from the stick
FF_OK: Final = 1 << 4  # may fast fall
SHIELDING: Final = 1 << 5
INTANGIBLE: Final = 1 << 6  # for the whole state (TECH and GETUP: see INTANGIBLE_FRAMES)
FROZEN_POS: Final = 1 << 7  # no physics at all (dead, on the halo)
HITSTUN: Final = 1 << 8
TIMED: Final = 1 << 9  # ends when the per-player timer runs out, not after DURATION frames
SELF_MOVE: Final = 1 << 10  # sets its own ground speed (walk, dash, run): no friction
TECHABLE: Final = 1 << 11  # landing goes to a tech or a knockdown
NO_GRAVITY: Final = 1 << 12  # constant velocity (up-B travel)
HOVER: Final = 1 << 13  # up-B charge: slow fall and horizontal drag
LCANCEL: Final = 1 << 14  # an aerial's landing: an L-cancel divides its lag
LEDGE: Final = 1 << 15  # on a ledge: no physics, the position follows the ledge (getups too)
LEDGE_OK: Final = 1 << 16  # may grab a ledge (falling; up-B's travel and helpless fall)
LEDGE_ACT: Final = 1 << 17  # hanging: the getup options and letting go (CLIFF_WAIT)
HOLD_B: Final = 1 << 18  # a loop: lasts its duration at least, then ends once B is let go
JUMP_CANCEL: Final = 1 << 19  # a jump press cancels it (a squat; in the air a double jump)
STALL: Final = 1 << 20  # air shine: no drift, no fast fall, its own gravity (SHINE_GRAVITY)
STILL: Final = 1 << 21  # air shine's start: vy held at 0 (with STALL and HOLD_B: frame 0)
LAND_KEEP: Final = 1 << 22  # landing enters `landing` at the same action frame (air shine)
HOLDING: Final = 1 << 23  # holds the other player (the grab's pull, wait and pummel)
CAPTURED: Final = 1 << 24  # held by the other player: placed by the grabber, mashes out
GLIDE: Final = 1 << 25  # air dodge: speed x AIRDODGE_DECAY per frame, no gravity or drift
DOUBLE_TRACTION: Final = 1 << 26  # a wavedash's landing slides with twice the traction
TRAVEL: Final = 1 << 27  # side-B's dash: still on frame 0, then the character's side-B speed
OWN_FALL: Final = 1 << 28  # vy 0 for the state's `still` frames, then its own `gravity`
CROUCH: Final = 1 << 29  # crouching (SQUAT, SQUAT_WAIT): a hit's knockback x CROUCH_CANCEL
REPEAT_B: Final = 1 << 30  # a laser loop: at its end, B held the frame before starts it over
GUN: Final = 1 << 31  # holding the blaster (the laser states): its item is out
REFLECT: Final = 1 << 32  # the shine's start and loop: a laser reaching the hurtbox turns back

# The states whose length is the character's (jump squat, dash, landing lags) are TIMED: the
# timer is set from exphil.envs._characters when the state is entered.


@dataclass(frozen=True, slots=True)
class StateDef:
    name: str
    action: int  # Melee action-state id (a base: WALK and DEAD add a variant)
    flags: int
    duration: int = 0  # frames; 0 = until input or an event
    next: str = ""  # state entered when the duration (or timer) ends
    move: str = ""  # the move whose hitbox this state carries
    landing: str = ""  # state entered on landing ("" = LANDING)
    af_shown: int = 0  # added to the frame count in the action_frame column (as replays)
    af_fixed: bool = False  # the action_frame column reads -1 throughout (as replays: shield)
    intangible: int = 0  # the state's first frames that are intangible (tech, getups)
    throw: str = ""  # a throw: the move (MOVES) the grabbed player takes at its release
    intangible_from: int = 0  # ... and from this frame on (air dodge)
    friction: float = 0.0  # its own horizontal friction per frame (0: the character's)
    gravity: float = 0.0  # with OWN_FALL: its own gravity, after its first `still` frames
    still: int = 0
    off_edge: str = ""  # off its surface it goes on in this (airborne) state, same frame
    shot: int = -1  # a laser loop: the frame its shot comes out on (0-based)
    late: str = ""  # a weaker hit out after ``move``'s frames, on its own (the state hits once)
    # the action_frame column plays an ``anim``-frame animation over the state's length (its
    # duration, or its lag for a timed landing) instead of counting frames: the landings
    anim: float = 0.0


_G = GROUND
_A = 0  # airborne: no GROUND flag
# the landings' action_frame column (aerial landings, LandingFallSpecial: wavedashes and
# helpless landings) reads k x 30.1 / lag on the landing's k-th frame (from 0), L-cancelled or
# not (the corpus: every such run of Fox and Falco, e.g. 0, 4.3, 8.6, ... over a 7-frame
# neutral-air landing, 0, 2.007, ... over 15); the plain LANDING counts frames
LANDING_ANIM: Final = 30.1
# A run's action_frame plays its looping animation at the ground speed: 0 on its first frame,
# 1 on its second, then + |last frame's ground speed| / 1.728 a frame, less 20 past 20 (the
# corpus: 1,760 of 2,278 Fox/Falco run frames give exactly 1.728, the rest within 1.3%; every
# wrap is at 20; e.g. Fox's full-speed run 0, 1, 2.273, 3.546, ...)
RUN_ANIM_RATE: Final = 1.728
RUN_ANIM_LOOP: Final = 20.0

STATES: Final[tuple[StateDef, ...]] = (
    StateDef("STAND", 0x0E, _G | ACT_G),
    StateDef("WALK", 0x0F, _G | ACT_G | SELF_MOVE, af_shown=1),  # + 0/1/2 slow/middle/fast
    StateDef("DASH", 0x14, _G | ACT_G | SELF_MOVE | TIMED, next="RUN", af_shown=1),
    StateDef("RUN", 0x15, _G | ACT_G | SELF_MOVE),
    StateDef("TURN", 0x12, _G, 4, "STAND", af_shown=1),
    # crouch (the main stick held down, more down than sideways): Melee's Squat states, their
    # lengths the corpus's (docs/mockenv.md): SQUAT 7 frames, SQUAT_WAIT while held, SQUAT_RV
    # 10 frames once let go; all actionable (jumps, attacks, the shine, a walk out of SQUAT_RV)
    StateDef("SQUAT", 0x27, _G | ACT_G | CROUCH, 7, "SQUAT_WAIT", af_shown=1),
    StateDef("SQUAT_WAIT", 0x28, _G | ACT_G | CROUCH),
    StateDef("SQUAT_RV", 0x29, _G | ACT_G, 10, "STAND"),
    StateDef("KNEE_BEND", 0x18, _G | TIMED, next="JUMP_F"),  # take-off handled as an event
    StateDef("JUMP_F", 0x19, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK),
    StateDef("JUMP_B", 0x1A, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK),
    StateDef("DJUMP_F", 0x1B, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK),
    StateDef("DJUMP_B", 0x1C, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK),
    StateDef("FALL", 0x1D, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK),
    StateDef("LANDING", 0x2A, _G | TIMED, next="STAND"),
    StateDef("SPECIAL_FALL", 0x23, _A | DRIFT | LEDGE_OK, landing="LANDING_SPECIAL"),
    StateDef("LANDING_SPECIAL", 0x2B, _G, 20, "STAND", anim=LANDING_ANIM),
    # the first moves, measured since (docs/mockenv.md: the corpus's whole runs): jab 17
    # frames, forward tilt 26, forward smash 39, dash attack 39
    StateDef("JAB", 0x2C, _G, 17, "STAND", move="JAB", af_shown=1),
    StateDef("FTILT", 0x35, _G, 26, "STAND", move="FTILT", af_shown=1),
    StateDef("FSMASH", 0x3C, _G, 39, "STAND", move="FSMASH", af_shown=1),
    StateDef("FSMASH_FALCO", 0x3C, _G, 39, "STAND", move="FSMASH_FALCO", af_shown=1),
    StateDef("DASH_ATTACK", 0x32, _G, 39, "STAND", move="DASH_ATTACK", af_shown=1),
    StateDef("DASH_ATTACK_FALCO", 0x32, _G, 39, "STAND", move="DASH_ATTACK_FALCO", af_shown=1),
    # issue 17's moves by damage share (docs/mockenv.md: totals are the corpus's whole runs,
    # scripts/measure_moves.py, and Melee's frame data; a Falco row where Falco differs)
    StateDef("UTILT", 0x38, _G, 23, "STAND", move="UTILT", af_shown=1),
    StateDef("DTILT", 0x39, _G, 29, "STAND", move="DTILT", af_shown=1),
    StateDef("DTILT_FALCO", 0x39, _G, 29, "STAND", move="DTILT_FALCO", af_shown=1),
    StateDef("USMASH", 0x3F, _G, 41, "STAND", move="USMASH", af_shown=1),
    StateDef("USMASH_FALCO", 0x3F, _G, 49, "STAND", move="USMASH_FALCO", af_shown=1),
    StateDef("DSMASH", 0x40, _G, 49, "STAND", move="DSMASH", af_shown=1),
    StateDef("DSMASH_FALCO", 0x40, _G, 49, "STAND", move="DSMASH_FALCO", af_shown=1),
    # the first aerials, measured since: neutral air 49 frames, forward air 59 (Fox's one whole
    # run; Falco's none: Fox's length), back air 39
    StateDef(
        "NAIR",
        0x41,
        _A | DRIFT | FF_OK,
        49,
        "FALL",
        "NAIR",
        "NAIR_LANDING",
        af_shown=1,
        late="NAIR_LATE",
    ),
    StateDef(
        "FAIR",
        0x42,
        _A | DRIFT | FF_OK,
        59,
        "FALL",
        "FAIR",
        "FAIR_LANDING",
        af_shown=1,
        late="FAIR_LATE",
    ),
    StateDef(
        "FAIR_FALCO",
        0x42,
        _A | DRIFT | FF_OK,
        59,
        "FALL",
        "FAIR_FALCO",
        "FAIR_LANDING",
        af_shown=1,
        late="FAIR_LATE_FALCO",
    ),
    StateDef(
        "BAIR",
        0x43,
        _A | DRIFT | FF_OK,
        39,
        "FALL",
        "BAIR",
        "BAIR_LANDING",
        af_shown=1,
        late="BAIR_LATE",
    ),
    StateDef("UAIR", 0x44, _A | DRIFT | FF_OK, 39, "FALL", "UAIR", "UAIR_LANDING", af_shown=1),
    StateDef(
        "UAIR_FALCO", 0x44, _A | DRIFT | FF_OK, 39, "FALL", "UAIR_FALCO", "UAIR_LANDING", af_shown=1
    ),
    StateDef(
        "DAIR_FOX", 0x45, _A | DRIFT | FF_OK, 49, "FALL", "DAIR_FOX", "DAIR_LANDING", af_shown=1
    ),
    StateDef(
        "DAIR_FALCO", 0x45, _A | DRIFT | FF_OK, 49, "FALL", "DAIR_FALCO", "DAIR_LANDING", af_shown=1
    ),
    StateDef("NAIR_LANDING", 0x46, _G | TIMED | LCANCEL, next="STAND", anim=LANDING_ANIM),
    StateDef("FAIR_LANDING", 0x47, _G | TIMED | LCANCEL, next="STAND", anim=LANDING_ANIM),
    StateDef("BAIR_LANDING", 0x48, _G | TIMED | LCANCEL, next="STAND", anim=LANDING_ANIM),
    StateDef("UAIR_LANDING", 0x49, _G | TIMED | LCANCEL, next="STAND", anim=LANDING_ANIM),
    StateDef("DAIR_LANDING", 0x4A, _G | TIMED | LCANCEL, next="STAND", anim=LANDING_ANIM),
    # shine (down-B): Melee's SpecialLw states, Fox's and Falco's alike (the corpus: start 3
    # frames with the hit on the first, loop while B is held and 18 frames at least, end 18
    # frames; every run that nothing interrupts is 3 + 18 + 18 = 39 frames). Jump-cancellable
    # from the loop (the shine's 4th frame); the air states land into the ground ones at the
    # same frame. The start and the loop reflect lasers (exphil.envs._items)
    StateDef(
        "SHINE_START_G", 0x168, _G | REFLECT, 3, "SHINE_LOOP_G", "SHINE", af_shown=1, intangible=1
    ),
    StateDef(
        "SHINE_START_G_FALCO",
        0x168,
        _G | REFLECT,
        3,
        "SHINE_LOOP_G",
        "SHINE_FALCO",
        af_shown=1,
        intangible=1,
    ),
    StateDef("SHINE_LOOP_G", 0x169, _G | HOLD_B | JUMP_CANCEL | REFLECT, 18, "SHINE_END_G"),
    StateDef("SHINE_END_G", 0x16B, _G, 18, "STAND"),
    StateDef(
        "SHINE_START_A",
        0x16D,
        _A | STALL | STILL | LAND_KEEP | REFLECT,
        3,
        "SHINE_LOOP_A",
        "SHINE",
        "SHINE_START_G",
        af_shown=1,
        intangible=1,
    ),
    StateDef(
        "SHINE_START_A_FALCO",
        0x16D,
        _A | STALL | STILL | LAND_KEEP | REFLECT,
        3,
        "SHINE_LOOP_A",
        "SHINE_FALCO",
        "SHINE_START_G_FALCO",
        af_shown=1,
        intangible=1,
    ),
    StateDef(
        "SHINE_LOOP_A",
        0x16E,
        _A | STALL | HOLD_B | JUMP_CANCEL | LAND_KEEP | REFLECT,
        18,
        "SHINE_END_A",
        landing="SHINE_LOOP_G",
    ),
    StateDef("SHINE_END_A", 0x170, _A | STALL | LAND_KEEP, 18, "FALL", landing="SHINE_END_G"),
    # grabs (Melee's Catch* states for the grabber, Capture*/Thrown* for the grabbed player;
    # lengths from the corpus, scripts/measure_moves.py). The grab box is GRAB_BOXES'; a
    # catch, the pummel's hit and the throws' release are the two players' step together
    # (exphil.envs._kernel._grab). Fox's and Falco's throws differ in length
    StateDef("GRAB", 0xD4, _G, 30, "STAND", af_shown=1),
    StateDef("DASH_GRAB", 0xD6, _G, 40, "STAND", af_shown=1),
    StateDef("CATCH_PULL", 0xD5, _G | HOLDING, 2, "CATCH_WAIT", af_shown=1),
    StateDef("DASH_CATCH_PULL", 0xD7, _G | HOLDING, 2, "CATCH_WAIT", af_shown=1),
    StateDef("CATCH_WAIT", 0xD8, _G | HOLDING, af_shown=1),
    StateDef("CATCH_ATTACK", 0xD9, _G | HOLDING, 23, "CATCH_WAIT", af_shown=1),
    StateDef("CATCH_CUT", 0xDA, _G, 30, "STAND", af_shown=1),
    StateDef("THROW_F", 0xDB, _G, 36, "STAND", af_shown=1, throw="THROW_F"),
    StateDef("THROW_F_FALCO", 0xDB, _G, 30, "STAND", af_shown=1, throw="THROW_F_FALCO"),
    StateDef("THROW_B", 0xDC, _G, 31, "STAND", af_shown=1, throw="THROW_B"),
    StateDef("THROW_HI", 0xDD, _G, 31, "STAND", af_shown=1, throw="THROW_HI"),
    StateDef("THROW_HI_FALCO", 0xDD, _G, 31, "STAND", af_shown=1, throw="THROW_HI_FALCO"),
    StateDef("THROW_LW", 0xDE, _G, 43, "STAND", af_shown=1, throw="THROW_LW"),
    StateDef("THROW_LW_FALCO", 0xDE, _G, 47, "STAND", af_shown=1, throw="THROW_LW_FALCO"),
    StateDef("CAPTURE_PULLED", 0xE2, _G | CAPTURED, 2, "CAPTURE_WAIT", af_shown=1),
    StateDef("CAPTURE_WAIT", 0xE3, _G | CAPTURED | TIMED, next="CAPTURE_CUT", af_shown=1),
    StateDef("CAPTURE_DAMAGE", 0xE4, _G | CAPTURED, 20, "CAPTURE_WAIT", af_shown=1),
    StateDef("CAPTURE_CUT", 0xE5, _G, 30, "STAND", af_shown=1),
    StateDef("THROWN_F", 0xEF, _G | CAPTURED, af_shown=1),
    StateDef("THROWN_B", 0xF0, _G | CAPTURED, af_shown=1),
    StateDef("THROWN_HI", 0xF1, _G | CAPTURED, af_shown=1),
    StateDef("THROWN_LW", 0xF2, _G | CAPTURED, af_shown=1),
    # side-B (Fox's Illusion, Falco's Phantasm: Melee's SpecialS states; the corpus's every
    # side-B, docs/mockenv.md): a start (Fox 19 frames, Falco 15), a 4-frame dash (still, then
    # 3 frames at the character's speed; B cuts it short), a 40-frame end; in the air the end
    # leaves the player helpless. Off the stage's edge the ground states go on in the air ones
    StateDef(
        "SIDEB_START_G", 0x15B, _G, 19, "SIDEB_DASH_G", af_shown=1, friction=SIDEB_START_FRICTION_G
    ),
    StateDef(
        "SIDEB_START_G_FALCO",
        0x15B,
        _G,
        15,
        "SIDEB_DASH_G_FALCO",
        af_shown=1,
        friction=SIDEB_START_FRICTION_G,
    ),
    StateDef(
        "SIDEB_DASH_G", 0x15C, _G | TRAVEL, 4, "SIDEB_END_G", "SIDEB", off_edge="SIDEB_DASH_A"
    ),
    StateDef(
        "SIDEB_DASH_G_FALCO",
        0x15C,
        _G | TRAVEL,
        4,
        "SIDEB_END_G",
        "SIDEB_FALCO",
        off_edge="SIDEB_DASH_A_FALCO",
    ),
    StateDef(
        "SIDEB_END_G", 0x15D, _G, 40, "STAND", friction=SIDEB_FRICTION_G, off_edge="SIDEB_END_A"
    ),
    StateDef(
        "SIDEB_START_A",
        0x15E,
        _A | OWN_FALL,
        19,
        "SIDEB_DASH_A",
        af_shown=1,
        friction=SIDEB_FRICTION_START,
    ),
    StateDef(
        "SIDEB_START_A_FALCO",
        0x15E,
        _A | OWN_FALL,
        15,
        "SIDEB_DASH_A_FALCO",
        af_shown=1,
        friction=SIDEB_FRICTION_START,
    ),
    StateDef("SIDEB_DASH_A", 0x15F, _A | NO_GRAVITY | TRAVEL, 4, "SIDEB_END_A", "SIDEB"),
    StateDef(
        "SIDEB_DASH_A_FALCO", 0x15F, _A | NO_GRAVITY | TRAVEL, 4, "SIDEB_END_A", "SIDEB_FALCO"
    ),
    StateDef(
        "SIDEB_END_A",
        0x160,
        _A | OWN_FALL | LEDGE_OK,
        40,
        "SIDEB_FALL",
        landing="LANDING_SPECIAL",
        friction=SIDEB_FRICTION_END,
        gravity=SIDEB_GRAVITY,
        still=SIDEB_END_STILL,
    ),
    StateDef("SIDEB_FALL", 0x23, _A | DRIFT | LEDGE_OK, landing="LANDING_SPECIAL"),
    # lasers (neutral-B: B with the stick in none of the specials' directions; Melee's SpecialN
    # states, the corpus's every laser, docs/mockenv.md): a start (ground 6 frames, air 4; the
    # blaster comes out), a loop that fires on one frame and starts over while B is held at
    # its end, an end. Fox: loop 10 frames, the shot on frame 5, ground end 24; Falco: the
    # ground loop 24 with the shot on 16, the air loop 16 with the shot on 8, ground end 27;
    # the air end 22 frames (Falco's; Fox's runs all land before). A landing is LANDING
    StateDef("LASER_START_G", 0x155, _G | GUN, 6, "LASER_LOOP_G", af_shown=1),
    StateDef("LASER_START_G_FALCO", 0x155, _G | GUN, 6, "LASER_LOOP_G_FALCO", af_shown=1),
    StateDef("LASER_LOOP_G", 0x156, _G | GUN | REPEAT_B, 10, "LASER_END_G", shot=5),
    StateDef("LASER_LOOP_G_FALCO", 0x156, _G | GUN | REPEAT_B, 24, "LASER_END_G_FALCO", shot=16),
    StateDef("LASER_END_G", 0x157, _G | GUN, 24, "STAND"),
    StateDef("LASER_END_G_FALCO", 0x157, _G | GUN, 27, "STAND"),
    StateDef("LASER_START_A", 0x158, _A | GUN | DRIFT | FF_OK, 4, "LASER_LOOP_A", af_shown=1),
    StateDef(
        "LASER_START_A_FALCO", 0x158, _A | GUN | DRIFT | FF_OK, 4, "LASER_LOOP_A_FALCO", af_shown=1
    ),
    StateDef("LASER_LOOP_A", 0x159, _A | GUN | DRIFT | FF_OK | REPEAT_B, 10, "LASER_END_A", shot=5),
    StateDef(
        "LASER_LOOP_A_FALCO",
        0x159,
        _A | GUN | DRIFT | FF_OK | REPEAT_B,
        16,
        "LASER_END_A",
        shot=8,
    ),
    StateDef("LASER_END_A", 0x15A, _A | GUN | DRIFT | FF_OK, 22, "FALL"),
    # up-B: a 42-frame charge (the corpus: 347 of 444 air charges, 6 of 10 ground ones; the
    # rest cut by a hit or the ledge), the travel (its length the character's: a timer), then
    # 20 frames of its end (0x166, airborne: gravity and air friction on the travel's last
    # speed) before the helpless fall (0x23): every whole up-B of the corpus
    StateDef("UPB_HOLD_G", 0x161, _G, 42, "UPB_TRAVEL", af_shown=1),  # travel direction: an event
    StateDef("UPB_HOLD_A", 0x162, _A | HOVER, 42, "UPB_TRAVEL", af_shown=1),
    StateDef(
        "UPB_TRAVEL",
        0x164,
        _A | NO_GRAVITY | LEDGE_OK | TIMED,
        0,
        "UPB_END",
        "UPB",
        "UPB_LANDING",
    ),
    StateDef("UPB_END", 0x166, _A | LEDGE_OK, 20, "SPECIAL_FALL", landing="UPB_LANDING"),
    # landing in the travel or its end: 0x165 for 6 frames, its action_frame from 14, then
    # actionable (the corpus: 65 of 65 landings from the end, 4 from the travel, all 6 frames
    # reading 14, 15, ...; then a stand, a walk or a shield)
    StateDef("UPB_LANDING", 0x165, _G, 6, "STAND", af_shown=14),
    StateDef("SHIELD_START", 0xB2, _G | SHIELDING, 2, "SHIELD", af_fixed=True),
    StateDef("SHIELD", 0xB3, _G | SHIELDING, af_fixed=True),
    StateDef("SHIELD_RELEASE", 0xB4, _G, 15, "STAND"),
    StateDef("SHIELD_STUN", 0xB5, _G | SHIELDING | TIMED, next="SHIELD"),
    StateDef("DAMAGE_G", 0x4E, _G | HITSTUN | TIMED, next="STAND"),
    StateDef("DAMAGE_A", 0x54, _A | HITSTUN | TIMED, next="FALL"),
    StateDef("DAMAGE_FLY", 0x58, _A | HITSTUN | TIMED | TECHABLE, next="TUMBLE"),
    StateDef("TUMBLE", 0x26, _A | ACT_A | DRIFT | FF_OK | TECHABLE | LEDGE_OK),
    StateDef("TECH", 0xC7, _G, 26, "STAND", intangible=20),
    StateDef("TECH_MISS", 0xB7, _G, 26, "LYING"),
    StateDef("LYING", 0xB8, _G | TIMED, next="GETUP", af_shown=1),
    StateDef("GETUP", 0xC2, _G | INTANGIBLE, 30, "STAND"),
    StateDef("SB_FLY", 0xCD, _A, 12, "SB_FALL", landing="SB_DOWN"),  # rising: 12 < 3.0 / gravity
    StateDef("SB_FALL", 0xCE, _A, landing="SB_DOWN"),
    StateDef("SB_DOWN", 0xCF, _G, 30, "SB_STAND"),
    StateDef("SB_STAND", 0xD1, _G, 30, "DIZZY"),
    StateDef("DIZZY", 0xD3, _G, 120, "STAND"),
    StateDef("DEAD", 0x00, INTANGIBLE | FROZEN_POS, DEAD_FRAMES, "HALO"),  # + 0..3 side
    StateDef("HALO", 0x0D, INTANGIBLE | FROZEN_POS | TIMED, next="FALL"),
    # air dodge (L/R in the air): 49 frames, intangible on frames 4-29 as replays count them,
    # then a helpless fall (DEAD_FALL as replays name 0x23); a landing from either is the
    # wavedash's LANDING_SPECIAL, 10 frames, sliding at twice the traction (the corpus)
    StateDef(
        "AIRDODGE",
        0xEC,
        _A | GLIDE,
        49,
        "AIRDODGE_FALL",
        landing="WAVEDASH_LANDING",
        af_shown=1,
        intangible=29,
        intangible_from=3,
    ),
    StateDef("AIRDODGE_FALL", 0x23, _A | DRIFT | LEDGE_OK, landing="WAVEDASH_LANDING"),
    StateDef("WAVEDASH_LANDING", 0x2B, _G | DOUBLE_TRACTION, 10, "STAND", anim=LANDING_ANIM),
    # ledges (Melee's CLIFF_* states; lengths and intangible frames measured on the corpus:
    # the same for Fox and Falco). The getups start at the hang point and end where the
    # character's row of exphil.envs._characters says.
    StateDef("CLIFF_CATCH", 0xFC, _A | LEDGE, 7, "CLIFF_WAIT", af_shown=1),
    StateDef("CLIFF_WAIT", 0xFD, _A | LEDGE | LEDGE_ACT | TIMED, next="FALL"),
    StateDef("CLIFF_CLIMB_SLOW", 0xFE, _A | LEDGE, 59, "STAND", af_shown=1, intangible=55),
    StateDef("CLIFF_CLIMB_QUICK", 0xFF, _A | LEDGE, 34, "STAND", af_shown=1, intangible=30),
    StateDef(
        "CLIFF_ATTACK_SLOW",
        0x100,
        _A | LEDGE,
        58,
        "STAND",
        "LEDGE_ATTACK",
        af_shown=1,
        intangible=21,
    ),
    StateDef(
        "CLIFF_ATTACK_QUICK",
        0x101,
        _A | LEDGE,
        58,
        "STAND",
        "LEDGE_ATTACK",
        af_shown=1,
        intangible=21,
    ),
    StateDef("CLIFF_ROLL_SLOW", 0x102, _A | LEDGE, 79, "STAND", af_shown=1, intangible=62),
    StateDef("CLIFF_ROLL_QUICK", 0x103, _A | LEDGE, 49, "STAND", af_shown=1, intangible=34),
    StateDef(
        "CLIFF_JUMP_SLOW_1", 0x104, _A | LEDGE, 19, "CLIFF_JUMP_SLOW_2", af_shown=1, intangible=19
    ),
    StateDef("CLIFF_JUMP_SLOW_2", 0x105, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK, af_shown=1),
    StateDef(
        "CLIFF_JUMP_QUICK_1", 0x106, _A | LEDGE, 14, "CLIFF_JUMP_QUICK_2", af_shown=1, intangible=14
    ),
    StateDef("CLIFF_JUMP_QUICK_2", 0x107, _A | ACT_A | DRIFT | FF_OK | LEDGE_OK, af_shown=1),
)

S: Final[dict[str, int]] = {s.name: i for i, s in enumerate(STATES)}
NUM_STATES: Final = len(STATES)
TECH_INTANGIBLE: Final = STATES[S["TECH"]].intangible  # TECH's first 20 frames

# the ledge states: hanging (the ledge is taken), the getups by option and speed, and where a
# getup ends (the end point's row in exphil.envs._characters: climb, roll, attack, jump)
LEDGE_HOLD: Final = tuple(
    S[n]
    for n in (
        "CLIFF_CATCH",
        "CLIFF_WAIT",
        "CLIFF_CLIMB_SLOW",
        "CLIFF_CLIMB_QUICK",
        "CLIFF_ATTACK_SLOW",
        "CLIFF_ATTACK_QUICK",
        "CLIFF_ROLL_SLOW",
        "CLIFF_ROLL_QUICK",
        "CLIFF_JUMP_SLOW_1",
        "CLIFF_JUMP_QUICK_1",
    )
)
LEDGE_GETUP_END: Final[dict[str, str]] = {
    "CLIFF_CLIMB_SLOW": "climb",
    "CLIFF_CLIMB_QUICK": "climb",
    "CLIFF_ATTACK_SLOW": "attack",
    "CLIFF_ATTACK_QUICK": "attack",
    "CLIFF_ROLL_SLOW": "roll",
    "CLIFF_ROLL_QUICK": "roll",
    "CLIFF_JUMP_SLOW_1": "jump",
    "CLIFF_JUMP_QUICK_1": "jump",
}

# per-character moves: the state a port enters instead of the (Fox's) state the input picks.
# The moves keyed here are entered by name ("DAIR": the down-air input), never left in place.
CHARACTER_STATES: Final[dict[str, dict[str, str]]] = {
    "FOX": {"DAIR": "DAIR_FOX"},
    "FALCO": {
        "FSMASH": "FSMASH_FALCO",
        "DASH_ATTACK": "DASH_ATTACK_FALCO",
        "FAIR": "FAIR_FALCO",
        "DAIR": "DAIR_FALCO",
        "UAIR": "UAIR_FALCO",
        "USMASH": "USMASH_FALCO",
        "DSMASH": "DSMASH_FALCO",
        "DTILT": "DTILT_FALCO",
        "SHINE_START_G": "SHINE_START_G_FALCO",
        "SHINE_START_A": "SHINE_START_A_FALCO",
        "SIDEB_START_G": "SIDEB_START_G_FALCO",
        "SIDEB_START_A": "SIDEB_START_A_FALCO",
        "LASER_START_G": "LASER_START_G_FALCO",
        "LASER_START_A": "LASER_START_A_FALCO",
        "THROW_F": "THROW_F_FALCO",
        "THROW_HI": "THROW_HI_FALCO",
        "THROW_LW": "THROW_LW_FALCO",
    },
}
DAIR_INPUT: Final = "DAIR"  # not a state: the down-air input, resolved per character
LASER_MOVES: Final[dict[str, str]] = {"FOX": "LASER_FOX", "FALCO": "LASER_FALCO"}
"""Each character's laser hit (a MOVES name), by character name."""


def character_states(character_name: str) -> list[int]:
    """``out[state]``: the state a port of that character enters for ``state`` (the identity
    but for :data:`CHARACTER_STATES`); the down-air input is the index ``NUM_STATES``."""
    out = [*range(NUM_STATES), S["NAIR"]]
    for src, dst in CHARACTER_STATES.get(character_name.upper(), {}).items():
        out[NUM_STATES if src == DAIR_INPUT else S[src]] = S[dst]
    return out


# action variants
DEAD_DOWN, DEAD_LEFT, DEAD_RIGHT, DEAD_UP = 0, 1, 2, 3  # ids 0x00..0x03
WALK_SLOW, WALK_MIDDLE, WALK_FAST = 0, 1, 2  # ids 0x0F..0x11
