"""The entry points MockEnv calls: a step of every game, the controls in, the frames out."""

from __future__ import annotations

import numpy as np

from .common import clip, entry, inline, intangible
from .items import items_frame
from .pair import blast_zone, grab, hits
from .player import advance, ledge_grab
from .tables import *  # noqa: F403 - the rule tables and constants (module globals numba reads)

__all__ = ["step_games", "write_frames", "read_controls", "count_items", "write_items"]


# --- the step -----------------------------------------------------------------------------------
@entry
def step_games(
    F: Array, I: Array, C: Array, BT: Array, IT: Array, ITF: Array, frame: Array,  # noqa: E741
    NC: Array, NB: Array, PH: Array, CST: Array, MOVE_OF: Array, LAG: Array, LEND: Array,
    LMOVE: Array, SURFS: Array, ORDER: Array, geo: Array, time_limit: int,
    reward: Array, done: Array, winner: Array, reason: Array,
) -> tuple[int, int]:  # fmt: skip
    """One frame of every game: the players, ledges, grabs, hits, items, blast zones, then
    the game-over check (``done``, ``winner`` -1 for a draw, ``reason`` 1 stocks / 2 time)
    and the rewards (``reward[g, port]`` float32). The state arrays are updated in place
    (``C``/``BT`` become the new controls); a game that ended is not reset here. Returns how
    many games ended and how many items exist."""
    n = F.shape[0]
    ended = 0
    items = 0
    w_stock = geo[G_STOCK]
    w_damage = geo[G_DAMAGE]
    w_win = geo[G_WIN]
    w_approach = geo[G_APPROACH]
    w_offstage = geo[G_OFFSTAGE]
    edge = geo[G_EDGE]
    for g in range(n):
        prev_pct0 = F[g, 0, PCT]
        prev_pct1 = F[g, 1, PCT]
        prev_stocks0 = I[g, 0, STOCKS]
        prev_stocks1 = I[g, 1, STOCKS]
        prev_x0 = F[g, 0, X]
        prev_x1 = F[g, 1, X]
        prev_live = (FLAGS[I[g, 0, ST]] & FROZEN_POS) == 0 and (
            FLAGS[I[g, 1, ST]] & FROZEN_POS
        ) == 0
        sx0 = F[g, 0, X]  # where the frame began (the ledge grab box)
        sy0 = F[g, 0, Y]
        sx1 = F[g, 1, X]
        sy1 = F[g, 1, Y]
        # each step of the frame for port 0, then port 1 (one call site each: compiled once)
        frozen0 = False
        frozen1 = False
        for p in range(2):
            fz = advance(F, I, C, BT, NC, NB, p, g, PH, CST, LAG, LEND, SURFS, ORDER, geo)
            if p == 0:
                frozen0 = fz
            else:
                frozen1 = fz
        for p in range(2):
            if p == 0:
                ledge_grab(F, I, C, p, g, frozen0, sx0, sy0, PH, edge)
            else:
                ledge_grab(F, I, C, p, g, frozen1, sx1, sy1, PH, edge)
        for p in range(2):
            grab(F, I, p, g, frozen0 if p == 0 else frozen1, PH)
        hits(F, I, g, frozen0, frozen1, PH, MOVE_OF)
        items_frame(F, I, IT, ITF, g, frozen0, frozen1, PH, LMOVE, geo)
        for p in range(2):
            blast_zone(F, I, p, g, geo)
        for k in range(SLOTS):
            if IT[g, IT_KIND, k] != EMPTY:
                items += 1
        frame[g] += 1

        # game over: a stock-out, else the timer
        s0 = I[g, 0, STOCKS]
        s1 = I[g, 1, STOCKS]
        pct0 = F[g, 0, PCT]
        pct1 = F[g, 1, PCT]
        z0 = s0 == 0
        z1 = s1 == 0
        why = 0
        if z0 or z1:
            why = 1
        elif frame[g] >= time_limit:
            why = 2
        win = -1
        if why:
            ended += 1
            if z1 and not z0:
                win = 0
            elif z0 and not z1:
                win = 1
            elif s0 > s1:
                win = 0
            elif s1 > s0:
                win = 1
            elif pct0 < pct1:
                win = 0
            elif pct1 < pct0:
                win = 1
        done[g] = why != 0
        winner[g] = win
        reason[g] = why

        # rewards: the zero-sum core, then the shaping terms (float32 arithmetic)
        lost0 = prev_stocks0 - s0
        lost1 = prev_stocks1 - s1
        taken0 = pct0 - prev_pct0
        taken0 = taken0 if taken0 > 0.0 else 0.0
        taken1 = pct1 - prev_pct1
        taken1 = taken1 if taken1 > 0.0 else 0.0
        won = (1.0 if win == 0 else -1.0 if win == 1 else 0.0) if why else 0.0
        core = w_stock * (lost1 - lost0) + w_damage * (taken1 - taken0) + w_win * won
        r0 = float(np.float32(core))
        r1 = float(np.float32(-core))
        live0 = (FLAGS[I[g, 0, ST]] & FROZEN_POS) == 0  # shaping counts players in play only
        live1 = (FLAGS[I[g, 1, ST]] & FROZEN_POS) == 0
        if w_approach != 0.0:
            before = abs(prev_x0 - prev_x1)
            after = abs(F[g, 0, X] - F[g, 1, X])
            closed = before - after if (prev_live and live0 and live1) else 0.0
            a = float(np.float32(w_approach * closed))
            r0 = float(np.float32(r0 + a))
            r1 = float(np.float32(r1 + a))
        if w_offstage != 0.0:
            off0 = 1.0 if abs(F[g, 0, X]) > edge and live0 else 0.0
            off1 = 1.0 if abs(F[g, 1, X]) > edge and live1 else 0.0
            r0 = float(np.float32(r0 - float(np.float32(w_offstage * off0))))
            r1 = float(np.float32(r1 - float(np.float32(w_offstage * off1))))
        reward[g, 0] = r0
        reward[g, 1] = r1
    return ended, items


