"""Ledges in the mock: grabs (when and when not), intangibility and regrabs, ledge-hogging,
the getup options with their lengths, letting go and the hang's time-out, held equal in the
vectorized env and the scalar oracle.

The numbers come from ``exphil/envs/_rules/`` and ``_characters.py``, which hold the corpus
measurements (``scripts/measure_ledges.py``; docs/mockenv.md lists them); the lengths are
restated here as the replays' figures so a table change that drifts from them fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exphil.envs import Controls, MockConfig, MockEnv
from exphil.envs import _rules as R
from exphil.envs._characters import physics
from exphil.envs._scalar import ScalarEnv
from exphil.game import Stage, character
from exphil.game.frames import BUTTON_BITS, Frames

CATCH, WAIT = 0xFC, 0xFD
CLIMB_SLOW, CLIMB_QUICK, ATTACK_SLOW, ATTACK_QUICK = 0xFE, 0xFF, 0x100, 0x101
ROLL_SLOW, ROLL_QUICK, JUMP1_SLOW, JUMP2_SLOW, JUMP1_QUICK, JUMP2_QUICK = range(0x102, 0x108)
STANDING, FALLING = 0x0E, 0x1D
EDGE = Stage.FINAL_DESTINATION.geometry.edge
BF_EDGE = Stage.BATTLEFIELD.geometry.edge

# the corpus's lengths (frames of each id, scripts/measure_ledges.py: every sample of Fox and
# Falco on ../shared/corpus) and intangible frames of each getup
REPLAY_LENGTHS = {
    CLIMB_QUICK: (34, 30),
    CLIMB_SLOW: (59, 55),
    ROLL_QUICK: (49, 34),
    ROLL_SLOW: (79, 62),
    ATTACK_QUICK: (58, 21),
    JUMP1_QUICK: (14, 14),
    JUMP1_SLOW: (19, 19),
}


def pad(**kw: Any) -> Controls:
    f = np.float32
    bits = 0
    for name in kw.pop("buttons", ()):
        bits |= BUTTON_BITS[name]
    return Controls(
        np.full(1, kw.pop("main_x", 0.0), f),
        np.full(1, kw.pop("main_y", 0.0), f),
        np.full(1, kw.pop("c_x", 0.0), f),
        np.full(1, kw.pop("c_y", 0.0), f),
        np.full(1, kw.pop("shoulder", 0.0), f),
        np.full(1, bits, np.uint8),
    )


N = pad()


class Both:
    """A MockEnv of one game and the plain-Python oracle, driven together; every step's
    frames are checked equal bit for bit."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.env = MockEnv(1, config)
        self.oracle = ScalarEnv(1, config)
        self.frames: list[Frames] = []

    def place(self, port: int, *, x: float, y: float, facing: int, percent: float = 0.0) -> None:
        for env in (self.env, self.oracle):
            env.place(0, port, x=x, y=y, facing=facing, percent=percent)

    def step(self, c0: Controls = N, c1: Controls = N, times: int = 1) -> list[Frames]:
        out = []
        for _ in range(times):
            f = self.env.step(c0, c1).frames
            g = self.oracle.step(c0, c1).frames
            for p in (0, 1):
                for name, want in f.players[p].columns().items():
                    got = getattr(g.players[p], name)
                    a, b = (v.view(np.uint32) if v.dtype == np.float32 else v for v in (want, got))
                    assert np.array_equal(a, b), (len(self.frames), p, name, want, got)
            for name, want in f.items.columns().items():
                got = getattr(g.items, name)
                a, b = (v.view(np.uint32) if v.dtype == np.float32 else v for v in (want, got))
                assert np.array_equal(a, b), (len(self.frames), "items", name, want, got)
            out.append(f)
        self.frames += out
        return out


def col(frames: list[Frames], name: str, port: int = 0) -> np.ndarray[Any, Any]:
    return np.array([getattr(f.players[port], name)[0] for f in frames])


def runs(action: np.ndarray[Any, Any], aid: int) -> list[int]:
    """Lengths of the runs of ``aid``."""
    d = np.diff(np.concatenate(([0], (action == aid).astype(np.int8), [0])))
    return (np.flatnonzero(d == -1) - np.flatnonzero(d == 1)).tolist()


def hang(b: Both, port: int = 0, side: int = 1, percent: float = 0.0) -> list[Frames]:
    """Drop a player into the grab box beside the ``side`` ledge facing it; returns the
    frames up to the first CLIFF_WAIT frame."""
    b.place(port, x=side * (EDGE + 6.0), y=-6.0, facing=-side, percent=percent)
    return b.step(times=8)


