"""The mock's items, vectorized over games: Fox's and Falco's lasers and the blaster they hold
while shooting (docs/mockenv.md, "Lasers").

Each game has ``ITEM_SLOTS`` slots, as replays' ``Frames.items``; an item keeps its slot for
its life and takes the lowest free one when it appears (none left: it does not appear). Per
step, after the players' hits (``MockEnv._advance``), in this order, the same as
``exphil.envs._scalar.ScalarGame._items``:

1. every laser moves by its speed and counts its timer down; it is gone when the timer runs
   out or it is past the blast zone's left or right side;
2. lasers meet players, port 0's hurtbox first, then port 1's: a player in the shine's start
   or loop reflects every laser not its own within ``LASER_RADIUS`` of its hurtbox (it turns
   back, now the reflector's); else, of those lasers, the one in the lowest slot hits a
   hittable player (the others fly on) and is gone;
3. a blaster follows its owner and is gone once the owner has left the laser states; a
   player in them without one (port 0, then port 1) takes one out;
4. a player on its laser loop's shot frame (not in hitlag) fires: port 0, then port 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import numpy as np

from exphil.envs import _rules as R
from exphil.envs._characters import CharacterPhysics
from exphil.game.frames import ITEM_SLOTS, ItemFrames

__all__ = ["ItemSlots", "LASER", "GUN", "COLUMNS", "Struck"]

EMPTY, LASER, GUN = 0, 1, 2  # an item's kind
_FLAGS: Final = R.STATE_TABLE[:, R.T_FLAGS]
_SHOT: Final = R.STATE_TABLE[:, R.T_SHOT]
COLUMNS: Final = ("kind", "type", "owner", "move", "x", "y", "vx", "timer")
"""The slot arrays, in :meth:`ItemSlots.state` order: four int, four float."""

Struck = Callable[[int, np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]], None]
"""``struck(port, games, moves, direction)``: port ``port`` of ``games`` is hit by the laser
moves ``moves`` (MOVES indices) flying in ``direction`` (+1 / -1)."""


class ItemSlots:
    """The items of ``n`` games: ``[ITEM_SLOTS, n]`` arrays (0 in an empty slot)."""

    def __init__(
        self, n: int, rows: Sequence[CharacterPhysics], names: Sequence[str], left: float,
        right: float,
    ) -> None:  # fmt: skip
        self.n = n
        shape = (ITEM_SLOTS, n)
        self.kind = np.zeros(shape, dtype=np.int64)
        self.type = np.zeros(shape, dtype=np.int64)
        self.owner = np.zeros(shape, dtype=np.int64)
        self.move = np.zeros(shape, dtype=np.int64)
        self.x = np.zeros(shape)
        self.y = np.zeros(shape)
        self.vx = np.zeros(shape)
        self.timer = np.zeros(shape)
        self._left, self._right = left, right
        self._rows = tuple(rows)
        self._laser_move = tuple(R.M[R.LASER_MOVES[name.upper()]] for name in names)
        self._reach2 = (R.LASER_RADIUS + R.HURT_RADIUS) ** 2

    # --- state ---------------------------------------------------------------------------
    def state(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """``([4, S, n] int64, [4, S, n] float64)``: the slots, :data:`COLUMNS` order."""
        return (
            np.stack((self.kind, self.type, self.owner, self.move)),
            np.stack((self.x, self.y, self.vx, self.timer)),
        )

    def load(self, ints: np.ndarray[Any, Any], floats: np.ndarray[Any, Any]) -> None:
        """Restore :meth:`state`'s arrays (shapes checked by the caller)."""
        for k, dst in enumerate((self.kind, self.type, self.owner, self.move)):
            np.copyto(dst, ints[k])
        for k, fdst in enumerate((self.x, self.y, self.vx, self.timer)):
            np.copyto(fdst, floats[k])

    def clear(self, mask: np.ndarray[Any, Any]) -> None:
        """Empty the slots ``mask`` ([S, n] bool)."""
        for arr in (self.kind, self.type, self.owner, self.move, self.x, self.y, self.vx):
            arr[mask] = 0
        self.timer[mask] = 0.0

    def reset(self, games: np.ndarray[Any, Any]) -> None:
        """Empty every slot of ``games``."""
        mask = np.zeros((ITEM_SLOTS, self.n), dtype=bool)
        mask[:, games] = True
        self.clear(mask)

    def frames(self) -> ItemFrames | None:
        """The slots as replays record them (``[n, S]``), or None when every slot is empty."""
        exists = self.kind != EMPTY
        if not exists.any():
            return None
        return ItemFrames._trusted(
            {
                "exists": np.ascontiguousarray(exists.T),
                "type": self.type.T.astype(np.uint16),
                "owner": np.where(exists, self.owner, -1).T.astype(np.int8),
                "x": self.x.T.astype(np.float32),
                "y": self.y.T.astype(np.float32),
                "vx": self.vx.T.astype(np.float32),
                "vy": np.zeros((self.n, ITEM_SLOTS), dtype=np.float32),
                "timer": self.timer.T.astype(np.float32),
            }
        )

    # --- the step ------------------------------------------------------------------------
    def step(
        self,
        pos: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]],
        st: np.ndarray[Any, Any],
        af: np.ndarray[Any, Any],
        facing: np.ndarray[Any, Any],
        frozen: np.ndarray[Any, Any],
        hittable: np.ndarray[Any, Any],
        struck: Struck,
    ) -> None:
        """One frame (the module docstring's order). ``pos`` = (x, y), ``st``, ``af``,
        ``facing``, ``frozen`` (in hitlag when the frame began) and ``hittable`` are the
        players' ``[2, n]`` arrays after their hits; ``struck`` applies a laser's hit."""
        if not ((_FLAGS[st] & R.GUN) != 0).any() and not (self.kind != EMPTY).any():
            return
        x, y = pos
        laser = self.kind == LASER
        if laser.any():
            self.x += np.where(laser, self.vx, 0.0)
            self.timer -= laser
            self.clear(laser & ((self.timer <= 0) | (self.x < self._left) | (self.x > self._right)))
            for q in (0, 1):
                live = (self.kind == LASER) & (self.owner != q)
                if not live.any():
                    continue
                ddx = self.x - x[q]
                top = np.minimum(np.maximum(self.y, y[q] + R.HURT_LOW), y[q] + R.HURT_HIGH)
                ddy = self.y - top
                near = live & (ddx * ddx + ddy * ddy <= self._reach2)
                reflect = near & ((_FLAGS[st[q]] & R.REFLECT) != 0)
                if reflect.any():  # turned back, the reflector's now
                    self.owner[reflect] = q
                    self.vx[reflect] = -self.vx[reflect]
                touch = near & ~reflect & hittable[q]
                games = np.flatnonzero(touch.any(axis=0))
                if games.size == 0:
                    continue
                slots = np.argmax(touch[:, games], axis=0)
                moves = self.move[slots, games]
                direction = np.where(self.vx[slots, games] >= 0, 1, -1)
                hit = np.zeros_like(touch)
                hit[slots, games] = True
                self.clear(hit)
                struck(q, games, moves, direction)
        holding = (_FLAGS[st] & R.GUN) != 0  # (after the hits: a hit shooter lets go)
        guns = self.kind == GUN
        if guns.any():  # gone once the owner has left the laser states, else at its hand
            keep = guns & holding[self.owner, np.arange(self.n)]
            self.clear(guns & ~keep)
            self.x = np.where(keep, x[self.owner, np.arange(self.n)], self.x)
            self.y = np.where(keep, y[self.owner, np.arange(self.n)], self.y)
        for p in (0, 1):
            has = ((self.kind == GUN) & (self.owner == p)).any(axis=0)
            out = holding[p] & ~has
            if out.any():
                self._spawn(out, p, GUN, x[p], y[p], 0.0, R.GUN_TIMER)
        grounded = (_FLAGS[st] & R.GROUND) != 0
        for p in (0, 1):
            fire = (_SHOT[st[p]] == af[p]) & ~frozen[p]
            if fire.any():
                ph = self._rows[p]
                dx = np.where(grounded[p], ph.laser_dx_ground, ph.laser_dx_air)
                dy = np.where(grounded[p], ph.laser_dy_ground, ph.laser_dy_air)
                self._spawn(
                    fire,
                    p,
                    LASER,
                    x[p] + facing[p] * dx,
                    y[p] + dy,
                    facing[p] * ph.laser_speed,
                    float(ph.laser_life),
                )

    def _spawn(
        self, games: np.ndarray[Any, Any], p: int, kind: int, x: Any, y: Any, vx: Any, timer: float
    ) -> None:
        """An item of ``kind`` owned by ``p`` in the lowest free slot of ``games`` ([n] bool;
        a game with no free slot gets none); ``x``, ``y``, ``vx`` per game or scalars."""
        free = self.kind == EMPTY
        games = games & free.any(axis=0)
        idx = np.flatnonzero(games)
        if idx.size == 0:
            return
        slot = np.argmax(free[:, idx], axis=0)
        ph = self._rows[p]
        self.kind[slot, idx] = kind
        self.type[slot, idx] = ph.laser_item if kind == LASER else ph.gun_item
        self.owner[slot, idx] = p
        self.move[slot, idx] = self._laser_move[p] if kind == LASER else 0
        self.x[slot, idx] = np.broadcast_to(x, (self.n,))[idx]
        self.y[slot, idx] = np.broadcast_to(y, (self.n,))[idx]
        self.vx[slot, idx] = np.broadcast_to(vx, (self.n,))[idx]
        self.timer[slot, idx] = timer
