"""Issue 17's moves in the mock (up-tilt, up-smash, down-smash, up-air, the down-airs, the
shine, the down-tilt, grabs, the pummel and the four throws), held equal in the vectorized env
and the scalar oracle, against Melee's frame data and what ``exphil mock calibrate`` measures
on ``../shared/corpus``.

The figures are restated here from docs/mockenv.md (the corpus's whole runs and hits,
``scripts/measure_moves.py``, and Melee's frame data), so a table change that drifts from
them fails.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from exphil.envs import MockConfig
from exphil.envs import _rules as R
from exphil.envs._characters import physics as _physics
from exphil.game.ids import character

from .test_ledges import Both, N, col, pad, runs

STANDING, FALLING, NAIR = 0x0E, 0x1D, 0x41

# (character, move) -> (input, action id, total frames, damage of its hit); inputs (all A with
# the main stick): "utilt" (tilted up), "smash_up" / "smash_down" (pushed hard up or down on
# that frame), "air_up" / "air_down" (up short of a tap jump, or down, in the air)
MOVES: dict[tuple[str, str], tuple[str, int, int, float]] = {
    ("fox", "UTILT"): ("utilt", 0x38, 23, 9.0),
    ("falco", "UTILT"): ("utilt", 0x38, 23, 9.0),
    ("fox", "USMASH"): ("smash_up", 0x3F, 41, 18.0),
    ("falco", "USMASH"): ("smash_up", 0x3F, 49, 14.0),
    ("fox", "DSMASH"): ("smash_down", 0x40, 49, 15.0),
    ("falco", "DSMASH"): ("smash_down", 0x40, 49, 16.0),
    ("fox", "UAIR"): ("air_up", 0x44, 39, 13.0),
    ("falco", "UAIR"): ("air_up", 0x44, 39, 10.0),
    ("falco", "DAIR"): ("air_down", 0x45, 49, 12.0),
    ("fox", "DTILT"): ("dtilt", 0x39, 29, 10.0),
    ("falco", "DTILT"): ("dtilt", 0x39, 29, 13.0),
    # the first moves, measured since (scripts/measure_moves.py on the corpus: the most
    # frequent whole-run length and clean damage per hit)
    ("fox", "JAB"): ("jab", 0x2C, 17, 4.0),
    ("falco", "JAB"): ("jab", 0x2C, 17, 4.0),
    ("falco", "FTILT"): ("ftilt", 0x35, 26, 9.0),
    ("fox", "FSMASH"): ("fsmash", 0x3C, 39, 15.0),
    ("falco", "FSMASH"): ("fsmash", 0x3C, 39, 17.0),
    ("fox", "DASH_ATTACK"): ("dash_attack", 0x32, 39, 7.0),
    ("falco", "DASH_ATTACK"): ("dash_attack", 0x32, 39, 9.0),
    ("fox", "NAIR"): ("nair", 0x41, 49, 12.0),
    ("falco", "NAIR"): ("nair", 0x41, 49, 12.0),
    ("fox", "FAIR"): ("fair", 0x42, 59, 7.0),
    ("falco", "FAIR"): ("fair", 0x42, 59, 9.0),
    ("fox", "BAIR"): ("bair", 0x43, 39, 15.0),
    ("falco", "BAIR"): ("bair", 0x43, 39, 15.0),
}
AIR = {"UAIR", "DAIR", "NAIR", "FAIR", "BAIR"}
AIR_Y = 175.0  # high enough that a move (the forward air: 59 frames) ends before the landing


_STICK_Y = {
    "utilt": 0.5,
    "smash_up": 1.0,
    "smash_down": -1.0,
    "air_up": 0.6,
    "air_down": -1.0,
    "dtilt": -1.0,
}


_STICK_X = {"ftilt": 0.5, "dash_attack": 1.0, "fair": 0.5, "bair": -0.5}


def _press(how: str) -> Any:
    if how == "fsmash":  # the c-stick forward
        return pad(c_x=1.0)
    return pad(main_x=_STICK_X.get(how, 0.0), main_y=_STICK_Y.get(how, 0.0), buttons=("A",))


def _prime(b: Both, how: str) -> None:
    """The down-tilt's A comes with the stick already held down (the frame before: in Melee a
    crouch); A with the stick pushed down on that frame is the down-smash."""
    if how == "dtilt":
        b.step(pad(main_y=-1.0))
        b.frames.clear()
    elif how == "dash_attack":  # running: a dash held past its dash frames
        b.step(pad(main_x=1.0), times=14)
        b.frames.clear()


def _state(name: str, move: str) -> R.StateDef:
    picked = R.character_states(name)
    key = R.NUM_STATES if move == "DAIR" else R.S[move]
    return R.STATES[picked[key]]


@pytest.mark.parametrize(("name", "move"), list(MOVES))
def test_the_move_lasts_its_frame_data_and_ends(name: str, move: str) -> None:
    """Alone on the stage (the opponent far away), the move shows its action id for exactly
    its total frames, then the player stands (ground moves) or falls (aerials)."""
    how, aid, total, _ = MOVES[(name, move)]
    b = Both(MockConfig(characters=(name, name)))
    air = move in AIR
    b.place(0, x=-30.0, y=AIR_Y if air else 0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    _prime(b, how)
    frames = b.step(_press(how)) + b.step(times=total + 5)
    action = col(frames, "action")
    assert action[0] == aid
    assert runs(action, aid) == [total]
    assert action[total] == (FALLING if air else STANDING)
    assert col(frames, "action_frame")[:3].tolist() == [1.0, 2.0, 3.0]  # as replays count


@pytest.mark.parametrize(("name", "move"), list(MOVES))
def test_the_move_deals_its_frame_data_damage(name: str, move: str) -> None:
    """The opponent put where the hitbox comes out takes the move's damage, once."""
    how, aid, total, damage = MOVES[(name, move)]
    m = R.MOVES[R.M[_state(name, move).move]]
    assert m.damage == damage
    b = Both(MockConfig(characters=(name, name)))  # a ditto: both fall alike in the air
    y0 = AIR_Y if move in AIR else 0.0
    b.place(0, x=0.0, y=y0, facing=1)
    b.place(1, x=m.dx, y=y0 + (m.dy - 7.0 if move in AIR else 0.0), facing=-1)
    _prime(b, how)
    if how == "dash_attack":  # the run moved the attacker: the target goes where it slides
        x0 = float(b.env.frames.players[0].x[0])
        b.place(1, x=x0 + m.dx + 6.0, y=0.0, facing=-1)
    frames = b.step(_press(how)) + b.step(times=total)
    pct = col(frames, "percent", port=1)
    assert pct[-1] == pytest.approx(damage)
    # the hit lands on the move's first active frame (as replays count: from 1)
    first = int(pct.nonzero()[0][0])
    assert col(frames, "action")[first] == aid
    assert col(frames, "action_frame")[first] == m.first + 1