# --- grabs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("ch", ["fox", "falco"])
@pytest.mark.parametrize("side", [1, -1])
def test_a_falling_player_beside_the_ledge_catches_it_then_hangs(ch: str, side: int) -> None:
    b = Both(MockConfig(characters=(ch, "fox")))
    frames = hang(b, side=side)
    action = col(frames, "action")
    assert action.tolist() == [CATCH] * 7 + [WAIT]  # replays: 7 catch frames, every one
    assert col(frames, "action_frame").tolist() == [1, 2, 3, 4, 5, 6, 7, 0]  # as replays count
    ph = physics(character(ch))
    x, y = col(frames, "x"), col(frames, "y")
    assert np.allclose(x, side * (EDGE + ph.hang_dx)) and np.allclose(y, ph.hang_y)
    assert (col(frames, "jumps_left") == 1).all() and not col(frames, "on_ground").any()
    assert (col(frames, "facing") == -side).all()
    more = b.step(times=100)  # hangs (no time-out this early), not moving
    assert (col(more, "action") == WAIT).all() and np.allclose(col(more, "y"), ph.hang_y)


@pytest.mark.parametrize(
    ("where", "controls"),
    [
        ({"x": EDGE + 6.0, "y": -6.0, "facing": 1}, N),  # facing away from the stage
        ({"x": EDGE + 6.0, "y": -6.0, "facing": -1}, pad(main_y=-1.0)),  # holding down
        ({"x": EDGE + 25.0, "y": -6.0, "facing": -1}, N),  # too far out
        ({"x": EDGE + 6.0, "y": -30.0, "facing": -1}, N),  # too low
    ],
)
def test_no_grab_when_it_should_not(where: dict[str, Any], controls: Controls) -> None:
    b = Both()
    b.place(0, **where)
    frames = b.step(controls, N, times=40)
    assert not np.isin(col(frames, "action"), [CATCH, WAIT]).any()


def test_no_grab_while_rising() -> None:
    b = Both()
    b.place(0, x=EDGE + 6.0, y=-16.0, facing=-1)
    frames = b.step(pad(buttons=("X",)), N)  # a double jump up through the box
    frames += b.step(times=5)
    assert not np.isin(col(frames, "action"), [CATCH, WAIT]).any()
    frames = b.step(times=40)  # then falling back down into it: caught
    assert CATCH in col(frames, "action")


def test_up_b_travel_catches_the_ledge() -> None:
    b = Both()
    b.place(0, x=EDGE + 8.0, y=-40.0, facing=-1)
    b.step(pad(main_y=1.0, buttons=("B",)), N)
    frames = b.step(pad(main_y=1.0), N, times=60)
    assert CATCH in col(frames, "action")


# --- intangibility ------------------------------------------------------------------------
def test_a_grab_is_intangible_for_37_frames_and_a_regrab_without_landing_is_not() -> None:
    b = Both()
    frames = hang(b)
    frames += b.step(times=60)
    inv = col(frames, "invulnerable")
    assert inv[: R.LEDGE_INTANGIBLE].all() and not inv[R.LEDGE_INTANGIBLE :].any()  # replays: 37
    # let go (down), then double jump straight up and fall back: the regrab catches but
    # gives no intangibility
    b.step(pad(main_y=-1.0), N)
    frames = b.step(times=3)
    frames += b.step(pad(buttons=("X",)), N)
    frames += b.step(times=80)
    action = col(frames, "action")
    assert CATCH in action
    assert not col(frames, "invulnerable")[action == CATCH].any()


def test_after_touching_the_ground_a_grab_is_intangible_again() -> None:
    b = Both()
    hang(b)
    b.step(pad(main_x=-1.0), N)  # climb: standing on the stage, facing its middle
    b.step(times=40)
    # a jump backward off the edge keeps facing the ledge, then falls into its box
    frames = b.step(pad(main_x=0.4, buttons=("X",)), N)
    frames += b.step(pad(main_x=0.4), N, times=80)
    action = col(frames, "action")
    assert CATCH in action
    assert col(frames, "invulnerable")[action == CATCH].all()


@pytest.mark.parametrize("wait", [0, 40])
def test_hitboxes_pass_through_a_fresh_grab_only(wait: int) -> None:
    b = Both()
    hang(b)  # port 0 hangs on the right ledge
    b.step(times=wait)
    b.place(1, x=EDGE + 8.0, y=-20.0, facing=-1)  # below it, a neutral air rising into it
    frames = b.step(N, pad(buttons=("A",)))
    frames += b.step(times=12)
    pct = col(frames, "percent", 0)
    if wait == 0:  # 8 + 13 frames after the grab: still intangible
        assert (pct == 0).all() and (col(frames, "action", 0) == WAIT).all()
    else:  # 48 frames after: hit off the ledge
        assert pct.max() == R.MOVES[R.M["NAIR"]].damage
        assert not np.isin(col(frames, "action", 0)[-1], [CATCH, WAIT])


