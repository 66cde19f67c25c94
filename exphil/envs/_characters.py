"""Per-character physics of the mock game: one :class:`CharacterPhysics` row per character.

The mock's kernel (``exphil.envs._kernel``, compiled for ``MockEnv``, run as plain Python by
the oracle ``exphil.envs._scalar``) reads a player's physics from the row of its character,
so a third character is one more row here (and its id in ``MOCK_CHARACTERS``). Every value
names its source in a comment:

* **published**: Melee's own attribute data (NTSC 1.02) as the community tables give it:
  SuperCombo Wiki, *Super Smash Bros. Melee/Attributes* (weight, fall and fast-fall speeds,
  gravity; its figures are SmashWiki's: https://www.ssbwiki.com/Weight,
  https://www.ssbwiki.com/Fast_fall), and the per-character attribute block of Melee's
  fighter files (``PlFx.dat`` / ``PlFc.dat``: jump squat, jump velocities, air mobility,
  traction...) as the modding community lists it;
* **measured**: what ``exphil mock calibrate`` (``exphil.envs.calibrate``) and the probes in
  docs/mockenv.md find on ``../shared/corpus`` (0.94 M Fox/Falco frames); where a value is
  both, the two agree exactly (the corpus's interquartile range is 0).

Units are Melee's: distance units (u), frames, u/frame, u/frame².
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from exphil.game.ids import Character

__all__ = ["CharacterPhysics", "PHYSICS", "physics", "FIELDS"]


@dataclass(frozen=True, slots=True)
class CharacterPhysics:
    """One character's movement physics and landing lags."""

    # --- air --------------------------------------------------------------------------------
    gravity: float  # u/frame² taken from the vertical speed each airborne frame
    terminal: float  # u/frame: the fall speed gravity stops at (positive)
    fast_fall: float  # u/frame: the fall speed of a fast fall (positive)
    air_speed: float  # u/frame: the drift limit at a full stick (times |stick x|)
    air_accel_base: float  # u/frame²: drift acceleration = base + stick * air_accel_stick
    air_accel_stick: float
    air_friction: float  # u/frame²: horizontal slow-down in the air without drift
    # --- jumps ------------------------------------------------------------------------------
    jump_squat: int  # frames of KNEE_BEND before the take-off
    full_hop: float  # u/frame: vertical speed on the take-off frame, jump held through squat
    short_hop: float  # u/frame: the same, jump released during the squat
    jump_h: float  # u/frame of horizontal take-off speed per unit of stick x
    jump_ground_mult: float  # share of the ground speed carried into a jump
    jump_h_max: float  # u/frame: the take-off's horizontal speed is clipped to this
    double_jump_mult: float  # the double jump's vertical speed = full_hop * this
    double_jump_h: float  # u/frame of horizontal double-jump speed per unit of stick x
    # --- ground -----------------------------------------------------------------------------
    walk_speed: float  # u/frame at a full stick (times stick x)
    dash_initial: float  # u/frame on the first frame of a dash
    dash_frames: int  # frames of DASH before RUN
    dash_length: int  # frames of a dash let go before it ends (it plays out, then a stand)
    run_speed: float  # u/frame: the dash and run speed cap at a full stick (times |stick x|)
    dash_accel_base: float  # u/frame² toward the cap: base + |stick x| * dash_accel_stick
    dash_accel_stick: float
    traction: float  # u/frame²: ground friction (also slows a dash above the cap)
    # --- body and landings --------------------------------------------------------------------
    weight: float  # Melee's weight in the knockback formula
    landing_lag: int  # frames of a normal LANDING
    nair_landing: int  # frames of NAIR_LANDING ... (not L-cancelled)
    fair_landing: int
    bair_landing: int
    uair_landing: int
    dair_landing: int
    lcancel_divisor: int  # an L-cancel divides an aerial's landing lag by this (floor)
    # ledges (measured on ../shared/corpus by scripts/measure_ledges.py; distances from the
    # stage's edge, positive outward, as replays record them)
    hang_dx: float  # where CLIFF_WAIT hangs: this far out from the edge,
    hang_y: float  # at this height
    climb_dx: float  # a climb ends standing this far inside the edge
    roll_dx: float  # a ledge roll ends this far inside
    ledge_attack_dx: float  # a ledge attack ends this far inside
    ledge_jump_dx: float  # a ledge jump's second part starts this far inside,
    ledge_jump_y: float  # at this height,
    ledge_jump_vy: float  # with this vertical speed (its first frame, no gravity yet)
    ledge_jump_vx: float  # and this horizontal speed toward the stage
    # grabs (measured on ../shared/corpus by scripts/measure_moves.py)
    hold_dx: float  # the grabbed player is held this far in front of the grabber (same y)
    # side-B (Fox's Illusion, Falco's Phantasm; measured on ../shared/corpus, docs/mockenv.md)
    sideb_speed: float  # u/frame of the dash's three moving frames
    sideb_end_vx: float  # u/frame: the ground end's speed as it starts (then by SIDEB_FRICTION_G)
    # up-B (Fire Fox, Fire Bird; measured on ../shared/corpus, docs/mockenv.md)
    upb_hold_gravity: float  # u/frame²: the air charge's fall after its 15 still frames
    upb_speed: float  # u/frame: the travel's speed on its first frames,
    upb_full: int  # this many of them,
    upb_decel: float  # then less this a frame,
    upb_frames: int  # over this many frames in all
    # lasers (neutral-B; measured on ../shared/corpus, docs/mockenv.md): the projectile's and
    # the blaster's item types as replays record them, the shot's speed and life (its timer
    # column counts down from it), and where it appears from the shooter (x by facing)
    laser_item: int
    gun_item: int
    laser_speed: float
    laser_life: int
    laser_dx_ground: float
    laser_dy_ground: float
    laser_dx_air: float
    laser_dy_air: float


FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(CharacterPhysics))

_FOX: Final = CharacterPhysics(
    gravity=0.23,  # published (SuperCombo Melee/Attributes, Gravity); measured 0.23 (IQR 0)
    terminal=2.8,  # published (SmashWiki Fast_fall, Melee); measured 2.8
    fast_fall=3.4,  # published (SmashWiki Fast_fall, Melee); measured 3.4
    air_speed=0.83,  # published (PlFx.dat max aerial h velocity); measured 0.82 = 0.83 x 0.9875,
    # the stick's usual full tilt (a GameCube stick rarely reads 1.0)
    air_accel_base=0.02,  # published (air mobility A); measured 0.0793 = 0.02 + 0.06 x 0.9875
    air_accel_stick=0.06,  # published (air mobility B); measured as above
    air_friction=0.02,  # published (aerial friction); measured 0.02 (5,430 samples, all 0.02)
    jump_squat=3,  # published (jump startup lag); measured 3 (IQR 0)
    full_hop=3.68,  # published (jump v initial velocity); measured 3.68 on the take-off frame
    short_hop=2.1,  # published (hop v initial velocity); measured 2.1
    jump_h=0.72,  # published (jump h initial velocity); measured 0.720 (least squares, exact)
    jump_ground_mult=0.83,  # published (ground-to-air momentum multiplier); measured 0.830
    jump_h_max=1.7,  # published (jump h max velocity); measured: no take-off above 1.7
    double_jump_mult=1.2,  # published (air jump v multiplier): 3.68 x 1.2 = 4.416, recorded
    # after that frame's gravity as 4.186 (measured 4.186, IQR 0)
    double_jump_h=0.88,  # measured: vx_air / stick x on the double jump's first frame (0.88)
    walk_speed=1.6,  # published (walk max velocity); too few clean walks in the corpus
    dash_initial=1.9,  # published (dash initial velocity); measured 1.9 (IQR 0)
    dash_frames=11,  # measured: 250 of 252 dashes that become a run last 11 frames
    dash_length=21,  # measured: every dash that ends in a stand (33) lasts 21 frames
    run_speed=2.2,  # published (dash & run terminal velocity); measured 2.1725 = 2.2 x 0.9875
    dash_accel_base=0.02,  # measured: 1.9 -> 2.0187 -> 2.1375 at stick 0.9875 is
    dash_accel_stick=0.1,  # 0.02 + 0.1 x 0.9875 = 0.11875 per frame (published A/B 0.02/0.1)
    traction=0.08,  # published (ground friction); measured 0.08 (LANDING, WAIT, SQUAT slides)
    weight=75.0,  # published (SuperCombo Melee/Attributes, Weight, from SmashWiki)
    landing_lag=4,  # published (normal landing lag); measured mode 4
    nair_landing=15,  # published; measured 15 (L-cancelled 7)
    fair_landing=22,  # published; measured 22 (11)
    bair_landing=20,  # published; measured 20 (10)
    uair_landing=18,  # published; measured 18 (9)
    dair_landing=18,  # published; measured 18 (9)
    lcancel_divisor=2,  # Melee halves the lag; measured 7/11/10/9/9 above
    hang_dx=1.92,  # measured: every CLIFF_WAIT on FD and Battlefield (68, IQR 0)
    hang_y=-14.4,  # measured (68, IQR 0)
    climb_dx=4.1,  # measured: first frame after CLIFF_CLIMB_QUICK (mode 4.1 of 7)
    roll_dx=34.8,  # measured (2 rolls)
    ledge_attack_dx=5.1,  # measured (1)
    ledge_jump_dx=0.4,  # measured: first frame of CLIFF_JUMP_QUICK_2 (6, IQR 0)
    ledge_jump_y=2.6,  # measured (6)
    ledge_jump_vy=4.0,  # measured: vy_self on that frame (26, all 4.0; 3.77 the next)
    ledge_jump_vx=1.1,  # measured: vx_air toward the stage (26, all 1.1)
    hold_dx=8.3,  # measured: the grabbed player in front of Fox in GRAB_WAIT (108 of 130)
    sideb_speed=18.72,  # measured: every whole dash (54 air, 1 ground) moves 3 x 18.72
    sideb_end_vx=2.2,  # measured: the ground end records 2.1, 2.0, ... (1 whole run)
    upb_hold_gravity=0.015,  # measured: vy -0.015, -0.03, ... from the charge's 16th frame (149)
    upb_speed=3.8,  # measured: every whole travel (56 of 60 run 30 frames): 3.8 on frames
    upb_full=5,  # 1-5, then 3.7, 3.6, ... 1.3 on frame 30
    upb_decel=0.1,
    upb_frames=30,
    laser_item=0x36,  # measured: every Fox shot's item type
    gun_item=0x4A,  # measured: the blaster Fox holds while shooting (timer 1400 throughout)
    laser_speed=7.0,  # measured: |vx| of every Fox shot (582), constant
    laser_life=34,  # measured: the timer starts at 34 (582 of 582); unhit shots last 34
    laser_dx_ground=16.5,  # measured (the ground shots: 16.5 in front, 7.7 up)
    laser_dy_ground=7.7,
    laser_dx_air=16.4,  # measured: the air shots' most frequent place (16.4, 12.4)
    laser_dy_air=12.4,
)

