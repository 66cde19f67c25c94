"""The mock game's rules as data: physics constants, states and moves.

The mock's kernel (``exphil.envs._kernel``: the rules' one implementation, compiled by numba
for ``MockEnv`` and run as plain Python by its test oracle ``exphil.envs._scalar``) reads these
tables. A rule's numbers change here; a rule's logic, in the kernel.

Every state is shown to the outside world as a real Melee action-state id (Fox's ids for the
special), so a policy's action embedding means the same thing here as on replays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

# --- physics ------------------------------------------------------------------------------
# Each character's movement physics and landing lags are rows of exphil.envs._characters
# (measured from replays and Melee's published data); what is left here is shared.
LCANCEL_WINDOW: Final = 7  # frames: L/R pressed this close before landing an aerial halves its lag

# --- controller thresholds ----------------------------------------------------------------
DEADZONE: Final = 0.2875  # Melee's 23/80
DASH_THRESHOLD: Final = 0.8
TAP_JUMP: Final = 0.66  # main stick y that jumps (tap jump on)
DOWN_THRESHOLD: Final = -0.66  # fast fall, platform drop
UP_B_THRESHOLD: Final = 0.5
DOWN_B_THRESHOLD: Final = -0.5  # main stick y at or below it turns B into down-B (shine)
SIDE_B_THRESHOLD: Final = 0.6  # |main stick x| from which B is side-B (the corpus: 0.6 to 1.0)
CSTICK_THRESHOLD: Final = 0.5
SHOULDER_THRESHOLD: Final = 0.3  # analog shoulder press that shields

# --- body, damage, shield --------------------------------------------------------------
HURT_LOW: Final = 2.0  # hurtbox: vertical capsule from y+2 to y+12, radius 4.5
HURT_HIGH: Final = 12.0
HURT_RADIUS: Final = 4.5
KB_DECAY: Final = 0.051  # knockback speed lost per frame
KB_SPEED: Final = 0.03  # launch speed per unit of knockback
HITSTUN_PER_KB: Final = 0.4
TUMBLE_KB: Final = 80.0  # knockback from which the defender tumbles (DAMAGE_FLY)
SHIELD_MAX: Final = 60.0
SHIELD_DECAY: Final = 0.28
SHIELD_REGEN: Final = 0.07
SHIELD_AFTER_BREAK: Final = 30.0
SHIELD_BREAK_VY: Final = 3.0
SHIELD_PUSH: Final = 0.08  # pushback speed per point of damage on shield
TECH_WINDOW: Final = 20
LYING_MAX: Final = 60
HALO_MAX: Final = 120
RESPAWN_INVULNERABLE: Final = 120
RESPAWN_HEIGHT: Final = 60.0
DEAD_FRAMES: Final = 60
# up-B (Fire Fox, Fire Bird; the corpus's 444 air charges, docs/mockenv.md): the air charge
# stops the fall (vy 0 on its first 15 frames, then the character's slow charge gravity) and
# keeps 0.8 of the horizontal speed on its first frame (then the air friction); the travel's
# speed, length and slow-down are the character's (exphil.envs._characters)
UP_B_HOLD_STILL: Final = 15
UP_B_HOLD_KEEP: Final = 0.8
# shine (Fox's and Falco's reflector, docs/mockenv.md: the corpus's air shines, every one):
# the air shine halves the horizontal speed it starts with, holds still (vy 0) for its first
# SHINE_STALL frames (the 3-frame start and the loop's first frame), then falls at its own
# gravity (0.08 / 3 per frame, 0.02667 in every air shine of the corpus) through the loop and
# the end, whatever the character
SHINE_AIR_VX: Final = 0.5
SHINE_GRAVITY: Final = 0.08 / 3
# side-B (Fox's Illusion, Falco's Phantasm; docs/mockenv.md: every side-B of the corpus's 79
# Fox/Falco games): the air start keeps 2/3 of the horizontal speed it starts with and slows
# by SIDEB_FRICTION_START per frame, vy 0 throughout; the air end starts at SIDEB_END_VX_AIR
# and slows by SIDEB_FRICTION_END, still for SIDEB_END_STILL frames, then falls by
# SIDEB_GRAVITY per frame; the ground end slows by SIDEB_FRICTION_G (its start speed is the
# character's, exphil.envs._characters)
SIDEB_AIR_VX: Final = 2.0 / 3.0
SIDEB_FRICTION_START: Final = 0.05
SIDEB_END_VX_AIR: Final = 2.0
SIDEB_FRICTION_END: Final = 0.07
SIDEB_END_STILL: Final = 5
SIDEB_GRAVITY: Final = 0.08
SIDEB_FRICTION_G: Final = 0.1
# the ground start stops the player on its first frame (a friction no speed survives): the
# corpus's 9 ground side-Bs, every one from a dash (2) records 0 ground speed on it, from a
# walk, a turn or a crouch (5) under 0.06 on it and 0 the next; one out of a landing slides
SIDEB_START_FRICTION_G: Final = 1e9
# crouch cancel: a crouching player takes 2/3 of a hit's knockback (SmashWiki, Crouch cancel:
# "knockback is reduced to 2/3" in Melee)
CROUCH_CANCEL: Final = 2.0 / 3.0
# DI (directional influence): on the last frame of its hitlag a launched player's stick turns
# the launch by up to DI_MAX, in proportion to the stick's part across the launch direction
# (SmashWiki, Directional influence: "up to 18 degrees" in Melee); a stick in the dead zone
# does nothing
DI_MAX: Final = math.radians(18.0)
# lasers (docs/mockenv.md): a shot hits the first player (not its owner, not intangible) whose
# hurtbox comes within LASER_RADIUS of it, then is gone; it is also gone when its timer runs
# out or past the blast zone's sides. The blaster item shows GUN_TIMER in its timer column
LASER_RADIUS: Final = 3.0  # the mock's choice
GUN_TIMER: Final = 1400.0  # measured: every blaster item's timer (1,817 Falco, 284 Fox)

# grabs (docs/mockenv.md: scripts/measure_moves.py on the corpus, SmashWiki's Grab and the
# Melee grab-escape formula): the grab box is out on GRAB's action frames 7-8 (replays count
# from 1; every catch of the corpus pulls on frame 7, a few on 8) and DASH_GRAB's 12-13; the
# grabbed player is held GRAB_ESCAPE_BASE + GRAB_ESCAPE_PER_PERCENT x percent frames (Melee's
# 76 + 1.6p without the placing handicap), less GRAB_MASH per button press (A B X Y Z L R)
GRAB_ESCAPE_BASE: Final = 76.0
GRAB_ESCAPE_PER_PERCENT: Final = 1.6
GRAB_MASH: Final = 6

# --- ledges (Final Destination's and Battlefield's two main ledges; docs/mockenv.md has the
# measurements: scripts/measure_ledges.py on ../shared/corpus, and SmashWiki's Ledgestall)
LEDGE_BOX_OUT: Final = 18.0  # grab box: from the edge outward 0..18 units,
LEDGE_BOX_TOP: Final = -5.0  # and between these heights (the position the frame began at)
LEDGE_BOX_BOTTOM: Final = -18.0
LEDGE_INTANGIBLE: Final = 37  # frames from the grab: CLIFF_CATCH (7) + 30 (none on a regrab)
LEDGE_HANG_MAX: Final = 300  # CLIFF_WAIT frames before letting go (an assumption: see docs)
LEDGE_REGRAB_DELAY: Final = 29  # frames after letting go before a grab (SmashWiki's DRP)
LEDGE_SLOW_PERCENT: Final = 100.0  # at or above it, the slow getups

# --- air dodge and wavedash (measured on ../shared/corpus, the same for Fox and Falco)
AIRDODGE_SPEED: Final = 3.1  # u/frame where the stick points (recorded 2.79 on frame 1)
AIRDODGE_DECAY: Final = 0.9  # the dodge's speed is multiplied by this every frame
AIRDODGE_GLIDE: Final = 30  # frames of that glide (no gravity); then it falls

STOCKS: Final = 4
TIME_LIMIT: Final = 8 * 60 * 60  # frames (8 minutes)
SPAWN_X: Final = 40.0


def knockback(
    percent_after: float, damage: float, growth: float, base: float, weight: float
) -> float:
    """Melee's knockback formula (``percent_after`` includes this hit's damage; ``weight`` is
    the defender's)."""
    return (
        (percent_after / 10 + percent_after * damage / 20) * 200 / (weight + 100) * 1.4 + 18
    ) * growth / 100 + base


