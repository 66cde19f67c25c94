"""A vectorized mock Melee: N two-player games stepped together with numpy.

It is a small but real fighting game (movement, jumps, attacks with hitboxes, damage,
knockback that grows with percent, hitstun, shields, blast zones, stocks, a timer) that speaks
exactly the language of replays and Dolphin: it takes the controller columns a policy emits
(:class:`Controls`) and returns :class:`~exphil.game.Frames` rows with real Melee action ids,
internal character ids and external stage ids. Its rules are data in ``exphil.envs._rules``;
``docs/mockenv.md`` describes them.

Stepping and auto-reset
-----------------------
``MockEnv`` implements :class:`~exphil.envs.GameEnv` (its module docstring has the contract).
``reset()`` returns frame 0 of every game (nobody has pressed anything yet). ``step(p0, p1)``
applies port 0's and port 1's controls to every game and returns a
:class:`~exphil.envs.StepResult`:

* ``frames``: one row per game, the frame those controls produced (the controller columns
  hold the controls, as a replay's pre-frame inputs do);
* ``reward``: ``[N, 2]`` per-player rewards, zero-sum unless shaping is configured;
* ``terminated``: ``[N]``, True where a game ended on a stock-out on this step;
  ``truncated``: True where it ended on the timer (``MockConfig.time_limit``);
* for a game that ended, its row of ``frames`` is **already frame 0 of the next game**
  (same-step auto-reset); its last frame is in ``final_frames`` (one row per ended game, in
  game order) and its :class:`~exphil.envs.GameOutcome` in ``results``. The reward of the
  ended game's last step is in ``reward``.

Everything here is deterministic: the same controls give the same frames, whatever the batch
size (a test holds batched games equal to games stepped alone).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Final

import msgspec
import numpy as np

from exphil.envs import _rules as R
from exphil.envs._characters import FIELDS as PHYSICS_FIELDS
from exphil.envs._characters import physics as character_physics
from exphil.envs._items import ItemSlots
from exphil.envs._protocol import Counters, EnvStatistics, GameOutcome, StepResult, check_controls
from exphil.envs._state import (
    array_from_state,
    check_kind,
    config_differences,
    counters_from_state,
    counters_state,
    int_from_state,
    tensor,
)
from exphil.game.controls import AXIS_COLUMNS, Controls
from exphil.game.frames import BUTTON_BITS, ITEM_SLOTS, Frames, ItemFrames, PlayerFrames
from exphil.game.ids import Character, Stage, character, stage

__all__ = [
    "MockConfig",
    "RewardConfig",
    "MockEnv",
    "MOCK_STAGES",
    "MOCK_CHARACTERS",
    "platforms",
]

MOCK_STAGES: Final = (Stage.FINAL_DESTINATION, Stage.BATTLEFIELD)
MOCK_CHARACTERS: Final = (Character.FOX, Character.FALCO)  # they share the up-B action ids
STAGE_DEPTH: Final = 20.0  # the main stage is a solid block this deep below its top

# libmelee melee.stages.{left,right,top}_platform_position for Battlefield: (height, left, right)
_PLATFORMS: Final[dict[Stage, tuple[tuple[float, float, float], ...]]] = {
    Stage.FINAL_DESTINATION: (),
    Stage.BATTLEFIELD: (
        (54.40010070800781, -18.80000114440918, 18.80000114440918),
        (27.20009994506836, -57.60000228881836, -20.0),
        (27.20009994506836, 20.0, 57.60000228881836),
    ),
}

_BTN_A = BUTTON_BITS["A"]
_BTN_B = BUTTON_BITS["B"]
_BTN_JUMP = BUTTON_BITS["X"] | BUTTON_BITS["Y"]
_BTN_SHIELD = BUTTON_BITS["L"] | BUTTON_BITS["R"]
_BTN_Z = BUTTON_BITS["Z"]
_BTN_MASH = _BTN_A | _BTN_B | _BTN_JUMP | _BTN_Z | _BTN_SHIELD  # presses that mash out of a grab


def platforms(st: Stage) -> tuple[tuple[float, float, float], ...]:
    """The pass-through platforms of a mock stage: ``(height, left, right)`` each."""
    return _PLATFORMS[st]


class RewardConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-player reward weights.

    The core is zero-sum: ``stock * (stocks the opponent lost - stocks lost) + damage * (damage
    dealt - damage taken) + win * (+1 win, -1 loss)``; player 1's core reward is minus player
    0's. Shaping terms (default 0) are added per player and break zero-sum when on:
    ``approach`` per unit of distance closed to the opponent, ``offstage`` (a penalty) per
    frame spent beyond the stage's edge.
    """

    stock: float = 1.0
    damage: float = 0.01
    win: float = 5.0
    approach: float = 0.0
    offstage: float = 0.0


class MockConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One mock game's rules. Stage and characters take names or aliases (``fd``, ``bf``)."""

    stage: str = "final_destination"
    characters: tuple[str, str] = ("fox", "fox")
    stocks: int = R.STOCKS
    time_limit: int = R.TIME_LIMIT  # frames; 28,800 = 8 minutes
    rewards: RewardConfig = RewardConfig()

    def __post_init__(self) -> None:
        try:
            st = stage(self.stage)
        except ValueError:
            # suggest only what the mock plays (not every Melee stage the name resembles)
            accepted = ["fd", "bf", *(s.name.lower() for s in MOCK_STAGES)]
            close = difflib.get_close_matches(str(self.stage).lower(), accepted, n=2)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(
                f"unknown stage {self.stage!r}: the mock environment plays fd (Final "
                f"Destination) or bf (Battlefield){hint}"
            ) from None
        if st not in MOCK_STAGES:
            names = ", ".join(s.display_name for s in MOCK_STAGES)
            raise ValueError(f"the mock environment plays on {names}, not {st.display_name}")
        for name in self.characters:
            ch = character(name)
            if ch not in MOCK_CHARACTERS:
                names = ", ".join(c.display_name for c in MOCK_CHARACTERS)
                raise ValueError(
                    f"the mock environment's characters are {names} (they share its move "
                    f"set and action ids), not {ch.display_name}"
                )
        if not 1 <= self.stocks <= 99:
            raise ValueError(f"stocks must be in 1..99, got {self.stocks}")
        if self.time_limit < 1:
            raise ValueError(f"time_limit must be at least 1 frame, got {self.time_limit}")

    @property
    def stage_id(self) -> Stage:
        return stage(self.stage)

    @property
    def character_ids(self) -> tuple[Character, Character]:
        return character(self.characters[0]), character(self.characters[1])


# float state, [F, 2, N] float64
_X, _Y, _VX, _VY, _KBX, _KBY, _PCT, _SHIELD, _RUN_ANIM = range(9)
_NF = 9  # _RUN_ANIM: a run's animation frame (its action_frame column)
# int state, [Z, 2, N] int64
(
    _ST,
    _VAR,
    _AF,
    _FACING,
    _JUMPS,
    _STOCKS,
    _SURF,
    _TIMER,
    _INVULN,
    _HITLAG,
    _HITDONE,
    _FF,
    _TECH,
    _LEDGE,
    _REGRAB,
    _DRP,
) = range(16)
_NZ = 16
# _LEDGE: the side of the ledge held (+1 right, -1 left; read only in a LEDGE state);
# _REGRAB: 1 after a grab until the ground or a hit (a regrab gives no intangibility);
# _DRP: frames before a grab is possible again after letting go

_ST_WALK = R.S["WALK"]
_ST_DASH = R.S["DASH"]
_ST_RUN = R.S["RUN"]
_ST_STAND = R.S["STAND"]
_ST_TURN = R.S["TURN"]
_ST_KNEE = R.S["KNEE_BEND"]
_ST_SHIELD = R.S["SHIELD"]
_ST_SHIELD_START = R.S["SHIELD_START"]
_ST_DEAD = R.S["DEAD"]
_ST_HALO = R.S["HALO"]
_ST_LYING = R.S["LYING"]
_ST_TECH = R.S["TECH"]
_ST_UPB_G = R.S["UPB_HOLD_G"]
_ST_UPB_A = R.S["UPB_HOLD_A"]
_ST_UPB_TRAVEL = R.S["UPB_TRAVEL"]
_ST_SHINE_G = R.S["SHINE_START_G"]
_ST_SHINE_A = R.S["SHINE_START_A"]
_ACTION = R.STATE_TABLE[:, R.T_ACTION]
_FLAGS = R.STATE_TABLE[:, R.T_FLAGS]
_DURATION = R.STATE_TABLE[:, R.T_DURATION]
_NEXT = R.STATE_TABLE[:, R.T_NEXT]
_MOVE = R.STATE_TABLE[:, R.T_MOVE]
_LATE = R.STATE_TABLE[:, R.T_LATE]  # a state's late hit (-1: none)
_LANDING = R.STATE_TABLE[:, R.T_LANDING]
_VARIANT = R.STATE_TABLE[:, R.T_VARIANT]
_AF_SHOWN = R.STATE_TABLE[:, R.T_AF_SHOWN]
_AF_FIXED = R.STATE_TABLE[:, R.T_AF_FIXED].astype(bool)
_INTANG = R.STATE_TABLE[:, R.T_INTANGIBLE]
_THROW = R.STATE_TABLE[:, R.T_THROW]  # a throw's move, else -1
_THROWN = R.STATE_TABLE[:, R.T_THROWN]  # the thrown player's state
_IS_THROWN = np.zeros(R.NUM_STATES, dtype=bool)
_IS_THROWN[[R.S[f"THROWN_{k}"] for k in ("F", "B", "HI", "LW")]] = True
_IS_THROWN.setflags(write=False)
_THROW_FIRST = np.where(_THROW >= 0, R.MOVE_TABLE[np.maximum(_THROW, 0), R.MV_FIRST], -1).astype(
    np.int64
)
_GRAB_BOX = R.GRAB_BOX_TABLE
# the states the grab step reads: a grab box, holding, held or thrown, throwing
_IN_GRAB = (_GRAB_BOX[:, 0] >= 0) | ((_FLAGS & (R.HOLDING | R.CAPTURED)) != 0) | (_THROW >= 0)
_IN_GRAB.setflags(write=False)
_ST_GRAB_WAIT = R.S["CATCH_WAIT"]
_ST_CATCH_ATTACK = R.S["CATCH_ATTACK"]
_ST_DASH_GRAB = R.S["DASH_GRAB"]
_INTANG_FROM = R.STATE_TABLE[:, R.T_INTANGIBLE_FROM]
_OFF_EDGE = R.STATE_TABLE[:, R.T_OFF_EDGE]  # off its surface it goes on in this state (-1: no)
_STILL = R.STATE_TABLE[:, R.T_STILL]  # OWN_FALL: its still frames
_OWN_FRICTION = R.STATE_PHYS[:, 0]  # its own friction (0: the character's)
_OWN_GRAVITY = R.STATE_PHYS[:, 1]
_ANIM = R.STATE_PHYS[:, 2]  # the animation its action_frame column plays (0: counts frames)
_ST_SIDEB_G = R.S["SIDEB_START_G"]
_ST_SQUAT = R.S["SQUAT"]
_ST_LASER_G = R.S["LASER_START_G"]
_ST_LASER_A = R.S["LASER_START_A"]
_ST_SQUAT_RV = R.S["SQUAT_RV"]
_ST_SIDEB_A = R.S["SIDEB_START_A"]
_ST_AIRDODGE = R.S["AIRDODGE"]
_ST_CATCH = R.S["CLIFF_CATCH"]
_DAIR_INPUT = R.NUM_STATES  # the down-air input, resolved per character (R.character_states)
_ST_WAIT = R.S["CLIFF_WAIT"]
_CATCH_LAST = int(R.STATES[_ST_CATCH].duration) - 1  # its last frame has the getup options
_HOLDS = np.zeros(R.NUM_STATES, dtype=bool)  # the ledge is taken in these states
_HOLDS[list(R.LEDGE_HOLD)] = True
_HOLDS.setflags(write=False)
_GETUP_DONE = np.zeros(R.NUM_STATES, dtype=bool)  # a getup that ends standing on the stage
_LEDGE_JUMP_1 = np.zeros(R.NUM_STATES, dtype=bool)  # a ledge jump's first part
for _name, _kind in R.LEDGE_GETUP_END.items():
    (_LEDGE_JUMP_1 if _kind == "jump" else _GETUP_DONE)[R.S[_name]] = True