@entry
def write_frames(
    F: Array, I: Array, C: Array, BT: Array, f: Array, action: Array, stocks: Array,  # noqa: E741
    facing: Array, jumps: Array, grounded: Array, invulnerable: Array, buttons: Array,
) -> None:  # fmt: skip
    """The state as a step's output columns: ``f[17, 2, n]`` float32 (x, y, vx_air, vy_self,
    vx_knockback, vy_knockback, percent, shield, vx_ground, action_frame, hitlag, hitstun,
    main_x, main_y, c_x, c_y, shoulder; a view of a block with :data:`FRAME_PAD` more floats
    per row) and the ``[2, n]`` int and bool columns."""
    n = F.shape[0]
    for p in range(2):
        for g in range(n):
            st = I[g, p, ST]
            fl = FLAGS[st]
            ground = (fl & GROUND) != 0
            af = I[g, p, AF]
            vx = F[g, p, VX]
            f[0, p, g] = F[g, p, X]
            f[1, p, g] = F[g, p, Y]
            f[2, p, g] = 0.0 if ground else vx
            f[3, p, g] = F[g, p, VY]
            f[4, p, g] = F[g, p, KBX]
            f[5, p, g] = F[g, p, KBY]
            f[6, p, g] = F[g, p, PCT]
            f[7, p, g] = F[g, p, SHIELD]
            f[8, p, g] = vx if ground else 0.0
            # the action_frame column as replays count it: frames, or a landing's animation
            # played over its length
            if AF_FIXED[st]:
                a = -1.0
            elif st == RUN:
                a = F[g, p, RUN_ANIM]
            elif ANIM[st] > 0:
                length = af + I[g, p, TIMER] if (fl & TIMED) != 0 else DURATION[st]
                a = af * ANIM[st] / (length if length > 1 else 1)
            else:
                a = float(af + AF_SHOWN[st])
            f[9, p, g] = a
            f[10, p, g] = I[g, p, HITLAG]
            f[11, p, g] = I[g, p, TIMER] if (fl & HITSTUN) != 0 else 0
            for k in range(5):
                f[12 + k, p, g] = C[g, p, k]
            action[p, g] = ACTION[st] + I[g, p, VAR] * VARIANT[st]
            stocks[p, g] = I[g, p, STOCKS]
            facing[p, g] = I[g, p, FACING]
            jumps[p, g] = I[g, p, JUMPS]
            grounded[p, g] = ground
            invulnerable[p, g] = intangible(I, p, g)
            buttons[p, g] = BT[g, p]