def di_turn(cross: Any) -> tuple[Any, Any]:
    """(cos, sin) of the DI turn for ``cross`` (the stick's part across the launch direction,
    clipped to [-1, 1]: positive turns the launch clockwise), a float or an array alike: a
    Taylor polynomial of plain arithmetic (|angle| <= 18 degrees: error under 1e-8), so both
    implementations of the mock get the same bits where libm's and numpy's sin would not."""
    d = -DI_MAX * cross
    d2 = d * d
    return 1.0 - d2 / 2.0 + d2 * d2 / 24.0 - d2 * d2 * d2 / 720.0, (
        d - d * d2 / 6.0 + d * d2 * d2 / 120.0
    )


def hitlag(damage: float) -> int:
    return math.floor(damage / 3 + 3)


def shieldstun(damage: float) -> int:
    return math.floor(damage * 0.45 + 2)


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


# --- moves --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MoveDef:
    """One hitbox: active on action frames ``first..last`` (0 is the state's first frame),
    centred ``(dx * facing, dy)`` from the attacker's position, launching at ``angle`` degrees
    (measured from the attacker's facing direction)."""

    name: str
    first: int
    last: int
    dx: float
    dy: float
    radius: float
    damage: float
    angle: float
    base: float
    growth: float
    every: int = 0  # a multi-hit move: out only every ``every`` frames from ``first``, each a hit
    air_angle: float = -1.0  # the angle for an airborne defender (-1: ``angle``)


