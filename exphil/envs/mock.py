"""A mock Melee: N two-player games stepped together by one compiled per-game kernel.

It is a small but real fighting game (movement, jumps, attacks with hitboxes, damage,
knockback that grows with percent, hitstun, shields, blast zones, stocks, a timer) that speaks
exactly the language of replays and Dolphin: it takes the controller columns a policy emits
(:class:`Controls`) and returns :class:`~exphil.game.Frames` rows with real Melee action ids,
internal character ids and external stage ids. Its rules are data in ``exphil.envs._rules``,
played by the numba kernel in ``exphil.envs._kernel`` (one game at a time, looped over the
batch); ``docs/mockenv.md`` describes them.

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
import threading
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar, Final

import msgspec
import numpy as np
import structlog

from exphil.envs import _kernel as K
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
from exphil.game.controls import Controls
from exphil.game.frames import ITEM_SLOTS, Frames, ItemFrames, PlayerFrames
from exphil.game.ids import Character, Stage, character, stage

__all__ = [
    "MockConfig",
    "RewardConfig",
    "MockEnv",
    "MOCK_STAGES",
    "MOCK_CHARACTERS",
    "platforms",
    "compile_mock_kernel",
]

log = structlog.get_logger("exphil.envs")

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


# the state's layout (exphil.envs._kernel): float state [_NF, 2, N] float64, int state
# [_NZ, 2, N] int64
_X, _Y, _VX, _VY, _KBX, _KBY, _PCT, _SHIELD = K.X, K.Y, K.VX, K.VY, K.KBX, K.KBY, K.PCT, K.SHIELD
_NF = K.NF
_ST, _VAR, _AF, _FACING, _JUMPS, _STOCKS = K.ST, K.VAR, K.AF, K.FACING, K.JUMPS, K.STOCKS
_SURF, _TIMER, _INVULN, _HITLAG, _HITDONE = K.SURF, K.TIMER, K.INVULN, K.HITLAG, K.HITDONE
_FF, _TECH = K.FF, K.TECH
_LEDGE, _REGRAB, _DRP = K.LEDGE_SIDE, K.REGRAB, K.DRP
_NZ = K.NZ
# _LEDGE: the side of the ledge held (+1 right, -1 left; read only in a LEDGE state);
# _REGRAB: 1 after a grab until the ground or a hit (a regrab gives no intangibility);
# _DRP: frames before a grab is possible again after letting go
_ITEM_DTYPES: Final = tuple(ItemFrames.DTYPES.items())
_LANDING_LAG_FIELDS: Final = (  # landing state -> its lag in exphil.envs._characters
    ("LANDING", "landing_lag"),
    ("NAIR_LANDING", "nair_landing"),
    ("FAIR_LANDING", "fair_landing"),
    ("BAIR_LANDING", "bair_landing"),
    ("UAIR_LANDING", "uair_landing"),
    ("DAIR_LANDING", "dair_landing"),
)


class MockEnv:
    """``n`` mock games stepped together. See the module docstring for the stepping rules."""

    _kernel: ClassVar[ModuleType] = K
    """The rules' module: the compiled kernel (``exphil.envs._scalar.ScalarEnv`` runs the
    same source as plain Python)."""

    def __init__(self, n: int, config: MockConfig | None = None) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.config = config or MockConfig()
        cfg = self.config
        self._stage = cfg.stage_id
        geo = self._stage.geometry
        self._edge = geo.edge
        # surfaces: (height, left, right, pass-through); 0 = the main stage
        surfaces = [(0.0, -geo.edge, geo.edge, False)]
        surfaces += [(h, lft, rgt, True) for h, lft, rgt in _PLATFORMS[self._stage]]
        self._surfaces = surfaces
        self._surface_order = sorted(range(len(surfaces)), key=lambda i: -surfaces[i][0])
        # the kernel's view of the env (exphil.envs._kernel): surfaces [4, K], highest first
        self._k_surfs = np.array([[float(v) for v in s] for s in surfaces]).T.copy()
        self._k_order = np.array(self._surface_order, dtype=np.int64)
        w = cfg.rewards
        consts = {
            "edge": geo.edge,
            "blast_left": geo.blast_left,
            "blast_right": geo.blast_right,
            "blast_top": geo.blast_top,
            "blast_bottom": geo.blast_bottom,
            "stage_depth": STAGE_DEPTH,
            "w_stock": w.stock,
            "w_damage": w.damage,
            "w_win": w.win,
            "w_approach": w.approach,
            "w_offstage": w.offstage,
        }
        self._k_geo = np.array([float(consts[k]) for k in K.GEO_FIELDS])

        # the kernel's arrays are game-major (each game's state is one contiguous block):
        # [n, 2, _NF] floats, [n, 2, _NZ] ints, the last step's controls (main_x, main_y,
        # c_x, c_y, shoulder) [n, 2, 5] and buttons [n, 2]; Python reads and writes them
        # through the transposed views (_F [_NF, 2, n], ...), the layout of state_dict
        self._kF = np.zeros((n, 2, _NF))
        self._kI = np.zeros((n, 2, _NZ), dtype=np.int64)
        self._kctrl = np.zeros((n, 2, 5))
        self._kbuttons = np.zeros((n, 2), dtype=np.int64)
        self._F = self._kF.transpose(2, 1, 0)
        self._I = self._kI.transpose(2, 1, 0)
        self._ctrl = self._kctrl.transpose(2, 1, 0)
        self._buttons = self._kbuttons.T
        self._frame = np.zeros(n, dtype=np.int64)
        # the step's outputs, reused
        self._reward = np.zeros((n, 2), dtype=np.float32)
        self._done = np.zeros(n, dtype=np.bool_)
        self._winner = np.zeros(n, dtype=np.int64)
        self._reason = np.zeros(n, dtype=np.int64)

        # each port's character physics (exphil.envs._characters) as the kernel reads it
        chars = cfg.character_ids
        rows = [character_physics(c) for c in chars]
        self._k_phys = np.array([[float(getattr(r, f)) for f in PHYSICS_FIELDS] for r in rows])
        # landing lag per (port, state)
        lag = np.zeros((2, R.NUM_STATES), dtype=np.int64)
        for name, field in _LANDING_LAG_FIELDS:
            lag[:, R.S[name]] = [getattr(r, field) for r in rows]
        self._k_lag = lag
        # the state each port enters for the state its input picks (its character's moves;
        # index NUM_STATES is the down-air input): [2, NUM_STATES + 1]
        self._k_states = np.array([R.character_states(c.name) for c in chars], dtype=np.int64)
        # the move each port hits with in each state (its character's), and its laser's
        self._k_moves = np.array([R.character_moves(c.name) for c in chars], dtype=np.int64)
        self._k_laser = np.array([R.M[R.LASER_MOVES[c.name]] for c in chars], dtype=np.int64)
        # where each ledge state's position ends, per (port, state): outward distance from
        # the edge and height
        self._k_ledge_end = _ledge_ends(rows)

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
        self._items = ItemSlots(n)
        self._n_items = 0  # how many items exist in all the games (the step counts them)

        self._counters = Counters(n)
        self._reset_rows(np.arange(n))
        compile_mock_kernel()

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
        state, frame counters, the last step's controls, the item slots, the counters; plus
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
        slots = (4, ITEM_SLOTS, n)
        if "item_ints" in s or "item_floats" in s:
            item_ints = array_from_state(s, "item_ints", slots, np.int64, who)
            item_floats = array_from_state(s, "item_floats", slots, np.float64, who)
        else:  # a state saved before the mock had items: none
            item_ints, item_floats = np.zeros(slots, dtype=np.int64), np.zeros(slots)
        counters = counters_from_state(s.get("counters"), n, who)
        self._check_values(Z, item_ints, who)
        # in place: the kernel's arrays stay the env's own (contiguous, writable)
        np.copyto(self._F, F)
        np.copyto(self._I, Z)
        np.copyto(self._frame, frame)
        np.copyto(self._ctrl, ctrl)
        np.copyto(self._buttons, buttons)
        self._items.load(item_ints, item_floats)
        self._n_items = int(self._kernel.count_items(self._items.ints))
        self._counters = counters

    def _check_values(self, Z: np.ndarray[Any, Any], items: np.ndarray[Any, Any], who: str) -> None:
        """The ints the kernel indexes its tables with are in range (it does not check: a bad
        value read from a file would read outside its arrays); a ValueError names the first
        field out of range."""
        k = len(self._surfaces)
        ranges = (
            ("int_state", "state", Z[_ST], 0, R.NUM_STATES - 1),
            ("int_state", "surface", Z[_SURF], -1, k - 1),
            ("int_state", "facing", np.abs(Z[_FACING]), 1, 1),
            ("int_state", "ledge side", Z[_LEDGE], -1, 1),
            ("int_state", "stocks", Z[_STOCKS], 0, 99),
            ("item_ints", "kind", items[0], 0, 2),
            ("item_ints", "owner", items[2], 0, 1),
            ("item_ints", "move", items[3], 0, R.NUM_MOVES - 1),
        )
        for block, name, values, lo, hi in ranges:
            bad = (values < lo) | (values > hi)
            if bad.any():
                row, game = (int(i) for i in np.argwhere(bad)[0])
                at = f"player {row}" if block == "int_state" else f"slot {row}"
                raise ValueError(
                    f"{who} state: {block}: {name} out of range ({at} of game {game}): "
                    f"{int(values[row, game])}, expected {lo}..{hi}"
                )

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
        ended, self._n_items = self._kernel.step_games(
            self._kF, self._kI, self._kctrl, self._kbuttons, self._items.ints, self._items.floats,
            self._frame, ctrl, buttons, self._k_phys, self._k_states, self._k_moves,
            self._k_lag, self._k_ledge_end, self._k_laser, self._k_surfs, self._k_order,
            self._k_geo, self.config.time_limit, self._reward, self._done, self._winner,
            self._reason,
        )  # fmt: skip
        self._counters.steps += 1
        reward = self._reward.copy()
        out = self._frames_out()
        final: Frames | None = None
        results: tuple[GameOutcome, ...] = ()
        terminated = self._reason == 1
        truncated = self._reason == 2
        if ended:
            idx = np.flatnonzero(self._done)
            final = out.take(idx)
            results = self._results(idx)
            self._reset_rows(idx)
            out = self._frames_out()
        return StepResult(out, reward, terminated, truncated, final, results)

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
        check_controls(c0, c1, n, finite=False)  # shapes and dtypes (the kernel trusts them)
        ctrl = np.empty((n, 2, 5))  # game-major, as the kernel reads it
        buttons = np.empty((n, 2), dtype=np.int64)
        finite = self._kernel.read_controls(
            c0.main_x, c0.main_y, c0.c_x, c0.c_y, c0.shoulder, c0.buttons,
            c1.main_x, c1.main_y, c1.c_x, c1.c_y, c1.shoulder, c1.buttons, ctrl, buttons,
        )  # fmt: skip
        if not finite:  # the column's name in the error (nothing has changed yet)
            check_controls(c0, c1, n)
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
        self._items.reset(idx)
        self._n_items = int(self._kernel.count_items(self._items.ints))

    def _results(self, idx: np.ndarray[Any, Any]) -> tuple[GameOutcome, ...]:
        stocks = self._I[_STOCKS]
        pct = self._F[_PCT]
        out = []
        for i in idx.tolist():
            why = int(self._reason[i])
            outcome = GameOutcome(
                game=i,
                winner=int(self._winner[i]),
                reason="stocks" if why == 1 else "timeout",
                frames=int(self._frame[i]),
                stocks=(int(stocks[0, i]), int(stocks[1, i])),
                percent=(float(pct[0, i]), float(pct[1, i])),
            )
            self._counters.count(outcome, terminated=why == 1)
            out.append(outcome)
        return tuple(out)

    def _items_out(self) -> ItemFrames:
        """The item slots' columns, or the shared empty ones when no game has an item."""
        kernel, slots = self._kernel, self._items
        if not self._n_items:
            return self._const_items
        n = self.n
        cols = {name: np.zeros((n, ITEM_SLOTS), dtype) for name, dtype in _ITEM_DTYPES}
        cols["owner"][:] = -1
        kernel.write_items(
            slots.ints, slots.floats, cols["exists"], cols["type"], cols["owner"], cols["x"],
            cols["y"], cols["vx"], cols["timer"],
        )  # fmt: skip
        return ItemFrames._trusted(cols)

    def _frames_out(self) -> Frames:
        n = self.n
        f = np.empty((17, 2, n + K.FRAME_PAD), dtype=np.float32)[:, :, :n]
        action = np.empty((2, n), dtype=np.uint16)
        stocks = np.empty((2, n), dtype=np.uint8)
        facing = np.empty((2, n), dtype=np.int8)
        jumps = np.empty((2, n), dtype=np.uint8)
        grounded = np.empty((2, n), dtype=np.bool_)
        invulnerable = np.empty((2, n), dtype=np.bool_)
        buttons = np.empty((2, n), dtype=np.uint8)
        self._kernel.write_frames(
            self._kF, self._kI, self._kctrl, self._kbuttons, f, action, stocks, facing, jumps,
            grounded, invulnerable, buttons,
        )  # fmt: skip
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
            items=self._items_out(),
        )