@inline
def _stick(NC: Array, g: int, p: int, k: int, v: float, lo: float) -> float:
    """One axis into ``NC`` clipped to ``[lo, 1]``; returns ``v * 0.0`` (NaN unless finite)."""
    NC[g, p, k] = clip(v, lo, 1.0)
    return v * 0.0


@entry
def read_controls(
    mx0: Array, my0: Array, cx0: Array, cy0: Array, sh0: Array, b0: Array,
    mx1: Array, my1: Array, cx1: Array, cy1: Array, sh1: Array, b1: Array,
    NC: Array, NB: Array,
) -> bool:  # fmt: skip
    """Both ports' controller columns (shapes and dtypes checked; buttons 0..255) into the
    kernel's ``NC[n, 2, 5]`` float64 (sticks clipped to [-1, 1], the shoulder to [0, 1], as
    ``np.clip``) and ``NB[n, 2]``. Returns whether every value was finite (``x * 0.0`` is 0
    for a finite ``x`` and NaN for NaN or an infinity)."""
    n = NC.shape[0]
    nonfinite = 0.0
    for g in range(n):  # (each column by name: their dtypes may differ)
        bad = _stick(NC, g, 0, 0, float(mx0[g]), -1.0)
        bad += _stick(NC, g, 0, 1, float(my0[g]), -1.0)
        bad += _stick(NC, g, 0, 2, float(cx0[g]), -1.0)
        bad += _stick(NC, g, 0, 3, float(cy0[g]), -1.0)
        bad += _stick(NC, g, 0, 4, float(sh0[g]), 0.0)
        bad += _stick(NC, g, 1, 0, float(mx1[g]), -1.0)
        bad += _stick(NC, g, 1, 1, float(my1[g]), -1.0)
        bad += _stick(NC, g, 1, 2, float(cx1[g]), -1.0)
        bad += _stick(NC, g, 1, 3, float(cy1[g]), -1.0)
        bad += _stick(NC, g, 1, 4, float(sh1[g]), 0.0)
        nonfinite += bad
        NB[g, 0] = b0[g]
        NB[g, 1] = b1[g]
    return nonfinite == 0.0


@entry
def count_items(IT: Array) -> int:
    """How many items exist in all the games."""
    count = 0
    for g in range(IT.shape[0]):
        for k in range(SLOTS):
            if IT[g, IT_KIND, k] != EMPTY:
                count += 1
    return count


@entry
def write_items(
    IT: Array, ITF: Array, exists: Array, typ: Array, owner: Array, x: Array, y: Array,
    vx: Array, timer: Array,
) -> None:  # fmt: skip
    """The existing items into the ``[n, ITEM_SLOTS]`` columns as replays record them; the
    columns come zeroed (``owner`` -1), as an empty slot reads (``vy`` is always 0)."""
    for g in range(IT.shape[0]):
        for k in range(SLOTS):
            if IT[g, IT_KIND, k] != EMPTY:
                exists[g, k] = True
                typ[g, k] = IT[g, IT_TYPE, k]
                owner[g, k] = IT[g, IT_OWNER, k]
                x[g, k] = ITF[g, IT_X, k]
                y[g, k] = ITF[g, IT_Y, k]
                vx[g, k] = ITF[g, IT_VX, k]
                timer[g, k] = ITF[g, IT_TIMER, k]