MOVES: Final[tuple[MoveDef, ...]] = (
    # the first moves: damage and active frames measured since (scripts/measure_moves.py on
    # ../shared/corpus: the most frequent damage per hit, the clean one where a move has a
    # late hit too, and the action frames its hits land on, minus 1); one hitbox each, so the
    # aerials keep their clean hit (Melee's late hits, 9%, are left out) and Fox's forward air
    # its first hit; place, size, angle and knockback the mock's choice
    MoveDef("JAB", 1, 2, 8.0, 8.0, 5.0, 4.0, 70.0, 8.0, 50.0),
    MoveDef("FTILT", 4, 7, 11.0, 7.0, 5.5, 9.0, 30.0, 10.0, 100.0),
    MoveDef("FSMASH", 11, 14, 13.0, 7.0, 6.0, 15.0, 38.0, 30.0, 105.0),
    MoveDef("FSMASH_FALCO", 11, 14, 13.0, 7.0, 6.0, 17.0, 38.0, 30.0, 105.0),
    MoveDef("DASH_ATTACK", 3, 6, 8.0, 6.0, 6.0, 7.0, 72.0, 30.0, 60.0),
    MoveDef("DASH_ATTACK_FALCO", 3, 6, 8.0, 6.0, 6.0, 9.0, 72.0, 30.0, 60.0),
    MoveDef("NAIR", 3, 6, 0.0, 7.0, 7.0, 12.0, 45.0, 10.0, 100.0),
    MoveDef("FAIR", 5, 7, 10.0, 6.0, 5.5, 7.0, 40.0, 15.0, 100.0),
    MoveDef("FAIR_FALCO", 5, 7, 10.0, 6.0, 5.5, 9.0, 40.0, 15.0, 100.0),
    MoveDef("BAIR", 3, 6, -10.0, 7.0, 5.5, 15.0, 140.0, 15.0, 100.0),
    # their late hits: 9% on replay frames 8-31 (neutral air) and 8-19 (back air), Fox and
    # Falco alike (the corpus: every late hit within them, 8-29 and 8-19; Melee's frame data);
    # place, size, angle and knockback the clean hit's
    MoveDef("NAIR_LATE", 7, 30, 0.0, 7.0, 7.0, 9.0, 45.0, 10.0, 100.0),
    MoveDef("BAIR_LATE", 7, 18, -10.0, 7.0, 5.5, 9.0, 140.0, 15.0, 100.0),
    # the forward airs' second hit: Fox 5%, Falco 8% on replay frames 16-18 (the corpus: 7 of
    # Fox's 20 forward-air hits on frames 16-17, 5% fresh; 5 of Falco's 33, 8% fresh; Melee's
    # frame data). Melee's forward airs hit again after their first hit (3 of those 12 came
    # after one); here, as the late hits, only when the first missed (the state hits once);
    # the later hits (Falco's frames 24 and 43: 1 each) are left out
    MoveDef("FAIR_LATE", 15, 17, 10.0, 6.0, 5.5, 5.0, 40.0, 15.0, 100.0),
    MoveDef("FAIR_LATE_FALCO", 15, 17, 10.0, 6.0, 5.5, 8.0, 40.0, 15.0, 100.0),
    # issue 17's moves: damage and the first active frame are the corpus's (the most frequent
    # damage per hit and the action frame its hits land on, scripts/measure_moves.py, minus 1:
    # replays count from 1) and Melee's frame data; one hitbox per move (a move hits once:
    # Fox's and Falco's up-airs are their second, strong hit); place, size, angle and
    # knockback are the mock's choice (Falco's down-air spikes: 290 degrees, down and forward)
    MoveDef("UTILT", 4, 10, 2.0, 12.0, 6.0, 9.0, 95.0, 20.0, 100.0),
    # the down-tilts: damage and frame the corpus's (Fox 10%, Falco 13%, hits on action frame
    # 8), the angle its launches' median (Fox 68, Falco 75 degrees), base and growth a rough
    # least-squares fit on its 11 / 12 launches (Fox's base clipped at 0)
    MoveDef("DTILT", 7, 9, 8.0, 3.0, 6.0, 10.0, 68.0, 0.0, 145.0),
    MoveDef("DTILT_FALCO", 7, 9, 8.0, 3.0, 6.0, 13.0, 75.0, 26.0, 112.0),
    MoveDef("USMASH", 6, 16, 1.0, 13.0, 6.5, 18.0, 80.0, 30.0, 112.0),
    MoveDef("USMASH_FALCO", 6, 16, 1.0, 13.0, 6.5, 14.0, 80.0, 30.0, 112.0),
    MoveDef("DSMASH", 5, 8, 7.0, 3.0, 6.5, 15.0, 25.0, 20.0, 100.0),
    MoveDef("DSMASH_FALCO", 5, 8, 7.0, 3.0, 6.5, 16.0, 25.0, 20.0, 100.0),
    MoveDef("UAIR", 10, 13, 1.0, 14.0, 6.0, 13.0, 80.0, 20.0, 110.0),
    MoveDef("UAIR_FALCO", 10, 13, 1.0, 14.0, 6.0, 10.0, 80.0, 20.0, 110.0),
    MoveDef("DAIR_FALCO", 4, 18, 2.0, 1.0, 6.0, 12.0, 290.0, 20.0, 100.0),
    # Fox's drill: 7 hits of 3%, on replay frames 5, 8, ..., 23 (the corpus: 264 hits on
    # action frames 5-24, every 3 frames; 3% fresh, 2.73 staled the most frequent); the angle
    # and the small set knockback (so the hits chain) are the mock's choice
    MoveDef("DAIR_FOX", 4, 22, 0.0, 1.0, 6.0, 3.0, 290.0, 10.0, 0.0, every=3),
    # shine: a hit on its first frame only (the corpus: every hit lands on action frame 1),
    # centred on the body. Fox: 5%, set knockback (launch speed 2.4 = 80 x 0.03 at every
    # percent, horizontal on grounded targets: base 80, growth 0, angle 0); Falco: 8%, 84
    # degrees (straight up), knockback growing with percent (base and growth fitted to the
    # corpus's launches, scripts/measure_moves.py). The radius is the mock's choice
    MoveDef("SHINE", 0, 0, 0.0, 7.0, 7.0, 5.0, 0.0, 80.0, 0.0),
    MoveDef("SHINE_FALCO", 0, 0, 0.0, 7.0, 7.0, 8.0, 84.0, 99.0, 58.0),
    MoveDef("UPB", 0, 24, 0.0, 7.0, 6.0, 14.0, 60.0, 20.0, 70.0),
    # Fire Bird: Fox's travel with Falco's 16% (the corpus: 15 of Falco's 20 up-B hits)
    MoveDef("UPB_FALCO", 0, 24, 0.0, 7.0, 6.0, 16.0, 60.0, 20.0, 70.0),
    # side-B's dash: 7% (the corpus: 36 of 39 hits), on its three moving frames; the hitbox
    # covers the path since the frame before (centred half a frame's travel behind, Fox's
    # 18.72 and Falco's 16.5 u/frame). Angle, base and growth the corpus's: Fox's launches at
    # 80 degrees (8 of 11), Falco's grounded targets straight up (11 of 17; its airborne ones
    # are spiked: 5 of 6 straight down), least squares on 27 launches: growth 56, base 67
    MoveDef("SIDEB", 1, 3, -9.36, 6.0, 10.4, 7.0, 80.0, 67.0, 56.0),
    MoveDef("SIDEB_FALCO", 1, 3, -8.25, 6.0, 9.25, 7.0, 90.0, 67.0, 56.0, air_angle=270.0),
    # the lasers' hits (not hitboxes of a state: the shots, exphil.envs._items): 3% fresh
    # (the corpus: Falco's most frequent, 199 of 643; Fox's 3.0 the fresh one); Falco's is a
    # set knockback (every launch 0.62-0.66 u/frame = 21 x 0.03, horizontal on the ground;
    # hitlag 4 and 8 frames of hitstun: 12-14-frame flinches; airborne targets at 36-61
    # degrees, most often 45: its air angle), Fox's none at all (no hitlag,
    # no flinch: base and growth 0 mean damage only)
    MoveDef("LASER_FOX", 0, 0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0),
    MoveDef("LASER_FALCO", 0, 0, 0.0, 0.0, 0.0, 3.0, 0.0, 21.0, 0.0, air_angle=45.0),
    # the ledge attack: 8% on action frame 25 as replays count it (the corpus's hits); the
    # hitbox's place, size, angle and knockback are the mock's choice (not measured)
    MoveDef("LEDGE_ATTACK", 24, 26, 9.0, 7.0, 6.0, 8.0, 45.0, 20.0, 60.0),
    # the throws (not hitboxes: the grabbed player takes them when released, on the throw's
    # action frame ``first`` (0-based), placed ``dx`` in front of the thrower). Release frame,
    # damage and angle are the corpus's (scripts/measure_moves.py: the grabbed player's first
    # frame out of Thrown*, the percent risen by then, the launch's median angle); base and
    # growth a rough least-squares fit on its launches. Back and up throws deal 2% (their
    # blaster shots, which follow the release, are not modelled); the down throws' damage
    # includes the shots fired before the release (Fox 4.73, Falco 4.73 on 1 and 2 throws)
    MoveDef("THROW_F", 13, 13, 8.3, 0.0, 0.0, 7.0, 45.0, 45.0, 66.0),
    MoveDef("THROW_F_FALCO", 11, 11, 9.5, 0.0, 0.0, 7.0, 45.0, 45.0, 70.0),
    MoveDef("THROW_B", 7, 7, -8.3, 0.0, 0.0, 2.0, 124.0, 88.0, 33.0),
    MoveDef("THROW_HI", 6, 6, 0.0, 0.0, 0.0, 2.0, 90.0, 85.0, 48.0),
    MoveDef("THROW_HI_FALCO", 5, 5, 0.0, 0.0, 0.0, 2.0, 90.0, 88.0, 40.0),
    MoveDef("THROW_LW", 32, 32, 8.3, 0.0, 0.0, 4.73, 288.0, 100.0, 80.0),
    MoveDef("THROW_LW_FALCO", 38, 38, 9.5, 0.0, 0.0, 4.73, 252.0, 100.0, 80.0),
    # the pummel: 3% on its first frame (the corpus: 11 of 13 pummels), Fox and Falco alike
    MoveDef("PUMMEL", 0, 0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0),
)

