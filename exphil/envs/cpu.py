"""Scripted CPU opponents for the mock game, vectorized over games.

A :class:`ScriptedCpu` reads ``Frames`` rows (the same observation a policy gets) and returns
:class:`~exphil.game.Controls`, so it plugs in wherever a policy does: the built-in
opponent of self-play and of evaluation in mock mode.

Levels (each adds to the one below):

====== =====================================================================================
level  behaviour
====== =====================================================================================
0      stands still
1      wanders: walks in a random direction, jumps now and then
2      approaches the opponent (walking)
3      jabs when in range
4      mixes in forward tilts; shields attacks it sees coming; recovers with its double jump
       toward the ledge (staying out from under the stage) and gets up from it (climb, jump,
       roll or attack, chosen at random)
5      dashes in; punishes lag (landing, shield release, missed techs, dizziness) with a
       forward smash; jumps at opponents above it with aerials; recovers with up-B aimed at
       the ledge (or onto the stage from above it); shines (down-B) up close
6      techs when it lands in tumble; fast-falls its aerials; jump-cancels its shine; grabs a
       shielding opponent and throws it toward the nearer edge
7      edge-guards: waits at the edge and hits an opponent recovering; pummels once before
       the throw
8      jumps out to edge-guard with a back air
9      reacts every other frame and rarely errs
====== =====================================================================================

Off the stage, levels 4+ drop whatever they were doing and recover at once. Higher levels also
react sooner (a CPU re-decides every ``REACTION[level]`` frames) and make
fewer random choices. Everything is deterministic for a seed: random draws are a hash of the
seed, the game slot, the number of games that slot has played, the frame and the port, so a
game's CPU plays the same whether the game runs alone or in a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

from exphil.envs import _rules as R
from exphil.envs._state import array_from_state, check_kind, int_from_state, tensor
from exphil.game.controls import Controls
from exphil.game.frames import BUTTON_BITS, Frames
from exphil.game.ids import LEGAL_STAGES

__all__ = ["ScriptedCpu", "CPU_LEVELS", "REACTION"]

CPU_LEVELS: Final = tuple(range(10))
REACTION: Final = (1, 30, 20, 15, 12, 10, 8, 6, 4, 2)
"""Frames between decisions, per level."""
_ATTACK_P: Final = np.array([0, 0, 0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])
_SHIELD_P: Final = np.array([0, 0, 0, 0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.85])
_PUNISH_P: Final = np.array([0, 0, 0, 0, 0, 0.6, 0.7, 0.8, 0.9, 0.95])
_AERIAL_P: Final = np.array([0, 0, 0, 0, 0, 0.4, 0.5, 0.6, 0.7, 0.8])
_SHINE_P: Final = np.array([0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5])
_GRAB_P: Final = np.array([0, 0, 0, 0, 0, 0, 0.5, 0.6, 0.7, 0.8])

_A = BUTTON_BITS["A"]
_B = BUTTON_BITS["B"]
_X = BUTTON_BITS["X"]
_L = BUTTON_BITS["L"]
_Z = BUTTON_BITS["Z"]

# plans
(
    P_IDLE,
    P_WALK,
    P_DASH,
    P_JAB,
    P_FTILT,
    P_FSMASH,
    P_SHIELD,
    P_JUMP_IN,
    P_RECOVER,
    P_EDGE_WAIT,
    P_EDGE_JUMP,
    P_TECH,
    P_WANDER,
    P_LEDGE,
    P_SHINE,
    P_GRAB,
) = range(16)


def _ids(*names: str) -> np.ndarray[Any, Any]:
    return np.array([R.STATES[R.S[n]].action for n in names])


_ATTACKS: Final = _ids(
    "JAB",
    "FTILT",
    "FSMASH",
    "DASH_ATTACK",
    "NAIR",
    "FAIR",
    "BAIR",
    "UPB_TRAVEL",
    "UTILT",
    "USMASH",
    "DSMASH",
    "UAIR",
    "DAIR_FALCO",
)
_LAG: Final = _ids(
    "LANDING",
    "LANDING_SPECIAL",
    "UPB_LANDING",
    "NAIR_LANDING",
    "FAIR_LANDING",
    "BAIR_LANDING",
    "UAIR_LANDING",
    "DAIR_LANDING",
    "SHIELD_RELEASE",
    "TECH_MISS",
    "LYING",
    "SB_DOWN",
    "SB_STAND",
    "DIZZY",
    "DAMAGE_G",
    "FSMASH",
    "USMASH",
    "DSMASH",
)
_TUMBLE: Final = _ids("DAMAGE_FLY", "TUMBLE")
_RUNNING: Final = _ids("DASH", "RUN")
_HANGING: Final = _ids("CLIFF_CATCH", "CLIFF_WAIT")
_CLIFF_WAIT: Final = R.STATES[R.S["CLIFF_WAIT"]].action
_SHIELDS: Final = _ids("SHIELD_START", "SHIELD", "SHIELD_STUN")
_CATCH_WAIT: Final = R.STATES[R.S["CATCH_WAIT"]].action
# a grab's timeline from the plan's start (frames): the press (on its first frame, or its
# sixth after a turn), 6-7 of grab, 2 of pull, then holding; level 7+ pummels on entering the
# hold (A held until _PUMMEL_UNTIL: one press, 23 frames) and throws once holding again
_PUMMEL_UNTIL: Final = 20
_THROW_AFTER_PUMMEL: Final = 34
# recovery: where a recovering CPU heads, from the stage's edge (outward) and height
_LEDGE_COLUMN: Final = 6.0  # below the stage's top, stay this far out (the grab box)
_LEDGE_AIM_Y: Final = -12.0  # an up-B from below aims here, at the wall in the grab box
_DJUMP_BELOW: Final = -12.0  # double jump once falling below this


def _table(ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A membership table over action ids (one lookup instead of ``np.isin``'s sort)."""
    out = np.zeros(0x10000, dtype=bool)
    out[ids] = True
    return out