def test_fox_down_air_is_a_drill_of_seven_3_percent_hits() -> None:
    """Fox's down-air (0x45, 49 frames) hits every 3 frames from replay frame 5 to 23, 3%
    each (the corpus: hits on action frames 5, 8, ..., 23, 3% fresh); an opponent right under
    it takes several hits in a row (their small set knockback lets them chain)."""
    m = R.MOVES[R.M["DAIR_FOX"]]
    assert (m.first, m.last, m.every, m.damage) == (4, 22, 3, 3.0)
    assert _state("fox", "DAIR").name == "DAIR_FOX"
    b = Both(MockConfig(characters=("fox", "fox")))
    b.place(0, x=-30.0, y=AIR_Y, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    action = col(b.step(_press("air_down")) + b.step(times=55), "action")
    assert runs(action, 0x45) == [49] and action[49] == FALLING
    b = Both(MockConfig(characters=("fox", "fox")))
    b.place(0, x=0.0, y=AIR_Y, facing=1)
    b.place(1, x=0.0, y=AIR_Y + m.dy - 7.0, facing=-1)
    frames = b.step(_press("air_down")) + b.step(times=40)
    pct = col(frames, "percent", port=1)
    steps = np.diff(np.concatenate([[0.0], pct]))
    hits = np.flatnonzero(steps > 0)
    assert set(steps[hits].tolist()) == {3.0} and len(hits) >= 3
    # each lands on a frame of the drill (as replays count: 5, 8, ...), hitlag in between
    assert col(frames, "action_frame")[hits[0]] == 5
    assert all(int(af - 5) % 3 == 0 for af in col(frames, "action_frame")[hits])


def test_falco_down_air_spikes() -> None:
    """Falco's down-air sends down (its angle, 290 degrees, points below the horizontal)."""
    b = Both(MockConfig(characters=("falco", "falco")))
    m = R.MOVES[R.M["DAIR_FALCO"]]
    b.place(0, x=0.0, y=AIR_Y, facing=1)
    b.place(1, x=m.dx, y=AIR_Y + m.dy - 7.0, facing=-1)
    frames = b.step(_press("air_down")) + b.step(times=m.first + 8)
    y = col(frames, "y", port=1)
    vy = col(frames, "vy_knockback", port=1)
    assert vy.min() < 0 and (vy <= 0).all()
    assert y[-1] < AIR_Y + m.dy - 7.0


@pytest.mark.parametrize(("name", "damage"), [("fox", 14.0), ("falco", 16.0)])
def test_the_up_b_travel_deals_the_characters_damage(name: str, damage: float) -> None:
    """Fire Fox's travel (0x164) hits for 14%, Fire Bird's for 16% (the corpus: 17 of Fox's
    20 up-B hits and 15 of Falco's 20): the same state and frames, each character's hit."""
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=0.0, facing=1)
    b.place(1, x=30.0, y=0.0, facing=-1)
    # the charge (42 frames), then the travel along the ground toward the opponent
    frames = b.step(pad(main_y=1.0, buttons=("B",))) + b.step(pad(main_x=1.0), times=70)
    pct = col(frames, "percent", port=1)
    assert pct.max() == pytest.approx(damage)
    assert col(frames, "action")[int(pct.nonzero()[0][0])] == 0x164