_compiled = False
COMPILING: Final = (
    "compiling the mock environment's kernel (numba: once per install or rules change, ~20 s)"
)


def compile_mock_kernel(notify: Callable[[str], None] | None = None) -> None:
    """Load the mock's compiled kernel (``exphil.envs._kernel``) into this process, once:
    numba reads it from its disk cache in well under a second, or the first time on a machine
    (or after any source the kernel reads changed: the cache folder is named after their hash,
    ``exphil.envs._kernel.common.KERNEL_CACHE_DIR``) compiles it, for about 20 s. Every ``MockEnv``
    calls this; a command that starts processes that will step mock games calls it first, so
    they find the cache and the user learns why the start takes long. After a second it
    says :data:`COMPILING` through ``notify`` (default: the log)."""
    global _compiled
    if _compiled:
        return
    _compiled = True  # (the warm-up env below does not come back here)
    say = notify if notify is not None else log.info
    started = time.perf_counter()
    note = threading.Timer(1.0, say, args=(COMPILING,))
    note.daemon = True
    note.start()
    try:
        env = MockEnv(1)
        env.step(Controls.neutral(1), Controls.neutral(1))
    finally:
        note.cancel()
    took = time.perf_counter() - started
    if took > 1.0:
        say(f"the mock environment's kernel is ready ({took:.1f} s)")


def _ledge_ends(rows: list[Any]) -> np.ndarray[Any, Any]:
    """``[port, state, 2]``: the outward distance from the edge and the height where each
    ledge state's position ends (exphil.envs._characters): the hang point while hanging, a
    getup's end point, and for a ledge jump's first part the point its take-off leaves from
    (the second part's first frame moves by the take-off speed onto the recorded point)."""
    end = np.zeros((2, R.NUM_STATES, 2))
    for p, r in enumerate(rows):
        for name in ("CLIFF_CATCH", "CLIFF_WAIT"):
            end[p, R.S[name]] = (r.hang_dx, r.hang_y)
        for name, kind in R.LEDGE_GETUP_END.items():
            if kind == "jump":
                end[p, R.S[name], 0] = -r.ledge_jump_dx + r.ledge_jump_vx
                end[p, R.S[name], 1] = r.ledge_jump_y - r.ledge_jump_vy
            else:
                dx = {"climb": r.climb_dx, "roll": r.roll_dx, "attack": r.ledge_attack_dx}[kind]
                end[p, R.S[name]] = (-dx, 0.0)
    return end


def _frozen(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    arr.setflags(write=False)
    return arr