# --- ledge-hog ----------------------------------------------------------------------------
def test_a_held_ledge_cannot_be_grabbed() -> None:
    b = Both(MockConfig(characters=("fox", "falco")))
    hang(b, port=0)
    b.place(1, x=EDGE + 6.0, y=-6.0, facing=-1)
    frames = b.step(times=20)
    assert not np.isin(col(frames, "action", 1), [CATCH, WAIT]).any()
    assert (col(frames, "action", 0) == WAIT).all()
    # the other ledge is free
    both = Both(MockConfig(characters=("fox", "falco")))
    hang(both, port=0)
    both.place(1, x=-(EDGE + 6.0), y=-6.0, facing=1)
    frames = both.step(times=8)
    assert col(frames, "action", 1)[0] == CATCH


def test_two_players_reaching_one_ledge_on_one_frame_port_0_gets_it() -> None:
    b = Both()
    b.place(0, x=EDGE + 6.0, y=-6.0, facing=-1)
    b.place(1, x=EDGE + 8.0, y=-6.0, facing=-1)
    frames = b.step(times=5)
    assert col(frames, "action", 0)[0] == CATCH
    assert not np.isin(col(frames, "action", 1), [CATCH, WAIT]).any()


# --- getups -------------------------------------------------------------------------------
OPTIONS = {
    "climb": (pad(main_x=-1.0), CLIMB_QUICK, CLIMB_SLOW),
    "roll": (pad(buttons=("R",)), ROLL_QUICK, ROLL_SLOW),
    "attack": (pad(buttons=("A",)), ATTACK_QUICK, ATTACK_SLOW),
    "jump": (pad(buttons=("X",)), JUMP1_QUICK, JUMP1_SLOW),
}


@pytest.mark.parametrize("ch", ["fox", "falco"])
@pytest.mark.parametrize("slow", [False, True])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_getup_lengths_and_end_points(ch: str, slow: bool, option: str) -> None:
    b = Both(MockConfig(characters=(ch, "fox")))
    hang(b, percent=120.0 if slow else 30.0)
    b.step(times=40)  # the grab's own intangibility is over
    press, quick, slow_id = OPTIONS[option]
    aid = slow_id if slow else quick
    frames = b.step(press, N)
    frames += b.step(times=100)
    action = col(frames, "action")
    assert action[0] == aid and action[1] == aid
    length = runs(action, aid)[0]
    assert length == R.STATES[[s.action for s in R.STATES].index(aid)].duration
    if aid in REPLAY_LENGTHS:
        want_len, want_intangible = REPLAY_LENGTHS[aid]
        assert length == want_len
        assert int(col(frames, "invulnerable")[:length].sum()) == want_intangible
        assert col(frames, "invulnerable")[:want_intangible].all()
    assert col(frames, "action_frame")[0] == 1  # replays count getups from 1
    ph = physics(character(ch))
    after = frames[length].players[0]
    if option == "jump":
        # the second part takes off toward the stage at the recorded speed and point
        assert after.action[0] == (JUMP2_SLOW if slow else JUMP2_QUICK)
        assert after.vy_self[0] == np.float32(ph.ledge_jump_vy)
        assert after.vx_air[0] == np.float32(-ph.ledge_jump_vx)
        assert after.x[0] == pytest.approx(EDGE - ph.ledge_jump_dx, abs=1e-4)
        assert after.y[0] == pytest.approx(ph.ledge_jump_y, abs=1e-4)
        assert after.jumps_left[0] == 1
    else:
        end = {"climb": ph.climb_dx, "roll": ph.roll_dx, "attack": ph.ledge_attack_dx}[option]
        assert after.action[0] == STANDING and after.on_ground[0]
        assert after.x[0] == pytest.approx(EDGE - end, abs=1e-4) and after.y[0] == 0.0
        assert after.jumps_left[0] == 2


def test_the_ledge_attack_hits_a_player_at_the_edge() -> None:
    b = Both()
    hang(b)
    b.step(times=40)
    b.place(1, x=EDGE - 8.0, y=0.0, facing=1)
    frames = b.step(pad(buttons=("A",)), N)
    frames += b.step(times=40)
    pct = col(frames, "percent", 1)
    assert pct.max() == 8.0  # the corpus's ledge attacks: 8%
    hit = int(np.flatnonzero(pct > 0)[0])
    assert col(frames, "action_frame")[hit] == 25  # replays: the hit lands on frame 25


@pytest.mark.parametrize("let_go", [pad(main_y=-1.0), pad(main_x=1.0), pad(c_y=-1.0), pad(c_x=1.0)])
def test_letting_go_falls_with_the_double_jump_left(let_go: Controls) -> None:
    b = Both()
    hang(b)
    b.step(times=3)
    frames = b.step(let_go, N)
    frames += b.step(times=30)
    action = col(frames, "action")
    assert action[0] == FALLING and (action == FALLING).all()
    ph = physics(character("fox"))
    assert col(frames, "vy_self")[0] == np.float32(-ph.gravity)  # replays: -gravity at once
    assert col(frames, "jumps_left")[0] == 1


