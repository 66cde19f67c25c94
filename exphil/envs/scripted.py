"""``ScriptedEnv``: a tiny deterministic :class:`~exphil.envs.GameEnv` for unit tests.

Agents, evaluation and training loops are tested against it: it is fast (a step costs about
60 us for one game and 150 us for 1,000 on one core), its games end at frames a test can
compute, and its rule (walk to the right of the opponent, stay on the stage) is one a policy
can learn from the main stick's x alone.

The rule
--------
Fox against Fox on Final Destination, both standing on the stage line (``y = 0``). Frame 0 of
a game has port 0 at ``x = -start`` facing right and port 1 at ``x = +start`` facing left.

* **Movement**: on each step a player's ``x`` moves by ``speed * main_x`` (the stick clamped
  to [-1, 1]; nothing else on the controller matters). A moving player walks (action
  ``WALK_MIDDLE``, 0x10) and faces where it walks; a still one stands (``WAIT``, 0x0E).
* **Reward** (zero-sum, float32): each step, port 0 gets ``+step_reward`` if it stands right
  of port 1 after the move, ``-step_reward`` if left of it, 0 if level; port 1 gets the
  opposite. When a game ends with a winner, ``+win`` goes to the winner and ``-win`` to the
  loser on that step.
* **Termination**: a player whose ``|x|`` passes ``edge`` (strictly) falls off: the game is
  *terminated* (``reason="edge"``); the other player wins (both at once: a draw). In the final
  frame the faller has 0 stocks and a dead action (``DEAD_LEFT``/``DEAD_RIGHT``); everyone else
  has 1 stock.
* **Truncation**: otherwise, a game is *truncated* after ``time_limit`` steps
  (``reason="timeout"``); the player standing further right wins (level: a draw).
  ``time_limit`` may differ per game (a sequence of ``n`` limits).

So games have known lengths: with neutral controls every game is truncated after exactly
``time_limit`` steps; a player holding the stick fully outward from frame 0 falls off on step
:attr:`ScriptedEnv.steps_to_edge` (``floor((edge - start) / speed) + 1`` for values exact in
floating point, e.g. ``edge=10, start=4, speed=1`` gives 7). The auto-reset rule is
``GameEnv``'s: an ended game's row of ``frames`` is already frame 0 of its next game.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np

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
from exphil.game.frames import Frames, ItemFrames, PlayerFrames
from exphil.game.ids import Character, Stage

__all__ = ["ScriptedEnv"]

Array = np.ndarray[Any, Any]

WAIT: Final = 0x0E
WALK_MIDDLE: Final = 0x10
DEAD_LEFT: Final = 0x01
DEAD_RIGHT: Final = 0x02
_STAGE: Final = Stage.FINAL_DESTINATION
_CHARACTER: Final = Character.FOX
_LOW: Final = np.array([-1.0, -1.0, -1.0, -1.0, 0.0], dtype=np.float32)[:, None, None]


def _frozen(arr: Array) -> Array:
    arr.setflags(write=False)
    return arr


def _finite(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value}")
    return v


class ScriptedEnv:
    """``n`` scripted games stepped together; the rule is in the module docstring.

    ``time_limit``: steps before a game is truncated (one for all games, or ``n`` of them);
    ``speed``: units moved per step at full stick; ``start``: each player's distance from the
    stage's center at frame 0; ``edge``: the half-width of the stage (default Final
    Destination's edge); ``step_reward`` and ``win``: the reward weights.
    """

    def __init__(
        self,
        n: int,
        *,
        time_limit: int | Sequence[int] = 600,
        speed: float = 1.0,
        start: float = 20.0,
        edge: float | None = None,
        step_reward: float = 0.01,
        win: float = 1.0,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        limits = np.asarray(
            [time_limit] * n if isinstance(time_limit, int) else list(time_limit), dtype=np.int64
        )
        if limits.shape != (n,):
            raise ValueError(f"time_limit must be one int or {n} of them, got {len(limits)}")
        if (limits < 1).any():
            raise ValueError(f"time_limit must be at least 1 step, got {limits.min()}")
        self._n = n
        self.time_limit = _frozen(limits)
        self.speed = _finite("speed", speed)
        self.edge = _finite("edge", _STAGE.geometry.edge if edge is None else edge)
        self.start = _finite("start", start)
        self.step_reward = _finite("step_reward", step_reward)
        self.win = _finite("win", win)
        if self.speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        if self.edge <= 0:
            raise ValueError(f"edge must be > 0, got {edge}")
        if not 0 <= self.start <= self.edge:
            raise ValueError(f"start must be in [0, edge={self.edge}], got {start}")

        self._x = np.zeros((2, n))
        self._vx = np.zeros((2, n))
        self._facing = np.zeros((2, n), dtype=np.int8)
        self._action = np.zeros((2, n), dtype=np.uint16)
        self._af = np.zeros((2, n), dtype=np.int64)
        self._frame = np.zeros(n, dtype=np.int64)
        self._ctrl = np.zeros((5, 2, n), dtype=np.float32)  # main_x, main_y, c_x, c_y, shoulder
        self._buttons = np.zeros((2, n), dtype=np.uint8)
        self._closed = False
        self._counters = Counters(n)

        # read-only columns shared by every Frames this env emits
        f32 = np.float32
        self._zeros = _frozen(np.zeros(n, dtype=f32))
        self._true = _frozen(np.ones(n, dtype=bool))
        self._false = _frozen(np.zeros(n, dtype=bool))
        self._shield = _frozen(np.full(n, 60.0, dtype=f32))
        self._jumps = _frozen(np.full(n, 2, dtype=np.uint8))
        self._one = _frozen(np.ones(n, dtype=np.uint8))
        self._char = _frozen(np.full(n, _CHARACTER.internal, dtype=np.uint8))
        self._stage = _frozen(np.full(n, int(_STAGE), dtype=np.uint8))
        nana = PlayerFrames.zeros(n)
        for arr in nana.columns().values():
            arr.setflags(write=False)
        self._nana = nana
        items = ItemFrames.zeros(n)
        items.owner[:] = -1
        for arr in items.columns().values():
            arr.setflags(write=False)
        self._items = items
        self._reset_rows(np.arange(n))

    # --- GameEnv ----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self._n

    @property
    def stage(self) -> Stage:
        return _STAGE

    @property
    def characters(self) -> tuple[Character, Character]:
        return _CHARACTER, _CHARACTER

    @property
    def steps_to_edge(self) -> int:
        """Steps after which a player holding the stick fully outward from frame 0 has passed
        the edge (the float arithmetic of ``step``, so exact)."""
        x, k = self.start, 0
        while not abs(x) > self.edge:
            x += self.speed
            k += 1
        return k

    @property
    def frames(self) -> Frames:
        """The current frame of every game (fresh arrays)."""
        return self._frames_out(None)

    def reset(self) -> Frames:
        """Start every game over; frame 0 of each."""
        self._check_open()
        self._reset_rows(np.arange(self._n))
        return self._frames_out(None)

    def step(self, p0: Controls, p1: Controls) -> StepResult:
        """Apply both ports' controls to every game (the rule is in the module docstring)."""
        self._check_open()
        check_controls(p0, p1, self._n)
        ctrl = self._ctrl
        for p, c in enumerate((p0, p1)):
            ctrl[0, p] = c.main_x
            ctrl[1, p] = c.main_y
            ctrl[2, p] = c.c_x
            ctrl[3, p] = c.c_y
            ctrl[4, p] = c.shoulder
            self._buttons[p] = c.buttons
        np.clip(ctrl, _LOW, 1.0, out=ctrl)  # sticks to [-1, 1], the shoulder to [0, 1]
        sx = ctrl[0].astype(np.float64)
        np.multiply(sx, self.speed, out=self._vx)
        x = self._x
        x += self._vx
        moving = sx != 0
        np.copyto(self._facing, np.sign(sx), casting="unsafe", where=moving)
        action = np.where(moving, WALK_MIDDLE, WAIT).astype(np.uint16)
        out = np.abs(x) > self.edge  # [2, n]
        terminated: Array = out[0] | out[1]
        if terminated.any():
            action[out] = np.where(x < 0, DEAD_LEFT, DEAD_RIGHT)[out]
        af = self._af
        af += 1
        af[action != self._action] = 0
        self._action = action
        self._frame += 1
        self._counters.steps += 1

        truncated = self._frame >= self.time_limit
        truncated &= ~terminated
        done = terminated | truncated
        r0 = np.sign(x[0] - x[1])
        winner = r0.astype(np.int64)  # +1: port 0 is right of port 1, -1: left, 0: level
        r0 *= self.step_reward
        if done.any():
            # +1 if port 0 won: its opponent fell off, or (time limit) it is further right
            winner = np.where(terminated, out[1].astype(np.int64) - out[0], winner)
            r0 += self.win * np.where(done, winner, 0)
            winner = np.where(winner > 0, 0, np.where(winner < 0, 1, -1))
        reward = np.empty((self._n, 2), dtype=np.float32)
        reward[:, 0] = r0
        np.negative(reward[:, 0], out=reward[:, 1])

        final: Frames | None = None
        results: tuple[GameOutcome, ...] = ()
        if done.any():
            idx = np.flatnonzero(done)
            final = self._frames_out(out).take(idx)
            outcomes = []
            for i in idx.tolist():
                outcome = GameOutcome(
                    game=i,
                    winner=int(winner[i]),
                    reason="edge" if terminated[i] else "timeout",
                    frames=int(self._frame[i]),
                    stocks=(int(not out[0, i]), int(not out[1, i])),
                    percent=(0.0, 0.0),
                )
                self._counters.count(outcome, terminated=bool(terminated[i]))
                outcomes.append(outcome)
            results = tuple(outcomes)
            self._reset_rows(idx)
        return StepResult(self._frames_out(None), reward, terminated, truncated, final, results)

    def statistics(self) -> EnvStatistics:
        return self._counters.snapshot()

    def close(self) -> None:
        """Mark the env closed: ``reset`` and ``step`` raise ``RuntimeError`` afterwards."""
        self._closed = True

    def state_dict(self) -> dict[str, Any]:
        """Everything future steps and :meth:`statistics` depend on (positions, facings,
        actions, frame counters, the last controls, the counters), plus ``n`` and the rule's
        parameters to check a load against; tensors (copies) and Python scalars only."""
        return {
            "kind": "ScriptedEnv",
            "n": self._n,
            "config": self._config(),
            "x": tensor(self._x),
            "vx": tensor(self._vx),
            "facing": tensor(self._facing),
            "action": tensor(self._action),
            "action_frame": tensor(self._af),
            "frame": tensor(self._frame),
            "controls": tensor(self._ctrl),
            "buttons": tensor(self._buttons),
            "counters": counters_state(self._counters),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state; the following steps are bit-identical to the
        saved env's. ``n`` and the rule's parameters must match (a ValueError names what
        differs); nothing changes unless the whole state is valid."""
        who = "ScriptedEnv"
        s = check_kind(state, who)
        n = int_from_state(s, "n", who, minimum=1)
        if n != self._n:
            raise ValueError(f"{who} state: n is {n} games, this env has {self._n}")
        saved, mine = s.get("config"), self._config()
        if not isinstance(saved, Mapping):
            raise ValueError(f"{who} state: config must be a dict, got {saved!r}")
        diffs = config_differences(dict(saved), mine)
        if diffs:
            raise ValueError(f"{who} state: its config differs from this env's: {'; '.join(diffs)}")
        x = array_from_state(s, "x", (2, n), np.float64, who)
        vx = array_from_state(s, "vx", (2, n), np.float64, who)
        facing = array_from_state(s, "facing", (2, n), np.int8, who)
        action = array_from_state(s, "action", (2, n), np.uint16, who)
        af = array_from_state(s, "action_frame", (2, n), np.int64, who)
        frame = array_from_state(s, "frame", (n,), np.int64, who)
        ctrl = array_from_state(s, "controls", (5, 2, n), np.float32, who)
        buttons = array_from_state(s, "buttons", (2, n), np.uint8, who)
        counters = counters_from_state(s.get("counters"), n, who)
        self._x, self._vx, self._facing, self._action = x, vx, facing, action
        self._af, self._frame, self._ctrl, self._buttons = af, frame, ctrl, buttons
        self._counters = counters

    # --- internals ----------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "time_limit": self.time_limit.tolist(),
            "speed": self.speed,
            "start": self.start,
            "edge": self.edge,
            "step_reward": self.step_reward,
            "win": self.win,
        }

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this ScriptedEnv is closed")

    def _reset_rows(self, idx: Array) -> None:
        self._x[0, idx] = -self.start
        self._x[1, idx] = self.start
        self._vx[:, idx] = 0.0
        self._facing[0, idx] = 1
        self._facing[1, idx] = -1
        self._action[:, idx] = WAIT
        self._af[:, idx] = 0
        self._frame[idx] = 0
        self._ctrl[:, :, idx] = 0.0
        self._buttons[:, idx] = 0

    def _frames_out(self, fell: Array | None) -> Frames:
        """Every game's current frame; ``fell`` (``[2, n]``) marks players who passed the edge
        (0 stocks)."""
        x = self._x.astype(np.float32)
        vx = self._vx.astype(np.float32)
        af = self._af.astype(np.float32)
        ctrl = self._ctrl.copy()
        buttons = self._buttons.copy()
        facing = self._facing.copy()
        action = self._action.copy()
        players = []
        for p in (0, 1):
            stocks = self._one if fell is None else (~fell[p]).astype(np.uint8)
            z = self._zeros
            players.append(
                PlayerFrames._trusted(
                    {
                        "exists": self._true,
                        "x": x[p],
                        "y": z,
                        "vx_air": z,
                        "vy_self": z,
                        "vx_knockback": z,
                        "vy_knockback": z,
                        "vx_ground": vx[p],
                        "percent": z,
                        "stocks": stocks,
                        "facing": facing[p],
                        "action": action[p],
                        "action_frame": af[p],
                        "character": self._char,
                        "jumps_left": self._jumps,
                        "shield": self._shield,
                        "on_ground": self._true,
                        "invulnerable": self._false,
                        "hitlag": z,
                        "hitstun": z,
                        "main_x": ctrl[0, p],
                        "main_y": ctrl[1, p],
                        "c_x": ctrl[2, p],
                        "c_y": ctrl[3, p],
                        "shoulder": ctrl[4, p],
                        "buttons": buttons[p],
                    }
                )
            )
        return Frames._trusted(
            frame=self._frame.astype(np.int32),
            stage=self._stage,
            players=(players[0], players[1]),
            nana=(self._nana, self._nana),
            items=self._items,
        )