_GETUP_DONE.setflags(write=False)
_LEDGE_JUMP_1.setflags(write=False)
_LANDING_LAG_FIELDS: Final = (  # landing state -> its lag in exphil.envs._characters
    ("LANDING", "landing_lag"),
    ("NAIR_LANDING", "nair_landing"),
    ("FAIR_LANDING", "fair_landing"),
    ("BAIR_LANDING", "bair_landing"),
    ("UAIR_LANDING", "uair_landing"),
    ("DAIR_LANDING", "dair_landing"),
)


def _hitbox_tables() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``[state, action frame]`` -> the state's hitbox is out, and the late hit's move on its
    frames (-1 elsewhere). Frames past the tables' end are never active: every move's last
    active frame is well inside them."""
    frames = 64
    table = np.zeros((R.NUM_STATES, frames), dtype=bool)
    late = np.full((R.NUM_STATES, frames), -1, dtype=np.int64)
    for st, (mv, lt) in enumerate(zip(_MOVE.tolist(), _LATE.tolist(), strict=True)):
        if mv >= 0:
            first, last = int(R.MOVE_TABLE[mv, R.MV_FIRST]), int(R.MOVE_TABLE[mv, R.MV_LAST])
            assert last < frames - 1
            every = int(R.MOVE_TABLE[mv, R.MV_EVERY])
            table[st, first : last + 1 : max(every, 1)] = True
        if lt >= 0:
            first, last = int(R.MOVE_TABLE[lt, R.MV_FIRST]), int(R.MOVE_TABLE[lt, R.MV_LAST])
            assert last < frames - 1 and not table[st, first : last + 1].any()
            table[st, first : last + 1] = True
            late[st, first : last + 1] = lt
    table.setflags(write=False)
    late.setflags(write=False)
    return table, late


def _rehit_table() -> np.ndarray[Any, Any]:
    """``[state]`` -> a multi-hit move: every frame its hitbox is out is a new hit."""
    every = np.where(_MOVE >= 0, R.MOVE_TABLE[np.maximum(_MOVE, 0), R.MV_EVERY], 0)
    out = every > 0
    out.setflags(write=False)
    return out


_HITBOX_OUT, _LATE_AT = _hitbox_tables()
_REHIT = _rehit_table()
_HITBOX_FRAMES = _HITBOX_OUT.shape[1]


def _flag(flags: np.ndarray[Any, Any], bit: int) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = (flags & bit) != 0
    return out


def _shrink_scale(
    x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], by: Any
) -> np.ndarray[Any, Any]:
    """The factor that shortens ``(x, y)`` by ``by`` along its direction, stopping at zero:
    ``max(|v| - by, 0) / |v|``, 0 where the vector is zero."""
    mag = np.sqrt(x * x + y * y)
    out: np.ndarray[Any, Any] = np.maximum(mag - by, 0.0) / np.maximum(mag, 1e-300)
    return out


def _intangible(
    flags: np.ndarray[Any, Any],
    st: np.ndarray[Any, Any],
    af: np.ndarray[Any, Any],
    invuln: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """Hitboxes pass through: an intangible state, a state's first intangible frames (tech,
    getups), or the invulnerability of a respawn or a ledge grab. (The ``invulnerable``
    column shows the same.)"""
    out: np.ndarray[Any, Any] = (
        _flag(flags, R.INTANGIBLE) | ((af >= _INTANG_FROM[st]) & (af < _INTANG[st])) | (invuln > 0)
    )
    return out


class MockEnv:
    """``n`` mock games stepped together. See the module docstring for the stepping rules."""

    def __init__(self, n: int, config: MockConfig | None = None) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.config = config or MockConfig()
        cfg = self.config
        self._stage = cfg.stage_id
        geo = self._stage.geometry
        self._edge = geo.edge
        self._blast = (geo.blast_left, geo.blast_right, geo.blast_top, geo.blast_bottom)
        # surfaces, highest first: (height, left, right, pass-through); 0 = the main stage
        surfaces = [(0.0, -geo.edge, geo.edge, False)]
        surfaces += [(h, lft, rgt, True) for h, lft, rgt in _PLATFORMS[self._stage]]
        self._surfaces = surfaces
        order = sorted(range(len(surfaces)), key=lambda i: -surfaces[i][0])
        self._surface_order = order
        self._surf_h = np.array([s[0] for s in surfaces])
        self._surf_l = np.array([s[1] for s in surfaces])
        self._surf_r = np.array([s[2] for s in surfaces])

        self._F = np.zeros((_NF, 2, n))
        self._I = np.zeros((_NZ, 2, n), dtype=np.int64)
        # the same state as [_, 2 * n] (flat index = port * n + game), for the compressed paths
        self._Ff = self._F.reshape(_NF, 2 * n)
        self._Zf = self._I.reshape(_NZ, 2 * n)
        self._saved_F = np.zeros_like(self._F)
        self._saved_Z = np.zeros_like(self._I)
        self._frame = np.zeros(n, dtype=np.int64)
        self._ctrl = np.zeros((5, 2, n))  # main_x, main_y, c_x, c_y, shoulder of the last step
        self._buttons = np.zeros((2, n), dtype=np.int64)
        # last frame's held inputs: stick up, stick down, stick x hard, shield, c-stick
        self._held = np.zeros((5, 2, n), dtype=bool)

        # each port's character physics (exphil.envs._characters): [2, 1] columns that
        # broadcast over the games, and [2 * n] ones for the compressed (flat) paths
        chars = cfg.character_ids
        rows = [character_physics(c) for c in chars]
        self._p = {f: np.array([[float(getattr(r, f))] for r in rows]) for f in PHYSICS_FIELDS}
        self._pf = {f: np.repeat(v[:, 0], n) for f, v in self._p.items()}
        # landing lag per (port, landing state), flat: index state + port * NUM_STATES
        lag = np.zeros((2, R.NUM_STATES), dtype=np.int64)
        for name, field in _LANDING_LAG_FIELDS:
            lag[:, R.S[name]] = [getattr(r, field) for r in rows]
        self._landing_lag = lag.reshape(-1)
        # the state each port enters for the state its input picks (its character's moves;
        # index NUM_STATES is the down-air input): [2, NUM_STATES + 1]
        self._char_states = np.array([R.character_states(c.name) for c in chars], dtype=np.int64)
        # the move each port hits with in each state (its character's), flat like the lags
        self._moves = np.array([R.character_moves(c.name) for c in chars], dtype=np.int64).ravel()
        self._lcancel_div = np.array([[r.lcancel_divisor] for r in rows], dtype=np.int64)
        self._port_states = np.array([[0], [R.NUM_STATES]], dtype=np.int64)
        # where each ledge state's position ends, per (port, state), flat like the lags:
        # outward distance from the edge and height (hanging: the hang point; a getup: its
        # end point; a ledge jump's first part: where its take-off leaves from)
        end_d, end_y = _ledge_ends(rows)
        self._ledge_end_d = end_d.reshape(-1)
        self._ledge_end_y = end_y.reshape(-1)

        # read-only columns shared by every Frames this env emits
        self._const_char = tuple(_frozen(np.full(n, c.internal, dtype=np.uint8)) for c in chars)
        self._const_true = _frozen(np.ones(n, dtype=bool))
        self._const_stage = _frozen(np.full(n, int(self._stage), dtype=np.uint8))
        nana = PlayerFrames.zeros(n)
        for arr in nana.columns().values():
            arr.setflags(write=False)
        self._const_nana = nana
        items = ItemFrames.zeros(n)
        items.owner[:] = -1
        for arr in items.columns().values():
            arr.setflags(write=False)
        self._const_items = items

        # the items (lasers, blasters): [ITEM_SLOTS, n] slots (exphil.envs._items)
        self._items = ItemSlots(n, rows, [c.name for c in chars], geo.blast_left, geo.blast_right)

        self._counters = Counters(n)
        self._reset_rows(np.arange(n))

    # --- public API ----------------------------------------------------------------------
    def reset(self) -> Frames:
        """Start every game over; returns frame 0 of each."""
        self._reset_rows(np.arange(self.n))
        return self._frames_out()

    @property
    def frames(self) -> Frames:
        """The current frame of every game (a fresh copy)."""
        return self._frames_out()

    @property
    def stage(self) -> Stage:
        return self._stage

    @property
    def characters(self) -> tuple[Character, Character]:
        """Port 0's and port 1's characters."""
        return self.config.character_ids

    def statistics(self) -> EnvStatistics:
        """Counters since construction: steps, frames, games finished (terminated, truncated),
        wins per port and draws."""
        return self._counters.snapshot()

    def close(self) -> None:
        """Nothing to release (numpy arrays only); here for :class:`~exphil.envs.GameEnv`."""

    def state_dict(self) -> dict[str, Any]:
        """Everything that determines future steps and :meth:`statistics`: the players'
        state, frame counters, the last step's controls and held inputs, the counters; plus
        ``n`` and the config (as JSON, stage and characters canonical) to check a load
        against. Tensors and Python scalars only (copies), so ``torch.save`` and
        ``torch.load(weights_only=True)`` round-trip it."""
        return {
            "kind": "MockEnv",
            "n": self.n,
            "config": self._fingerprint(),
            "float_state": tensor(self._F),
            "int_state": tensor(self._I),
            "frame": tensor(self._frame),
            "controls": tensor(self._ctrl),
            "buttons": tensor(self._buttons),
            "held": tensor(self._held),
            "item_ints": tensor(self._items.state()[0]),
            "item_floats": tensor(self._items.state()[1]),
            "counters": counters_state(self._counters),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state: the steps that follow, and the statistics,
        are bit-identical to those the saved env would have produced. The state must come
        from an env of the same ``n`` and config (a ValueError names what differs); nothing
        changes unless the whole state is valid."""
        who = "MockEnv"
        s = check_kind(state, who)
        n = int_from_state(s, "n", who, minimum=1)
        if n != self.n:
            raise ValueError(f"{who} state: n is {n} games, this env has {self.n}")
        saved, mine = s.get("config"), self._fingerprint()
        if not isinstance(saved, str):
            raise ValueError(f"{who} state: config must be a JSON string, got {saved!r}")
        if saved != mine:
            try:
                diffs = config_differences(msgspec.json.decode(saved), msgspec.json.decode(mine))
            except msgspec.DecodeError:
                diffs = [f"config: saved {saved!r} is not JSON"]
            raise ValueError(f"{who} state: its config differs from this env's: {'; '.join(diffs)}")
        F = array_from_state(s, "float_state", self._F.shape, np.float64, who)
        Z = array_from_state(s, "int_state", self._I.shape, np.int64, who)
        frame = array_from_state(s, "frame", (n,), np.int64, who)
        ctrl = array_from_state(s, "controls", (5, 2, n), np.float64, who)
        buttons = array_from_state(s, "buttons", (2, n), np.int64, who)
        held = array_from_state(s, "held", (5, 2, n), np.bool_, who)
        slots = (4, ITEM_SLOTS, n)
        if "item_ints" in s or "item_floats" in s:
            item_ints = array_from_state(s, "item_ints", slots, np.int64, who)
            item_floats = array_from_state(s, "item_floats", slots, np.float64, who)
        else:  # a state saved before the mock had items: none
            item_ints, item_floats = np.zeros(slots, dtype=np.int64), np.zeros(slots)
        counters = counters_from_state(s.get("counters"), n, who)
        # in place: _Ff and _Zf are flat views of the state blocks
        np.copyto(self._F, F)
        np.copyto(self._I, Z)
        self._frame = frame
        self._ctrl = ctrl
        self._buttons = buttons
        self._held = held
        self._items.load(item_ints, item_floats)
        self._counters = counters

    def place(
        self,
        game: int,
        port: int,
        *,
        x: float | None = None,
        y: float | None = None,
        percent: float | None = None,
        stocks: int | None = None,
        facing: int | None = None,
        shield: float | None = None,
        jumps: int | None = None,
    ) -> None:
        """Put a player of one game somewhere, in a neutral state: standing if ``(x, y)`` is
        on a surface, else falling (with one jump left unless ``jumps`` says otherwise).
        Arguments left out keep their value. For drills (start an opponent off the stage at
        120%) and tests."""
        if not 0 <= game < self.n or port not in (0, 1):
            raise ValueError(f"no player {port} in game {game} (games 0..{self.n - 1})")
        F, Z = self._F, self._I
        if x is not None:
            F[_X, port, game] = x
        if y is not None:
            F[_Y, port, game] = y
        if percent is not None:
            if not 0 <= percent <= 999:
                raise ValueError(f"percent must be in [0, 999], got {percent}")
            F[_PCT, port, game] = percent
        if stocks is not None:
            if not 1 <= stocks <= 99:
                raise ValueError(f"stocks must be in 1..99, got {stocks}")
            Z[_STOCKS, port, game] = stocks
        if facing is not None:
            if facing not in (-1, 1):
                raise ValueError(f"facing must be +1 or -1, got {facing}")
            Z[_FACING, port, game] = facing
        if shield is not None:
            if not 0 < shield <= R.SHIELD_MAX:
                raise ValueError(f"shield must be in (0, {R.SHIELD_MAX}], got {shield}")
            F[_SHIELD, port, game] = shield
        px, py = F[_X, port, game], F[_Y, port, game]
        surface = -1
        for k in self._surface_order:
            h, lft, rgt, _through = self._surfaces[k]
            if abs(py - h) < 1e-6 and lft <= px <= rgt:
                surface = k
                break
        for j in (_VX, _VY, _KBX, _KBY):
            F[j, port, game] = 0.0
        for j in (_VAR, _AF, _TIMER, _INVULN, _HITLAG, _HITDONE, _FF, _TECH, _LEDGE, _REGRAB, _DRP):
            Z[j, port, game] = 0
        Z[_SURF, port, game] = surface
        Z[_ST, port, game] = R.S["STAND"] if surface >= 0 else R.S["FALL"]
        Z[_JUMPS, port, game] = jumps if jumps is not None else (2 if surface >= 0 else 1)
        if surface >= 0:
            F[_Y, port, game] = self._surfaces[surface][0]

    def step(self, p0: Controls, p1: Controls) -> StepResult:
        """Apply port 0's and port 1's controls to every game; see the module docstring."""
        ctrl, buttons = self._controls_in(p0, p1)
        prev_pct = self._F[_PCT].copy()
        prev_stocks = self._I[_STOCKS].copy()
        prev_x = self._F[_X].copy()
        # who is in play before the step: only the approach shaping needs it
        prev_live = (
            ~_flag(_FLAGS[self._I[_ST]], R.FROZEN_POS) if self.config.rewards.approach else None
        )
        self._advance(ctrl, buttons)
        self._frame += 1
        self._counters.steps += 1

        done, winner, reason = self._game_over()
        reward = self._rewards(prev_pct, prev_stocks, prev_x, prev_live, winner, done)
        out = self._frames_out()
        final: Frames | None = None
        results: tuple[GameOutcome, ...] = ()
        terminated = reason == 1
        if done.any():
            idx = np.flatnonzero(done)
            final = out.take(idx)
            results = self._results(idx, winner, reason)
            self._reset_rows(idx)
            out = self._frames_out()
        return StepResult(out, reward, terminated, reason == 2, final, results)

    # --- internals -----------------------------------------------------------------------
    def _fingerprint(self) -> str:
        """The config as JSON, with stage and characters by canonical name (``fd`` and
        ``final_destination`` are one config)."""
        cfg = self.config
        canon = msgspec.structs.replace(
            cfg,
            stage=cfg.stage_id.name.lower(),
            characters=(cfg.character_ids[0].name.lower(), cfg.character_ids[1].name.lower()),
        )
        return msgspec.json.encode(canon).decode()

    def _controls_in(
        self, c0: Controls, c1: Controls
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        n = self.n
        check_controls(c0, c1, n)
        ctrl = np.empty((5, 2, n))
        buttons = np.empty((2, n), dtype=np.int64)
        for p, c in enumerate((c0, c1)):
            for k, name in enumerate(AXIS_COLUMNS):
                ctrl[k, p] = getattr(c, name)
            buttons[p] = c.buttons
        np.clip(ctrl[:4], -1.0, 1.0, out=ctrl[:4])
        np.clip(ctrl[4], 0.0, 1.0, out=ctrl[4])
        return ctrl, buttons

    def _reset_rows(self, idx: np.ndarray[Any, Any]) -> None:
        F, Z = self._F, self._I
        F[:, :, idx] = 0.0
        Z[:, :, idx] = 0
        F[_X, 0, idx] = -R.SPAWN_X
        F[_X, 1, idx] = R.SPAWN_X
        F[_SHIELD, :, idx] = R.SHIELD_MAX
        Z[_FACING, 0, idx] = 1
        Z[_FACING, 1, idx] = -1
        Z[_JUMPS, :, idx] = 2
        Z[_STOCKS, :, idx] = self.config.stocks
        Z[_ST, :, idx] = R.S["STAND"]
        self._frame[idx] = 0
        self._ctrl[:, :, idx] = 0.0
        self._buttons[:, idx] = 0
        self._held[:, :, idx] = False
        self._items.reset(idx)

    def _advance(self, ctrl: np.ndarray[Any, Any], buttons: np.ndarray[Any, Any]) -> None:
        F, Z = self._F, self._I
        saved_F, saved_Z = self._saved_F, self._saved_Z
        np.copyto(saved_F, F)
        np.copyto(saved_Z, Z)
        x, y, vx, vy, kbx, kby, _pct, shield, run_anim = F
        (st, var, af, facing, jumps, stocks, surf, timer, invuln, hitlag, hitdone, ff, tech) = Z[
            :_LEDGE
        ]
        ledge, regrab, drp = Z[_LEDGE], Z[_REGRAB], Z[_DRP]
        frozen = hitlag > 0

        # --- controller -----------------------------------------------------------------
        # presses are edges: this frame's held state against last frame's (kept in _held)
        sx, sy, cx, cy, sh = ctrl
        prev_sx = self._ctrl[0]  # a take-off reads the stick of the squat's last frame
        P = self._p
        pressed = buttons & ~self._buttons
        prev_b = (self._buttons & _BTN_B) != 0  # B held on the last frame (the shine's loop)
        abs_sx = np.abs(sx)
        up = sy >= R.TAP_JUMP
        down = sy <= R.DOWN_THRESHOLD
        hard_x = abs_sx >= R.DASH_THRESHOLD
        shield_h = ((buttons & _BTN_SHIELD) != 0) | (sh >= R.SHOULDER_THRESHOLD)
        c_on = (np.abs(cx) >= R.CSTICK_THRESHOLD) | (np.abs(cy) >= R.CSTICK_THRESHOLD)
        was_up, was_down, was_hard_x, was_shield, was_c = self._held
        jump_p = ((pressed & _BTN_JUMP) != 0) | (up & ~was_up)
        jump_h = ((buttons & _BTN_JUMP) != 0) | up
        attack_p = (pressed & _BTN_A) != 0
        special_p = (pressed & _BTN_B) != 0
        grab_p = (pressed & _BTN_Z) != 0
        c_p = c_on & ~was_c
        down_p = down & ~was_down
        smash_x = hard_x & ~was_hard_x
        stick_dir = np.where(sx >= 0, 1, -1)
        tilted = abs_sx >= R.DEADZONE
        any_input = (pressed != 0) | tilted | (np.abs(sy) >= R.DEADZONE)
        shield_p = shield_h & ~was_shield
        self._held = np.stack((up, down, hard_x, shield_h, c_on))
        self._ctrl = ctrl
        self._buttons = buttons

        # --- timers and timed ends ------------------------------------------------------------
        af += 1
        np.maximum(timer - 1, 0, out=timer)
        np.maximum(invuln - 1, 0, out=invuln)
        np.maximum(tech - 1, 0, out=tech)
        np.maximum(drp - 1, 0, out=drp)
        mash = _flag(_FLAGS[st], R.CAPTURED) & ((pressed & _BTN_MASH) != 0)  # out of a grab
        timer[mash] = np.maximum(timer[mash] - R.GRAB_MASH, 0)
        tech[shield_p] = R.TECH_WINDOW

        flags = _FLAGS[st]
        timed = _flag(flags, R.TIMED)
        dur = _DURATION[st]
        end = np.where(timed, timer <= 0, (dur > 0) & (af >= dur))
        # a dash let go (the stick not held its way) plays out its whole length, then stands
        let_go = (st == _ST_DASH) & ~(tilted & (stick_dir == facing))
        end = np.where(let_go, af >= P["dash_length"], end)
        end &= ~(_flag(flags, R.HOLD_B) & prev_b)  # a loop goes on while B is held
        repeat = end & _flag(flags, R.REPEAT_B) & prev_b  # a laser loop starts over
        end &= ~repeat
        af[repeat] = 0
        travel = _flag(flags, R.TRAVEL)
        end |= travel & special_p  # B cuts side-B's dash short
        end &= ~((st == _ST_DEAD) & (stocks == 0))  # a last stock stays dead
        took_off = np.zeros_like(frozen)  # the take-off frame: no gravity, no drift
        if end.any():
            old = st.copy()
            st[end] = _NEXT[old[end]]
            st[end & let_go] = _ST_STAND
            af[end] = 0
            timer[end & (st == _ST_LYING)] = R.LYING_MAX
            timer[end & (st == _ST_WAIT)] = R.LEDGE_HANG_MAX
            drp[end & (old == _ST_WAIT)] = R.LEDGE_REGRAB_DELAY  # hung too long: let go
            # side-B's dash is over: the end starts at its own speed
            dash_end = end & travel
            if dash_end.any():
                end_vx = np.where(_flag(flags, R.GROUND), P["sideb_end_vx"], R.SIDEB_END_VX_AIR)
                vx[dash_end] = (facing * end_vx)[dash_end]
            took_off = end & (old == _ST_KNEE)
            self._takeoff(took_off, prev_sx, jump_h)
            self._up_b_travel(end & ((old == _ST_UPB_G) | (old == _ST_UPB_A)), sx, sy)
            respawn = end & (old == _ST_DEAD)
            if respawn.any():
                self._respawn(respawn)
            halo_out = end & (old == _ST_HALO)
            invuln[halo_out] = R.RESPAWN_INVULNERABLE
            self._getup_end(end & _GETUP_DONE[old], old)
            ledge_jump = end & _LEDGE_JUMP_1[old]
            if ledge_jump.any():  # the ledge jump's second part takes off toward the stage
                vx[ledge_jump] = (-ledge * P["ledge_jump_vx"])[ledge_jump]
                vy[ledge_jump] = np.broadcast_to(P["ledge_jump_vy"], vy.shape)[ledge_jump]
                took_off = took_off | ledge_jump

        # --- input-driven transitions -----------------------------------------------------------
        flags = _FLAGS[st]
        enter = np.zeros_like(frozen)  # entered a new state by input this frame
        new_st = st.copy()

        actg = _flag(flags, R.ACT_G)
        if actg.any():
            g_upb = actg & special_p & (sy >= R.UP_B_THRESHOLD)
            g_shine = actg & special_p & (sy <= R.DOWN_B_THRESHOLD)
            g_sideb = actg & special_p & ~g_upb & ~g_shine & (abs_sx >= R.SIDE_B_THRESHOLD)
            g_laser = actg & special_p & ~g_upb & ~g_shine & ~g_sideb  # neutral-B
            g_upb |= g_shine | g_sideb | g_laser  # (the specials, before anything else)
            # up-smash: A with the stick just pushed up (not a jump then). Not the c-stick up
            # (nor down): with it the PPO learning test fails (docs/mockenv.md)
            c_smash = c_p & (np.abs(cx) >= R.CSTICK_THRESHOLD)
            g_usmash = actg & ~g_upb & attack_p & up & ~was_up
            # a grab: Z, or A with the shield held (running: the dash grab)
            g_grab = actg & ~g_upb & ~g_usmash & (grab_p | (attack_p & shield_h))
            g_jump = actg & jump_p & ~g_upb & ~g_usmash & ~g_grab
            g_shield = actg & shield_h & ~g_upb & ~g_jump & ~g_usmash & ~g_grab
            rest = actg & ~(g_upb | g_jump | g_shield | g_usmash | g_grab)
            g_smash = rest & (c_smash | (attack_p & smash_x))
            rest &= ~g_smash
            g_dsmash = rest & attack_p & down_p  # down-smash: A with the stick pushed down
            rest &= ~g_dsmash
            g_attack = rest & attack_p
            rest &= ~g_attack
            running = (st == _ST_DASH) | (st == _ST_RUN)
            new_st[g_grab] = np.where(running, _ST_DASH_GRAB, R.S["GRAB"])[g_grab]
            new_st[g_upb] = _ST_UPB_G
            new_st[g_shine] = _ST_SHINE_G
            new_st[g_sideb] = _ST_SIDEB_G  # toward the stick
            new_st[g_laser] = _ST_LASER_G
            facing[g_sideb] = stick_dir[g_sideb]
            new_st[g_jump] = _ST_KNEE
            timer[g_jump] = np.broadcast_to(P["jump_squat"], timer.shape)[g_jump]
            new_st[g_shield] = _ST_SHIELD_START
            new_st[g_smash] = R.S["FSMASH"]
            new_st[g_usmash] = R.S["USMASH"]
            new_st[g_dsmash] = R.S["DSMASH"]
            # a c-stick smash faces the c-stick, an A smash the main stick
            facing[g_smash] = np.where(
                c_smash[g_smash], np.where(cx[g_smash] >= 0, 1, -1), stick_dir[g_smash]
            )
            dash_attack = g_attack & running
            utilt = g_attack & ~running & (sy >= R.DEADZONE) & (sy > abs_sx)
            # down-tilt: A with the stick held down (just pushed down: the down-smash)
            dtilt = g_attack & ~running & (sy <= -R.DEADZONE) & (-sy > abs_sx)
            ftilt = g_attack & ~running & tilted & ~utilt & ~dtilt
            jab = g_attack & ~running & ~tilted & ~utilt & ~dtilt
            new_st[utilt] = R.S["UTILT"]
            new_st[dtilt] = R.S["DTILT"]
            new_st[dash_attack] = R.S["DASH_ATTACK"]
            new_st[ftilt] = R.S["FTILT"]
            new_st[jab] = R.S["JAB"]
            facing[ftilt] = stick_dir[ftilt]
            enter |= g_upb | g_jump | g_shield | g_smash | g_usmash | g_dsmash | g_attack | g_grab
            # movement (a crouch while the stick is held down, up from it once let go)
            crouching = _flag(flags, R.CROUCH)
            down_h = down & (-sy > abs_sx)
            squat = rest & down_h & ~crouching
            stand_up = rest & ~down_h & crouching
            new_st[squat] = _ST_SQUAT
            new_st[stand_up] = _ST_SQUAT_RV
            enter |= squat | stand_up
            rest_all = rest  # (a platform drop reads every mover)
            rest = rest & ~down_h & ~crouching
            other_way = stick_dir != facing
            dash_in = rest & hard_x
            start_dash = dash_in & (~running | other_way)
            walk_in = rest & tilted & ~dash_in
            turn = walk_in & other_way
            walk = walk_in & ~turn
            start_walk = walk & (st != _ST_WALK)
            stop = rest & ~tilted & ((st == _ST_WALK) | (st == _ST_RUN))  # a dash plays out
            on_platform = rest_all & (surf > 0) & down_p
            new_st[start_dash] = _ST_DASH
            facing[start_dash] = stick_dir[start_dash]
            timer[start_dash] = np.broadcast_to(P["dash_frames"], timer.shape)[start_dash]
            new_st[turn] = _ST_TURN
            facing[turn] = -facing[turn]
            new_st[start_walk] = _ST_WALK
            new_st[stop] = R.S["STAND"]
            new_st[on_platform] = R.S["FALL"]
            surf[on_platform] = -1
            jumps[on_platform] = 1
            speed = abs_sx[walk]
            var[walk] = np.where(
                speed < 0.5, R.WALK_SLOW, np.where(speed < 0.65, R.WALK_MIDDLE, R.WALK_FAST)
            )
            enter |= start_dash | turn | start_walk | stop | on_platform

        shielding = (st == _ST_SHIELD) | (st == _ST_SHIELD_START)
        if shielding.any():
            oos = shielding & jump_p
            # a grab out of shield: Z, or A with the shield still held
            oos_grab = shielding & (grab_p | (attack_p & shield_h)) & ~oos
            release = (st == _ST_SHIELD) & ~shield_h & ~oos & ~oos_grab
            new_st[oos] = _ST_KNEE
            timer[oos] = np.broadcast_to(P["jump_squat"], timer.shape)[oos]
            new_st[oos_grab] = R.S["GRAB"]
            new_st[release] = R.S["SHIELD_RELEASE"]
            enter |= oos | oos_grab | release

        holding = st == _ST_GRAB_WAIT  # A pummels, a direction throws (the c-stick too)
        if holding.any():
            pummel = holding & attack_p
            d = np.where(c_p, cx, sx)
            dy = np.where(c_p, cy, sy)
            vertical = (np.abs(dy) >= R.DEADZONE) & (np.abs(dy) > np.abs(d))
            side = ~vertical & (np.abs(d) >= R.DEADZONE)
            throw = holding & ~pummel & (vertical | side)
            new_st[pummel] = _ST_CATCH_ATTACK
            new_st[throw] = np.where(
                vertical,
                np.where(dy > 0, R.S["THROW_HI"], R.S["THROW_LW"]),
                np.where(np.where(d >= 0, 1, -1) == facing, R.S["THROW_F"], R.S["THROW_B"]),
            )[throw]
            enter |= pummel | throw

        acta = _flag(flags, R.ACT_A)
        a_jump = np.zeros_like(frozen)  # the double jump's first frame: no drift
        if acta.any():
            a_upb = acta & special_p & (sy >= R.UP_B_THRESHOLD)
            a_shine = acta & special_p & (sy <= R.DOWN_B_THRESHOLD)  # stalls, halves vx
            a_sideb = acta & special_p & ~a_upb & ~a_shine & (abs_sx >= R.SIDE_B_THRESHOLD)
            a_laser = acta & special_p & ~a_upb & ~a_shine & ~a_sideb  # neutral-B
            a_upb |= a_shine | a_sideb | a_laser
            a_jump = acta & jump_p & (jumps > 0) & ~a_upb
            a_attack = acta & (attack_p | c_p) & ~a_upb & ~a_jump
            a_dodge = acta & shield_p & ~a_upb & ~a_jump & ~a_attack
            new_st[a_upb] = _ST_UPB_A
            new_st[a_shine] = _ST_SHINE_A
            new_st[a_laser] = _ST_LASER_A
            vx[a_shine] *= R.SHINE_AIR_VX
            vy[a_shine] = 0.0
            ff[a_shine] = 0
            if a_sideb.any():  # side-B: toward the stick, keeping 2/3 of vx
                new_st[a_sideb] = _ST_SIDEB_A
                facing[a_sideb] = stick_dir[a_sideb]
                vx[a_sideb] *= R.SIDEB_AIR_VX
                vy[a_sideb] = 0.0
                ff[a_sideb] = 0
            if a_dodge.any():  # an air dodge: where the stick points (nowhere when neutral)
                new_st[a_dodge] = _ST_AIRDODGE
                mag = np.sqrt(sx * sx + sy * sy)
                aimed = mag >= R.DEADZONE
                safe = np.where(aimed, mag, 1.0)
                vx[a_dodge] = np.where(aimed, sx / safe * R.AIRDODGE_SPEED, 0.0)[a_dodge]
                vy[a_dodge] = np.where(aimed, sy / safe * R.AIRDODGE_SPEED, 0.0)[a_dodge]
                ff[a_dodge] = 0
            if a_jump.any():
                sj = sx[a_jump]
                back = (np.abs(sj) >= R.DEADZONE) & (np.where(sj >= 0, 1, -1) != facing[a_jump])
                new_st[a_jump] = np.where(back, R.S["DJUMP_B"], R.S["DJUMP_F"])
                vy[a_jump] = np.broadcast_to(P["full_hop"] * P["double_jump_mult"], vy.shape)[
                    a_jump
                ]
                vx[a_jump] = sj * np.broadcast_to(P["double_jump_h"], vx.shape)[a_jump]
                jumps[a_jump] -= 1
                ff[a_jump] = 0
            if a_attack.any():
                # the c-stick's direction if it was flicked, else the main stick's
                d = np.where(c_p[a_attack], cx[a_attack], sx[a_attack])
                dy = np.where(c_p[a_attack], cy[a_attack], sy[a_attack])
                vertical = (np.abs(dy) >= R.DEADZONE) & (np.abs(dy) > np.abs(d))
                new_st[a_attack] = np.where(
                    vertical,
                    np.where(dy > 0, R.S["UAIR"], _DAIR_INPUT),
                    np.where(
                        np.abs(d) < R.DEADZONE,
                        R.S["NAIR"],
                        np.where(
                            np.where(d >= 0, 1, -1) == facing[a_attack], R.S["FAIR"], R.S["BAIR"]
                        ),
                    ),
                )
            enter |= a_upb | a_jump | a_attack | a_dodge

        # the shine's loop: a jump press cancels it (a squat; in the air a double jump)
        jc = _flag(flags, R.JUMP_CANCEL) & jump_p
        if jc.any():
            jc_g = jc & _flag(flags, R.GROUND)
            jc_a = jc & ~jc_g & (jumps > 0)
            new_st[jc_g] = _ST_KNEE
            timer[jc_g] = np.broadcast_to(P["jump_squat"], timer.shape)[jc_g]
            if jc_a.any():
                sj = sx[jc_a]
                back = (np.abs(sj) >= R.DEADZONE) & (np.where(sj >= 0, 1, -1) != facing[jc_a])
                new_st[jc_a] = np.where(back, R.S["DJUMP_B"], R.S["DJUMP_F"])
                vy[jc_a] = np.broadcast_to(P["full_hop"] * P["double_jump_mult"], vy.shape)[jc_a]
                vx[jc_a] = sj * np.broadcast_to(P["double_jump_h"], vx.shape)[jc_a]
                jumps[jc_a] -= 1
                ff[jc_a] = 0
                a_jump = a_jump | jc_a
            enter |= jc_g | jc_a

        # on a ledge: the getup options (from the catch's last frame), letting go (hanging)
        on_ledge = _flag(flags, R.LEDGE_ACT) | ((st == _ST_CATCH) & (af == _CATCH_LAST))
        if on_ledge.any():
            prev_tilted = np.abs(prev_sx) >= R.DEADZONE
            prev_dir = np.where(prev_sx >= 0, 1, -1)
            toward_p = tilted & (stick_dir == -ledge) & ~(prev_tilted & (prev_dir == -ledge))
            away_p = tilted & (stick_dir == ledge) & ~(prev_tilted & (prev_dir == ledge))
            c_drop = c_p & ((cy <= -R.CSTICK_THRESHOLD) | (cx * ledge >= R.CSTICK_THRESHOLD))
            slow = self._F[_PCT] >= R.LEDGE_SLOW_PERCENT
            l_jump = on_ledge & jump_p
            l_attack = on_ledge & (attack_p | special_p) & ~l_jump
            l_roll = on_ledge & shield_p & ~l_jump & ~l_attack
            l_climb = on_ledge & toward_p & ~(l_jump | l_attack | l_roll)
            l_drop = (
                on_ledge
                & (st == _ST_WAIT)
                & (down_p | away_p | c_drop)
                & ~(l_jump | l_attack | l_roll | l_climb)
            )
            for mask, quick, slow_st in (
                (l_jump, "CLIFF_JUMP_QUICK_1", "CLIFF_JUMP_SLOW_1"),
                (l_attack, "CLIFF_ATTACK_QUICK", "CLIFF_ATTACK_SLOW"),
                (l_roll, "CLIFF_ROLL_QUICK", "CLIFF_ROLL_SLOW"),
                (l_climb, "CLIFF_CLIMB_QUICK", "CLIFF_CLIMB_SLOW"),
            ):
                new_st[mask] = np.where(slow, R.S[slow_st], R.S[quick])[mask]
            new_st[l_drop] = R.S["FALL"]
            drp[l_drop] = R.LEDGE_REGRAB_DELAY
            enter |= l_jump | l_attack | l_roll | l_climb | l_drop

        lying_out = (st == _ST_LYING) & any_input
        halo_out = (st == _ST_HALO) & any_input & (af >= 1)
        new_st[lying_out] = R.S["GETUP"]
        new_st[halo_out] = R.S["FALL"]
        invuln[halo_out] = R.RESPAWN_INVULNERABLE
        enter |= lying_out | halo_out

        st[:] = new_st
        if enter.any():  # each port's character's own moves
            cs = self._char_states
            st[0] = cs[0][st[0]]
            st[1] = cs[1][st[1]]
        af[enter] = 0
        hitdone[enter] = 0
        flags = _FLAGS[st]

        # --- physics ---------------------------------------------------------------------
        grounded = _flag(flags, R.GROUND)
        on_ledge = _flag(flags, R.LEDGE)
        fixed = _flag(flags, R.FROZEN_POS) | on_ledge
        air = ~grounded & ~fixed
        ff[_flag(flags, R.FF_OK) & down_p & (vy < 0)] = 1
        # ground: walk / dash / run set their speed; everything else slides to a stop
        self_move = _flag(flags, R.SELF_MOVE)
        walking = st == _ST_WALK
        # a dash starts at its initial speed; then dash and run speed up (or, above it, slow
        # down by the traction) toward the cap, run speed x |stick x|
        speed = vx * facing
        cap = P["run_speed"] * abs_sx
        up = np.minimum(speed + (P["dash_accel_base"] + P["dash_accel_stick"] * abs_sx), cap)
        down = np.maximum(speed - P["traction"], cap)
        running_vx = np.where(
            (st == _ST_DASH) & (af == 0),
            facing * P["dash_initial"],
            facing * np.where(speed < cap, up, down),
        )
        # friction: toward 0 by f, stopping at 0 (= sign(v) * max(|v| - f, 0)); a
        # wavedash's landing slides at twice the traction
        # (a state's own friction replaces the character's: side-B's)
        own_f = _OWN_FRICTION[st]
        trac = np.where(own_f > 0, own_f, P["traction"])
        trac = np.where(_flag(flags, R.DOUBLE_TRACTION), trac * 2.0, trac)
        friction_g = vx - np.minimum(np.maximum(vx, -trac), trac)
        fric_a = np.where(own_f > 0, own_f, P["air_friction"])
        friction_a = vx - np.minimum(np.maximum(vx, -fric_a), fric_a)
        # drift: toward stick x * air speed, by the air acceleration (or, past it in the
        # stick's direction, by the air friction)
        drift = _flag(flags, R.DRIFT) & tilted
        gap = sx * P["air_speed"] - vx
        rate = np.where(
            gap * sx > 0, P["air_accel_base"] + P["air_accel_stick"] * abs_sx, P["air_friction"]
        )
        drifted = vx + np.minimum(np.maximum(gap, -rate), rate)
        hover = _flag(flags, R.HOVER)
        # the up-B charge keeps most speed on its first frame, then the air friction
        kept = np.where(af == 0, vx * R.UP_B_HOLD_KEEP, vx)
        hover_vx = kept - np.minimum(np.maximum(kept, -P["air_friction"]), P["air_friction"])
        nograv = _flag(flags, R.NO_GRAVITY)
        fresh = took_off | a_jump  # a jump's first frame keeps the speed it was given
        glide = _flag(flags, R.GLIDE) & (af < R.AIRDODGE_GLIDE)
        new_vx = np.where(
            grounded,
            np.where(self_move, np.where(walking, sx * P["walk_speed"], running_vx), friction_g),
            np.where(
                glide,
                vx * R.AIRDODGE_DECAY,
                np.where(
                    drift & ~fresh,
                    drifted,
                    np.where(
                        hover,
                        hover_vx,
                        np.where(nograv | fresh, vx, friction_a),
                    ),
                ),
            ),
        )
        falling = np.where(ff == 1, -P["fast_fall"], np.maximum(vy - P["gravity"], -P["terminal"]))
        # the air shine: still (its start and the loop's first frame), then its own slow fall
        stall = _flag(flags, R.STALL)
        if stall.any():
            still = _flag(flags, R.STILL) | (_flag(flags, R.HOLD_B) & (af == 0))
            falling = np.where(
                stall,
                np.where(still, 0.0, np.maximum(vy - R.SHINE_GRAVITY, -P["terminal"])),
                falling,
            )
        own_fall = _flag(flags, R.OWN_FALL)  # still for its first frames, then its own gravity
        if own_fall.any():
            falling = np.where(
                own_fall,
                np.where(af < _STILL[st], 0.0, np.maximum(vy - _OWN_GRAVITY[st], -P["terminal"])),
                falling,
            )
        new_vy = np.where(
            grounded,
            0.0,
            np.where(
                glide,
                vy * R.AIRDODGE_DECAY,
                np.where(
                    hover,
                    np.where(af < R.UP_B_HOLD_STILL, 0.0, vy - P["upb_hold_gravity"]),
                    np.where(nograv | took_off, vy, falling),
                ),
            ),
        )
        new_vx[fixed] = 0.0
        new_vy[fixed] = 0.0
        travel = _flag(flags, R.TRAVEL)  # side-B's dash: still on its first frame, then fast
        if travel.any():
            new_vx = np.where(travel, np.where(af == 0, 0.0, facing * P["sideb_speed"]), new_vx)
            new_vy[travel] = 0.0
        upb = (st == _ST_UPB_TRAVEL) & (af >= P["upb_full"])  # up-B's travel slows down
        if upb.any():
            scale = _shrink_scale(new_vx, new_vy, P["upb_decel"])
            new_vx = np.where(upb, new_vx * scale, new_vx)
            new_vy = np.where(upb, new_vy * scale, new_vy)
        vx[:] = new_vx
        vy[:] = new_vy
        kby[grounded] = 0.0
        kbx[fixed] = 0.0
        kby[fixed] = 0.0
        # a dash's first frame records its initial speed but does not move (the corpus: every
        # dash from a stand, Fox's and Falco's, moves 0 on it, then by its second frame's speed)
        x += np.where((st == _ST_DASH) & (af == 0), kbx, vx + kbx)
        y += vy + kby
        if on_ledge.any():  # hanging or getting up: the position follows the ledge
            self._ledge_position(on_ledge)
        scale = _shrink_scale(kbx, kby, R.KB_DECAY)  # knockback decays along its direction
        kbx *= scale
        kby *= scale

        # --- collisions -----------------------------------------------------------------
        y0 = saved_F[_Y]
        moving_down = (vy + kby) < 0  # (an up-B along the ground stays airborne at y = 0)
        landed = np.zeros_like(frozen)
        for k in self._surface_order:
            h, lft, rgt, through = self._surfaces[k]
            cross = air & ~landed & moving_down & (y0 >= h) & (y <= h) & (x >= lft) & (x <= rgt)
            if through:
                cross &= sy > R.DOWN_THRESHOLD
            y[cross] = h
            surf[cross] = k
            landed |= cross
        if landed.any():
            landing = _LANDING[st]
            techable = _flag(flags, R.TECHABLE)
            landing = np.where(techable, np.where(tech > 0, _ST_TECH, R.S["TECH_MISS"]), landing)
            st[landed] = landing[landed]
            af[landed & ~_flag(flags, R.LAND_KEEP)] = 0  # the air shine lands at the same frame
            vy[landed] = 0.0
            kby[landed] = 0.0
            ff[landed] = 0
            jumps[landed] = 2
            # a timed landing lasts the character's lag; an L-cancel divides an aerial's
            lag = self._landing_lag[landing + self._port_states]
            lcancel = _flag(_FLAGS[landing], R.LCANCEL) & (tech > R.TECH_WINDOW - R.LCANCEL_WINDOW)
            lag = np.where(lcancel, lag // self._lcancel_div, lag)
            timer[landed] = lag[landed]
            hitdone[landed] = 0
        # walking off the surface one stands on
        on = grounded & (surf >= 0)
        sidx = np.maximum(surf, 0)
        off = on & ((x < self._surf_l[sidx]) | (x > self._surf_r[sidx]))
        if off.any():
            fall = off & _flag(flags, R.ACT_G)
            st[fall] = R.S["FALL"]
            af[fall] = 0
            jumps[fall] = 1
            surf[fall] = -1
            goes_on = off & ~fall & (_OFF_EDGE[st] >= 0)  # side-B: in the air, same frame
            st[goes_on] = _OFF_EDGE[st[goes_on]]
            jumps[goes_on] = 1
            surf[goes_on] = -1
            stay = off & ~fall & ~goes_on
            x[stay] = np.minimum(np.maximum(x, self._surf_l[sidx]), self._surf_r[sidx])[stay]
            vx[stay] = 0.0
            kbx[stay] = 0.0
        # the main stage is solid below its top
        edge = self._edge
        flags_now = _FLAGS[st]
        airborne = ~_flag(flags_now, R.GROUND)
        inside = (
            (np.abs(x) < edge)
            & (y < 0)
            & (y > -STAGE_DEPTH)
            & airborne
            & ~_flag(flags_now, R.LEDGE)
        )
        if inside.any():
            from_side = inside & (np.abs(saved_F[_X]) >= edge)
            from_below = inside & ~from_side
            x[from_side] = (np.sign(x) * edge)[from_side]
            vx[from_side] = 0.0
            kbx[from_side] = 0.0
            y[from_below] = -STAGE_DEPTH
            vy[from_below] = 0.0
            kby[from_below] = 0.0
        surf[airborne] = -1
        regrab[~airborne] = 0  # the ground: the next grab is intangible again

        # --- shield health ----------------------------------------------------------------
        holding = (st == _ST_SHIELD) | (st == _ST_SHIELD_START)
        shield[:] = np.where(
            holding, shield - R.SHIELD_DECAY, np.minimum(shield + R.SHIELD_REGEN, R.SHIELD_MAX)
        )
        broke = holding & (shield <= 0)
        if broke.any():
            self._shield_break(broke)

        # --- a run's animation: 0, 1, then by the ground speed the frame began with (looping)
        running = st == _ST_RUN
        if running.any():
            anim = run_anim + np.abs(saved_F[_VX]) / R.RUN_ANIM_RATE
            anim = np.where(anim >= R.RUN_ANIM_LOOP, anim - R.RUN_ANIM_LOOP, anim)
            run_anim[:] = np.where(running, np.where(af <= 1, af, anim), 0.0)
        else:
            run_anim.fill(0.0)

        # --- hitlag: frozen players keep their state ---------------------------------------
        if frozen.any():
            np.copyto(F, saved_F, where=frozen)
            np.copyto(Z, saved_Z, where=frozen)
            hitlag -= frozen
            # the last frame of hitlag: DI (the stick out of the dead zone) turns a launch
            flags_f = _FLAGS[st]
            di = frozen & (hitlag == 0) & _flag(flags_f, R.HITSTUN) & ~_flag(flags_f, R.GROUND)
            if di.any():
                kx, ky, dsx, dsy = kbx[di], kby[di], sx[di], sy[di]
                speed = np.sqrt(kx * kx + ky * ky)
                ok = (speed > 0.0) & (np.sqrt(dsx * dsx + dsy * dsy) >= R.DEADZONE)
                cross = np.clip((dsx * ky - dsy * kx) / np.where(ok, speed, 1.0), -1.0, 1.0)
                c, sn = R.di_turn(cross)
                kbx[di] = np.where(ok, kx * c - ky * sn, kx)
                kby[di] = np.where(ok, kx * sn + ky * c, ky)

        self._ledge_grabs(frozen)
        if _IN_GRAB[Z[_ST]].any():  # (most frames nobody grabs: skip the grab step)
            for p in (0, 1):
                self._grabs(p, frozen)
        self._hits(frozen)
        st = Z[_ST]
        flags = _FLAGS[st]
        hittable = ~_intangible(flags, st, Z[_AF], Z[_INVULN]) & ~_flag(flags, R.CAPTURED)
        self._items.step((F[_X], F[_Y]), st, Z[_AF], Z[_FACING], frozen, hittable, self._lasered)
        self._blast_zones()

    def _takeoff(
        self, mask: np.ndarray[Any, Any], sx: np.ndarray[Any, Any], jump_h: np.ndarray[Any, Any]
    ) -> None:
        """Jump squat is over: a full hop while the jump is held, else a short hop; the
        horizontal speed is the ground speed carried over plus the stick's (``sx``: the
        squat's last frame), clipped (Melee's jump)."""
        k = np.flatnonzero(mask)
        if k.size == 0:
            return
        n2 = 2 * self.n
        F, Z = self._Ff, self._Zf
        Pf = self._pf
        sxk = sx.reshape(n2)[k]
        F[_VY][k] = np.where(jump_h.reshape(n2)[k], Pf["full_hop"][k], Pf["short_hop"][k])
        carried = F[_VX][k] * Pf["jump_ground_mult"][k] + sxk * Pf["jump_h"][k]
        cap = Pf["jump_h_max"][k]
        F[_VX][k] = np.minimum(np.maximum(carried, -cap), cap)
        back = (np.abs(sxk) >= R.DEADZONE) & (np.where(sxk >= 0, 1, -1) != Z[_FACING][k])
        Z[_ST][k] = np.where(back, R.S["JUMP_B"], R.S["JUMP_F"])
        Z[_JUMPS][k] = 1
        Z[_SURF][k] = -1
        Z[_FF][k] = 0

    def _up_b_travel(
        self, mask: np.ndarray[Any, Any], sx: np.ndarray[Any, Any], sy: np.ndarray[Any, Any]
    ) -> None:
        """The up-B charge is over: travel where the main stick points (up if neutral; never
        into the ground)."""
        k = np.flatnonzero(mask)
        if k.size == 0:
            return
        n2 = 2 * self.n
        F, Z = self._Ff, self._Zf
        dx = sx.reshape(n2)[k]
        syk = sy.reshape(n2)[k]
        dy = np.where(Z[_SURF][k] >= 0, np.maximum(syk, 0.0), syk)
        norm = np.sqrt(dx * dx + dy * dy)
        aimed = norm >= R.DEADZONE
        safe = np.where(aimed, norm, 1.0)
        ux = np.where(aimed, dx / safe, 0.0)
        uy = np.where(aimed, dy / safe, 1.0)
        speed = self._pf["upb_speed"][k]
        F[_VX][k] = ux * speed
        F[_VY][k] = uy * speed
        Z[_TIMER][k] = self._pf["upb_frames"][k].astype(np.int64)
        turn = np.abs(ux) > 0.1
        Z[_FACING][k[turn]] = np.where(ux >= 0, 1, -1)[turn]
        Z[_SURF][k] = -1
        Z[_FF][k] = 0
        Z[_HITDONE][k] = 0

    def _ledge_position(self, mask: np.ndarray[Any, Any]) -> None:
        """Players in a ledge state: at the hang point, or on the way from it to the getup's
        end point (a straight line, the frames of the state)."""
        k = np.flatnonzero(mask)
        n = self.n
        F, Z = self._Ff, self._Zf
        st = Z[_ST][k]
        idx = st + np.where(k < n, 0, R.NUM_STATES)
        hd = self._pf["hang_dx"][k]
        hy = self._pf["hang_y"][k]
        frac = (Z[_AF][k] + 1) / np.maximum(_DURATION[st], 1)
        d = hd + (self._ledge_end_d[idx] - hd) * frac
        F[_X][k] = Z[_LEDGE][k] * (self._edge + d)
        F[_Y][k] = hy + (self._ledge_end_y[idx] - hy) * frac

    def _getup_end(self, mask: np.ndarray[Any, Any], old: np.ndarray[Any, Any]) -> None:
        """A climb, roll or ledge attack is over: standing on the stage at its end point."""
        k = np.flatnonzero(mask.reshape(-1))
        if k.size == 0:
            return
        n = self.n
        F, Z = self._Ff, self._Zf
        idx = old.reshape(-1)[k] + np.where(k < n, 0, R.NUM_STATES)
        F[_X][k] = Z[_LEDGE][k] * (self._edge + self._ledge_end_d[idx])
        F[_Y][k] = 0.0
        F[_VX][k] = 0.0
        F[_VY][k] = 0.0
        Z[_SURF][k] = 0
        Z[_JUMPS][k] = 2

    def _ledge_grabs(self, frozen: np.ndarray[Any, Any]) -> None:
        """Falling players whose frame began in a ledge's grab box, facing it, not holding
        down, catch it (CLIFF_CATCH) unless the other player holds it (port 0 first); a first
        grab since the ground (or a hit) is intangible for LEDGE_INTANGIBLE frames."""
        F, Z = self._F, self._I
        st = Z[_ST]
        flags = _FLAGS[st]
        x0, y0 = self._saved_F[_X], self._saved_F[_Y]
        side = np.where(x0 > 0, 1, -1)
        d = side * x0 - self._edge
        falling = (F[_VY] + F[_KBY] < 0) | (st == _ST_UPB_TRAVEL)
        cand = (
            _flag(flags, R.LEDGE_OK)
            & ~frozen
            & falling
            & (self._ctrl[1] > R.DOWN_THRESHOLD)
            & (Z[_DRP] == 0)
            & (Z[_FACING] == -side)
            & (d >= 0.0)
            & (d <= R.LEDGE_BOX_OUT)
            & (y0 <= R.LEDGE_BOX_TOP)
            & (y0 >= R.LEDGE_BOX_BOTTOM)
        )
        if not cand.any():
            return
        for p in (0, 1):
            o = 1 - p
            taken = _HOLDS[Z[_ST, o]] & (Z[_LEDGE, o] == side[p])
            g = np.flatnonzero(cand[p] & ~taken)
            if g.size == 0:
                continue
            s = side[p, g]
            Z[_ST, p, g] = _ST_CATCH
            for j in (_AF, _FF, _HITDONE):
                Z[j, p, g] = 0
            Z[_SURF, p, g] = -1
            Z[_JUMPS, p, g] = 1
            Z[_LEDGE, p, g] = s
            first = Z[_REGRAB, p, g] == 0
            Z[_INVULN, p, g] = np.where(
                first, np.maximum(Z[_INVULN, p, g], R.LEDGE_INTANGIBLE), Z[_INVULN, p, g]
            )
            Z[_REGRAB, p, g] = 1
            for j in (_VX, _VY, _KBX, _KBY):
                F[j, p, g] = 0.0
            F[_X, p, g] = s * (self._edge + self._p["hang_dx"][p, 0])
            F[_Y, p, g] = self._p["hang_y"][p, 0]

    def _grabs(self, a: int, frozen: np.ndarray[Any, Any]) -> None:
        """Port ``a``'s grab of the other player in every game (port 0's first; the rules of
        ``ScalarGame._grab``): a released player goes free, a grab box catches, a holder whose
        player went free lets go, the pummel hits, a throw takes the player and releases it on
        its frame; the held player is placed in front."""
        F, Z = self._F, self._I
        o = 1 - a
        st = Z[_ST, a].copy()
        flags = _FLAGS[st]
        fl_d = _FLAGS[Z[_ST, o]]
        d_holds = _flag(fl_d, R.HOLDING) | (_THROW[Z[_ST, o]] >= 0)
        free = _flag(flags, R.CAPTURED) & ~d_holds  # held by one who no longer holds
        Z[_ST, a, free] = R.S["CAPTURE_CUT"]
        Z[_AF, a, free] = 0
        box = _GRAB_BOX[st]
        af = Z[_AF, a]
        g = np.flatnonzero(
            (box[:, 0] >= 0)
            & ~frozen[a]
            & (af >= box[:, 0])
            & (af <= box[:, 1])
            & ~_flag(fl_d, R.CAPTURED | R.HOLDING | R.LEDGE | R.FROZEN_POS)
            & ~_intangible(fl_d, Z[_ST, o], Z[_AF, o], Z[_INVULN, o])
        )
        caught = np.zeros(self.n, dtype=bool)
        if g.size:
            hx = F[_X, a, g] + Z[_FACING, a, g] * box[g, 2]
            hy = F[_Y, a, g] + box[g, 3]
            oy = F[_Y, o, g]
            ddx = hx - F[_X, o, g]
            ddy = hy - np.minimum(np.maximum(hy, oy + R.HURT_LOW), oy + R.HURT_HIGH)
            reach = box[g, 4] + R.HURT_RADIUS
            g = g[ddx * ddx + ddy * ddy <= reach * reach]
            caught[g] = True
            Z[_ST, a, g] = np.where(
                st[g] == _ST_DASH_GRAB, R.S["DASH_CATCH_PULL"], R.S["CATCH_PULL"]
            )
            Z[_AF, a, g] = 0
            F[_VX, a, g] = 0.0
            Z[_HITDONE, a, g] = 0
            Z[_ST, o, g] = R.S["CAPTURE_PULLED"]
            Z[_AF, o, g] = 0
            Z[_TIMER, o, g] = np.floor(
                R.GRAB_ESCAPE_BASE + R.GRAB_ESCAPE_PER_PERCENT * F[_PCT, o, g]
            ).astype(np.int64)
            Z[_FF, o, g] = 0
            Z[_HITDONE, o, g] = 0
        d_capt = _flag(_FLAGS[Z[_ST, o]], R.CAPTURED)
        holding = _flag(flags, R.HOLDING)
        cut = holding & ~d_capt  # the grabbed player broke free
        Z[_ST, a, cut] = R.S["CATCH_CUT"]
        Z[_AF, a, cut] = 0
        held = holding & d_capt
        pummel = np.flatnonzero(
            held & (st == _ST_CATCH_ATTACK) & (af == 0) & (Z[_HITDONE, a] == 0) & ~frozen[a]
        )
        if pummel.size:
            mv = R.MOVE_TABLE[R.M["PUMMEL"]]
            F[_PCT, o, pummel] = F[_PCT, o, pummel] + mv[R.MV_DAMAGE]
            Z[_ST, o, pummel] = R.S["CAPTURE_DAMAGE"]
            Z[_AF, o, pummel] = 0
            Z[_HITDONE, a, pummel] = 1
            lag = int(mv[R.MV_HITLAG])
            Z[_HITLAG, a, pummel] = np.maximum(Z[_HITLAG, a, pummel], lag)
            Z[_HITLAG, o, pummel] = np.maximum(Z[_HITLAG, o, pummel], lag)
        throwing = (_THROW[st] >= 0) & d_capt
        take = throwing & ~_IS_THROWN[Z[_ST, o]]  # the throw takes the grabbed player
        Z[_ST, o, take] = _THROWN[st[take]]
        Z[_AF, o, take] = 0
        release = throwing & (af == _THROW_FIRST[st])
        place = held | (throwing & ~release) | caught
        k = np.flatnonzero(place)
        if k.size:
            F[_X, o, k] = F[_X, a, k] + Z[_FACING, a, k] * self._p["hold_dx"][a, 0]
            F[_Y, o, k] = F[_Y, a, k]
            for j in (_VX, _VY, _KBX, _KBY):
                F[j, o, k] = 0.0
            Z[_FACING, o, k] = -Z[_FACING, a, k]
            Z[_SURF, o, k] = Z[_SURF, a, k]
        r = np.flatnonzero(release)
        if r.size:  # placed where the throw lets go, launched (into the air, as Melee's)
            mt = R.MOVE_TABLE[_THROW[st[r]]]
            fac = Z[_FACING, a, r]
            F[_X, o, r] = F[_X, a, r] + fac * mt[:, R.MV_DX]
            F[_Y, o, r] = F[_Y, a, r]
            away = np.where(mt[:, R.MV_DX] >= 0, fac, -fac)
            self._launch(o * self.n + r, mt, fac, away)

    def _launch(
        self,
        b: np.ndarray[Any, Any],
        mt: np.ndarray[Any, Any],
        fac_a: np.ndarray[Any, Any],
        away: np.ndarray[Any, Any],
    ) -> None:
        """Players ``b`` (flat indices) take the moves ``mt`` airborne (a throw's release):
        damage, knockback, hitstun, as a body hit in the air (``_struck`` with no flags)."""
        self._struck(b, mt, fac_a, away, np.zeros(b.size, dtype=np.int64))

    def _respawn(self, mask: np.ndarray[Any, Any]) -> None:
        """Back on the halo above one's own side, at 0%, invulnerable until it is left."""
        n = self.n
        k = np.flatnonzero(mask)
        F, Z = self._Ff, self._Zf
        left = k < n  # port 0 respawns on the left
        F[:, k] = 0.0
        F[_X][k] = np.where(left, -R.SPAWN_X, R.SPAWN_X)
        F[_Y][k] = R.RESPAWN_HEIGHT
        F[_SHIELD][k] = R.SHIELD_MAX
        for j in (_VAR, _FF, _HITDONE, _REGRAB, _DRP):
            Z[j][k] = 0
        Z[_ST][k] = _ST_HALO
        Z[_TIMER][k] = R.HALO_MAX
        Z[_FACING][k] = np.where(left, 1, -1)
        Z[_JUMPS][k] = 1
        Z[_SURF][k] = -1

    def _shield_break(self, mask: np.ndarray[Any, Any]) -> None:
        F, Z = self._F, self._I
        Z[_ST][mask] = R.S["SB_FLY"]
        Z[_AF][mask] = 0
        Z[_SURF][mask] = -1
        F[_VY][mask] = R.SHIELD_BREAK_VY
        F[_SHIELD][mask] = R.SHIELD_AFTER_BREAK

    def _hits(self, frozen: np.ndarray[Any, Any]) -> None:
        """Hitboxes against hurtboxes. Work is done on the (few) players whose hitbox is out
        this frame, as flat indices ``p * n + game`` into the state blocks."""
        n = self.n
        F, Z = self._Ff, self._Zf
        st, af = Z[_ST], Z[_AF]
        out = _HITBOX_OUT[st, np.minimum(af, _HITBOX_FRAMES - 1)] & ~frozen.ravel()
        Z[_HITDONE][out & _REHIT[st]] = 0  # a multi-hit move's next hit
        a = np.flatnonzero(out & (Z[_HITDONE] == 0))  # attackers
        if a.size == 0:
            return
        d = (a + n) % (2 * n)  # their opponents
        late = _LATE_AT[st[a], np.minimum(af[a], _HITBOX_FRAMES - 1)]
        # the late hit on its frames, else the attacker's character's move for its state
        m = np.where(late >= 0, late, self._moves[st[a] + (a // n) * R.NUM_STATES])
        x, y = F[_X], F[_Y]
        fac_a = Z[_FACING][a]
        hx = x[a] + fac_a * R.MOVE_TABLE[m, R.MV_DX]
        hy = y[a] + R.MOVE_TABLE[m, R.MV_DY]
        oy = y[d]
        ddx = hx - x[d]
        ddy = hy - np.minimum(np.maximum(hy, oy + R.HURT_LOW), oy + R.HURT_HIGH)
        reach = R.MOVE_TABLE[m, R.MV_RADIUS] + R.HURT_RADIUS
        st_d = st[d]
        flags_d = _FLAGS[st_d]
        intangible = _intangible(flags_d, st_d, af[d], Z[_INVULN][d])
        hit = (ddx * ddx + ddy * ddy <= reach * reach) & ~intangible
        if not hit.any():
            return
        a, d, m, fac_a, flags_d = a[hit], d[hit], m[hit], fac_a[hit], flags_d[hit]
        away = np.where(x[d] >= x[a], 1, -1)  # from the attacker toward the defender
        mt = R.MOVE_TABLE[m]  # [K, 12]
        lag = mt[:, R.MV_HITLAG].astype(np.int64)
        Z[_HITDONE][a] = 1
        Z[_HITLAG][a] = np.maximum(Z[_HITLAG][a], lag)
        Z[_HITLAG][d] = np.maximum(Z[_HITLAG][d], lag)
        self._struck(d, mt, fac_a, away, flags_d)

    def _lasered(
        self,
        q: int,
        games: np.ndarray[Any, Any],
        moves: np.ndarray[Any, Any],
        direction: np.ndarray[Any, Any],
    ) -> None:
        """Port ``q`` of ``games`` is hit by lasers (``moves``) flying in ``direction``: a
        move with no knockback (Fox's) only deals its damage, unless it meets a shield."""
        F, Z = self._Ff, self._Zf
        d = q * self.n + games
        mt = R.MOVE_TABLE[moves]
        flags_d = _FLAGS[Z[_ST][d]]
        plain = (mt[:, R.MV_BASE] == 0) & (mt[:, R.MV_GROWTH] == 0) & ~_flag(flags_d, R.SHIELDING)
        F[_PCT][d[plain]] += mt[plain, R.MV_DAMAGE]
        rest = ~plain
        if rest.any():
            d, mt, direction, flags_d = d[rest], mt[rest], direction[rest], flags_d[rest]
            lag = mt[:, R.MV_HITLAG].astype(np.int64)
            Z[_HITLAG][d] = np.maximum(Z[_HITLAG][d], lag)
            self._struck(d, mt, direction, direction, flags_d)

    def _struck(
        self,
        d: np.ndarray[Any, Any],
        mt: np.ndarray[Any, Any],
        fac_a: np.ndarray[Any, Any],
        away: np.ndarray[Any, Any],
        flags_d: np.ndarray[Any, Any],
    ) -> None:
        """Players ``d`` (flat indices) take the moves ``mt`` (MOVE_TABLE rows) launched
        along ``fac_a`` (the attacker's facing), ``away`` pointing from the attacker to them,
        their state's flags ``flags_d``: on a shield, shield damage and stun (or a break);
        else damage, knockback and hitstun (crouch-cancelled when crouching)."""
        F, Z = self._Ff, self._Zf
        n = self.n
        dmg = mt[:, R.MV_DAMAGE]
        shielded = _flag(flags_d, R.SHIELDING)
        if shielded.any():
            sd, sdmg, sfac = d[shielded], dmg[shielded], away[shielded]
            health = F[_SHIELD][sd] - sdmg
            F[_SHIELD][sd] = health
            broke = health <= 0
            stun, sdmg, sfac, smt = sd[~broke], sdmg[~broke], sfac[~broke], mt[shielded][~broke]
            Z[_ST][stun] = R.S["SHIELD_STUN"]
            Z[_AF][stun] = 0
            Z[_TIMER][stun] = smt[:, R.MV_SHIELDSTUN].astype(np.int64)
            F[_VX][stun] = sfac * R.SHIELD_PUSH * sdmg
            if broke.any():
                mask = np.zeros(2 * n, dtype=bool)
                mask[sd[broke]] = True
                self._shield_break(mask.reshape(2, n))
        body = ~shielded
        if body.any():
            b, dmg, fac_a, mt, flags_b = d[body], dmg[body], fac_a[body], mt[body], flags_d[body]
            away = away[body]
            p = F[_PCT][b] + dmg
            F[_PCT][b] = p
            weight = self._pf["weight"][b]
            kb = (p / 10 + p * dmg / 20) * 200 / (weight + 100) * 1.4 + 18
            kb = kb * mt[:, R.MV_GROWTH] / 100 + mt[:, R.MV_BASE]
            kb = np.where(_flag(flags_b, R.CROUCH), kb * R.CROUCH_CANCEL, kb)  # crouch cancel
            speed = kb * R.KB_SPEED
            air = ~_flag(flags_b, R.GROUND)  # (some moves launch airborne defenders their own way)
            kbx = speed * np.where(air, mt[:, R.MV_AIR_COS], mt[:, R.MV_COS]) * fac_a
            kby = speed * np.where(air, mt[:, R.MV_AIR_SIN], mt[:, R.MV_SIN])
            tumble = kb >= R.TUMBLE_KB
            lifted = ~_flag(flags_b, R.GROUND) | (tumble & (kby > 0))
            F[_KBX][b] = kbx
            F[_KBY][b] = np.where(lifted, kby, 0.0)
            F[_VX][b] = 0.0
            F[_VY][b] = 0.0
            Z[_ST][b] = np.where(
                tumble, R.S["DAMAGE_FLY"], np.where(lifted, R.S["DAMAGE_A"], R.S["DAMAGE_G"])
            )
            Z[_AF][b] = 0
            Z[_TIMER][b] = np.floor(kb * R.HITSTUN_PER_KB).astype(np.int64)
            Z[_FACING][b] = -away  # the defender turns to the attacker
            Z[_FF][b] = 0
            Z[_HITDONE][b] = 0
            Z[_REGRAB][b] = 0  # a hit: the next grab is intangible again
            Z[_SURF][b[lifted]] = -1

    def _blast_zones(self) -> None:
        F, Z = self._Ff, self._Zf
        x, y = F[_X], F[_Y]
        left, right, top, bottom = self._blast
        k = np.flatnonzero((x < left) | (x > right) | (y > top) | (y < bottom))
        if k.size == 0:
            return
        k = k[~_flag(_FLAGS[Z[_ST][k]], R.FROZEN_POS)]  # the dead stay where they died
        if k.size == 0:
            return
        xk, yk = x[k], y[k]
        Z[_VAR][k] = np.where(
            xk < left,
            R.DEAD_LEFT,
            np.where(xk > right, R.DEAD_RIGHT, np.where(yk > top, R.DEAD_UP, R.DEAD_DOWN)),
        )
        Z[_ST][k] = _ST_DEAD
        Z[_STOCKS][k] -= 1
        for j in (_AF, _TIMER, _HITLAG, _FF, _INVULN):
            Z[j][k] = 0
        Z[_SURF][k] = -1
        for j in (_VX, _VY, _KBX, _KBY):
            F[j][k] = 0.0

    def _game_over(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        stocks = self._I[_STOCKS]
        pct = self._F[_PCT]
        z0, z1 = stocks[0] == 0, stocks[1] == 0
        ko = z0 | z1
        timeout = ~ko & (self._frame >= self.config.time_limit)
        done = ko | timeout
        # both out on the same frame, or time up: more stocks, then lower percent, else a draw
        by_pct = np.where(pct[0] < pct[1], 0, np.where(pct[1] < pct[0], 1, -1))
        by_stocks = np.where(stocks[0] > stocks[1], 0, np.where(stocks[1] > stocks[0], 1, by_pct))
        winner = np.where(z1 & ~z0, 0, np.where(z0 & ~z1, 1, by_stocks))
        winner = np.where(done, winner, -1)
        reason = np.where(ko, 1, np.where(timeout, 2, 0))
        return done, winner, reason

    def _rewards(
        self,
        prev_pct: np.ndarray[Any, Any],
        prev_stocks: np.ndarray[Any, Any],
        prev_x: np.ndarray[Any, Any],
        prev_live: np.ndarray[Any, Any] | None,
        winner: np.ndarray[Any, Any],
        done: np.ndarray[Any, Any],
    ) -> np.ndarray[Any, Any]:
        w = self.config.rewards
        F, Z = self._F, self._I
        lost = prev_stocks - Z[_STOCKS]
        taken = np.maximum(F[_PCT] - prev_pct, 0.0)
        won = (done & (winner == 0)).astype(np.float64) - (done & (winner == 1))
        core = w.stock * (lost[1] - lost[0]) + w.damage * (taken[1] - taken[0]) + w.win * won
        reward = np.empty((self.n, 2), dtype=np.float32)
        reward[:, 0] = core
        reward[:, 1] = -core
        if w.approach or w.offstage:
            # shaping only counts players in play: not dead, not on the halo
            live = ~_flag(_FLAGS[Z[_ST]], R.FROZEN_POS)
        if w.approach:
            assert prev_live is not None
            both = prev_live.all(0) & live.all(0)
            before = np.abs(prev_x[0] - prev_x[1])
            after = np.abs(F[_X][0] - F[_X][1])
            reward += (w.approach * np.where(both, before - after, 0.0))[:, None].astype(np.float32)
        if w.offstage:
            off = ((np.abs(F[_X]) > self._edge) & live).T
            reward -= (w.offstage * off).astype(np.float32)
        return reward

    def _results(
        self, idx: np.ndarray[Any, Any], winner: np.ndarray[Any, Any], reason: np.ndarray[Any, Any]
    ) -> tuple[GameOutcome, ...]:
        stocks = self._I[_STOCKS]
        pct = self._F[_PCT]
        out = []
        for i in idx.tolist():
            outcome = GameOutcome(
                game=i,
                winner=int(winner[i]),
                reason="stocks" if reason[i] == 1 else "timeout",
                frames=int(self._frame[i]),
                stocks=(int(stocks[0, i]), int(stocks[1, i])),
                percent=(float(pct[0, i]), float(pct[1, i])),
            )
            self._counters.count(outcome, terminated=bool(reason[i] == 1))
            out.append(outcome)
        return tuple(out)

    def _frames_out(self) -> Frames:
        F, Z = self._F, self._I
        n = self.n
        st = Z[_ST]
        flags = _FLAGS[st]
        grounded = _flag(flags, R.GROUND)
        # rows 0-7 mirror the float state (x, y, vx, vy, kbx, kby, percent, shield); row 2
        # becomes the air speed and row 8 the ground speed
        f = np.empty((17, 2, n), dtype=np.float32)
        f[:8] = F[:8]
        f[2] = np.where(grounded, 0.0, F[_VX])
        f[8] = np.where(grounded, F[_VX], 0.0)
        af, anim = Z[_AF], _ANIM[st]
        # as replays count it: frames, or a landing's animation played over its length
        length = np.where(_flag(flags, R.TIMED), af + Z[_TIMER], _DURATION[st])
        played = af * anim / np.maximum(length, 1)
        counted = np.where(st == _ST_RUN, F[_RUN_ANIM], af + _AF_SHOWN[st])
        f[9] = np.where(_AF_FIXED[st], -1, np.where(anim > 0, played, counted))
        f[10] = Z[_HITLAG]
        f[11] = np.where(_flag(flags, R.HITSTUN), Z[_TIMER], 0)
        f[12:17] = self._ctrl
        action = (_ACTION[st] + Z[_VAR] * _VARIANT[st]).astype(np.uint16)
        stocks = Z[_STOCKS].astype(np.uint8)
        facing = Z[_FACING].astype(np.int8)
        jumps = Z[_JUMPS].astype(np.uint8)
        invulnerable = _intangible(flags, st, Z[_AF], Z[_INVULN])
        buttons = self._buttons.astype(np.uint8)
        players = tuple(
            PlayerFrames._trusted(
                {
                    "exists": self._const_true,
                    "x": f[0, p],
                    "y": f[1, p],
                    "vx_air": f[2, p],
                    "vy_self": f[3, p],
                    "vx_knockback": f[4, p],
                    "vy_knockback": f[5, p],
                    "vx_ground": f[8, p],
                    "percent": f[6, p],
                    "stocks": stocks[p],
                    "facing": facing[p],
                    "action": action[p],
                    "action_frame": f[9, p],
                    "character": self._const_char[p],
                    "jumps_left": jumps[p],
                    "shield": f[7, p],
                    "on_ground": grounded[p],
                    "invulnerable": invulnerable[p],
                    "hitlag": f[10, p],
                    "hitstun": f[11, p],
                    "main_x": f[12, p],
                    "main_y": f[13, p],
                    "c_x": f[14, p],
                    "c_y": f[15, p],
                    "shoulder": f[16, p],
                    "buttons": buttons[p],
                }
            )
            for p in (0, 1)
        )
        return Frames._trusted(
            frame=self._frame.astype(np.int32),
            stage=self._const_stage,
            players=(players[0], players[1]),
            nana=(self._const_nana, self._const_nana),
            items=self._items.frames() or self._const_items,
        )


def _ledge_ends(rows: list[Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``[port, state]`` outward distance from the edge and height where each ledge state's
    position ends (exphil.envs._characters): the hang point while hanging, a getup's end
    point, and for a ledge jump's first part the point its take-off leaves from (the second
    part's first frame moves by the take-off speed onto the recorded point)."""
    end_d = np.zeros((2, R.NUM_STATES))
    end_y = np.zeros((2, R.NUM_STATES))
    for p, r in enumerate(rows):
        for name in ("CLIFF_CATCH", "CLIFF_WAIT"):
            end_d[p, R.S[name]] = r.hang_dx
            end_y[p, R.S[name]] = r.hang_y
        for name, kind in R.LEDGE_GETUP_END.items():
            if kind == "jump":
                end_d[p, R.S[name]] = -r.ledge_jump_dx + r.ledge_jump_vx
                end_y[p, R.S[name]] = r.ledge_jump_y - r.ledge_jump_vy
            else:
                dx = {"climb": r.climb_dx, "roll": r.roll_dx, "attack": r.ledge_attack_dx}[kind]
                end_d[p, R.S[name]] = -dx
    end_d.setflags(write=False)
    end_y.setflags(write=False)
    return end_d, end_y


def _frozen(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    arr.setflags(write=False)
    return arr