@pytest.mark.parametrize("name", ["fox", "falco"])
@pytest.mark.parametrize(
    ("move", "late", "damage"),
    [("NAIR", (8, 31), (9.0, 9.0)), ("BAIR", (8, 19), (9.0, 9.0)), ("FAIR", (16, 18), (5.0, 8.0))],
)
def test_an_aerials_late_hit_deals_its_damage_on_its_frames(
    name: str, move: str, late: tuple[int, int], damage: tuple[float, float]
) -> None:
    """The neutral and back airs hit for 9% after their clean frames (replay frames 8-31 and
    8-19; the corpus: every late 9% within them), the forward airs for 5% (Fox) and 8% (Falco)
    on 16-18; once a state (a clean hit leaves no late one); past the late frames nothing
    hits."""
    state = R.character_states(name)[R.S[move]]
    m = R.MOVES[R.STATE_TABLE[state, R.T_LATE]]
    dmg = damage[name == "falco"]
    assert (m.first + 1, m.last + 1, m.damage) == (*late, dmg)
    for at, want in ((late[0], dmg), (late[1], dmg), (late[1] + 1, 0.0)):
        b = Both(MockConfig(characters=(name, name)))
        b.place(0, x=0.0, y=AIR_Y, facing=1)
        b.place(1, x=60.0, y=0.0, facing=-1)
        b.step(_press(move.lower()))
        b.step(times=at - 2)  # the move's replay frame at - 1 shown: the target comes in
        x0, y0 = (float(getattr(b.env.frames.players[0], k)[0]) for k in ("x", "y"))
        b.place(1, x=x0 + m.dx, y=y0 + m.dy - 7.0, facing=-1)
        frames = b.step(times=3)
        pct = col(frames, "percent", port=1)
        assert pct.max() == want, (at, pct)
        if want:  # it lands on that frame, as replays count
            assert col(frames, "action_frame")[int(pct.nonzero()[0][0])] == at
    # a clean hit, then the target still in the hitbox: no late hit on top
    clean = R.MOVES[R.STATE_TABLE[state, R.T_MOVE]]
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=0.0, y=AIR_Y, facing=1)
    b.place(1, x=clean.dx, y=AIR_Y + clean.dy - 7.0, facing=-1)
    frames = b.step(_press(move.lower())) + b.step(times=late[1])
    assert col(frames, "percent", port=1).max() == clean.damage


@pytest.mark.parametrize("name", ["fox", "falco"])
@pytest.mark.parametrize("l_cancel", [False, True])
def test_an_aerial_landing_plays_its_animation_in_the_action_frame(
    name: str, l_cancel: bool
) -> None:
    """A landing's action_frame column reads k x 30.1 / lag on its k-th frame, as replays do
    (the corpus: every neutral-air landing of Fox and Falco, 0, 2.007, 4.013, ... over 15
    frames; L-cancelled 0, 4.3, 8.6, ... over 7), not a frame count."""
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=0.0, y=25.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    frames = b.step(_press("nair"))
    for k in range(60):  # L pressed every other frame: the last press is in the window
        frames += b.step(pad(buttons=("L",)) if l_cancel and k % 2 == 0 else N)
    action = col(frames, "action")
    lag = 7 if l_cancel else 15
    assert runs(action, 0x46) == [lag]
    shown = col(frames, "action_frame")[action == 0x46]
    assert shown.tolist() == pytest.approx([k * R.LANDING_ANIM / lag for k in range(lag)])
    assert shown[1] == pytest.approx(4.3 if l_cancel else 2.007, abs=1e-3)


