"""The compiled mock (``MockEnv``) against the plain-Python run of its own kernel source
(``exphil.envs._scalar.ScalarEnv``): bit-identical.

Random but game-like controls (sticky intents per port: approach and attack, smash, aerials and
fast falls, long shields, up-B, platform drops, running off stage, noise; stick values exactly at
the rule thresholds some of the time) drive a ``MockEnv`` and a ``ScalarEnv`` side by side. After
every step every column of every player's frame, the rewards, ``done``, the results and the last
frames of ended games must be equal bit for bit. The runs are also checked to reach the rules
that matter (hits, shield stun and breaks, deaths, respawns, techs and missed techs, ...), so
that the parity means something.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from exphil.envs import GameOutcome, MockConfig, MockEnv, RewardConfig, StepResult
from exphil.envs import _rules as R
from exphil.envs._characters import physics
from exphil.envs._scalar import ScalarEnv
from exphil.game import Controls
from exphil.game.frames import BUTTON_BITS, Frames, PlayerFrames

_A = BUTTON_BITS["A"]
_B = BUTTON_BITS["B"]
_X = BUTTON_BITS["X"]
_Y = BUTTON_BITS["Y"]
_L = BUTTON_BITS["L"]
_R = BUTTON_BITS["R"]
_Z = BUTTON_BITS["Z"]

COLUMNS: tuple[str, ...] = tuple(PlayerFrames.DTYPES)


def _aid(name: str) -> int:
    return R.STATES[R.S[name]].action


# --- a sticky random controller ------------------------------------------------------------
(IDLE, APPROACH, ATTACK, SMASH, AERIAL, SHIELD, UPB, DROP, OFFSTAGE, NOISE) = range(10)
_INTENT_P = np.array([0.06, 0.10, 0.20, 0.12, 0.16, 0.10, 0.05, 0.07, 0.04, 0.10])
_SWITCH_P = np.array([0.05, 0.03, 0.02, 0.02, 0.03, 0.004, 0.04, 0.05, 0.02, 0.05])
# stick magnitudes, several exactly on a rule threshold (exact with float64 controls)
_MAGS = np.array([0.2875, 0.3, 0.5, 0.6, 0.65, 0.79, 0.8, 0.9, 1.0, 1.0, 1.3])


class Bot:
    """Both ports' controllers for ``n`` games: an intent per port and game that changes now
    and then (attacks when the opponent is near, shields held long enough to break, ...),
    steering by the positions in the current frames."""

    def __init__(
        self,
        n: int,
        seed: int,
        dtype: type[np.floating[Any]],
        intent_p: np.ndarray[Any, Any] = _INTENT_P,
        grab_p: float = 0.0,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.grab_p = grab_p
        self.n = n
        self.dtype = dtype
        self.intent_p = intent_p
        self.intent = self.rng.choice(len(intent_p), size=(2, n), p=intent_p)
        self.mag = self.rng.choice(_MAGS, size=(2, n))
        self.held = np.zeros((2, n), dtype=np.int64)
        self.sy = np.zeros((2, n))

    def controls(self, frames: Frames) -> tuple[Controls, Controls]:
        rng, n = self.rng, self.n
        shape = (2, n)  # [port, game]
        switch = rng.random(shape) < _SWITCH_P[self.intent]
        self.intent = np.where(
            switch, rng.choice(len(self.intent_p), size=shape, p=self.intent_p), self.intent
        )
        self.mag = np.where(rng.random(shape) < 0.08, rng.choice(_MAGS, shape), self.mag)
        it = self.intent
        pl = frames.players
        x = np.stack([pl[0].x, pl[1].x]).astype(np.float64)
        y = np.stack([pl[0].y, pl[1].y]).astype(np.float64)
        vy = np.stack([pl[0].vy_self, pl[1].vy_self])
        near = np.hypot(x[::-1] - x, y[::-1] - y) < 24
        toward = np.where(x[::-1] >= x, 1.0, -1.0)
        away_center = np.where(x >= 0, 1.0, -1.0)
        mag = self.mag
        u = rng.random((8, *shape))
        noise = rng.uniform(-1.2, 1.2, (5, *shape))
        fighting = (it == APPROACH) | (it == ATTACK) | (it == SMASH) | (it == AERIAL)

        sx = np.where(fighting, toward * mag, 0.0)
        sx = np.where(fighting & near & (u[0] < 0.3), rng.uniform(-0.28, 0.28, shape), sx)
        sx = np.where(it == IDLE, rng.uniform(-0.3, 0.3, shape), sx)
        sx = np.where((it == SHIELD) & (u[0] < 0.1), noise[0], sx)
        sx = np.where(it == UPB, noise[0], sx)
        sx = np.where(it == DROP, toward * 0.3 * (u[0] < 0.5), sx)
        sx = np.where(it == OFFSTAGE, away_center * np.where(u[0] < 0.2, 0.5, 1.0), sx)
        sx = np.where(it == NOISE, noise[0], sx)

        prev_sy = self.sy
        sy = np.where(u[1] < 0.03, rng.choice([R.TAP_JUMP, 1.0, -0.3, 0.2875], shape), 0.0)
        sy = np.where((it == IDLE) & (mag >= 0.9), -1.0, sy)  # some idlers crouch (held)
        fast_fall = (it == AERIAL) & (vy < 0) & (u[1] < 0.25)
        sy = np.where(fast_fall, np.where(prev_sy <= R.DOWN_THRESHOLD, 0.0, -1.0), sy)
        sy = np.where((it == AERIAL) & (u[1] > 0.95), R.TAP_JUMP, sy)
        sy = np.where(it == UPB, np.where(u[1] < 0.4, R.UP_B_THRESHOLD, noise[1]), sy)
        drop = np.where(prev_sy <= R.DOWN_THRESHOLD, 0.0, np.where(u[1] < 0.5, -0.66, -1.0))
        sy = np.where((it == DROP) & (u[1] < 0.35), drop, sy)
        sy = np.where((it == OFFSTAGE) & (u[1] < 0.08), 1.0, sy)
        sy = np.where(it == NOISE, noise[1], sy)
        self.sy = sy

        smash = (it == SMASH) & near & (u[2] < 0.2)
        c_x = np.where(smash, toward * np.where(u[3] < 0.3, R.CSTICK_THRESHOLD, 1.0), 0.0)
        flick = (it == AERIAL) & near & (u[2] < 0.15)
        c_x = np.where(flick, rng.choice([-1.0, 0.0, 0.5, 1.0], shape), c_x)
        c_y = np.where(flick, rng.choice([-1.0, 0.0, 0.0, 1.0], shape), 0.0)
        wild = (it == NOISE) & (u[2] < 0.3)
        c_x = np.where(wild, noise[2], c_x)
        c_y = np.where(wild, noise[3], c_y)

        analog = (it == SHIELD) & (it[::-1] % 2 == 0)  # some shields are analog
        shoulder = np.where(analog, np.where(u[4] < 0.5, R.SHOULDER_THRESHOLD, 1.0), 0.0)
        shoulder = np.where((it != SHIELD) & (u[4] < 0.03), 0.35, shoulder)  # tech presses
        shoulder = np.where(it == NOISE, np.clip(noise[4], -0.1, 1.1), shoulder)

        b = np.zeros(shape, dtype=np.int64)
        b |= np.where((it == ATTACK) & near & (u[5] < 0.3), _A, 0)
        if self.grab_p:  # grabs: Z in close combat
            b |= np.where((it == ATTACK) & near & (u[5] >= 0.3) & (u[5] < 0.3 + self.grab_p), _Z, 0)
        b |= np.where((it == SMASH) & near & (u[5] < 0.12), _A, 0)  # smash with the stick
        b |= np.where((it == AERIAL) & near & (u[5] < 0.2), _A, 0)
        b |= np.where(fighting & ~near & (u[5] < 0.01), _A, 0)
        jumpy = (it == AERIAL) | (it == OFFSTAGE)
        keep_jump = (self.held & (_X | _Y)) != 0
        b |= np.where(jumpy & ((u[6] < 0.07) | (keep_jump & (u[6] < 0.7))), _X, 0)
        b |= np.where((it == SHIELD) & (u[6] < 0.01), _Y, 0)  # out of shield
        b |= np.where(((it == UPB) | (it == OFFSTAGE)) & (u[7] < 0.08), _B, 0)
        b |= np.where((it == SHIELD) & ~analog, np.where(u[7] < 0.5, _L, _R), 0)
        b |= np.where((it != SHIELD) & (u[7] > 0.985), _R, 0)  # tech presses
        b |= np.where((it == NOISE) & (u[7] < 0.3), rng.integers(0, 256, shape), 0)
        b |= np.where(u[4] > 0.995, _Z, 0)
        self.held = b

        dt = self.dtype
        sx, sy, c_x, c_y, shoulder = (a.astype(dt) for a in (sx, sy, c_x, c_y, shoulder))
        buttons = b.astype(np.uint8)
        c0, c1 = (Controls(sx[p], sy[p], c_x[p], c_y[p], shoulder[p], buttons[p]) for p in (0, 1))
        return c0, c1


# --- the runs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    n: int
    steps: int
    seed: int
    dtype: type[np.floating[Any]]
    config: MockConfig
    intent_p: np.ndarray[Any, Any] = field(default_factory=lambda: _INTENT_P)
    grab_p: float = 0.0  # the chance of a Z press per close-combat frame (the Bot's A: 0.3)


# close combat only (no up-B, no running off): percents climb, tumbles, techs, knockdowns
_BRAWL_P = np.array([0.05, 0.10, 0.30, 0.25, 0.15, 0.10, 0.0, 0.0, 0.0, 0.05])

# fights near the edges: off the stage often, up-B back
_LEDGES_P = np.array([0.04, 0.10, 0.25, 0.20, 0.10, 0.04, 0.05, 0.0, 0.17, 0.05])

_CASES: dict[str, Case] = {
    # Final Destination, a short timer: timeouts and auto-resets; float32 controls
    "fd_timeouts": Case(8, 2500, 11, np.float32, MockConfig(time_limit=700)),
    # Battlefield (platforms), few stocks: stock-outs; float64 controls exactly on thresholds
    "bf_stockouts": Case(
        8,
        3000,
        29,  # (drops through the top platform are rare: this seed's runs have some)
        np.float64,
        MockConfig(stage="battlefield", characters=("fox", "falco"), stocks=2),
    ),
    # the shaping terms (float32 arithmetic on the rewards), Falco against Fox
    "bf_shaping": Case(
        4,
        1500,
        13,
        np.float32,
        MockConfig(
            stage="bf",
            characters=("falco", "fox"),
            stocks=1,
            time_limit=1000,
            rewards=RewardConfig(stock=2.0, damage=0.013, win=3.0, approach=0.01, offstage=0.003),
        ),
    ),
    # fights that go off the stage: ledge grabs, hangs, getups, ledge-hogs
    "fd_ledges": Case(8, 3000, 11, np.float64, MockConfig(characters=("fox", "falco")), _LEDGES_P),
    # a long brawl on Final Destination: high percents, tumbles, techs and missed techs
    "fd_brawl": Case(
        8, 2000, 26, np.float64, MockConfig(characters=("falco", "falco"), stocks=3), _BRAWL_P
    ),
    # close combat with grabs: catches, pummels, the four throws, grab breaks
    "fd_grabs": Case(
        8,
        1500,
        34,  # (a grab break, CATCH_CUT, is rare: seeds 16-33 miss it or a throw)
        np.float64,
        MockConfig(characters=("fox", "falco"), stocks=3),
        _BRAWL_P,
        grab_p=0.04,
    ),
}


# --- running both envs side by side ------------------------------------------------------------
@dataclass
class RunStats:
    steps: int
    n: int
    actions: Counter[int] = field(default_factory=Counter)
    results: list[GameOutcome] = field(default_factory=list)
    platform_drops: int = 0
    platform_landings: int = 0
    fast_fall_frames: int = 0
    hitlag_frames: int = 0
    short_hops: int = 0
    full_hops: int = 0
    laser_frames: int = 0  # laser items in flight, summed over frames


def _bits(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Compare float32 columns bit for bit (signed zeros included)."""
    return a.view(np.uint32) if a.dtype == np.float32 else a