_IS_ATTACK, _IS_LAG, _IS_TUMBLE, _IS_RUNNING, _IS_HANGING, _IS_SHIELD = map(
    _table, (_ATTACKS, _LAG, _TUMBLE, _RUNNING, _HANGING, _SHIELDS)
)
_EDGE_BY_STAGE: Final = np.zeros(256)
for _st in LEGAL_STAGES:
    _EDGE_BY_STAGE[int(_st)] = _st.geometry.edge

_M64: Final = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(z: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """splitmix64's finalizer on uint64 arrays."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray[Any, Any] = z ^ (z >> np.uint64(31))
    return out


class ScriptedCpu:
    """CPU players at ``level`` (one level, or one per game) for ``n`` games.

    ``seed`` derives one seed per game slot; pass ``seeds`` (uint64, one per game) instead to
    pin them (a game run alone with ``seeds=batch.seeds[i:i+1]`` plays like game ``i`` of the
    batch).
    """

    def __init__(
        self,
        level: int | Sequence[int] | np.ndarray[Any, Any],
        n: int,
        *,
        seed: int = 0,
        seeds: np.ndarray[Any, Any] | None = None,
    ) -> None:
        levels = np.broadcast_to(np.asarray(level, dtype=np.int64), (n,)).copy()
        bad = levels[(levels < 0) | (levels > 9)]
        if bad.size:
            raise ValueError(f"CPU levels are 0..9, got {int(bad[0])}")
        self.n = n
        self.levels = levels
        if seeds is None:
            with np.errstate(over="ignore"):
                seeds = _mix(
                    np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ _mix(np.arange(n, dtype=np.uint64))
                )
        seeds = np.asarray(seeds, dtype=np.uint64)
        if seeds.shape != (n,):
            raise ValueError(f"seeds must have shape ({n},), got {seeds.shape}")
        self.seeds = seeds
        self._react = np.asarray(REACTION)[levels]
        self._games = np.zeros(n, dtype=np.uint64)
        self._last_frame = np.full(n, np.iinfo(np.int64).max)
        self._plan = np.zeros(n, dtype=np.int64)
        self._t = np.zeros(n, dtype=np.int64)
        self._until = np.zeros(n, dtype=np.int64)
        self._dir = np.ones(n, dtype=np.int64)  # wander / edge side

    def state_dict(self) -> dict[str, Any]:
        """The per-game levels, seeds, game counts and plans, as tensors (copies) and ints:
        ``torch.save`` / ``torch.load(weights_only=True)`` round-trip it."""
        return {
            "kind": "ScriptedCpu",
            "n": self.n,
            "levels": tensor(self.levels),
            "seeds": tensor(self.seeds),
            "games": tensor(self._games),
            "last_frame": tensor(self._last_frame),
            "plan": tensor(self._plan),
            "t": tensor(self._t),
            "until": tensor(self._until),
            "dir": tensor(self._dir),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state (seeds included): the CPU then acts exactly as
        the saved one would. ``n`` and the levels must match this CPU's (a ValueError says
        which differs); nothing changes unless the whole state is valid."""
        who = "ScriptedCpu"
        s = check_kind(state, who)
        n = int_from_state(s, "n", who, minimum=1)
        if n != self.n:
            raise ValueError(f"{who} state: n is {n} games, this CPU has {self.n}")
        levels = array_from_state(s, "levels", (n,), np.int64, who)
        if not np.array_equal(levels, self.levels):
            raise ValueError(
                f"{who} state: levels differ (saved {levels.tolist()}, "
                f"this CPU {self.levels.tolist()})"
            )
        seeds = array_from_state(s, "seeds", (n,), np.uint64, who)
        games = array_from_state(s, "games", (n,), np.uint64, who)
        arrays = {
            k: array_from_state(s, k, (n,), np.int64, who)
            for k in ("last_frame", "plan", "t", "until", "dir")
        }
        self.seeds = seeds
        self._games = games
        self._last_frame = arrays["last_frame"]
        self._plan = arrays["plan"]
        self._t = arrays["t"]
        self._until = arrays["until"]
        self._dir = arrays["dir"]

    _PER_GAME = ("levels", "seeds", "_react", "_games", "_last_frame", "_plan", "_t", "_until",
                 "_dir")  # fmt: skip

    def set_levels(self, rows: np.ndarray[Any, Any], level: int) -> None:
        """The games ``rows`` are played at ``level`` from now on (a pool that hands its game
        slots to different levels keeps one CPU for all of them: one call per frame)."""
        if not 0 <= level <= 9:
            raise ValueError(f"CPU levels are 0..9, got {level}")
        idx = np.asarray(rows, dtype=np.int64)
        self.levels[idx] = level
        self._react[idx] = REACTION[level]

    def act_rows(self, frames: Frames, port: int, rows: np.ndarray[Any, Any]) -> Controls:
        """Controls for ``port`` in the games ``rows`` only (``frames``: one row per game in
        ``rows``); the other games' plans are untouched. Equal to :meth:`act` on every game
        when ``rows`` is all of them: a game's play depends only on its own frames and seed."""
        idx = np.asarray(rows, dtype=np.int64)
        sub = ScriptedCpu(self.levels[idx], len(idx), seeds=self.seeds[idx])
        for name in self._PER_GAME:
            setattr(sub, name, getattr(self, name)[idx].copy())
        out = sub.act(frames, port)
        for name in self._PER_GAME:
            getattr(self, name)[idx] = getattr(sub, name)
        return out

    def _random(self, frame: np.ndarray[Any, Any], port: int, k: int) -> np.ndarray[Any, Any]:
        with np.errstate(over="ignore"):
            z = self.seeds ^ _mix(self._games * np.uint64(0x100000001B3) + np.uint64(k))
            z = _mix(z ^ _mix(frame.astype(np.uint64) * np.uint64(4) + np.uint64(port)))
        out: np.ndarray[Any, Any] = (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        return out

    def act(self, frames: Frames, port: int) -> Controls:
        """Controls for ``port`` (0 or 1) in every game, given each game's current frame."""
        if port not in (0, 1):
            raise ValueError(f"port must be 0 or 1, got {port}")
        if len(frames) != self.n:
            raise ValueError(f"expected {self.n} rows of frames (one per game), got {len(frames)}")
        me, opp = frames.players[port], frames.players[1 - port]
        frame = frames.frame.astype(np.int64)
        new_game = frame < self._last_frame
        self._games += new_game.astype(np.uint64)
        self._last_frame = frame
        self._plan[new_game] = P_IDLE
        self._t[new_game] = 0
        self._until[new_game] = 0

        lv = self.levels
        mx, my = me.x.astype(np.float64), me.y.astype(np.float64)
        ox, oy = opp.x.astype(np.float64), opp.y.astype(np.float64)
        dx, dy = ox - mx, oy - my
        adx = np.abs(dx)
        toward = np.where(dx >= 0, 1, -1)
        edge = _EDGE_BY_STAGE[frames.stage]
        me_off = (np.abs(mx) > edge) | (my < -5)
        opp_off = (np.abs(ox) > edge + 5) | (oy < -10)
        opp_act, me_act = opp.action.astype(np.uint16), me.action.astype(np.uint16)
        opp_attacking = _IS_ATTACK[opp_act] & (opp.action_frame < 12)
        opp_lag = _IS_LAG[opp_act]
        tumbling = _IS_TUMBLE[me_act]
        opp_dead = opp.action <= 0x0D  # dead or on the halo
        grounded = me.on_ground

        hanging = _IS_HANGING[me_act]

        # --- decide ------------------------------------------------------------------------
        self._t += 1
        decide = self._t >= self._until
        # off the stage or on a ledge: levels 4+ drop their plan at once (an edge-guarding
        # jump out is meant to be off the stage for a while)
        urgent = (self.levels >= 4) & (me_off | hanging)
        urgent &= ~(self._plan == P_RECOVER) & ~(self._plan == P_LEDGE)
        urgent &= ~((self._plan == P_EDGE_JUMP) & (self._t < 20))
        decide |= urgent
        u = [self._random(frame, port, k) for k in range(4)]
        plan = np.full(self.n, P_IDLE)
        length = self._react.copy()
        # level 1: wander
        wander = lv == 1
        self._dir = np.where(decide & wander, np.where(u[0] < 0.5, -1, 1), self._dir)
        plan = np.where(wander, P_WANDER, plan)
        length = np.where(wander, 30 + (u[1] * 30).astype(np.int64), length)
        # level 2+: approach
        approach = (lv >= 2) & (adx > 14)
        plan = np.where(approach, np.where(lv >= 5, P_DASH, P_WALK), plan)
        # level 3+: attack in range
        in_range = (lv >= 3) & (adx <= 14) & (np.abs(dy) < 10) & grounded
        attack = in_range & (u[0] < _ATTACK_P[lv])
        which = np.where((lv >= 4) & (u[1] < 0.5), P_FTILT, P_JAB)
        punish = in_range & opp_lag & (u[2] < _PUNISH_P[lv])
        plan = np.where(attack, which, plan)
        plan = np.where(punish, P_FSMASH, plan)
        # level 5+: shine up close (it hits on its first frame); level 6+: grab a shield
        # (grabs beat shields)
        shine = in_range & (adx <= 9) & (u[3] < _SHINE_P[lv]) & ~punish
        plan = np.where(shine, P_SHINE, plan)
        grab = in_range & _IS_SHIELD[opp_act] & (u[2] < _GRAB_P[lv])
        plan = np.where(grab, P_GRAB, plan)
        # level 5+: aerials at an opponent above
        above = (lv >= 5) & grounded & (dy > 8) & (dy < 60) & (adx < 25) & (u[3] < _AERIAL_P[lv])
        # (not toward an opponent beyond the edge: an aerial lasts, and falls, 40 frames)
        above &= (np.abs(ox) < edge - 10) & (np.abs(mx) < edge - 15)
        plan = np.where(above, P_JUMP_IN, plan)
        # level 4+: shield what is coming
        threat = (lv >= 4) & grounded & opp_attacking & (adx < 25) & (u[1] < _SHIELD_P[lv])
        plan = np.where(threat, P_SHIELD, plan)
        # level 7+: edge-guard an opponent off the stage
        guard = (lv >= 7) & opp_off & ~me_off & ~opp_dead & ~_IS_HANGING[opp_act]
        close_below = guard & (adx < 30) & (dy < 0)
        plan = np.where(
            guard, np.where((lv >= 8) & close_below & (u[2] < 0.5), P_EDGE_JUMP, P_EDGE_WAIT), plan
        )
        # level 6+: tech
        plan = np.where((lv >= 6) & tumbling & (my < 25), P_TECH, plan)
        # level 4+: recover (overrides everything), get up from a ledge
        plan = np.where((lv >= 4) & me_off, P_RECOVER, plan)
        plan = np.where((lv >= 4) & hanging, P_LEDGE, plan)
        plan = np.where(opp_dead & (lv >= 2) & ~me_off, P_IDLE, plan)
        plan = np.where(lv == 0, P_IDLE, plan)
        attack_len = np.select(
            [
                plan == P_JAB,
                plan == P_FTILT,
                plan == P_FSMASH,
                plan == P_JUMP_IN,
                plan == P_SHIELD,
                plan == P_EDGE_JUMP,  # committed: a short hop out, a back air, back
                plan == P_SHINE,  # start 3, loop 18, end 18 (or jump-cancelled)
                plan == P_GRAB,  # a whiff lasts 30 frames; a hold, until the throw
            ],
            [18, 28, 42, 40, 10 + (u[2] * 10).astype(np.int64), 24, np.where(lv >= 6, 12, 40), 60],
            length,
        )
        self._plan = np.where(decide, plan, self._plan)
        self._until = np.where(decide, attack_len, self._until)
        self._t = np.where(decide, 0, self._t)

        # --- act ---------------------------------------------------------------------------
        plan, t = self._plan, self._t
        n = self.n
        sx = np.zeros(n)
        sy = np.zeros(n)
        cx = np.zeros(n)
        buttons = np.zeros(n, dtype=np.int64)
        first = t == 0
        facing_ok = me.facing.astype(np.int64) == toward

        # wanderers turn back before the edge
        self._dir = np.where(np.abs(mx) > edge - 15, np.where(mx > 0, -1, 1), self._dir)
        sx = np.where(plan == P_WANDER, 0.6 * self._dir, sx)
        buttons = np.where((plan == P_WANDER) & first & (u[3] < 0.15), buttons | _X, buttons)
        sx = np.where(plan == P_WALK, 0.6 * toward, sx)
        sx = np.where(plan == P_DASH, 1.0 * toward, sx)
        # jab and tilt: stop (and turn toward the opponent) first, then A; A out of a run
        # would be a dash attack, which levels 5+ use on purpose now and then
        running = _IS_RUNNING[me_act]
        ready = facing_ok & ~running
        dash_attack = (lv >= 5) & running & (u[3] < 0.3)
        ground_attack = (plan == P_JAB) | (plan == P_FTILT)
        press = ground_attack & ((first & (ready | dash_attack)) | (t == 5))
        turning = ground_attack & ~facing_ok & (t < 4)
        sx = np.where(turning, 0.5 * toward, sx)
        buttons = np.where(press, buttons | _A, buttons)
        sx = np.where(press & (plan == P_FTILT), 0.5 * toward, sx)
        cx = np.where((plan == P_FSMASH) & first, toward.astype(np.float64), cx)
        buttons = np.where(plan == P_SHIELD, buttons | _L, buttons)
        # jump in: jump toward, aerial after 8 frames, fast fall on the way down (level 6+)
        jump_in = plan == P_JUMP_IN
        buttons = np.where(jump_in & first, buttons | _X, buttons)
        # (drifting toward the opponent, but not out over the edge)
        near_edge = np.abs(mx) > edge - 10
        jump_drift = np.where(near_edge & (toward * mx > 0), 0.0, 0.7 * toward)
        sx = np.where(jump_in & (t < 8), jump_drift, sx)
        buttons = np.where(jump_in & (t == 8), buttons | _A, buttons)
        sx = np.where(jump_in & (t == 8), toward * facing_ok.astype(np.float64), sx)
        sy = np.where(jump_in & (t == 22) & (lv >= 6), -1.0, sy)
        # recover: above the stage's top drift home to land; below it keep to the column of
        # the ledge's grab box (never under the stage: its underside is a ceiling) and let
        # the ledge catch; double jump once falling low (at once when far: the air drift is
        # slow); up-B when out of jumps, aimed into the grab box, facing the ledge
        rec = plan == P_RECOVER
        home = np.where(mx >= 0, -1.0, 1.0)
        out_x = np.abs(mx) - edge  # how far beyond the edge
        column = -home * (edge + _LEDGE_COLUMN)
        below = my < 0.0
        # toward the column with the air speed in mind (the drift is slow to stop)
        vx_air = me.vx_air.astype(np.float64)
        want_vx = np.clip((column - mx) / 12.0, -0.8, 0.8)
        to_column = np.clip((want_vx - vx_air) * 8.0, -1.0, 1.0)
        sx = np.where(rec, np.where(below, to_column, home), sx)
        falling = (me.vy_self <= 0) & ~grounded
        jump_now = rec & (me.jumps_left > 0) & (my < _DJUMP_BELOW) & falling
        buttons = np.where(jump_now & (t % 2 == 0), buttons | _X, buttons)
        # the double jump carries the stick's direction: home from above the stage's top,
        # else toward the ledge's column (out from under the stage)
        sx = np.where(jump_now, np.where(below, np.clip((column - mx) / 20.0, -1, 1), home), sx)
        # up-B as late as its reach allows: the charge stops the fall (about 6 units in all)
        # and most of the drift, the travel covers about 80 (Fox) or 60 (Falco); aim point at
        # the wall inside the grab box
        reach = np.hypot(np.maximum(out_x - 1.0, 0.0), (my - 6.0) - _LEDGE_AIM_Y)
        upb = rec & (lv >= 5) & (me.jumps_left == 0) & falling
        upb &= (my < 14.0) & ((reach >= 50.0) | (my < _LEDGE_AIM_Y))
        buttons = np.where(upb & (t % 2 == 0), buttons | _B, buttons)
        # aim the up-B (read when its charge ends): from below the stage's top at the wall
        # just inside the grab box (the path stays out of the stage's underside and moves
        # inward: the ledge catches only a player facing it; straight up from under the
        # wall); from above, onto the stage; never downward (holding down lets no ledge
        # catch, and fast-falls)
        to_box = my < _LEDGE_AIM_Y
        # (under the stage, outward past its corner instead: up beside it, then land on it)
        aim_in = np.where(to_box, out_x - 1.0, out_x + 15.0)
        aim_up = np.where(to_box, _LEDGE_AIM_Y - my, np.maximum(15.0 - my, 0.0))
        aim_x = home * aim_in
        aim_y = aim_up
        norm = np.maximum(np.hypot(aim_x, aim_y), 1e-9)
        aiming = rec & (lv >= 5) & (me.jumps_left == 0) & ~grounded
        sx = np.where(aiming, aim_x / norm, sx)
        sy = np.where(aiming, aim_y / norm, sy)
        # on a ledge: wait (still intangible) a few frames, then climb, jump, roll or attack,
        # the stick or button pressed from neutral (the ledge reads presses)
        ledge = (plan == P_LEDGE) & (me_act == _CLIFF_WAIT)
        option = (u[1] * 4).astype(np.int64)  # drawn per frame: a fresh pick each try
        press_now = ledge & (t % 6 == 3)
        sx = np.where(press_now & (option == 0), home, sx)
        buttons = np.where(press_now & (option == 1), buttons | _X, buttons)
        buttons = np.where(press_now & (option == 2), buttons | _L, buttons)
        buttons = np.where(press_now & (option == 3), buttons | _A, buttons)
        # edge-guard: walk to the edge on the opponent's side, then hit what comes close
        side = np.where(ox >= 0, 1.0, -1.0)
        spot = side * (edge - 8)
        wait = plan == P_EDGE_WAIT
        far = np.abs(spot - mx) > 3
        sx = np.where(wait & far, np.clip((spot - mx) / 10, -1, 1), sx)
        poke = wait & ~far & (adx < 16) & (np.abs(dy) < 14) & (t % 4 == 0)
        cx = np.where(poke, side, cx)
        # (a short hop out: the air drift is slow, so come back at once, double jumping)
        ejump = plan == P_EDGE_JUMP
        buttons = np.where(ejump & first, buttons | _X, buttons)
        sx = np.where(ejump & (t < 6), side, sx)
        # a back air: face the stage, stick toward the opponent
        buttons = np.where(ejump & (t == 8), buttons | _A, buttons)
        sx = np.where(ejump & (t == 8), side, sx)
        # then back to the ledge's column beside the stage (not under it)
        sx = np.where(
            ejump & (t > 8), np.clip((side * (edge + _LEDGE_COLUMN) - mx) / 4.0, -1, 1), sx
        )
        buttons = np.where(ejump & (t == 16), buttons | _X, buttons)
        buttons = np.where(plan == P_TECH, buttons | _L, buttons)
        # shine: down and B, tapped; level 6+ jump-cancels it on its 5th frame (the loop
        # takes a jump from its first frame)
        shining = (plan == P_SHINE) & first
        buttons = np.where(shining, buttons | _B, buttons)
        sy = np.where(shining, -1.0, sy)
        buttons = np.where((plan == P_SHINE) & (lv >= 6) & (t == 4), buttons | _X, buttons)
        # grab: Z facing the opponent (turning first)
        grabbing = plan == P_GRAB
        sx = np.where(grabbing & ~facing_ok & (t < 4), 0.5 * toward, sx)
        z_now = grabbing & ((first & facing_ok) | (t == 5))
        buttons = np.where(z_now, buttons | _Z, buttons)
        # holding (whatever the plan now): level 7+ pummels once, then every level throws
        # toward the nearer edge (forward or back, as the CPU faces)
        holding = me_act == _CATCH_WAIT
        in_grab = grabbing  # (its plan ends at t = 60)
        pummel = holding & (lv >= 7) & in_grab & (t < _PUMMEL_UNTIL)
        buttons = np.where(pummel, buttons | _A, buttons)
        throw = holding & ~pummel & (~in_grab | (lv < 7) | (t >= _THROW_AFTER_PUMMEL))
        sx = np.where(throw, np.where(mx >= 0, 1.0, -1.0), sx)
        sy = np.where(throw, 0.0, sy)
        # level 9 plays at most 2 frames late; lower levels sometimes do nothing at all
        idle_roll = (lv < 9) & (u[0] < 0.02 * (9 - lv)) & ~rec & ~(plan == P_LEDGE)
        sx = np.where(idle_roll, 0.0, sx)
        buttons = np.where(idle_roll, 0, buttons)

        f32 = np.float32
        zero = np.zeros(n, dtype=f32)
        return Controls(
            main_x=sx.astype(f32),
            main_y=sy.astype(f32),
            c_x=cx.astype(f32),
            c_y=zero,
            shoulder=zero,
            buttons=buttons.astype(np.uint8),
        )
