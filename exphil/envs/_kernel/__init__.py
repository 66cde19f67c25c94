"""The mock's rules as one compiled per-game kernel (numba), looped over the games of a batch.

:class:`~exphil.envs.mock.MockEnv` keeps its state in game-major arrays (``F[n, 2, NF]``
floats, ``I[n, 2, NZ]`` ints, the last step's controls ``C[n, 2, 5]`` and buttons ``BT[n, 2]``,
the item slots ``[n, 4, ITEM_SLOTS]``: each game's state one block, each field a constant
offset in it) and calls :func:`step_games` once per step: for each game, the players' frame,
ledges, grabs, hits, items and blast zones in a fixed order (port 0 first), in float64 with
the outputs rounded to float32 once, then the game-over check and the rewards.
:func:`read_controls` and :func:`write_frames` move a step's controls in and its output
columns out. Resets and the game results stay in Python (they happen once a game).

The same source, run as plain Python with numba off, is the test oracle and the benchmark
baseline (``exphil.envs._scalar.ScalarEnv``): the parity tests hold the compiled kernel to it
bit for bit. So the code keeps to what both run alike: no allocation, float64 and int64
scalars, tables read by index.

Tables are module globals (numba freezes them into the compiled code); what depends on the
env's config (each port's physics row, its character's states and moves, the stage) comes in
as small arrays. Compiled functions are cached on disk (``cache=True``), so a process after the
first pays no compile time.

The modules: ``tables`` (the state's layout, the rule tables and constants), ``common`` (how
it is compiled, small helpers), ``player`` (one player's frame and the ledge grab), ``pair``
(grabs, hits, knockback, blast zones), ``items`` (lasers and blasters), ``step`` (the entry
points). The oracle loads this package a second time under another name (its relative imports
then resolve to the plain copies).
"""

from __future__ import annotations

from .step import count_items, read_controls, step_games, write_frames, write_items
from .tables import (
    AF,
    DRP,
    FACING,
    FF,
    FRAME_PAD,
    GEO_FIELDS,
    HITDONE,
    HITLAG,
    INVULN,
    JUMPS,
    KBX,
    KBY,
    LEDGE_SIDE,
    NF,
    NZ,
    PCT,
    PH_INDEX,
    REGRAB,
    RUN_ANIM,
    SHIELD,
    ST,
    STOCKS,
    SURF,
    TECH,
    TIMER,
    VAR,
    VX,
    VY,
    X,
    Y,
)

__all__ = [
    "step_games",
    "write_frames",
    "read_controls",
    "count_items",
    "write_items",
    "FRAME_PAD",
    "GEO_FIELDS",
    "PH_INDEX",
    "NF",
    "NZ",
    "X", "Y", "VX", "VY", "KBX", "KBY", "PCT", "SHIELD", "RUN_ANIM",
    "ST", "VAR", "AF", "FACING", "JUMPS", "STOCKS", "SURF", "TIMER", "INVULN", "HITLAG",
    "HITDONE", "FF", "TECH", "LEDGE_SIDE", "REGRAB", "DRP",
]  # fmt: skip
