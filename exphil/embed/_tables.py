"""Lookup tables and vocabulary sizes of the embedding (numpy, built once at import)."""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from exphil.game.ids import LEGAL_STAGES, NUM_ACTIONS, NUM_INTERNAL_CHARACTERS, Stage

__all__ = [
    "ACTION_OTHER",
    "ACTION_NONE",
    "ACTION_ONE_HOT",
    "ACTION_TABLE",
    "CHARACTER_NONE",
    "CHARACTER_TABLE",
    "NUM_STAGE_IDS",
    "COMPACT_STAGES",
    "ITEM_TYPE_OTHER",
    "ITEM_TYPE_NONE",
    "ITEM_TYPE_TABLE",
    "ITEM_BUCKETS",
    "STAGE_COMPACT_INDEX",
    "STAGE_EDGE",
    "ITEM_BUCKET_INDEX",
]

ACTION_OTHER: Final = NUM_ACTIONS
"""Every action id >= ``NUM_ACTIONS`` (real replays reach about 0x217) maps to this class."""
ACTION_NONE: Final = NUM_ACTIONS + 1
"""The learned-table id of an absent Nana's action (one-hot blocks are all zeros instead)."""
ACTION_ONE_HOT: Final = NUM_ACTIONS + 1  # 399 actions + other
ACTION_TABLE: Final = NUM_ACTIONS + 2  # 399 actions + other + none

CHARACTER_NONE: Final = NUM_INTERNAL_CHARACTERS
CHARACTER_TABLE: Final = NUM_INTERNAL_CHARACTERS + 1  # 33 internal ids + none (absent Nana)

NUM_STAGE_IDS: Final = 64
"""External stage ids 0..63: the one-hot width and the learned table size."""

COMPACT_STAGES: Final = (
    Stage.FOUNTAIN_OF_DREAMS,
    Stage.POKEMON_STADIUM,
    Stage.YOSHIS_STORY,
    Stage.DREAM_LAND,
    Stage.BATTLEFIELD,
    Stage.FINAL_DESTINATION,
)
"""The compact stage one-hot's order; a 7th column is "other"."""


def _frozen(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    arr.setflags(write=False)
    return arr


STAGE_COMPACT_INDEX: Final = np.full(256, len(COMPACT_STAGES), dtype=np.int64)
"""External stage id -> its column in the compact stage one-hot (6 = other)."""
for _i, _st in enumerate(COMPACT_STAGES):
    STAGE_COMPACT_INDEX[int(_st)] = _i
STAGE_COMPACT_INDEX.setflags(write=False)

STAGE_EDGE: Final = np.zeros(256, dtype=np.float32)
"""External stage id -> the main platform's edge ``|x|`` (0 where the geometry is unknown)."""
for _st in LEGAL_STAGES:
    STAGE_EDGE[int(_st)] = _st.geometry.edge
STAGE_EDGE.setflags(write=False)

# --- items ------------------------------------------------------------------------------
ITEM_TYPE_OTHER: Final = 0xED
"""Item types 0x00..0xEC are Melee's; anything above maps here (libmelee's 255 too)."""
ITEM_TYPE_NONE: Final = 0xEE
"""The learned-table id of an empty projectile slot."""
ITEM_TYPE_TABLE: Final = 0xEF

ITEM_BUCKETS: Final = (
    "laser",
    "needle",
    "turnip",
    "samus",
    "link",
    "fire",
    "electric",
    "other_projectile",
    "item",
)
"""Coarse kinds of item type for ``projectile_type="bucket"``. Character projectiles are
types 0x30..0x9F; everything else (held items, Pokemon, stage objects) is ``"item"``."""

_BUCKET_TYPES: Final[dict[str, tuple[int, ...]]] = {
    # libmelee ProjectileType values
    "laser": (54, 55, 136, 137),  # Fox/Falco lasers (and Kirby's copies)
    "needle": (79, 80, 152, 153),  # Sheik's needles
    "turnip": (99,),
    "samus": (93, 94, 95, 96, 151),  # bomb, charge shot, missile, grapple
    "link": (58, 59, 60, 61, 62, 63, 64, 65, 76, 77, 140, 141, 142, 143),
    "fire": (48, 49, 66, 100, 105, 108, 109, 116, 130, 131, 132, 154),
    "electric": (
        67,
        68,
        69,
        70,
        71,
        72,
        73,
        78,
        81,
        82,
        89,
        90,
        91,
        92,
        145,
        146,
        147,
        148,
        149,
        150,
    ),
}


def _bucket_index() -> np.ndarray[Any, Any]:
    table = np.full(256, ITEM_BUCKETS.index("item"), dtype=np.int64)
    table[0x30:0xA0] = ITEM_BUCKETS.index("other_projectile")
    for name, types in _BUCKET_TYPES.items():
        table[list(types)] = ITEM_BUCKETS.index(name)
    return _frozen(table)


ITEM_BUCKET_INDEX: Final = _bucket_index()
"""Item type (clipped to 255) -> index into ``ITEM_BUCKETS``."""
