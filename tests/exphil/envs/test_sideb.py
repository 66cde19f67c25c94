"""Side-B in the mock (Fox's Illusion, Falco's Phantasm), held equal in the vectorized env and
the scalar oracle, against what the corpus shows (docs/mockenv.md: every side-B of the 79
Fox/Falco games of ``../shared/corpus``):

* ground 0x15B (start: Fox 19 frames, Falco 15), 0x15C (dash, 4 frames), 0x15D (end, 40
  frames), then a stand; in the air 0x15E, 0x15F, 0x160, then a helpless fall (0x23) whose
  landing is LANDING_SPECIAL (0x2B, 20 frames: 50 of 64 Falco landings, 20 of 29 Fox);
* the dash: still on its first frame, then 3 frames at 18.72 (Fox, 54 whole air dashes) or
  16.5 u/frame (Falco, 85); B cuts it short (the corpus's 1-, 2- and 3-frame dashes);
* the air start keeps 2/3 of the horizontal speed minus 0.05 a frame (0.83 -> 0.5, 0.45,
  ...), vy 0; the air end starts at 1.93 (then -0.07 a frame), still for 5 frames, then
  falls by 0.08 a frame; the ground end starts at 2.1 (Fox) or 1.4 (Falco), then -0.1 a frame;
* 7% (Fox 7 of 8 hits, Falco 9 of 10), Fox's launches at 80 degrees, Falco's straight up;
* off the stage's edge the ground dash goes on as the air dash at the same frame (Falco 3,
  Fox 1 in the corpus).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exphil.envs import MockConfig
from exphil.envs import _rules as R
from exphil.envs._characters import physics as _physics
from exphil.game.ids import character

from .test_ledges import EDGE, Both, col, pad, runs

STANDING, FALL_SPECIAL, LANDING_SPECIAL, DJUMP_F = 0x0E, 0x23, 0x2B, 0x1B
GROUND = (0x15B, 0x15C, 0x15D)  # start, dash, end
AIR = (0x15E, 0x15F, 0x160)
START = {"fox": 19, "falco": 15}
SPEED = {"fox": 18.72, "falco": 16.5}
DAMAGE = 7.0
AIR_Y = 150.0
BOTH = ["fox", "falco"]


def _ph(name: str) -> Any:
    return _physics(character(name))


def _side_b(direction: float = 1.0) -> Any:
    return pad(main_x=direction, buttons=("B",))


def _alone(name: str, x: float, y: float, facing: int) -> Both:
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=x, y=y, facing=facing)
    b.place(1, x=-x if abs(x) > 40 else 80.0, y=0.0, facing=-1)
    return b


@pytest.mark.parametrize("name", BOTH)
def test_ground_side_b_starts_dashes_ends_then_stands(name: str) -> None:
    """B with the stick sideways on the ground: the start (turned toward the stick), the dash
    (3 x the character's speed), the end sliding from its own speed, then a stand."""
    ph = _ph(name)
    start = START[name]
    b = _alone(name, -60.0, 0.0, facing=-1)  # facing away: side-B turns toward the stick
    frames = b.step(_side_b()) + b.step(times=start + 4 + 40 + 3)
    action = col(frames, "action")
    assert [runs(action, aid) for aid in GROUND] == [[start], [4], [40]]
    assert action[start + 44] == STANDING
    assert (col(frames, "facing") == 1).all()
    x = col(frames, "x")
    dash = x[start + 4 - 1] - x[start - 1]
    assert dash == pytest.approx(3 * SPEED[name], abs=1e-3)
    assert col(frames, "action_frame")[[0, start, start + 4]].tolist() == [1.0, 0.0, 0.0]
    end_vx = col(frames, "vx_ground")[start + 4 : start + 7]
    want = [ph.sideb_end_vx - R.SIDEB_FRICTION_G * k for k in (1, 2, 3)]
    assert end_vx == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("name", BOTH)
def test_the_ground_start_stops_a_dash_on_its_first_frame(name: str) -> None:
    """Out of a dash the ground start records 0 ground speed on its first frame and stays put
    (the corpus: both ground side-Bs out of a dash; the mock slid 26 units before)."""
    b = _alone(name, -60.0, 0.0, facing=1)
    b.step(pad(main_x=1.0), times=6)  # dashing at full speed
    frames = b.step(_side_b()) + b.step(times=START[name] - 1)
    assert runs(col(frames, "action"), GROUND[0]) == [START[name]]
    assert (col(frames, "vx_ground") == 0.0).all()
    assert np.ptp(col(frames, "x")) == 0.0


@pytest.mark.parametrize("name", BOTH)
def test_air_side_b_ends_helpless_and_lands_in_landing_special(name: str) -> None:
    """In the air: the start keeps 2/3 of vx (minus 0.05 a frame) and holds vy at 0, the dash
    moves straight across, the end slows and falls slowly, then the player is helpless (no
    double jump) until the landing, LANDING_SPECIAL for 20 frames."""
    start = START[name]
    b = _alone(name, -70.0, 100.0, facing=1)
    drift = b.step(pad(main_x=1.0), times=12)
    vx0 = float(col(drift, "vx_air")[-1])
    frames = b.step(_side_b()) + b.step(times=start + 4 + 40)
    action = col(frames, "action")
    assert [runs(action, aid) for aid in AIR] == [[start], [4], [40]]
    assert action[start + 44] == FALL_SPECIAL
    vx, vy = col(frames, "vx_air"), col(frames, "vy_self")
    assert vx[:2] == pytest.approx(
        [vx0 * R.SIDEB_AIR_VX - R.SIDEB_FRICTION_START, vx0 * R.SIDEB_AIR_VX - 0.1], abs=1e-5
    )
    assert (vy[: start + 4] == 0).all()
    end = start + 4
    assert vx[end : end + 2] == pytest.approx([1.93, 1.86], abs=1e-5)
    assert vy[end : end + 7] == pytest.approx([0, 0, 0, 0, 0, -0.08, -0.16], abs=1e-5)
    assert col(frames, "y")[end - 1] == pytest.approx(col(frames, "y")[0], abs=1e-4)
    # helpless: a jump press does nothing; then the landing
    later = b.step(pad(buttons=("X",))) + b.step(times=250)
    act = col(later, "action")
    assert DJUMP_F not in act.tolist()
    assert LANDING_SPECIAL in act.tolist()
    land = int(np.flatnonzero(act == LANDING_SPECIAL)[0])
    assert runs(act[land:], LANDING_SPECIAL)[0] == 20
    assert act[land + 20] == STANDING


@pytest.mark.parametrize("name", BOTH)
def test_b_cuts_the_dash_short(name: str) -> None:
    """B pressed again during the dash ends it there (the corpus's shortened side-Bs: 1, 2
    and 3 frames of dash)."""
    start = START[name]
    b = _alone(name, -60.0, 0.0, facing=1)
    frames = b.step(_side_b()) + b.step(times=start + 1) + b.step(_side_b()) + b.step(times=3)
    action = col(frames, "action")
    # the dash's frame 0 (still) and 1 (moving), then B: the end
    assert runs(action, GROUND[1]) == [2]
    assert action[start + 2] == GROUND[2]
    x = col(frames, "x")
    assert x[start + 1] - x[start - 1] == pytest.approx(SPEED[name], abs=1e-3)


@pytest.mark.parametrize("name", BOTH)
def test_the_dash_goes_on_in_the_air_off_the_edge(name: str) -> None:
    """A ground side-B toward the edge crosses it: the dash goes on as the air dash at the
    same frame, then the air end and a helpless fall (Melee's, as the corpus shows)."""
    start = START[name]
    b = _alone(name, EDGE - 20.0, 0.0, facing=1)
    frames = b.step(_side_b()) + b.step(times=start + 4 + 41)
    action = col(frames, "action")
    af = col(frames, "action_frame")
    moved = int(np.flatnonzero(action == AIR[1])[0])
    assert action[moved - 1] == GROUND[1] and af[moved] == af[moved - 1] + 1
    assert runs(action, AIR[2]) == [40] and action[-1] == FALL_SPECIAL
    assert not col(frames, "on_ground")[moved]


@pytest.mark.parametrize("name", BOTH)
def test_side_b_hits_along_its_path(name: str) -> None:
    """An opponent anywhere along the dash's path takes 7% once, launched upward (Fox's at
    80 degrees: up and a little forward; Falco's straight up; at 50% the knockback tumbles,
    so the grounded target is lifted)."""
    start = START[name]
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-60.0, y=0.0, facing=1)
    # mid-path, between two frames' positions
    b.place(1, x=-60.0 + 1.5 * SPEED[name], y=0.0, facing=-1, percent=50.0)
    frames = b.step(_side_b()) + b.step(times=start + 30)
    pct = col(frames, "percent", port=1)
    assert pct[-1] == pytest.approx(50.0 + DAMAGE)
    hit = int(np.flatnonzero(pct > 50.0)[0])
    assert col(frames, "action")[hit] == GROUND[1]
    kbx, kby = col(frames, "vx_knockback", port=1), col(frames, "vy_knockback", port=1)
    launched = int(np.flatnonzero(kby > 0)[0])
    angle = np.degrees(np.arctan2(kby[launched], kbx[launched]))
    assert angle == pytest.approx(80.0 if name == "fox" else 90.0, abs=0.5)