# --- against the corpus ------------------------------------------------------------------
STALE_ONCE = 0.91


@pytest.fixture(scope="module")
def corpus_damage(corpus_calibration: list[dict[str, Any]]) -> dict[str, dict[int, Any]]:
    return {c["character"]: {d["action"]: d for d in c["damage"]} for c in corpus_calibration}


# the moves frequent enough in the subset to be among calibrate's damaging actions, and which
# of the two most frequent damages per hit the mock's one hitbox is (the up-airs' second,
# strong hit; the first of Fox's up-air is 5%)
# (the down-tilts are too rare for the subset: 16 and 17 hits in all 79 games; their figures,
# restated in MOVES, are scripts/measure_moves.py's on the whole corpus)
CORPUS_MOVES = {
    ("fox", "USMASH"): 0,
    ("fox", "UTILT"): 0,
    ("fox", "UAIR"): None,
    ("falco", "DAIR"): 0,
    ("fox", "DAIR"): None,  # a drill of 3% hits: 3 or 2.73 (staled once)
    ("falco", "UTILT"): 0,
    ("falco", "UAIR"): None,
    ("fox", "BAIR"): 0,
    ("falco", "BAIR"): 0,
    ("fox", "NAIR"): 0,
    ("falco", "NAIR"): 0,
    ("falco", "JAB"): 0,
}


@pytest.mark.slow
@pytest.mark.parametrize(("name", "move"), list(CORPUS_MOVES))
def test_the_move_deals_what_the_replays_measure(
    corpus_damage: dict[str, dict[int, Any]], name: str, move: str
) -> None:
    _, aid, _, damage = MOVES.get((name, move)) or ("air_down", 0x45, 49, 3.0)
    row = corpus_damage[name].get(aid)
    assert row is not None, f"{name}: {aid:#x} not among calibrate's damaging actions"
    modes = row["damage_modes"]
    rank = CORPUS_MOVES[(name, move)]
    if rank is None:  # a two-hit move: the mock's hit is one of the two most frequent, fresh
        # or staled once (Melee's stale-move negation takes 9% off: Fox's 13 reads 11.83)
        assert damage in modes or round(damage * STALE_ONCE, 2) in modes, (name, move, modes)
    else:
        assert modes[rank] == damage, (name, move, modes)


# --- shine (down-B) -------------------------------------------------------------------------
# Melee's SpecialLw states, as the corpus shows them (scripts/measure_moves.py): start 3
# frames with the hit on its first, loop at least 18 frames and while B is held, end 18
# frames; jump-cancellable from the loop (the shine's 4th frame)
SHINE_G = (0x168, 0x169, 0x16B)  # start, loop, end on the ground
SHINE_A = (0x16D, 0x16E, 0x170)  # in the air
SHINE_LENGTHS = (3, 18, 18)  # every uninterrupted shine of the corpus: 39 frames
SHINE_DAMAGE = {"fox": 5.0, "falco": 8.0}
KNEE_BEND, DJUMP_F = 0x18, 0x1B
_SHINE = pad(main_y=-1.0, buttons=("B",))
_HOLD_B = pad(buttons=("B",))


def character_physics(name: str) -> Any:
    return _physics(character(name))


def _shine_state(name: str, where: str) -> R.StateDef:
    return R.STATES[R.character_states(name)[R.S[f"SHINE_START_{where}"]]]


