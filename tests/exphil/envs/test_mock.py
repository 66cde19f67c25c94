"""The mock game's rules, as a user of the environment relies on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from exphil.envs import Controls, MockConfig, MockEnv, RewardConfig
from exphil.envs import _rules as R
from exphil.envs._characters import physics
from exphil.envs.cpu import ScriptedCpu
from exphil.envs.mock import STAGE_DEPTH
from exphil.game import (
    Character,
    FramesError,
    Stage,
    character,
    concat_frames,
    validate_frames,
)
from exphil.game.frames import BUTTON_BITS, Frames

ACT = {s.name: s.action for s in R.STATES}
STANDING, KNEE_BEND, JUMP_F, DJUMP_F, FALLING = 0x0E, 0x18, 0x19, 0x1B, 0x1D
LANDING, NAIR_LANDING, LANDING_SPECIAL = 0x2A, 0x46, 0x2B
JAB, FTILT, NAIR = 0x2C, 0x35, 0x41
SHIELD, SHIELD_STUN, SHIELD_BREAK_FLY, DIZZY = 0xB3, 0xB5, 0xCD, 0xD3
DEAD_DOWN, DEAD_LEFT, DEAD_RIGHT, DEAD_UP = 0x00, 0x01, 0x02, 0x03
ON_HALO_WAIT = 0x0D
FIREFOX_WAIT_AIR, FIREFOX_AIR, FIREFOX_END, SPECIAL_FALL = 0x162, 0x164, 0x166, 0x23
EDGE = Stage.FINAL_DESTINATION.geometry.edge


def pad(n: int = 1, **kw: Any) -> Controls:
    """Controls for n games: sticks as floats, buttons as names (``buttons="XA"`` is not
    allowed: pass a tuple of names)."""
    f = np.float32
    bits = 0
    for name in kw.pop("buttons", ()):
        bits |= BUTTON_BITS[name]
    return Controls(
        np.full(n, kw.pop("main_x", 0.0), f),
        np.full(n, kw.pop("main_y", 0.0), f),
        np.full(n, kw.pop("c_x", 0.0), f),
        np.full(n, kw.pop("c_y", 0.0), f),
        np.full(n, kw.pop("shoulder", 0.0), f),
        np.full(n, bits, np.uint8),
    )


NEUTRAL = pad()


def play(env: MockEnv, inputs: list[tuple[Controls, Controls]]) -> list[Frames]:
    return [env.step(c0, c1).frames for c0, c1 in inputs]


def col(frames: list[Frames], name: str, port: int = 0, game: int = 0) -> np.ndarray[Any, Any]:
    return np.array([getattr(f.players[port], name)[game] for f in frames])


# --- start of a game ------------------------------------------------------------------------


def test_frame_zero_uses_the_real_id_schemes() -> None:
    env = MockEnv(3, MockConfig(characters=("fox", "falco")))
    fr = env.reset()
    validate_frames(fr, series=False)
    assert (fr.frame == 0).all()
    assert (fr.stage == int(Stage.FINAL_DESTINATION)).all()
    p0, p1 = fr.players
    assert (p0.character == Character.FOX.internal).all()
    assert (p1.character == Character.FALCO.internal).all()
    assert (p0.x < 0).all() and (p1.x > 0).all()
    assert (p0.facing == 1).all() and (p1.facing == -1).all()
    assert (p0.action == STANDING).all() and (p0.stocks == 4).all() and (p0.jumps_left == 2).all()
    assert not fr.nana[0].exists.any() and not fr.items.exists.any()


def test_config_rejects_stages_and_characters_it_cannot_play() -> None:
    with pytest.raises(ValueError, match="Final Destination, Battlefield"):
        MockConfig(stage="dreamland")
    with pytest.raises(ValueError, match="not Marth"):
        MockConfig(characters=("fox", "marth"))
    with pytest.raises(ValueError, match="did you mean"):
        MockConfig(stage="final_destnation")
    with pytest.raises(ValueError, match="stocks"):
        MockConfig(stocks=0)


# --- movement -------------------------------------------------------------------------------


CHARACTERS = ("fox", "falco")


def _solo(ch: str) -> MockEnv:
    return MockEnv(1, MockConfig(characters=(ch, "fox")))


@pytest.mark.parametrize("ch", CHARACTERS)
def test_full_hop_then_gravity_to_terminal_velocity(ch: str) -> None:
    ph = physics(character(ch))
    env = _solo(ch)
    frames = play(env, [(pad(buttons=("X",)), NEUTRAL)] * 200)
    action = col(frames, "action")
    sq = ph.jump_squat
    assert list(action[:sq]) == [KNEE_BEND] * sq  # the character's jump squat
    assert list(col(frames, "action_frame")[:sq]) == list(range(sq))  # counted from 0
    assert action[sq] == JUMP_F and col(frames, "action_frame")[sq] == 0
    vy, y = col(frames, "vy_self"), col(frames, "y")
    # as a replay records it: the take-off frame moves by the full take-off speed
    assert vy[sq] == np.float32(ph.full_hop) and y[sq] == np.float32(ph.full_hop)
    landed = sq + int(np.flatnonzero(col(frames, "on_ground")[sq:])[0])
    falling = vy[sq:landed]
    steps = np.diff(falling)
    still_accelerating = falling[1:] > -ph.terminal + 1e-6
    assert np.allclose(steps[still_accelerating], -ph.gravity, atol=1e-5)
    assert falling.min() == pytest.approx(-ph.terminal)  # never faster without a fast fall
    assert col(frames, "jumps_left")[sq + 2] == 1


@pytest.mark.parametrize("ch", CHARACTERS)
def test_short_hop_when_the_jump_is_released_during_jump_squat(ch: str) -> None:
    ph = physics(character(ch))
    env = _solo(ch)
    frames = play(env, [(pad(buttons=("X",)), NEUTRAL)] + [(NEUTRAL, NEUTRAL)] * 80)
    vy = col(frames, "vy_self")
    assert vy[ph.jump_squat] == np.float32(ph.short_hop)
    full = _solo(ch)
    full_frames = play(full, [(pad(buttons=("X",)), NEUTRAL)] * 80)
    assert col(frames, "y").max() < 0.5 * col(full_frames, "y").max()


@pytest.mark.parametrize("ch", CHARACTERS)
def test_one_double_jump_and_no_third(ch: str) -> None:
    ph = physics(character(ch))
    env = _solo(ch)
    hold = (pad(buttons=("X",)), NEUTRAL)
    release = (NEUTRAL, NEUTRAL)
    frames = play(env, [hold] * 10 + [release, hold, release] + [release] * 5 + [hold] * 3)
    action = col(frames, "action")
    vy = col(frames, "vy_self")
    jumps = col(frames, "jumps_left")
    dj = 11
    assert action[dj] == DJUMP_F and jumps[dj] == 0
    # recorded as replays do: after that frame's gravity (Fox 4.186, Falco 3.684)
    want = ph.full_hop * ph.double_jump_mult - ph.gravity
    assert vy[dj] == pytest.approx(want, abs=1e-5)
    third = dj + 7
    assert jumps[third] == 0
    assert vy[third] < vy[third - 1]  # the third press changed nothing: still decelerating


@pytest.mark.parametrize("ch", CHARACTERS)
def test_fast_fall_only_after_the_peak(ch: str) -> None:
    ph = physics(character(ch))
    env = _solo(ch)
    rising = [(pad(buttons=("X",)), NEUTRAL)] * 8
    early_down = [(pad(main_y=-1.0), NEUTRAL), (NEUTRAL, NEUTRAL)]
    frames = play(env, rising + early_down)
    assert col(frames, "vy_self")[-1] > 0  # pressed down while rising: nothing
    more = play(env, [(NEUTRAL, NEUTRAL)])
    while more[-1].players[0].vy_self[0] >= 0:  # past the peak
        more += play(env, [(NEUTRAL, NEUTRAL)])
    more += play(env, [(pad(main_y=-1.0), NEUTRAL)] * 3)
    vy = col(more, "vy_self")
    assert vy[-4] > -ph.fast_fall and vy[-1] == pytest.approx(-ph.fast_fall)


@pytest.mark.parametrize("ch", CHARACTERS)
def test_landing_lag_after_a_jump_after_an_aerial_and_l_cancelled(ch: str) -> None:
    ph = physics(character(ch))
    env = _solo(ch)
    frames = play(env, [(pad(buttons=("X",)), NEUTRAL)] + [(NEUTRAL, NEUTRAL)] * 80)
    action = col(frames, "action")
    first = int(np.flatnonzero(action == LANDING)[0])
    lag = ph.landing_lag
    assert list(action[first : first + lag]) == [LANDING] * lag
    assert action[first + lag] == STANDING
    assert col(frames, "on_ground")[first]

    def nair_landing(l_press_before: int | None) -> int:
        env = _solo(ch)
        hop = [(pad(buttons=("X",)), NEUTRAL)] + [(NEUTRAL, NEUTRAL)] * (ph.jump_squat + 2)
        frames = play(env, [*hop, (pad(buttons=("A",)), NEUTRAL)])
        while not frames[-1].players[0].on_ground[0]:
            frames += play(env, [(NEUTRAL, NEUTRAL)])
        if l_press_before is not None:  # again, pressing L that many frames before landing
            n_air = len(frames) - 1
            env = _solo(ch)
            inputs = [*hop, (pad(buttons=("A",)), NEUTRAL)]
            inputs += [(NEUTRAL, NEUTRAL)] * (n_air + 1 - len(inputs))
            inputs[n_air - l_press_before] = (pad(buttons=("L",)), NEUTRAL)
            frames = play(env, inputs)
            assert frames[-1].players[0].on_ground[0] and not frames[-2].players[0].on_ground[0]
        frames += play(env, [(NEUTRAL, NEUTRAL)] * 40)
        action = col(frames, "action")
        assert NAIR in action
        return int((action == NAIR_LANDING).sum())

    assert nair_landing(None) == ph.nair_landing
    half = ph.nair_landing // ph.lcancel_divisor
    assert nair_landing(0) == half  # L on the landing frame
    assert nair_landing(R.LCANCEL_WINDOW - 1) == half  # the window's first frame
    assert nair_landing(R.LCANCEL_WINDOW) == ph.nair_landing  # too early


@pytest.mark.parametrize("ch", CHARACTERS)
def test_dash_starts_at_the_initial_speed_then_runs_at_the_cap(ch: str) -> None:
    ph = physics(character(ch))
    env = _solo(ch)
    x0 = float(env.reset().players[0].x[0])
    frames = play(env, [(pad(main_x=1.0), NEUTRAL)] * 30)
    action, vg = col(frames, "action"), col(frames, "vx_ground")
    n = ph.dash_frames
    # as replays record it: the first frame shows the initial speed but does not move, the
    # next ones move by their own speed
    x = col(frames, "x").astype(np.float64)
    assert x[0] == np.float32(x0)
    assert np.diff(x[:4]) == pytest.approx(vg[1:4].astype(np.float64), abs=1e-4)
    assert list(action[:n]) == [ACT["DASH"]] * n and action[n] == ACT["RUN"]
    assert list(col(frames, "action_frame")[:n]) == list(range(1, n + 1))  # as replays
    assert vg[0] == np.float32(ph.dash_initial)
    assert vg[-1] == np.float32(ph.run_speed)
    # Fox speeds up to his cap, Falco's dash starts above his and slows by the traction
    assert np.all(np.diff(vg[:n]) * np.sign(ph.run_speed - ph.dash_initial) >= 0)


@pytest.mark.parametrize("ch", CHARACTERS)
def test_a_runs_action_frame_plays_its_animation_at_the_ground_speed(ch: str) -> None:
    """As replays record a run: 0, 1, then + the last frame's |ground speed| / 1.728, looping
    at 20 (the corpus: Fox's full-speed run 0, 1, 2.273, 3.546, ...)."""
    ph = physics(character(ch))
    frames = play(_solo(ch), [(pad(main_x=1.0), NEUTRAL)] * 50)
    action, vg = col(frames, "action"), col(frames, "vx_ground").astype(np.float64)
    af = col(frames, "action_frame").astype(np.float64)
    run = np.flatnonzero(action == ACT["RUN"])
    assert run[0] == ph.dash_frames and run[-1] == len(action) - 1  # a run to the end
    s = int(run[0])
    assert list(af[s : s + 2]) == [0.0, 1.0]
    expected = 1.0
    for t in range(s + 2, len(af)):
        expected += abs(vg[t - 1]) / 1.728
        if expected >= 20.0:
            expected -= 20.0
        assert af[t] == pytest.approx(expected, abs=1e-4)
    assert np.any(np.diff(af[s:]) < 0)  # it looped
    if ch == "fox":
        assert af[s + 2] == pytest.approx(2.273, abs=1e-3)  # the corpus's full-speed run


@pytest.mark.parametrize("ch", CHARACTERS)
def test_a_dash_let_go_plays_out_then_stands(ch: str) -> None:
    """Melee's dash cannot be stopped: let go, it lasts its 21 frames (every such dash in the
    corpus), slowing by the traction, then a stand; pushed again before its end, a run."""
    ph = physics(character(ch))
    frames = play(_solo(ch), [(pad(main_x=1.0), NEUTRAL)] * 3 + [(NEUTRAL, NEUTRAL)] * 30)
    action, vg = col(frames, "action"), col(frames, "vx_ground")
    n = ph.dash_length
    assert list(action[:n]) == [ACT["DASH"]] * n and action[n] == ACT["STAND"]
    assert np.allclose(np.diff(vg[3:n]), -ph.traction, atol=1e-5)  # the traction slows it
    again = [(pad(main_x=1.0), NEUTRAL)] * 3 + [(NEUTRAL, NEUTRAL)] * 12
    frames = play(_solo(ch), again + [(pad(main_x=1.0), NEUTRAL)] * 3)
    assert col(frames, "action")[-1] == ACT["RUN"]


def test_each_port_reads_its_own_character() -> None:
    """Falco against Fox: each port jumps, falls and weighs as its own character."""
    env = MockEnv(1, MockConfig(characters=("falco", "fox")))
    frames = play(env, [(pad(buttons=("X",)), pad(buttons=("X",)))] * 40)
    for port, ch in ((0, "falco"), (1, "fox")):
        ph = physics(character(ch))
        action = col(frames, "action", port)
        assert int((action == KNEE_BEND).sum()) == ph.jump_squat
        assert col(frames, "vy_self", port)[ph.jump_squat] == np.float32(ph.full_hop)
    # the same hit launches the lighter Fox further than Falco
    launched = []
    for chars in (("fox", "fox"), ("fox", "falco")):
        env = MockEnv(1, MockConfig(characters=chars))
        env.place(0, 1, x=-30.0, y=0.0, percent=100.0)
        frames = play(env, [(pad(buttons=("A",)), NEUTRAL)] + [(NEUTRAL, NEUTRAL)] * 10)
        launched.append(float(np.abs(col(frames, "vx_knockback", 1)).max()))
    assert launched[0] > launched[1] > 0


def test_walking_off_an_edge_falls_with_one_jump_left() -> None:
    env = MockEnv(1)
    env.place(0, 0, x=EDGE - 3, y=0.0, facing=1)
    frames = play(env, [(pad(main_x=0.6), NEUTRAL)] * 10)
    action = col(frames, "action")
    fell = int(np.flatnonzero(action == FALLING)[0])
    assert col(frames, "x")[fell] > EDGE
    assert col(frames, "jumps_left")[fell] == 1
    assert not col(frames, "on_ground")[fell]


def test_the_stage_is_solid_from_the_side() -> None:
    env = MockEnv(1)
    env.place(0, 0, x=EDGE + 4, y=-2.0)
    frames = play(env, [(pad(main_x=-1.0), NEUTRAL)] * 30)
    beside = col(frames, "y") > -STAGE_DEPTH
    assert beside[:10].all()
    assert (col(frames, "x")[beside] >= EDGE - 1e-3).all()
    assert col(frames, "x")[~beside].min() < EDGE  # below the block it can pass under


@pytest.mark.parametrize(
    ("where", "dead"),
    [
        ({"x": -250.0, "y": 50.0}, DEAD_LEFT),
        ({"x": 250.0, "y": 50.0}, DEAD_RIGHT),
        ({"x": 0.0, "y": 190.0}, DEAD_UP),
        ({"x": 120.0, "y": -141.0}, DEAD_DOWN),
    ],
)
def test_each_blast_zone_takes_a_stock(where: dict[str, float], dead: int) -> None:
    env = MockEnv(1)
    env.place(0, 0, **where)
    step = env.step(NEUTRAL, NEUTRAL)
    p0 = step.frames.players[0]
    assert p0.action[0] == dead
    assert p0.stocks[0] == 3
    assert step.reward[0, 0] == pytest.approx(-1.0) and step.reward[0, 1] == pytest.approx(1.0)


def test_respawn_on_the_halo_then_invulnerability() -> None:
    env = MockEnv(1)
    env.place(0, 0, x=0.0, y=-141.0)
    frames = play(env, [(NEUTRAL, NEUTRAL)] * (R.DEAD_FRAMES + 10))
    action = col(frames, "action")
    assert (action[: R.DEAD_FRAMES] == DEAD_DOWN).all()
    assert action[R.DEAD_FRAMES] == ON_HALO_WAIT
    halo = frames[R.DEAD_FRAMES].players[0]
    assert halo.x[0] == -R.SPAWN_X and halo.y[0] == R.RESPAWN_HEIGHT and halo.percent[0] == 0
    assert halo.invulnerable[0]
    after = play(env, [(pad(main_x=0.5), NEUTRAL)] + [(NEUTRAL, NEUTRAL)] * 130)
    action = col(after, "action")
    assert action[0] in (FALLING, ACT["FALL"])
    inv = col(after, "invulnerable")
    assert inv[: R.RESPAWN_INVULNERABLE - 1].all()
    assert not inv[-1]


def test_battlefield_platforms_hold_and_let_through() -> None:
    env = MockEnv(1, MockConfig(stage="bf"))
    env.place(0, 0, x=-40.0, y=40.0)  # above the left platform (27.2 high)
    frames = play(env, [(NEUTRAL, NEUTRAL)] * 60)
    assert col(frames, "on_ground")[-1] and col(frames, "y")[-1] == pytest.approx(27.2, abs=0.01)
    frames = play(env, [(pad(main_y=-1.0), NEUTRAL)] * 10)
    assert col(frames, "y")[-1] < 27.0 and not col(frames, "on_ground")[-1]


# --- fighting -------------------------------------------------------------------------------


def face_off(n: int = 1, gap: float = 8.0, **cfg: Any) -> MockEnv:
    env = MockEnv(n, MockConfig(**cfg))
    for g in range(n):
        env.place(g, 0, x=0.0, y=0.0, facing=1)
        env.place(g, 1, x=gap, y=0.0, facing=-1)
    return env


def test_a_jab_deals_damage_hitlag_and_hitstun() -> None:
    env = face_off()
    frames = play(env, [(pad(buttons=("A",)), NEUTRAL)] + [(NEUTRAL, NEUTRAL)] * 30)
    assert col(frames, "action")[0] == JAB
    pct = col(frames, "percent", port=1)
    assert pct[-1] == pytest.approx(R.MOVES[R.M["JAB"]].damage)
    hit = int(np.flatnonzero(pct > 0)[0])
    assert col(frames, "hitlag", port=1)[hit] > 0 and col(frames, "hitlag")[hit] > 0
    assert col(frames, "hitstun", port=1)[hit] > 0
    assert col(frames, "action", port=1)[hit] in (0x4E, 0x54, 0x58)


def test_knockback_and_hitstun_grow_with_percent() -> None:
    env = face_off(n=2, gap=10.0)
    env.place(1, 1, percent=100.0)
    frames = play(env, [(pad(2, main_x=0.5, buttons=("A",)), pad(2))] + [(pad(2), pad(2))] * 12)
    assert col(frames, "action")[0] == FTILT
    hitstun = [col(frames, "hitstun", port=1, game=g).max() for g in (0, 1)]
    launch = [
        np.hypot(col(frames, "vx_knockback", 1, g), col(frames, "vy_knockback", 1, g)).max()
        for g in (0, 1)
    ]
    assert hitstun[1] > hitstun[0] > 0
    assert launch[1] > launch[0] > 0
    kb0 = R.knockback(9.0, 9.0, 100.0, 10.0, physics(Character.FOX).weight)
    assert hitstun[0] == np.floor(kb0 * R.HITSTUN_PER_KB)


def test_shield_absorbs_then_breaks() -> None:
    env = face_off()
    shield = pad(buttons=("L",))
    frames = play(
        env, [(NEUTRAL, shield)] * 5 + [(pad(buttons=("A",)), shield)] + [(NEUTRAL, shield)] * 6
    )
    assert col(frames, "percent", port=1)[-1] == 0
    assert SHIELD_STUN in col(frames, "action", port=1)
    assert col(frames, "shield", port=1)[-1] < R.SHIELD_MAX - R.MOVES[R.M["JAB"]].damage

    env = face_off()
    env.place(0, 1, shield=3.0)
    frames = play(
        env,
        [(NEUTRAL, shield)] * 2
        + [(pad(buttons=("A",)), shield)]
        + [(NEUTRAL, shield)] * 6
        + [(NEUTRAL, NEUTRAL)] * 200,
    )
    action = col(frames, "action", port=1)
    assert SHIELD_BREAK_FLY in action and DIZZY in action
    assert col(frames, "percent", port=1)[-1] == 0


def test_holding_shield_wears_it_down() -> None:
    env = MockEnv(1)
    frames = play(env, [(pad(shoulder=1.0), NEUTRAL)] * 400)
    action = col(frames, "action")
    assert SHIELD in action and SHIELD_BREAK_FLY in action  # 60 / 0.28 frames of holding


@pytest.mark.parametrize("ch", CHARACTERS)
def test_up_b_stops_charges_travels_slows_then_falls_helpless(ch: str) -> None:
    """Fire Fox / Fire Bird as every whole up-B of the corpus: out of a rising double jump the
    42-frame charge stops the climb (vy 0 on 15 frames, then the character's slow fall) and
    keeps 0.8 of the drift on its first frame; the travel goes at the character's speed, then
    slows each frame; its end (0x166, 20 frames) carries the last speed under gravity; then
    the helpless fall (0x23) and its landing."""
    ph = physics(character(ch))
    env = _solo(ch)
    env.place(0, 0, x=-20.0, y=20.0)
    inputs = [(pad(main_x=1.0, buttons=("X",)), NEUTRAL), (pad(main_x=1.0), NEUTRAL)]
    inputs += [(pad(main_y=1.0, buttons=("B",)), NEUTRAL)] + [(pad(main_y=1.0), NEUTRAL)] * 170
    frames = play(env, inputs)
    action = col(frames, "action")
    vx, vy = col(frames, "vx_air").astype(np.float64), col(frames, "vy_self").astype(np.float64)
    s = 2  # the charge's first frame
    assert vy[s - 1] > 3.0  # rising: the double jump
    assert list(action[s : s + 42]) == [FIREFOX_WAIT_AIR] * 42
    assert np.all(vy[s : s + 15] == 0.0)
    fall = -ph.upb_hold_gravity * np.arange(1, 28)
    assert vy[s + 15 : s + 42] == pytest.approx(fall, abs=1e-5)
    assert vx[s] == pytest.approx(vx[s - 1] * 0.8 - ph.air_friction, abs=1e-5)
    t, n = s + 42, ph.upb_frames
    assert list(action[t : t + n]) == [FIREFOX_AIR] * n
    slower = [ph.upb_speed - ph.upb_decel * k for k in range(1, n - ph.upb_full + 1)]
    assert vy[t : t + n] == pytest.approx([ph.upb_speed] * ph.upb_full + slower, abs=1e-4)
    assert np.all(vx[t : t + n] == 0.0)  # straight up: the stick held up
    e = t + n
    assert list(action[e : e + 20]) == [FIREFOX_END] * 20
    assert vy[e] == pytest.approx(vy[e - 1] - ph.gravity, abs=1e-4)
    assert action[e + 20] == SPECIAL_FALL
    assert LANDING_SPECIAL in action[e + 20 :]


@pytest.mark.parametrize("ch", CHARACTERS)
def test_an_up_b_into_the_ground_lands_in_its_own_6_frame_landing(ch: str) -> None:
    """Landing in the travel (or its end) is 0x165 for 6 frames, its action_frame 14, 15, ...,
    then a stand (the corpus: every such landing; not LandingFallSpecial's 20 frames)."""
    env = _solo(ch)
    env.place(0, 0, x=-20.0, y=30.0)
    down_right = (pad(main_x=0.7, main_y=-0.7), NEUTRAL)
    frames = play(env, [(pad(main_y=1.0, buttons=("B",)), NEUTRAL)] + [down_right] * 70)
    action = col(frames, "action")
    landed = np.flatnonzero(action == 0x165)
    assert len(landed) == 6 and action[landed[0] - 1] == FIREFOX_AIR
    assert list(col(frames, "action_frame")[landed]) == [14.0, 15.0, 16.0, 17.0, 18.0, 19.0]
    assert action[landed[-1] + 1] != 0x165 and LANDING_SPECIAL not in action


# --- game rules -----------------------------------------------------------------------------


def test_last_stock_ends_the_game_and_resets_it() -> None:
    env = MockEnv(2, MockConfig(stocks=1))
    env.place(1, 0, x=0.0, y=-141.0)
    step = env.step(pad(2), pad(2))
    assert step.done.tolist() == [False, True]
    (result,) = step.results
    assert (result.game, result.winner, result.reason, result.stocks) == (1, 1, "stocks", (0, 1))
    # the row of the ended game is already frame 0 of the next one; its end is in final_frames
    assert step.frames.frame.tolist() == [1, 0]
    assert step.frames.players[0].stocks[1] == 1
    assert step.final_frames is not None and step.final_frames.players[0].action[0] == DEAD_DOWN
    assert step.reward[1].tolist() == pytest.approx([-1.0 - 5.0, 1.0 + 5.0])
    assert env.statistics().games_finished == 1


def test_timeout_winner_is_more_stocks_then_lower_percent_else_draw() -> None:
    env = MockEnv(3, MockConfig(time_limit=5))
    env.place(0, 1, stocks=3)
    env.place(1, 0, percent=50.0)
    steps = [env.step(pad(3), pad(3)) for _ in range(5)]
    results = {r.game: r for r in steps[-1].results}
    assert all(r.reason == "timeout" and r.frames == 5 for r in results.values())
    assert results[0].winner == 0  # more stocks
    assert results[1].winner == 1  # lower percent
    assert results[2].winner == -1  # a draw
    assert steps[-1].reward[2].tolist() == [0.0, 0.0]


def test_rewards_are_zero_sum_with_damage_and_shaping_breaks_it_only_when_asked() -> None:
    env = face_off()
    frames_rewards = [
        env.step(pad(buttons=("A",)) if t == 0 else NEUTRAL, NEUTRAL).reward for t in range(10)
    ]
    total = np.sum(frames_rewards, axis=0)
    assert total[0, 0] == pytest.approx(0.01 * R.MOVES[R.M["JAB"]].damage)
    assert total[0, 1] == pytest.approx(-total[0, 0])
    shaped = MockEnv(1, MockConfig(rewards=RewardConfig(approach=0.1)))
    shaped.step(pad(main_x=1.0), NEUTRAL)  # port 0 dashes toward port 1 (its first frame
    r = shaped.step(pad(main_x=1.0), NEUTRAL).reward  # does not move: the second does)
    assert r[0, 0] > 0 and r[0, 1] > 0


def test_bad_controls_are_refused_and_change_nothing() -> None:
    env = MockEnv(2)
    before = env.frames
    nan = pad(2)
    nan.main_y[1] = np.nan
    with pytest.raises(ValueError, match="main_y"):
        env.step(nan, pad(2))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(pad(3), pad(2))
    with pytest.raises(TypeError, match="Controls"):
        env.step("A", pad(2))  # type: ignore[arg-type]
    after = env.frames
    assert np.array_equal(before.players[0].x, after.players[0].x)
    assert env.statistics().frames_stepped == 0


# --- determinism, batching, the Frames contract ------------------------------------------


def cpu_run(
    n: int, frames: int, levels: list[int], seeds: np.ndarray[Any, Any], stage: str = "fd"
) -> list[Frames]:
    env = MockEnv(n, MockConfig(stage=stage, stocks=2))
    a = ScriptedCpu(levels, n, seeds=seeds)
    b = ScriptedCpu([9 - lv for lv in levels], n, seeds=seeds ^ np.uint64(77))
    fr = env.reset()
    out = []
    for _ in range(frames):
        fr = env.step(a.act(fr, 0), b.act(fr, 1)).frames
        out.append(fr)
    return out


def same(a: Frames, b: Frames, rows: Any = slice(None)) -> bool:
    for pa, pb in zip(a.players, b.players, strict=True):
        for k, v in pa.columns().items():
            if not np.array_equal(v[rows], getattr(pb, k)):
                return False
    return bool(np.array_equal(a.frame[rows], b.frame))


@pytest.mark.parametrize("stage", ["fd", "bf"])
def test_batched_games_equal_games_stepped_alone(stage: str) -> None:
    n, steps = 5, 700
    seeds = np.arange(100, 100 + n, dtype=np.uint64)
    levels = [9, 7, 5, 4, 3]
    batch = cpu_run(n, steps, levels, seeds, stage)
    for g in range(n):
        alone = cpu_run(1, steps, [levels[g]], seeds[g : g + 1], stage)
        assert all(same(b, a, slice(g, g + 1)) for b, a in zip(batch, alone, strict=True)), g


def test_deterministic_for_a_seed() -> None:
    seeds = np.array([1, 2, 3], dtype=np.uint64)
    one = cpu_run(3, 300, [9, 6, 3], seeds)
    two = cpu_run(3, 300, [9, 6, 3], seeds)
    assert all(same(a, b) for a, b in zip(one, two, strict=True))
    other = cpu_run(3, 300, [9, 6, 3], seeds + np.uint64(10))
    assert not all(same(a, b) for a, b in zip(one, other, strict=True))


def test_emitted_frames_pass_the_replay_validation() -> None:
    frames = cpu_run(4, 1500, [9, 8, 5, 2], np.arange(4, dtype=np.uint64))
    for f in frames[::50]:
        validate_frames(f, series=False)
    game = concat_frames([f.take(slice(0, 1)) for f in frames])
    validate_frames(game)  # one game's rows over time, as a replay's
    seen = set(game.players[0].action.tolist()) | set(game.players[1].action.tolist())
    assert {JAB, STANDING, 0x14} <= seen
    broken = concat_frames([frames[0], frames[1]])
    broken.players[0].percent[0] = -5.0
    with pytest.raises(FramesError, match="percent"):
        validate_frames(broken, series=False)
    with pytest.raises(FramesError, match="strictly increasing"):
        validate_frames(concat_frames([frames[1], frames[0]]))


def test_a_higher_cpu_level_beats_a_lower_one() -> None:
    n = 24
    env = MockEnv(n, MockConfig(stocks=2, time_limit=60 * 90))
    strong = ScriptedCpu(8, n, seed=5)
    weak = ScriptedCpu(3, n, seed=6)
    fr = env.reset()
    results = []
    for _ in range(60 * 90):
        step = env.step(strong.act(fr, 0), weak.act(fr, 1))
        fr = step.frames
        results.extend(step.results)
    firsts = {}
    for r in results:
        firsts.setdefault(r.game, r)
    wins = sum(r.winner == 0 for r in firsts.values())
    losses = sum(r.winner == 1 for r in firsts.values())
    assert len(firsts) == n
    assert wins >= 0.75 * n and losses <= 0.1 * n, (wins, losses)


def test_high_level_cpus_shine_grab_pummel_and_throw() -> None:
    """Levels 5+ shine up close, 6+ grab a shielding opponent and throw it, 7+ pummel first;
    level 4 does none of it (mirror matches of levels 6-9, and level 4 against 9 and 6)."""
    la, lb = [9, 8, 7, 6, 4, 4], [9, 8, 7, 6, 9, 6]
    n = len(la)
    env = MockEnv(n, MockConfig(stocks=2))
    # (seeds whose games reach a pummel in a minute: grabs of a shielding opponent are rare)
    seeds = np.arange(n, dtype=np.uint64) + np.uint64(2002)
    a, b = ScriptedCpu(la, n, seeds=seeds), ScriptedCpu(lb, n, seeds=seeds + np.uint64(100))
    fr = env.reset()
    seen: list[list[set[int]]] = [[set() for _ in range(n)] for _ in range(2)]
    for _ in range(3600):
        fr = env.step(a.act(fr, 0), b.act(fr, 1)).frames
        for port in (0, 1):
            for g, act in enumerate(fr.players[port].action.tolist()):
                seen[port][g].add(int(act))
    shine = set(range(0x168, 0x171))
    throws = {0xDB, 0xDC, 0xDD, 0xDE}
    for port in (0, 1):
        for g in range(4):  # levels 6-9
            assert seen[port][g] & shine, (port, g)
    both = [seen[p][g] for p in (0, 1) for g in range(4)]
    assert any(s & throws for s in both) and any(0xD9 in s for s in both)  # a pummel
    for g in (4, 5):  # level 4
        assert not seen[0][g] & (shine | throws | {0xD4, 0xD9}), sorted(seen[0][g])


def test_level_zero_stands_still() -> None:
    env = MockEnv(2)
    idle = ScriptedCpu(0, 2)
    fr = env.reset()
    for _ in range(200):
        fr = env.step(idle.act(fr, 0), idle.act(fr, 1)).frames
    assert (fr.players[0].x == -R.SPAWN_X).all() and (fr.players[0].action == STANDING).all()


def test_cpu_refuses_bad_levels_and_ports() -> None:
    with pytest.raises(ValueError, match=r"0\.\.9"):
        ScriptedCpu(10, 2)
    cpu = ScriptedCpu(5, 2)
    with pytest.raises(ValueError, match="port"):
        cpu.act(MockEnv(2).frames, 2)
    with pytest.raises(ValueError, match="expected 2 rows"):
        cpu.act(MockEnv(3).frames, 0)


def test_emitted_frames_embed_for_either_port() -> None:
    from exphil.embed import EmbedConfig, embed, embed_dim, embed_games

    frames = cpu_run(4, 400, [9, 7, 5, 3], np.arange(4, dtype=np.uint64))
    one_hot = EmbedConfig(action="one_hot", character="one_hot", stage="one_hot", nana="full")
    for config in (EmbedConfig(), one_hot):
        for port in (0, 1):
            batch = embed_games(frames[-1], config, port)  # one row per game
            assert batch.dense.shape == (4, embed_dim(config))
            assert np.isfinite(batch.dense).all()
            game = concat_frames([f.take(slice(0, 1)) for f in frames])
            series = embed(game, config, port)  # one game's rows over time
            assert (
                series.dense.shape == (400, embed_dim(config)) and np.isfinite(series.dense).all()
            )