def _check_frames(t: int, want: Frames, got: Frames, what: str) -> None:
    """Every column of both players and every item slot, bit for bit; the first difference
    names the step, the player, the column and the games."""
    assert np.array_equal(want.frame, got.frame), (what, t, want.frame, got.frame)
    assert np.array_equal(want.stage, got.stage), (what, t)
    for p in (0, 1):
        for name in COLUMNS:
            w, g = getattr(want.players[p], name), getattr(got.players[p], name)
            if w.dtype != g.dtype or not np.array_equal(_bits(w), _bits(g)):
                games = np.flatnonzero(_bits(w) != _bits(g)).tolist()
                pytest.fail(
                    f"{what} differ at step {t}, player {p}, column {name!r}, games {games}: "
                    f"MockEnv {w[games].tolist()} vs ScalarEnv {g[games].tolist()}"
                )
    for name, w in want.items.columns().items():
        g = getattr(got.items, name)
        if not np.array_equal(_bits(w), _bits(g)):
            games = sorted({int(k) for k in np.argwhere(_bits(w) != _bits(g))[:, 0]})
            pytest.fail(
                f"{what}' items differ at step {t}, column {name!r}, games {games}: MockEnv "
                f"{w[games].tolist()} vs ScalarEnv {g[games].tolist()}"
            )