@pytest.mark.parametrize("name", ["fox", "falco"])
@pytest.mark.parametrize("air", [False, True])
def test_a_tapped_shine_lasts_39_frames(name: str, air: bool) -> None:
    """B tapped with the stick down: start 3, loop 18, end 18 frames (the corpus's every
    uninterrupted shine), then standing or falling; the start counts from 1, the loop and end
    from 0 (as replays)."""
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=AIR_Y if air else 0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    frames = b.step(_SHINE) + b.step(times=45)
    action = col(frames, "action")
    ids = SHINE_A if air else SHINE_G
    assert [runs(action, a) for a in ids] == [[n] for n in SHINE_LENGTHS]
    assert action[:39].tolist() == [
        a for a, n in zip(ids, SHINE_LENGTHS, strict=True) for _ in range(n)
    ]
    assert action[39] == (FALLING if air else STANDING)
    af = col(frames, "action_frame")
    assert af[:5].tolist() == [1.0, 2.0, 3.0, 0.0, 1.0]


@pytest.mark.parametrize("name", ["fox", "falco"])
@pytest.mark.parametrize("held", [10, 30])
def test_the_shine_loops_while_b_is_held(name: str, held: int) -> None:
    """The loop lasts 18 frames at least, and past that until the frame after B is let go
    (the corpus: let go on loop frame 44, the loop lasted 45)."""
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    frames = b.step(_SHINE) + b.step(_HOLD_B, times=held) + b.step(times=60)
    loop = runs(col(frames, "action"), 0x169)
    # B is held on frames 0..held; the loop starts on frame 3 and is let go on loop frame held-2
    assert loop == [max(18, held - 1)]


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_shine_damage_and_knockback(name: str) -> None:
    """The hit lands on the shine's first frame (the corpus's every hit: action frame 1) with
    the frame data's damage; Fox's launches sideways at a set speed (knockback 80 at any
    percent: the corpus's median 80.1, IQR 3.7, angle 0), Falco's straight up (84 degrees,
    the corpus's median 83.8) and harder with percent."""
    speeds = []
    for pct in (0.0, 100.0):
        b = Both(MockConfig(characters=(name, name)))
        b.place(0, x=0.0, y=0.0, facing=1)
        b.place(1, x=5.0, y=0.0, facing=-1, percent=pct)
        frames = b.step(_SHINE) + b.step(times=8)
        got = col(frames, "percent", port=1)
        assert got[0] == pytest.approx(pct + SHINE_DAMAGE[name])
        assert got[-1] == got[0]  # once
        assert col(frames, "action_frame")[0] == 1.0
        kx, ky = col(frames, "vx_knockback", port=1)[0], col(frames, "vy_knockback", port=1)[0]
        speeds.append(math.hypot(kx, ky))
        if name == "fox":
            assert kx > 0 and ky == 0.0
            assert math.hypot(kx, ky) == pytest.approx(80 * R.KB_SPEED, abs=1e-5)
        else:
            assert math.degrees(math.atan2(ky, kx)) == pytest.approx(84.0, abs=1e-3)
    m = R.MOVES[R.M[_shine_state(name, "G").move]]
    assert (m.first, m.last, m.damage) == (0, 0, SHINE_DAMAGE[name])
    if name == "falco":
        assert speeds[1] > speeds[0]
    else:
        assert speeds[1] == pytest.approx(speeds[0])


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_the_shine_is_intangible_on_its_first_frame(name: str) -> None:
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    frames = b.step(_SHINE) + b.step(times=2)
    assert col(frames, "invulnerable").tolist() == [True, False, False]