def test_options_wait_for_the_catchs_last_frame_and_letting_go_for_the_hang() -> None:
    b = Both()
    b.place(0, x=EDGE + 6.0, y=-6.0, facing=-1)
    frames = b.step(times=3)  # catching
    frames += b.step(pad(main_y=-1.0), N)  # down during the catch: nothing
    frames += b.step(times=2)
    frames += b.step(pad(main_x=-1.0), N)  # toward on the catch's last frame: a climb
    assert col(frames, "action").tolist() == [CATCH] * 6 + [CLIMB_QUICK]


def test_hanging_too_long_lets_go() -> None:
    b = Both()
    frames = hang(b)
    frames += b.step(times=R.LEDGE_HANG_MAX + 2)
    action = col(frames, "action")
    assert runs(action, WAIT) == [R.LEDGE_HANG_MAX]
    assert action[-1] == FALLING


def test_battlefield_has_its_ledges_too() -> None:
    b = Both(MockConfig(stage="bf"))
    b.place(0, x=-(BF_EDGE + 5.0), y=-7.0, facing=1)
    frames = b.step(times=8)
    ph = physics(character("fox"))
    assert col(frames, "action")[-1] == WAIT
    assert col(frames, "x")[-1] == pytest.approx(-(BF_EDGE + ph.hang_dx), abs=1e-4)


# --- air dodge and wavedash ---------------------------------------------------------------
AIRDODGE, DEAD_FALL, LANDING_SPECIAL = 0xEC, 0x23, 0x2B


@pytest.mark.parametrize("ch", ["fox", "falco"])
def test_an_air_dodge_glides_where_the_stick_points_then_falls_helpless(ch: str) -> None:
    b = Both(MockConfig(characters=(ch, "fox")))
    b.place(0, x=0.0, y=100.0, facing=1)
    frames = b.step(pad(main_x=1.0, buttons=("L",)), N)
    frames += b.step(times=60)
    action = col(frames, "action")
    assert runs(action, AIRDODGE) == [49] and action[49] == DEAD_FALL  # the corpus: 49
    assert col(frames, "action_frame")[:3].tolist() == [1, 2, 3]
    # the corpus's speeds on the first frames (every air dodge of Fox and Falco): 2.79, 2.511,
    # 2.26, 2.034: 3.1 x 0.9 per frame; no gravity while it glides
    vx = col(frames, "vx_air")[:4]
    assert vx.tolist() == pytest.approx([2.79, 2.511, 2.2599, 2.03391], abs=1e-4)
    assert (col(frames, "vy_self")[:4] == 0).all()
    inv = col(frames, "invulnerable")[:49]
    assert np.flatnonzero(inv).tolist() == list(range(3, 29))  # frames 4-29 as replays count
    assert not np.isin(col(frames, "action")[50:], [CATCH, WAIT]).any()


@pytest.mark.parametrize("ch", ["fox", "falco"])
def test_a_wavedash_slides_from_the_dodges_speed_at_twice_the_traction(ch: str) -> None:
    b = Both(MockConfig(characters=(ch, "fox")))
    b.place(0, x=0.0, y=0.0, facing=1)
    ph = physics(character(ch))
    frames = b.step(pad(buttons=("X",)), N)  # jump squat, released: a short hop
    frames += b.step(times=ph.jump_squat)
    assert col(frames, "action")[-1] in (0x19, 0x1A)  # airborne
    down_forward = pad(main_x=0.8, main_y=-0.6, buttons=("L",))
    frames = b.step(down_forward, N)
    frames += b.step(times=20)
    action = col(frames, "action")
    land = int(np.flatnonzero(action == LANDING_SPECIAL)[0])
    assert action[:land].tolist() == [AIRDODGE] * land
    assert runs(action, LANDING_SPECIAL) == [10]  # the corpus: 10 (280 of 299 / 606 of 688)
    # its action_frame plays the landing animation: 0, 3.01, 6.02, ... (the corpus's)
    shown = col(frames, "action_frame")[land : land + 10]
    assert shown.tolist() == pytest.approx([3.01 * k for k in range(10)], abs=1e-4)
    air_vx = float(col(frames, "vx_air")[land - 1])
    ground = col(frames, "vx_ground")[land : land + 4].astype(np.float64)
    # as recorded: the landing frame keeps the dodge's decay (x 0.9), then 2 x traction
    assert ground[0] == pytest.approx(air_vx * 0.9, abs=1e-4)
    assert np.diff(ground) == pytest.approx([-2 * ph.traction] * 3, abs=1e-4)
    assert col(frames, "on_ground")[land]