def _check_step(t: int, want: StepResult, got: StepResult, what: str = "frames") -> None:
    """Two envs' step results, bit for bit: frames, rewards, ends, results, last frames."""
    _check_frames(t, want.frames, got.frames, what)
    assert np.array_equal(_bits(want.reward), _bits(got.reward)), (t, want.reward, got.reward)
    assert np.array_equal(want.terminated, got.terminated), (t, want.terminated, got.terminated)
    assert np.array_equal(want.truncated, got.truncated), (t, want.truncated, got.truncated)
    assert want.results == got.results, (t, want.results, got.results)
    if want.final_frames is None or got.final_frames is None:
        assert want.final_frames is got.final_frames is None, t
    else:
        _check_frames(t, want.final_frames, got.final_frames, "final frames")


@functools.cache
def _run(name: str) -> RunStats:
    case = _CASES[name]
    n, steps, cfg = case.n, case.steps, case.config
    mock = MockEnv(n, cfg)
    scalar = ScalarEnv(n, cfg)
    bot = Bot(n, case.seed, case.dtype, case.intent_p, case.grab_p)
    stats = RunStats(steps=steps, n=n)
    frames = mock.reset()
    _check_frames(-1, frames, scalar.reset(), "frames")
    for t in range(steps):
        c0, c1 = bot.controls(frames)
        step = mock.step(c0, c1)
        _check_step(t, step, scalar.step(c0, c1))
        stats.laser_frames += int((step.frames.items.exists & (step.frames.items.vx != 0)).sum())
        # a stock-out terminates a game, the timer truncates it; never both
        assert not (step.terminated & step.truncated).any()
        for r in step.results:
            assert step.terminated[r.game] == (r.reason == "stocks"), (t, r)
            assert step.truncated[r.game] == (r.reason == "timeout"), (t, r)
        if step.results:
            assert step.final_frames is not None
            stats.results.extend(step.results)
            for p in (0, 1):
                stats.actions.update(step.final_frames.players[p].action.tolist())
        # cheap bookkeeping for the coverage checks
        for p in (0, 1):
            before, now = frames.players[p], step.frames.players[p]
            stats.actions.update(now.action.tolist())
            same = step.frames.frame != 0
            was_up = before.on_ground & (before.y > 20)
            stats.platform_drops += int(
                (same & was_up & (now.action == _aid("FALL")) & (np.abs(now.x) < 18)).sum()
            )
            stats.platform_landings += int((same & now.on_ground & (now.y > 20)).sum())
            ph = physics(cfg.character_ids[p])  # each port reads its own character's row
            stats.fast_fall_frames += int((now.vy_self == np.float32(-ph.fast_fall)).sum())
            stats.hitlag_frames += int((now.hitlag > 0).sum())
            take_off = same & (before.action == _aid("KNEE_BEND")) & ~now.on_ground
            # the take-off frame records the take-off speed itself (no gravity yet)
            stats.full_hops += int((take_off & (now.vy_self == np.float32(ph.full_hop))).sum())
            stats.short_hops += int((take_off & (now.vy_self == np.float32(ph.short_hop))).sum())
        frames = step.frames
    return stats