@pytest.mark.parametrize("name", ["fox", "falco"])
@pytest.mark.parametrize("air", [False, True])
def test_shine_jump_cancel(name: str, air: bool) -> None:
    """A jump press cancels the loop from the shine's 4th frame (the corpus's earliest: a jump
    after 3 shine frames), into a squat on the ground or a double jump in the air; not the
    start."""
    ph = character_physics(name)
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=AIR_Y if air else 0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    jump = pad(buttons=("B", "X"))
    # X pressed on the start's 2nd frame: nothing; pressed again on the 4th: the cancel
    frames = b.step(_SHINE) + b.step(jump) + b.step(_HOLD_B) + b.step(jump) + b.step(times=6)
    action = col(frames, "action")
    start = SHINE_A[0] if air else SHINE_G[0]
    assert action[:3].tolist() == [start] * 3
    if air:
        assert action[3] == DJUMP_F
        assert col(frames, "jumps_left")[3] == 0
        # as recorded: after its first frame's gravity (the corpus: Fox's 4.186)
        want = ph.full_hop * ph.double_jump_mult - ph.gravity
        assert col(frames, "vy_self")[3] == pytest.approx(want, abs=1e-5)
    else:
        assert action[3 : 3 + ph.jump_squat].tolist() == [KNEE_BEND] * ph.jump_squat


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_air_shine_stalls(name: str) -> None:
    """In the air the shine halves the horizontal speed, holds still for 4 frames (vy 0), then
    falls at 0.08/3 per frame through the loop and the end (the corpus's every air shine:
    0, 0, 0, 0, -0.0267, -0.0533, ...), far slower than the character's gravity; it cannot
    fast-fall; landing in the loop goes on in the ground loop at the same frame."""
    ph = character_physics(name)
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=AIR_Y, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    fall = b.step(pad(main_x=1.0), times=10)  # drift, then shine while holding down
    vx0 = col(fall, "vx_air")[-1]
    frames = b.step(_SHINE) + b.step(pad(main_y=-1.0), times=38)
    vy = col(frames, "vy_self")
    assert col(frames, "vx_air")[0] == pytest.approx(vx0 * R.SHINE_AIR_VX - ph.air_friction)
    assert vy[:4].tolist() == [0.0] * 4
    want = -np.arange(1, 36, dtype=np.float64) * R.SHINE_GRAVITY
    np.testing.assert_allclose(vy[4:39], want, rtol=1e-5)
    assert ph.gravity / 5 > R.SHINE_GRAVITY
    assert col(frames, "action")[38] == SHINE_A[2]
    # a shine just above the stage lands in the ground loop and keeps counting
    b = Both(MockConfig(characters=(name, name)))
    b.place(0, x=-30.0, y=1.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    frames = b.step(_SHINE) + b.step(times=40)
    action = col(frames, "action")
    landed = int(np.flatnonzero(action == SHINE_G[1])[0])
    af = col(frames, "action_frame")
    assert action[landed - 1] == SHINE_A[1]
    assert af[landed] == af[landed - 1] + 1
    assert runs(action, SHINE_A[1])[0] + runs(action, SHINE_G[1])[0] == 18


def test_shine_needs_the_stick_down() -> None:
    """B with the stick neutral is not a shine (it is the lasers' neutral-B)."""
    b = Both(MockConfig(characters=("fox", "fox")))
    b.place(0, x=-30.0, y=0.0, facing=1)
    b.place(1, x=60.0, y=0.0, facing=-1)
    assert col(b.step(pad(buttons=("B",))), "action")[0] == 0x155


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fox", "falco"])
@pytest.mark.parametrize("start", [SHINE_G[0], SHINE_A[0]])
def test_shine_deals_what_the_replays_measure(
    corpus_damage: dict[str, dict[int, Any]], name: str, start: int
) -> None:
    """The most frequent damage per hit of the shine's start (ground and air) in the subset is
    the frame data's: Fox 5%, Falco 8%."""
    row = corpus_damage[name].get(start)
    assert row is not None, f"{name}: {start:#x} not among calibrate's damaging actions"
    assert row["damage_modes"][0] == SHINE_DAMAGE[name], (name, row)


# --- grabs and throws -------------------------------------------------------------------------
# the corpus's figures (scripts/measure_moves.py; docs/mockenv.md): a standing grab whiffs in
# 30 frames and catches on its 7th (the pull follows 6 GRAB frames), a dash grab in 40 and on
# its 12th (SmashWiki / Magus420: "most grabs" 7 and 30, dash grabs 11 and 40); the pull is 2
# frames; the grabbed player's ids are the corpus's (CapturePulledLw, CaptureWaitLw, ...)
GRAB_ID, PULL_ID, DASH_GRAB_ID, DASH_PULL_ID, WAIT_ID, PUMMEL_ID, CUT_ID = (
    0xD4,
    0xD5,
    0xD6,
    0xD7,
    0xD8,
    0xD9,
    0xDA,
)
PULLED_ID, HELD_ID, PUMMELED_ID, ESCAPE_ID = 0xE2, 0xE3, 0xE4, 0xE5
# (character, throw) -> (stick (x, y) facing right, grabber's id, thrown id, total frames,
# release frame (0-based: the thrown player's first frame out), damage, angle): the corpus's
THROWS: dict[tuple[str, str], tuple[tuple[float, float], int, int, int, int, float, float]] = {
    ("fox", "F"): ((1.0, 0.0), 0xDB, 0xEF, 36, 13, 7.0, 45.0),
    ("falco", "F"): ((1.0, 0.0), 0xDB, 0xEF, 30, 11, 7.0, 45.0),
    ("fox", "B"): ((-1.0, 0.0), 0xDC, 0xF0, 31, 7, 2.0, 124.0),
    ("falco", "B"): ((-1.0, 0.0), 0xDC, 0xF0, 31, 7, 2.0, 124.0),
    ("fox", "HI"): ((0.0, 1.0), 0xDD, 0xF1, 31, 6, 2.0, 90.0),
    ("falco", "HI"): ((0.0, 1.0), 0xDD, 0xF1, 31, 5, 2.0, 90.0),
    ("fox", "LW"): ((0.0, -1.0), 0xDE, 0xF2, 43, 32, 4.73, 288.0),
    ("falco", "LW"): ((0.0, -1.0), 0xDE, 0xF2, 47, 38, 4.73, 252.0),
}
HOLD_DX = {"fox": 8.3, "falco": 9.5}  # the corpus: in front of the grabber in GRAB_WAIT
_Z = pad(buttons=("Z",))


def _grabbed(name: str, victim: str = "fox", percent: float = 0.0) -> Both:
    """``name`` at x 0 facing right has grabbed ``victim`` (at x 10) and holds it: the first
    CATCH_WAIT frame is the last of ``b.frames``."""
    b = Both(MockConfig(characters=(name, victim)))
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=10.0, y=0.0, facing=-1, percent=percent)
    b.step(_Z)
    b.step(times=8)
    assert col(b.frames, "action")[-1] == WAIT_ID
    return b


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_a_grab_in_range_catches_and_holds_in_front(name: str) -> None:
    b = Both(MockConfig(characters=(name, "falco")))
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=10.0, y=0.0, facing=-1)
    frames = b.step(_Z) + b.step(times=20)
    action, held = col(frames, "action"), col(frames, "action", port=1)
    assert action[:9].tolist() == [GRAB_ID] * 6 + [PULL_ID] * 2 + [WAIT_ID]
    assert held[:9].tolist() == [STANDING] * 6 + [PULLED_ID] * 2 + [HELD_ID]
    assert (action[9:] == WAIT_ID).all() and (held[9:] == HELD_ID).all()  # held, no input
    x0, x1 = col(frames, "x"), col(frames, "x", port=1)
    assert np.allclose(x1[6:] - x0[6:], HOLD_DX[name])
    assert (col(frames, "facing", port=1)[6:] == -1).all()
    assert col(frames, "percent", port=1)[-1] == 0.0


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_a_grab_out_of_range_whiffs_in_30_frames(name: str) -> None:
    b = Both(MockConfig(characters=(name, "fox")))
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=30.0, y=0.0, facing=-1)
    frames = b.step(_Z) + b.step(times=32)
    action = col(frames, "action")
    assert runs(action, GRAB_ID) == [30] and action[30] == STANDING
    assert (col(frames, "action", port=1) == STANDING).all()
    # the reach: the box (8 in front, radius 4) and the hurtbox (radius 4.5)
    box = R.GRAB_BOXES["GRAB"]
    assert box[:2] == (6, 7)  # action frames 7-8 as replays count
    assert 16.0 < box[2] + box[4] + R.HURT_RADIUS < 30.0


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_a_dash_grab_whiffs_in_40_and_catches_on_its_12th_frame(name: str) -> None:
    for x1, caught in ((80.0, False), (10.0, True)):
        b = Both(MockConfig(characters=(name, "fox")))
        b.place(0, x=-20.0, y=0.0, facing=1)
        b.place(1, x=x1, y=0.0, facing=-1)
        b.step(pad(main_x=1.0), times=3)  # dashing
        frames = b.step(pad(main_x=1.0, buttons=("Z",))) + b.step(times=45)
        action = col(frames, "action")
        if caught:
            assert runs(action, DASH_GRAB_ID) == [11]
            assert action[11:13].tolist() == [DASH_PULL_ID] * 2 and action[13] == WAIT_ID
        else:
            assert runs(action, DASH_GRAB_ID) == [40] and action[40] == STANDING


