"""Crouch, crouch cancel and DI in the mock, held equal in the vectorized env and the scalar
oracle.

* Crouch (Melee's Squat states; the corpus's Fox/Falco runs, docs/mockenv.md): the main stick
  held down is SQUAT (0x27, 7 frames, action_frame from 1), then SQUAT_WAIT (0x28) while held;
  let go, SQUAT_RV (0x29, 10 frames), then a stand. All three are actionable (the corpus's
  crouches end most often in a shine, a jump, a down-tilt).
* Crouch cancel: a crouching player takes 2/3 of a hit's knockback (SmashWiki).
* DI: on the last frame of its hitlag a launched player's stick turns the launch by up to 18
  degrees, in proportion to the stick's part across the launch direction (SmashWiki).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from exphil.envs import MockConfig
from exphil.envs import _rules as R

from .test_ledges import Both, col, pad, runs

STANDING, SQUAT, SQUAT_WAIT, SQUAT_RV = 0x0E, 0x27, 0x28, 0x29
DOWN = pad(main_y=-1.0)


def _duo(name: str = "fox") -> Both:
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-40.0, y=0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    return b


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_holding_down_crouches_and_letting_go_stands_up(name: str) -> None:
    b = _duo(name)
    frames = b.step(DOWN, times=12) + b.step(times=12)
    action = col(frames, "action")
    assert runs(action, SQUAT) == [7] and runs(action, SQUAT_WAIT) == [5]
    assert runs(action, SQUAT_RV) == [10] and action[-1] == STANDING
    assert col(frames, "action_frame")[[0, 6, 7, 12]].tolist() == [1.0, 7.0, 0.0, 0.0]
    assert (col(frames, "x") == -40.0).all()  # a crouch does not move


@pytest.mark.parametrize(
    ("button", "want"),
    [("A", 0x39), ("B", 0x168), ("X", 0x18)],  # down-tilt, shine, jump squat
)
def test_a_crouch_is_actionable(button: str, want: int) -> None:
    """From SQUAT_WAIT (the stick still down): A is the down-tilt, B the shine, X a jump."""
    b = _duo()
    b.step(DOWN, times=9)
    assert col(b.step(pad(main_y=-1.0, buttons=(button,))), "action")[0] == want


def test_the_stick_sideways_stands_up_then_dashes() -> None:
    """The stick pushed sideways (no longer down) stands up first (SQUAT_RV), then dashes
    out of it."""
    b = _duo()
    b.step(DOWN, times=9)
    action = col(b.step(pad(main_x=1.0), times=2), "action")
    assert action.tolist() == [SQUAT_RV, 0x14]


def _hit_speed(crouch: bool, percent: float) -> float:
    """Fox's forward smash on Fox at ``percent``, crouching or standing: the launch speed on
    the hit frame."""
    b = Both(MockConfig(characters=("fox", "fox")))
    m = R.MOVES[R.M["FSMASH"]]
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=m.dx, y=0.0, facing=-1, percent=percent)
    victim = DOWN if crouch else pad()
    frames = b.step(pad(c_x=1.0), victim) + b.step(pad(), victim, times=m.first + 2)
    pct = col(frames, "percent", port=1)
    hit = int(np.flatnonzero(pct > percent)[0])
    if crouch:
        assert col(frames, "action", port=1)[hit - 1] in (SQUAT, SQUAT_WAIT)
    kbx = col(frames, "vx_knockback", port=1)[hit]
    kby = col(frames, "vy_knockback", port=1)[hit]
    return float(math.hypot(kbx, kby)) if kby else float(abs(kbx) / math.cos(math.radians(38)))


@pytest.mark.parametrize("percent", [20.0, 120.0])
def test_crouch_cancel_takes_two_thirds_of_the_knockback(percent: float) -> None:
    standing, crouching = _hit_speed(False, percent), _hit_speed(True, percent)
    assert crouching == pytest.approx(standing * R.CROUCH_CANCEL, rel=1e-5)


def _launch_angle(stick_x: float, stick_y: float) -> tuple[float, float]:
    """Fox's forward tilt (30 degrees) on Fox at 150%: the victim holds the stick at
    (stick_x, stick_y) from the hit through its hitlag. Returns the launch angle on the hit
    frame and after the hitlag (degrees, from the attacker's facing, +x)."""
    b = Both(MockConfig(characters=("fox", "fox")))
    m = R.MOVES[R.M["FTILT"]]
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=m.dx, y=0.0, facing=-1, percent=150.0)
    frames = b.step(pad(main_x=0.5, buttons=("A",))) + b.step(times=m.first - 1)
    frames += b.step(pad(), pad(main_x=stick_x, main_y=stick_y), times=20)
    pct = col(frames, "percent", port=1)
    hit = int(np.flatnonzero(pct > 150.0)[0])
    kbx = col(frames, "vx_knockback", port=1)
    kby = col(frames, "vy_knockback", port=1)
    lag = R.hitlag(m.damage)
    after = hit + lag + 1
    return (
        math.degrees(math.atan2(kby[hit], kbx[hit])),
        math.degrees(math.atan2(kby[after], kbx[after])),
    )


@pytest.mark.parametrize(
    ("stick", "turn"),
    [
        ((0.0, 0.0), 0.0),  # no DI
        ((0.2, 0.1), 0.0),  # in the dead zone: none
        ((-1.0, 0.0), 9.0),  # back, across a 30-degree launch by sin(30): half of 18 up
        ((0.0, -1.0), -18.0 * math.cos(math.radians(30))),  # down: turned down
        ((math.cos(math.radians(30)), math.sin(math.radians(30))), 0.0),  # along it: none
    ],
)
def test_di_turns_the_launch_by_the_stick_across_it(
    stick: tuple[float, float], turn: float
) -> None:
    before, after = _launch_angle(*stick)
    assert before == pytest.approx(30.0, abs=1e-3)
    assert after == pytest.approx(30.0 + turn, abs=1e-3)