_FALCO: Final = CharacterPhysics(
    gravity=0.17,  # published (SuperCombo Melee/Attributes, Gravity); measured 0.17 (IQR 0)
    terminal=3.1,  # published (SmashWiki Fast_fall, Melee); measured 3.1
    fast_fall=3.5,  # published (SmashWiki Fast_fall, Melee); measured 3.5
    air_speed=0.83,  # published; measured 0.82 = 0.83 x 0.9875
    air_accel_base=0.02,  # published (air mobility A); measured 0.0694 = 0.02 + 0.05 x 0.9875
    air_accel_stick=0.05,  # published (air mobility B); measured as above
    air_friction=0.02,  # published; measured 0.02 (12,492 of 12,494 samples)
    jump_squat=5,  # published (jump startup lag); measured 5 (IQR 0)
    full_hop=4.1,  # published; measured 4.1 on the take-off frame
    short_hop=1.9,  # published; measured 1.9
    jump_h=0.7,  # published; measured 0.700 (least squares, exact)
    jump_ground_mult=1.0,  # published; measured 1.000
    jump_h_max=1.7,  # published; measured: no take-off above 1.7
    double_jump_mult=0.94,  # published: 4.1 x 0.94 = 3.854, recorded after that frame's
    # gravity as 3.684 (measured 3.684, IQR 0)
    double_jump_h=0.92,  # measured: vx_air / stick x on the double jump's first frame (0.92)
    walk_speed=1.4,  # measured: vx_ground / stick x in a steady walk is 1.4 (27 samples)
    dash_initial=1.9,  # published; measured 1.9 (IQR 0)
    dash_frames=11,  # measured: 254 of 261 dashes that become a run last 11 frames
    dash_length=21,  # measured: every dash that ends in a stand (36) lasts 21 frames
    run_speed=1.5,  # published; measured 1.4813 = 1.5 x 0.9875 (a dash starts above it
    # and slows by the traction: 1.9, 1.82, ... 1.5)
    dash_accel_base=0.02,  # not measurable (Falco's dash starts above its cap): Fox's values
    dash_accel_stick=0.1,
    traction=0.08,  # published; measured 0.08
    weight=80.0,  # published (SuperCombo Melee/Attributes, Weight, from SmashWiki)
    landing_lag=4,  # published; measured mode 4
    nair_landing=15,  # published; measured 15 (L-cancelled 7)
    fair_landing=22,  # published; measured 22 (11)
    bair_landing=20,  # published; measured 20 (10)
    uair_landing=18,  # published; measured 18 (9)
    dair_landing=18,  # published; measured 18 (9)
    lcancel_divisor=2,
    hang_dx=2.2,  # measured: every CLIFF_WAIT on FD and Battlefield (120, IQR 0)
    hang_y=-16.5,  # measured (120, IQR 0)
    climb_dx=4.7,  # measured (mode 4.7 of 7)
    roll_dx=39.9,  # measured (4, all 39.9)
    ledge_attack_dx=5.8,  # measured (mode of 3)
    ledge_jump_dx=0.2,  # measured (5, IQR 0)
    ledge_jump_y=2.3,  # measured (5)
    ledge_jump_vy=3.9,  # measured (28, all 3.9; 3.73 the next)
    ledge_jump_vx=1.0,  # measured (28, all 1.0)
    hold_dx=9.5,  # measured: in front of Falco in GRAB_WAIT (38 of 48)
    sideb_speed=16.5,  # measured: every whole dash (85 air, 2 ground) moves 3 x 16.5
    sideb_end_vx=1.5,  # measured: the ground end records 1.4, 1.3, ... (4 of 4 whole runs)
    upb_hold_gravity=0.016,  # measured: vy -0.016, -0.032, ... from the 16th frame (256)
    upb_speed=4.2,  # measured: every whole travel (116, 22 frames): 4.2 on frames 1-3,
    upb_full=3,  # then 4.03, 3.86, ... 0.97 on frame 22
    upb_decel=0.17,
    upb_frames=22,
    laser_item=0x37,  # measured: every Falco shot's item type
    gun_item=0x4B,  # measured: the blaster Falco holds while shooting (timer 1400 throughout)
    laser_speed=5.0,  # measured: |vx| of 1,009 of 1,069 Falco shots (5.0)
    laser_life=99,  # measured: the timer starts at 99 (1,832 of 1,832); unhit shots end at
    # the blast zone first (their last |x| 170-250)
    laser_dx_ground=10.6,  # measured (the ground shots: 10.6 in front, 8.1 up, 11 of 11)
    laser_dy_ground=8.1,
    laser_dx_air=14.6,  # measured: the air shots' most frequent place (14.6, 12.8)
    laser_dy_air=12.8,
)

PHYSICS: Final[dict[Character, CharacterPhysics]] = {
    Character.FOX: _FOX,
    Character.FALCO: _FALCO,
}


def physics(ch: Character) -> CharacterPhysics:
    """The physics row of ``ch``; a KeyError names the characters the mock has."""
    try:
        return PHYSICS[ch]
    except KeyError:
        names = ", ".join(c.display_name for c in PHYSICS)
        raise KeyError(f"the mock has physics for {names}, not {ch.display_name}") from None
