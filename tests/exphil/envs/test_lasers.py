"""Lasers in the mock (neutral-B: Fox's and Falco's blasters), held equal in the vectorized
env and the scalar oracle, against what the corpus shows (docs/mockenv.md, "Lasers"; every
laser of the 79 Fox/Falco games of ``../shared/corpus``):

* air: 0x158 (4 frames; the blaster item appears), 0x159 (the loop: Fox 10 frames with the
  shot on frame 5, Falco 16 with the shot on 8; it starts over while B is held at its end),
  0x15A (22 frames), a fall; a landing is a normal LANDING (the short-hop laser);
* ground: 0x155 (6), 0x156 (Fox 10, shot on 5; Falco 24, shot on 16), 0x157 (Fox 24, Falco
  27), a stand;
* the shots: items 0x36 (Fox, 7 u/frame, timer from 34) and 0x37 (Falco, 5 u/frame, timer
  from 99), horizontal; the blasters 0x4A / 0x4B (timer 1400) while shooting;
* a hit: 3%; Falco's flinches (hitlag 4, set knockback 21, 8 frames of hitstun), Fox's does
  nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exphil.envs import MockConfig, MockEnv
from exphil.envs import _rules as R
from exphil.envs._characters import physics as _physics
from exphil.game.controls import Controls
from exphil.game.frames import BUTTON_BITS, Frames
from exphil.game.ids import Stage, character

from .test_ledges import Both, col, pad, runs

STANDING, FALLING, LANDING, SHIELD = 0x0E, 0x1D, 0x2A, 0xB3
GROUND = (0x155, 0x156, 0x157)
AIR = (0x158, 0x159, 0x15A)
LOOP = {"fox": 10, "falco": 16}
GROUND_LOOP = {"fox": 10, "falco": 24}
GROUND_END = {"fox": 24, "falco": 27}
SHOT = {"fox": 5, "falco": 8}
GROUND_SHOT = {"fox": 5, "falco": 16}
B = pad(buttons=("B",))
BOTH = ["fox", "falco"]


def _ph(name: str) -> Any:
    return _physics(character(name))


def _items(frames: list[Frames], kind: str) -> list[list[tuple[float, ...]]]:
    """Per frame, the items of ``kind`` ("laser" or "gun") as (slot, type, owner, x, y, vx,
    timer)."""
    out = []
    for f in frames:
        it = f.items
        row = []
        for s in range(it.exists.shape[1]):
            if not it.exists[0, s]:
                continue
            is_gun = float(it.timer[0, s]) == R.GUN_TIMER
            if is_gun == (kind == "gun"):
                row.append(
                    (s, int(it.type[0, s]), int(it.owner[0, s]), float(it.x[0, s]),
                     float(it.y[0, s]), float(it.vx[0, s]), float(it.timer[0, s]))
                )  # fmt: skip
        out.append(row)
    return out


def _alone(name: str, x: float, y: float, other: str = "fox") -> Both:
    b = Both(MockConfig(characters=(name, other)))
    b.place(0, x=x, y=y, facing=1)
    b.place(1, x=-80.0, y=0.0, facing=1)  # behind: out of the shots' way
    return b


@pytest.mark.parametrize("name", BOTH)
def test_an_air_laser_fires_once_per_loop(name: str) -> None:
    ph = _ph(name)
    loop = LOOP[name]
    b = _alone(name, -20.0, 120.0)
    frames = b.step(B) + b.step(times=4 + loop + 22 + 1)
    action = col(frames, "action")
    assert [runs(action, aid) for aid in AIR] == [[4], [loop], [22]]
    assert action[4 + loop + 22] == FALLING
    guns = _items(frames, "gun")
    assert all(len(g) == 1 for g in guns[: 4 + loop + 22]) and guns[4 + loop + 22] == []
    assert guns[0][0][1] == ph.gun_item and guns[0][0][2] == 0
    lasers = _items(frames, "laser")
    shot = 4 + SHOT[name]
    assert lasers[shot - 1] == [] and len(lasers[shot]) == 1
    _, typ, owner, x, y, vx, timer = lasers[shot][0]
    assert (typ, owner, vx, timer) == (ph.laser_item, 0, ph.laser_speed, ph.laser_life)
    px, py = col(frames, "x")[shot], col(frames, "y")[shot]
    assert x == pytest.approx(px + ph.laser_dx_air, abs=1e-4)
    assert y == pytest.approx(py + ph.laser_dy_air, abs=1e-4)
    # it flies straight on, the timer counting down
    nxt = lasers[shot + 1][0]
    assert nxt[3] == pytest.approx(x + ph.laser_speed, abs=1e-4) and nxt[6] == timer - 1


@pytest.mark.parametrize("name", BOTH)
def test_a_ground_laser(name: str) -> None:
    ph = _ph(name)
    loop, end = GROUND_LOOP[name], GROUND_END[name]
    b = _alone(name, -20.0, 0.0)
    frames = b.step(B) + b.step(times=6 + loop + end + 1)
    action = col(frames, "action")
    assert [runs(action, aid) for aid in GROUND] == [[6], [loop], [end]]
    assert action[6 + loop + end] == STANDING
    lasers = _items(frames, "laser")
    shot = 6 + GROUND_SHOT[name]
    assert len(lasers[shot]) == 1 and lasers[shot - 1] == []
    assert lasers[shot][0][4] == pytest.approx(ph.laser_dy_ground, abs=1e-4)
    assert col(frames, "action_frame")[[0, 6]].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("name", BOTH)
def test_b_held_at_the_loops_end_fires_again(name: str) -> None:
    """The loop starts over (action_frame back to 0) while B is held at its end: a second
    shot, one loop later."""
    loop = GROUND_LOOP[name]
    b = _alone(name, -20.0, 0.0)
    # B held through the first loop's end (and let go before the second's)
    frames = b.step(B, times=6 + 2 * loop - 1) + b.step(times=4)
    action = col(frames, "action")
    af = col(frames, "action_frame")
    assert runs(action, GROUND[1]) == [2 * loop]
    assert af[6 + loop - 1] == loop - 1 and af[6 + loop] == 0
    shots = [i for i, row in enumerate(_items(frames, "laser")) if len(row) > 0]
    first = 6 + GROUND_SHOT[name]
    assert len(_items(frames, "laser")[first + loop]) == 2  # the first flies on
    assert shots[0] == first


def test_a_short_hop_laser_lands_in_a_normal_landing() -> None:
    """Falco's short-hop laser: the loop is cut by the landing, LANDING for 4 frames."""
    b = _alone("falco", -20.0, 0.0)
    frames = b.step(pad(buttons=("X",))) + b.step(times=6) + b.step(B) + b.step(times=30)
    action = col(frames, "action")
    assert AIR[1] in action.tolist()
    land = int(np.flatnonzero(action == LANDING)[0])
    assert action[land - 1] in AIR
    assert runs(action[land:], LANDING)[0] == _ph("falco").landing_lag