# the grab boxes: state -> (first, last action frame (0-based), dx, dy, radius); the catch
# frames are the corpus's, place and size the mock's choice
GRAB_BOXES: Final[dict[str, tuple[int, int, float, float, float]]] = {
    "GRAB": (6, 7, 8.0, 7.0, 4.0),
    "DASH_GRAB": (11, 12, 9.0, 7.0, 5.0),
}
M: Final[dict[str, int]] = {m.name: i for i, m in enumerate(MOVES)}
NUM_MOVES: Final = len(MOVES)

# per-character hits of a shared state: the move a port's hitbox in that state uses instead
# (the state, its frames and its hitbox's active frames are the same: only what it deals
# differs)
CHARACTER_MOVES: Final[dict[str, dict[str, str]]] = {"FALCO": {"UPB": "UPB_FALCO"}}


def character_moves(character_name: str) -> list[int]:
    """``out[state]``: the move (a :data:`MOVES` index, -1 for none) a port of that character
    hits with in ``state``: the state's own but for :data:`CHARACTER_MOVES`."""
    swap = CHARACTER_MOVES.get(character_name.upper(), {})
    out = [-1] * NUM_STATES
    for i, s in enumerate(STATES):
        if s.move:
            name = swap.get(s.move, s.move)
            a, b = MOVES[M[s.move]], MOVES[M[name]]
            assert (a.first, a.last, a.every) == (b.first, b.last, b.every), (s.move, name)
            out[i] = M[name]
    return out