@pytest.mark.parametrize("case", list(_CASES))
def test_scalar_env_matches_mock_env_bit_for_bit(case: str) -> None:
    stats = _run(case)  # fails with the first difference, if any
    assert stats.steps == _CASES[case].steps


def test_random_play_reaches_timeouts_and_stock_outs() -> None:
    fd, bf = _run("fd_timeouts"), _run("bf_stockouts")
    assert {r.reason for r in fd.results} == {"timeout"}
    assert len(fd.results) >= fd.n * (fd.steps // 700)
    assert any(r.reason == "stocks" for r in bf.results)
    assert {r.winner for r in fd.results + bf.results} >= {0, 1}


def test_random_play_exercises_the_rules() -> None:
    """The parity above is meaningful only if the runs reach the rules: count the states."""
    seen: Counter[int] = Counter()
    for case in _CASES:
        seen.update(_run(case).actions)
    stats = [_run(case) for case in _CASES]
    must_see = [
        "WALK", "DASH", "RUN", "TURN", "KNEE_BEND", "JUMP_F", "JUMP_B", "DJUMP_F", "DJUMP_B",
        "FALL", "LANDING", "SPECIAL_FALL", "LANDING_SPECIAL", "JAB", "FTILT", "FSMASH",
        "DASH_ATTACK", "NAIR", "FAIR", "BAIR", "NAIR_LANDING", "FAIR_LANDING", "BAIR_LANDING",
        "UPB_HOLD_A", "UPB_TRAVEL", "SHIELD_START", "SHIELD", "SHIELD_RELEASE",
        "SHIELD_STUN", "DAMAGE_G", "DAMAGE_A", "DAMAGE_FLY", "TUMBLE", "TECH", "TECH_MISS",
        "LYING", "GETUP", "SB_FLY", "SB_FALL", "SB_DOWN", "SB_STAND", "DIZZY", "HALO",
        "CLIFF_CATCH", "CLIFF_WAIT", "CLIFF_CLIMB_QUICK", "CLIFF_ATTACK_QUICK",
        "CLIFF_ROLL_QUICK", "CLIFF_JUMP_QUICK_1", "CLIFF_JUMP_QUICK_2",
        "UAIR", "UAIR_LANDING", "DAIR_LANDING", "SHINE_START_G", "SHINE_LOOP_G", "SHINE_END_G",
        "SHINE_START_A", "SHINE_LOOP_A", "SHINE_END_A", "DTILT",
        "GRAB", "DASH_GRAB", "CATCH_PULL", "DASH_CATCH_PULL", "CATCH_WAIT", "CATCH_ATTACK",
        "THROW_F", "THROW_B", "THROW_HI", "THROW_LW", "CAPTURE_PULLED", "CAPTURE_WAIT",
        "CAPTURE_DAMAGE", "CAPTURE_CUT", "THROWN_F", "THROWN_B", "THROWN_HI", "THROWN_LW",
        "CATCH_CUT",
        "AIRDODGE", "AIRDODGE_FALL", "WAVEDASH_LANDING",
        "SIDEB_START_G", "SIDEB_DASH_G", "SIDEB_END_G", "SIDEB_START_A", "SIDEB_DASH_A",
        "SIDEB_END_A", "SQUAT", "SQUAT_WAIT", "SQUAT_RV", "LASER_START_G", "LASER_LOOP_G",
        "LASER_END_G", "LASER_START_A", "LASER_LOOP_A", "LASER_END_A",
    ]  # fmt: skip
    counts = {name: seen[_aid(name)] for name in must_see}
    missing = [name for name, c in counts.items() if c == 0]
    assert not missing, f"never reached: {missing} (counts {counts})"
    # walk speeds and deaths off every side carry a variant in the action id
    walks = {seen[_aid("WALK") + v] for v in (R.WALK_SLOW, R.WALK_MIDDLE, R.WALK_FAST)}
    assert 0 not in walks
    deaths = sum(seen[v] for v in range(4))
    assert deaths > 0 and seen[R.DEAD_DOWN] > 0
    assert sum(s.platform_landings for s in stats) > 0
    assert sum(s.platform_drops for s in stats) > 0
    assert sum(s.fast_fall_frames for s in stats) > 0
    assert sum(s.hitlag_frames for s in stats) > 0
    assert sum(s.full_hops for s in stats) > 0 and sum(s.short_hops for s in stats) > 0
    assert sum(s.laser_frames for s in stats) > 0


# --- the oracle's API ----------------------------------------------------------------------------
def test_the_oracle_runs_the_kernels_own_source_as_plain_python() -> None:
    """One implementation of the rules: MockEnv's kernel is numba-compiled, the oracle's is the
    same file's functions left as Python (so the parity above tests the compilation)."""
    from numba.core.dispatcher import Dispatcher

    from exphil.envs import _kernel
    from exphil.envs._scalar import PYTHON_KERNEL

    assert MockEnv._kernel is _kernel and ScalarEnv._kernel is PYTHON_KERNEL
    for name in ("step_games", "write_frames", "read_controls"):
        compiled, plain = getattr(_kernel, name), getattr(PYTHON_KERNEL, name)
        assert isinstance(compiled, Dispatcher) and not isinstance(plain, Dispatcher)
        assert plain.__code__.co_filename == compiled.py_func.__code__.co_filename
        assert plain.__code__.co_code == compiled.py_func.__code__.co_code
    # down to the helpers the entry points call (the copies import each other)
    assert not isinstance(PYTHON_KERNEL.step.advance, Dispatcher)
    assert isinstance(_kernel.step.advance, Dispatcher)


def test_scalar_env_clips_validates_and_auto_resets_like_mock_env() -> None:
    cfg = MockConfig(time_limit=5)
    scalar, mock = ScalarEnv(1, cfg), MockEnv(1, cfg)
    _check_frames(-1, mock.frames, scalar.frames, "frames")
    wild = (3.0, -2.0, 1.5, -1.5, -0.5, _A | _X)
    calm = (0.0, 0.0, 0.0, 0.0, 2.0, 0)
    for t in range(5):
        want = mock.step(_controls1(wild), _controls1(calm if t < 4 else wild))
        got = scalar.step(_controls1(wild), _controls1(calm if t < 4 else wild))
        _check_step(t, want, got)
    pf = want.final_frames
    assert pf is not None and want.results[0].reason == "timeout"
    p0 = pf.players[0]
    assert (p0.main_x[0], p0.main_y[0], p0.c_x[0], p0.c_y[0], p0.shoulder[0]) == (
        1.0, -1.0, 1.0, -1.0, 0.0,
    )  # fmt: skip
    assert int(want.frames.frame[0]) == 0 and int(pf.frame[0]) == 5
    with pytest.raises(ValueError, match="NaN"):
        scalar.step(_controls1((math.nan, 0.0, 0.0, 0.0, 0.0, 0)), _controls1(wild))


def _controls1(c: tuple[float, float, float, float, float, int]) -> Controls:
    f = [np.array([v], dtype=np.float32) for v in c[:5]]
    return Controls(f[0], f[1], f[2], f[3], f[4], np.array([c[5]], dtype=np.uint8))


def _drill(t: int, game: int, frames: Frames) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Scripted controls that reach what random play rarely does: ground up-Bs (sideways
    and up) and a launched player who lies on the ground untouched until the timer."""
    idle = (0.0, 0.0, 0.0, 0.0, 0.0, 0)
    if game == 0:  # up-B from the ground, sideways
        return (
            (0.0, 0.6, 0.0, 0.0, 0.0, _B) if t % 120 == 0 else (1.0, 0.0, 0.0, 0.0, 0.0, 0)
        ), idle
    if game == 1:  # up-B from the ground, straight up
        return (
            (0.0, 1.0, 0.0, 0.0, 0.0, _B) if t % 150 == 0 else (0.0, 1.0, 0.0, 0.0, 0.0, 0)
        ), idle
    # game 2: port 0 gets to port 1's right and smashes it toward the middle of the stage;
    # port 1 never touches the controller (so after a missed tech it lies the full time)
    x0, x1 = float(frames.players[0].x[game]), float(frames.players[1].x[game])
    spot = x1 + 10
    if abs(x0 - spot) > 3:
        return (0.6 if spot > x0 else -0.6, 0.0, 0.0, 0.0, 0.0, 0), idle
    return ((0.0, 0.0, -1.0, 0.0, 0.0, 0) if t % 50 == 0 else idle), idle


def test_scripted_drills_match_bit_for_bit_and_reach_the_rare_states() -> None:
    n = 3
    mock, scalar = MockEnv(n), ScalarEnv(n)
    frames = mock.reset()
    seen: Counter[int] = Counter()
    for t in range(2400):
        pairs = [_drill(t, g, frames) for g in range(n)]
        c0 = _controls_n([p[0] for p in pairs])
        c1 = _controls_n([p[1] for p in pairs])
        step = mock.step(c0, c1)
        _check_step(t, step, scalar.step(c0, c1), "drill frames")
        frames = step.frames
        seen.update(frames.players[0].action.tolist() + frames.players[1].action.tolist())
    assert seen[_aid("UPB_HOLD_G")] > 0 and seen[_aid("UPB_TRAVEL")] > 0
    assert seen[_aid("LYING")] >= R.LYING_MAX  # nobody touched the controller: the full time
    assert seen[_aid("GETUP")] > 0


def _controls_n(cs: list[tuple[float, ...]]) -> Controls:
    cols = list(zip(*cs, strict=True))
    f = [np.array(v, dtype=np.float32) for v in cols[:5]]
    return Controls(f[0], f[1], f[2], f[3], f[4], np.array(cols[5], dtype=np.uint8))