@pytest.mark.parametrize("name", BOTH)
def test_an_unhit_shot_runs_out_or_leaves(name: str) -> None:
    """Fox's shot is gone when its timer runs out (34 frames); Falco's slower one flies on
    until it is past the blast zone's side (its timer of 99 would outlast it)."""
    ph = _ph(name)
    b = _alone(name, -60.0, 0.0)
    frames = b.step(B) + b.step(times=6 + GROUND_SHOT[name] + 120)
    lasers = _items(frames, "laser")
    alive = [i for i, row in enumerate(lasers) if row]
    life = alive[-1] - alive[0] + 1
    if name == "fox":
        assert life == ph.laser_life
    else:
        right = Stage.FINAL_DESTINATION.geometry.blast_right
        assert lasers[alive[-1]][0][3] <= right < lasers[alive[-1]][0][3] + ph.laser_speed
        assert life < ph.laser_life


@pytest.mark.parametrize("name", BOTH)
def test_a_laser_hit(name: str) -> None:
    """3%; Falco's flinches (hitlag 4, then 8 frames of hitstun: 12 in the damage state),
    Fox's changes nothing else (the target stands on)."""
    b = Both(MockConfig(characters=(name, "fox")))
    b.place(0, x=-20.0, y=0.0, facing=1)
    b.place(1, x=20.0, y=0.0, facing=-1)
    frames = b.step(B) + b.step(times=6 + GROUND_SHOT[name] + 20)
    pct = col(frames, "percent", port=1)
    assert pct[-1] == 3.0
    hit = int(np.flatnonzero(pct)[0])
    assert _items(frames, "laser")[hit] == []  # the shot is gone
    action = col(frames, "action", port=1)
    if name == "fox":
        assert (action == STANDING).all() and (col(frames, "hitlag", port=1) == 0).all()
    else:
        assert col(frames, "hitlag", port=1)[hit] == 4
        assert runs(action[hit:], action[hit])[0] == 4 + 8
        assert col(frames, "vx_knockback", port=1)[hit] == pytest.approx(21 * R.KB_SPEED)