def test_a_grab_beats_a_shield_but_not_intangibility() -> None:
    b = Both(MockConfig(characters=("fox", "fox")))
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=10.0, y=0.0, facing=-1)
    shield = pad(buttons=("L",))
    b.step(N, shield, times=3)
    frames = b.step(_Z, shield) + b.step(N, shield, times=8)
    assert col(frames, "action", port=1)[6] == PULLED_ID
    # the shine's first frame is intangible: a grab box out on that frame passes through (at
    # 14 apart the grab reaches, the shine does not)
    b = Both(MockConfig(characters=("fox", "fox")))
    b.place(0, x=0.0, y=0.0, facing=1)
    b.place(1, x=14.0, y=0.0, facing=-1)
    b.step(_Z, times=1)
    b.step(times=5)  # the grab box comes out next frame; the shine starts on it
    frames = b.step(N, pad(main_y=-1.0, buttons=("B",))) + b.step(times=2)
    assert col(frames, "invulnerable", port=1)[0]
    assert col(frames, "action")[0] == GRAB_ID and col(frames, "action")[1] == PULL_ID


@pytest.mark.parametrize(("name", "throw"), list(THROWS))
def test_each_throw_lasts_releases_and_launches_as_the_corpus(name: str, throw: str) -> None:
    (sx, sy), aid, thrown, total, release, damage, angle = THROWS[(name, throw)]
    mv = R.MOVES[R.M[R.STATES[R.character_states(name)[R.S[f"THROW_{throw}"]]].throw]]
    assert (mv.first, mv.damage, mv.angle) == (release, damage, angle)
    b = _grabbed(name, percent=20.0)
    frames = b.step(pad(main_x=sx, main_y=sy)) + b.step(times=total + 3)
    action, victim = col(frames, "action"), col(frames, "action", port=1)
    assert runs(action, aid) == [total] and action[total] == STANDING
    assert victim[:release].tolist() == [thrown] * release and victim[release] != thrown
    pct = col(frames, "percent", port=1)
    assert pct[release - 1] == pytest.approx(20.0) and pct[release] == pytest.approx(20 + damage)
    kx = col(frames, "vx_knockback", port=1)[release]
    ky = col(frames, "vy_knockback", port=1)[release]
    assert math.degrees(math.atan2(ky, kx)) % 360 == pytest.approx(angle, abs=1e-3)
    assert not col(frames, "on_ground", port=1)[release]  # thrown into the air


