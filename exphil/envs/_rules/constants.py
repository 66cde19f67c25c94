"""The mock's rule constants: physics, controller thresholds, body, damage and shield,
the specials' numbers, ledges, the air dodge, and the knockback formulas."""

from __future__ import annotations

import math
from typing import Any, Final

__all__ = [
    "LCANCEL_WINDOW",
    "DEADZONE",
    "DASH_THRESHOLD",
    "TAP_JUMP",
    "DOWN_THRESHOLD",
    "UP_B_THRESHOLD",
    "DOWN_B_THRESHOLD",
    "SIDE_B_THRESHOLD",
    "CSTICK_THRESHOLD",
    "SHOULDER_THRESHOLD",
    "HURT_LOW",
    "HURT_HIGH",
    "HURT_RADIUS",
    "KB_DECAY",
    "KB_SPEED",
    "HITSTUN_PER_KB",
    "TUMBLE_KB",
    "SHIELD_MAX",
    "SHIELD_DECAY",
    "SHIELD_REGEN",
    "SHIELD_AFTER_BREAK",
    "SHIELD_BREAK_VY",
    "SHIELD_PUSH",
    "TECH_WINDOW",
    "LYING_MAX",
    "HALO_MAX",
    "RESPAWN_INVULNERABLE",
    "RESPAWN_HEIGHT",
    "DEAD_FRAMES",
    "UP_B_HOLD_STILL",
    "UP_B_HOLD_KEEP",
    "SHINE_AIR_VX",
    "SHINE_GRAVITY",
    "SIDEB_AIR_VX",
    "SIDEB_FRICTION_START",
    "SIDEB_END_VX_AIR",
    "SIDEB_FRICTION_END",
    "SIDEB_END_STILL",
    "SIDEB_GRAVITY",
    "SIDEB_FRICTION_G",
    "SIDEB_START_FRICTION_G",
    "CROUCH_CANCEL",
    "DI_MAX",
    "LASER_RADIUS",
    "GUN_TIMER",
    "GRAB_ESCAPE_BASE",
    "GRAB_ESCAPE_PER_PERCENT",
    "GRAB_MASH",
    "LEDGE_BOX_OUT",
    "LEDGE_BOX_TOP",
    "LEDGE_BOX_BOTTOM",
    "LEDGE_INTANGIBLE",
    "LEDGE_HANG_MAX",
    "LEDGE_REGRAB_DELAY",
    "LEDGE_SLOW_PERCENT",
    "AIRDODGE_SPEED",
    "AIRDODGE_DECAY",
    "AIRDODGE_GLIDE",
    "STOCKS",
    "TIME_LIMIT",
    "SPAWN_X",
    "knockback",
    "di_turn",
    "hitlag",
    "shieldstun",
]

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
