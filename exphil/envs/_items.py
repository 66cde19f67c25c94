"""The mock's item slots, for ``n`` games: Fox's and Falco's lasers and the blaster they hold
while shooting (docs/mockenv.md, "Lasers").

Each game has ``ITEM_SLOTS`` slots, as replays' ``Frames.items``; an item keeps its slot for
its life and takes the lowest free one when it appears (none left: it does not appear). The
rules that move them live in the kernel (``exphil.envs._kernel._items``), in this order
each step, after the players' hits:

1. every laser moves by its speed and counts its timer down; it is gone when the timer runs
   out or it is past the blast zone's left or right side;
2. lasers meet players, port 0's hurtbox first, then port 1's: a player in the shine's start
   or loop reflects every laser not its own within ``LASER_RADIUS`` of its hurtbox (it turns
   back, now the reflector's); else, of those lasers, the one in the lowest slot hits a
   hittable player (the others fly on) and is gone;
3. a blaster follows its owner and is gone once the owner has left the laser states; a
   player in them without one (port 0, then port 1) takes one out;
4. a player on its laser loop's shot frame (not in hitlag) fires: port 0, then port 1.

This module holds the slots: two blocks the kernel updates in place, and their state-dict
form (``exphil.envs._kernel.write_items`` writes their ``Frames.items`` columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exphil.game.frames import ITEM_SLOTS

__all__ = ["ItemSlots"]


class ItemSlots:
    """The items of ``n`` games, game-major as the kernel reads them: ``ints``
    ``[n, 4, ITEM_SLOTS]`` int64 (kind, type, owner, move) and ``floats`` ``[n, 4, ITEM_SLOTS]``
    float64 (x, y, vx, timer); 0 in an empty slot; the kinds (empty, laser, blaster) are the
    kernel's (``exphil.envs._kernel.tables``: ``EMPTY``, ``LASER_ITEM``, ``GUN_ITEM``). A game's
    kinds are one row: the scan for items reads two cache lines."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ints = np.zeros((n, 4, ITEM_SLOTS), dtype=np.int64)
        self.floats = np.zeros((n, 4, ITEM_SLOTS))

    def state(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """``([4, S, n] int64, [4, S, n] float64)``: copies of the slots (kind, type, owner,
        move; x, y, vx, timer), the state dict's layout."""
        return self.ints.transpose(1, 2, 0).copy(), self.floats.transpose(1, 2, 0).copy()

    def load(self, ints: np.ndarray[Any, Any], floats: np.ndarray[Any, Any]) -> None:
        """Restore :meth:`state`'s arrays (shapes checked by the caller)."""
        np.copyto(self.ints, ints.transpose(2, 0, 1))
        np.copyto(self.floats, floats.transpose(2, 0, 1))

    def reset(self, games: np.ndarray[Any, Any]) -> None:
        """Empty every slot of ``games``."""
        self.ints[games] = 0
        self.floats[games] = 0.0