def test_a_laser_on_a_shield() -> None:
    """A shielding target's shield takes the 3%, its percent nothing."""
    b = Both(MockConfig(characters=("falco", "fox")))
    b.place(0, x=-20.0, y=0.0, facing=1)
    b.place(1, x=20.0, y=0.0, facing=-1)
    shield = pad(buttons=("R",))
    frames = b.step(B, shield) + b.step(pad(), shield, times=6 + GROUND_SHOT["falco"] + 20)
    assert (col(frames, "percent", port=1) == 0).all()
    held = col(frames, "shield", port=1)
    assert held.min() < held[0] - 3.0 + 0.5  # the hit's 3 on top of the decay


@pytest.mark.parametrize("shiner", BOTH)
def test_a_shine_reflects_a_laser(shiner: str) -> None:
    """A laser reaching a player in the shine's start or loop turns back, now the shiner's
    (the corpus's reflections change the shot's owner and keep its timer); it then hits the
    one who fired it."""
    b = Both(MockConfig(characters=("falco", shiner)))
    b.place(0, x=-20.0, y=0.0, facing=1)
    b.place(1, x=20.0, y=0.0, facing=-1)
    shot = 6 + GROUND_SHOT["falco"]
    shine = pad(main_y=-1.0, buttons=("B",))
    frames = (
        b.step(B)
        + b.step(times=shot - 3)
        + b.step(pad(), shine)
        + b.step(pad(), pad(buttons=("B",)), times=30)
    )
    lasers = _items(frames, "laser")
    owners = [row[0][2] for row in lasers if row]
    assert owners[0] == 0 and 1 in owners  # reflected: the shiner's
    turned = next(row[0] for row in lasers if row and row[0][2] == 1)
    assert turned[5] == -_ph("falco").laser_speed
    assert (col(frames, "percent", port=1) == 0).all()
    assert col(frames, "percent", port=0)[-1] == 3.0  # back into Falco


def test_the_env_state_carries_the_lasers_in_flight() -> None:
    """state_dict / load_state_dict round-trip the items: the next steps are identical; a
    state saved before the mock had items loads with none."""
    cfg = MockConfig(characters=("falco", "fox"))
    env = MockEnv(2, cfg)
    z = np.zeros(2)

    def ctl(b: int = 0) -> Controls:
        return Controls(z, z, z, z, z, np.full(2, b, dtype=np.uint8))

    env.step(ctl(BUTTON_BITS["B"]), ctl())
    for _ in range(6 + GROUND_SHOT["falco"]):
        env.step(ctl(), ctl())
    assert env.frames.items.exists.sum() == 4  # a blaster and a shot in each game
    state = env.state_dict()
    twin = MockEnv(2, cfg)
    twin.load_state_dict(state)
    for _ in range(5):
        a, b = env.step(ctl(), ctl()).frames.items, twin.step(ctl(), ctl()).frames.items
        assert all(np.array_equal(v, getattr(b, k)) for k, v in a.columns().items())
    old = {k: v for k, v in state.items() if not k.startswith("item_")}
    twin.load_state_dict(old)
    assert not twin.frames.items.exists.any()


def test_falcos_laser_launches_an_airborne_target_at_45_degrees() -> None:
    """On the ground Falco's shot pushes horizontally; in the air at 45 degrees (the corpus's
    airborne targets: 36-61, most often 45). Both Falcos fall side by side, one shooting."""
    b = Both(MockConfig(characters=("falco", "falco")))
    b.place(0, x=-20.0, y=120.0, facing=1)
    b.place(1, x=-2.0, y=120.0, facing=-1)  # just past where the shot appears
    frames = b.step(B) + b.step(times=4 + SHOT["falco"] + 8)
    kbx, kby = col(frames, "vx_knockback", port=1), col(frames, "vy_knockback", port=1)
    hit = int(np.flatnonzero(kbx)[0])
    assert not col(frames, "on_ground", port=1)[hit]
    assert np.degrees(np.arctan2(kby[hit], kbx[hit])) == pytest.approx(45.0, abs=1e-3)