_VARIANT_STATES: Final = ("WALK", "DEAD")  # their action id is the base plus a variant


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ints = np.zeros((NUM_STATES, 17), dtype=np.int64)
    for i, s in enumerate(STATES):
        landing = s.landing or "LANDING"
        thrown = "THROWN_" + s.throw.removesuffix("_FALCO").removeprefix("THROW_")
        ints[i] = (
            s.action,
            s.flags,
            s.duration,
            S[s.next] if s.next else i,
            M[s.move] if s.move else -1,
            S[landing],
            int(s.name in _VARIANT_STATES),
            s.af_shown,
            int(s.af_fixed),
            s.intangible,
            M[s.throw] if s.throw else -1,
            S[thrown] if s.throw else -1,
            s.intangible_from,
            S[s.off_edge] if s.off_edge else -1,
            s.still,
            s.shot,
            M[s.late] if s.late else -1,
        )
    moves = np.zeros((NUM_MOVES, 15), dtype=np.float64)
    for i, m in enumerate(MOVES):
        rad = math.radians(m.angle)
        air = math.radians(m.air_angle) if m.air_angle >= 0 else rad
        moves[i] = (
            m.first,
            m.last,
            m.dx,
            m.dy,
            m.radius,
            m.damage,
            math.cos(rad),
            math.sin(rad),
            m.base,
            m.growth,
            hitlag(m.damage),
            shieldstun(m.damage),
            m.every,
            math.cos(air),
            math.sin(air),
        )
    phys = np.array([(s.friction, s.gravity, s.anim) for s in STATES], dtype=np.float64)
    ints.setflags(write=False)
    moves.setflags(write=False)
    phys.setflags(write=False)
    return ints, moves, phys