@pytest.mark.parametrize("name", ["fox", "falco"])
def test_the_pummel_deals_3_and_lasts_27_with_its_hitlag(name: str) -> None:
    b = _grabbed(name, percent=10.0)
    frames = b.step(pad(buttons=("A",))) + b.step(times=30)
    action, victim = col(frames, "action"), col(frames, "action", port=1)
    assert runs(action, PUMMEL_ID) == [27] and action[27] == WAIT_ID  # the corpus's 27
    assert victim[0] == PUMMELED_ID and victim[-1] == HELD_ID
    assert col(frames, "percent", port=1)[-1] == pytest.approx(13.0)
    assert col(frames, "hitlag", port=1)[0] == R.hitlag(3.0)


@pytest.mark.parametrize("percent", [0.0, 50.0])
def test_the_grab_breaks_after_76_plus_1_6_percent_frames_sooner_with_mashing(
    percent: float,
) -> None:
    hold = math.floor(76 + 1.6 * percent)
    for mash in (0, 5):
        b = Both(MockConfig(characters=("fox", "falco")))
        b.place(0, x=0.0, y=0.0, facing=1)
        b.place(1, x=10.0, y=0.0, facing=-1, percent=percent)
        frames = b.step(_Z) + b.step(times=6)  # the catch is frames[6]
        for _ in range(mash):  # presses: A then nothing
            frames += b.step(N, pad(buttons=("A",))) + b.step()
        frames += b.step(times=hold + 5)
        action, victim = col(frames, "action"), col(frames, "action", port=1)
        cut = int(np.flatnonzero(action == CUT_ID)[0])
        assert victim[cut] == ESCAPE_ID  # both let go on the same frame
        assert cut - 6 == hold - 6 * mash
    assert runs(action, CUT_ID) == [30] and runs(victim, ESCAPE_ID) == [30]


@pytest.mark.slow
def test_the_up_throw_deals_what_the_replays_measure(
    corpus_damage: dict[str, dict[int, Any]],
) -> None:
    """Fox's up-throw is among calibrate's damaging actions (its blaster shots, 1.82% each,
    the most frequent damage; then the throw's own 2%, the mock's, which has no shots)."""
    row = corpus_damage["fox"].get(0xDD)
    assert row is not None, "fox: the up-throw not among calibrate's damaging actions"
    modes = row["damage_modes"]
    assert THROWS[("fox", "HI")][5] in modes, modes