def test_side_b_needs_the_stick_sideways() -> None:
    """B with the stick short of 0.6 sideways is no side-B (the corpus's side-Bs start at
    0.6 to 1.0); up and down keep their specials (up-B, shine)."""
    for stick, side_b in ((0.5, False), (0.6, True), (-1.0, True)):
        b = _alone("fox", -60.0, 0.0, facing=1)
        action = col(b.step(pad(main_x=stick, buttons=("B",))), "action")
        assert (action[0] == GROUND[0]) == side_b, stick
    b = _alone("fox", -60.0, 0.0, facing=1)
    assert col(b.step(pad(main_x=1.0, main_y=-0.6, buttons=("B",))), "action")[0] == 0x168


def test_falcos_side_b_spikes_an_airborne_target() -> None:
    """Falco's Phantasm sends a grounded target up but an airborne one straight down (the
    corpus: 5 of its 6 airborne targets at -90 degrees); Fox's Illusion sends both up."""
    for name, down in (("falco", True), ("fox", False)):
        b = Both(MockConfig(characters=(name, name)))
        b.place(0, x=-60.0, y=80.0, facing=1)
        b.place(1, x=60.0, y=0.0, facing=-1)
        frames = b.step(_side_b()) + b.step(times=START[name] - 1)
        y = float(col(frames, "y")[-1])  # the target, put in the dash's path in the air
        b.place(1, x=-60.0 + 1.5 * SPEED[name], y=y, facing=-1, percent=50.0)
        kby = col(b.step(times=12), "vy_knockback", port=1)
        launched = kby[np.flatnonzero(kby)[0]]
        assert (launched < 0) == down, name