STATE_TABLE, MOVE_TABLE, STATE_PHYS = _build_tables()
"""``STATE_TABLE[state]`` = (action, flags, duration, next, move, landing state, has variant,
added to the frame count in the action_frame column, that column fixed at -1, the frame
its intangibility ends before, the throw's move, the state the thrown player is in, the frame
its intangibility starts on, the state it goes on in off its surface (-1: none), its still
frames (OWN_FALL), the frame a laser loop fires on (-1: none), its late hit's move (-1: none));
``STATE_PHYS[state]`` = (its own friction, 0 for the character's; its own gravity; the
animation its action_frame column plays over its length, 0: it counts frames);
``MOVE_TABLE[move]`` = (first, last, dx, dy, radius, damage, cos, sin, base, growth, hitlag,
shieldstun, every: a multi-hit move's period, 0 for one hit, cos and sin of the angle for an
airborne defender)."""

(
    T_ACTION,
    T_FLAGS,
    T_DURATION,
    T_NEXT,
    T_MOVE,
    T_LANDING,
    T_VARIANT,
    T_AF_SHOWN,
    T_AF_FIXED,
    T_INTANGIBLE,
    T_THROW,
    T_THROWN,
    T_INTANGIBLE_FROM,
    T_OFF_EDGE,
    T_STILL,
    T_SHOT,
    T_LATE,
) = range(17)
(
    MV_FIRST,
    MV_LAST,
    MV_DX,
    MV_DY,
    MV_RADIUS,
    MV_DAMAGE,
    MV_COS,
    MV_SIN,
    MV_BASE,
    MV_GROWTH,
    MV_HITLAG,
    MV_SHIELDSTUN,
    MV_EVERY,
    MV_AIR_COS,
    MV_AIR_SIN,
) = range(15)


def _grab_box_table() -> np.ndarray:
    """``GRAB_BOX_TABLE[state]`` = (first, last, dx, dy, radius); first = -1: no grab box."""
    out = np.zeros((NUM_STATES, 5), dtype=np.float64)
    out[:, 0] = -1
    for name, box in GRAB_BOXES.items():
        out[S[name]] = box
    out.setflags(write=False)
    return out


GRAB_BOX_TABLE: Final = _grab_box_table()
