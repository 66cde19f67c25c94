"""The items' frame: lasers fly, run out, meet players (a shine reflects them); blasters
follow their owners; shots are fired."""

from __future__ import annotations

from .common import clip, inline, intangible
from .pair import take_hit
from .tables import *  # noqa: F403 - the rule tables and constants (module globals numba reads)

__all__ = ["items_frame"]


# --- items (lasers, blasters) -------------------------------------------------------------------
@inline
def spawn(
    IT: Array, ITF: Array, g: int, p: int, kind: int, x: float, y: float, vx: float,
    timer: float, PH: Array, LMOVE: Array,
) -> None:  # fmt: skip
    """An item of ``kind`` owned by ``p`` in the lowest free slot (none free: none)."""
    for k in range(SLOTS):
        if IT[g, IT_KIND, k] == EMPTY:
            IT[g, IT_KIND, k] = kind
            if kind == LASER_ITEM:
                IT[g, IT_TYPE, k] = int(PH[p, P_LASER_ITEM])
                IT[g, IT_MOVE, k] = LMOVE[p]
            else:
                IT[g, IT_TYPE, k] = int(PH[p, P_GUN_ITEM])
                IT[g, IT_MOVE, k] = 0
            IT[g, IT_OWNER, k] = p
            ITF[g, IT_X, k] = x
            ITF[g, IT_Y, k] = y
            ITF[g, IT_VX, k] = vx
            ITF[g, IT_TIMER, k] = timer
            return


@inline
def clear(IT: Array, ITF: Array, k: int, g: int) -> None:
    for j in range(4):
        IT[g, j, k] = 0
        ITF[g, j, k] = 0.0


@inline
def items_frame(
    F: Array, I: Array, IT: Array, ITF: Array, g: int, frozen0: bool, frozen1: bool,  # noqa: E741
    PH: Array, LMOVE: Array, geo: Array,
) -> None:  # fmt: skip
    """The items' frame (exphil.envs._items's order): lasers fly and run out, meet players
    (a shine reflects them all, else the lowest slot's hits), blasters follow their owners,
    shots are fired."""
    gun0 = (FLAGS[I[g, 0, ST]] & GUN) != 0
    gun1 = (FLAGS[I[g, 1, ST]] & GUN) != 0
    any_item = False
    for k in range(SLOTS):
        if IT[g, IT_KIND, k] != EMPTY:
            any_item = True
            break
    if not (gun0 or gun1 or any_item):
        return
    left = geo[G_LEFT]
    right = geo[G_RIGHT]
    for k in range(SLOTS):  # lasers fly, run out, leave
        if IT[g, IT_KIND, k] == LASER_ITEM:
            ITF[g, IT_X, k] = ITF[g, IT_X, k] + ITF[g, IT_VX, k]
            ITF[g, IT_TIMER, k] = ITF[g, IT_TIMER, k] - 1.0
            xk = ITF[g, IT_X, k]
            if ITF[g, IT_TIMER, k] <= 0 or xk < left or xk > right:
                clear(IT, ITF, k, g)
    for q in range(2):  # a shine reflects them all; else the lowest slot's laser hits
        vst = I[g, q, ST]
        reflects = (FLAGS[vst] & REFLECT) != 0
        hittable = not (intangible(I, q, g) or (FLAGS[vst] & CAPTURED) != 0)
        vxp = F[g, q, X]
        vyp = F[g, q, Y]
        for k in range(SLOTS):
            if IT[g, IT_KIND, k] != LASER_ITEM or IT[g, IT_OWNER, k] == q:
                continue
            iy = ITF[g, IT_Y, k]
            ddx = ITF[g, IT_X, k] - vxp
            ddy = iy - clip(iy, vyp + HURT_LOW, vyp + HURT_HIGH)
            if ddx * ddx + ddy * ddy > LASER_REACH2:
                continue
            if reflects:  # turned back, the reflector's now
                IT[g, IT_OWNER, k] = q
                ITF[g, IT_VX, k] = -ITF[g, IT_VX, k]
            elif hittable:
                mv = IT[g, IT_MOVE, k]
                direction = 1 if ITF[g, IT_VX, k] >= 0 else -1
                clear(IT, ITF, k, g)
                lasered(F, I, q, g, mv, direction, PH)
                break
    for k in range(SLOTS):  # a blaster follows its owner while it shoots
        if IT[g, IT_KIND, k] == GUN_ITEM:
            owner = IT[g, IT_OWNER, k]
            if (FLAGS[I[g, owner, ST]] & GUN) != 0:
                ITF[g, IT_X, k] = F[g, owner, X]
                ITF[g, IT_Y, k] = F[g, owner, Y]
            else:
                clear(IT, ITF, k, g)
    for p in range(2):
        if (FLAGS[I[g, p, ST]] & GUN) != 0:
            has = False
            for k in range(SLOTS):
                if IT[g, IT_KIND, k] == GUN_ITEM and IT[g, IT_OWNER, k] == p:
                    has = True
            if not has:
                spawn(IT, ITF, g, p, GUN_ITEM, F[g, p, X], F[g, p, Y], 0.0, GUN_TIMER, PH, LMOVE)
    for p in range(2):
        frozen = frozen0 if p == 0 else frozen1
        st = I[g, p, ST]
        if SHOT[st] == I[g, p, AF] and not frozen:
            if (FLAGS[st] & GROUND) != 0:
                dx = PH[p, P_LASER_DX_GROUND]
                dy = PH[p, P_LASER_DY_GROUND]
            else:
                dx = PH[p, P_LASER_DX_AIR]
                dy = PH[p, P_LASER_DY_AIR]
            fa = I[g, p, FACING]
            spawn(
                IT, ITF, g, p, LASER_ITEM, F[g, p, X] + fa * dx, F[g, p, Y] + dy,
                fa * PH[p, P_LASER_SPEED], float(int(PH[p, P_LASER_LIFE])), PH, LMOVE,
            )  # fmt: skip


@inline
def lasered(F: Array, I: Array, p: int, g: int, mv: int, direction: int, PH: Array) -> None:  # noqa: E741
    """``p`` is hit by a laser (``mv``) flying in ``direction``: a move with no knockback
    (Fox's) only deals its damage, unless it meets a shield."""
    flags = FLAGS[I[g, p, ST]]
    if MOVES[mv, MV_BASE] == 0 and MOVES[mv, MV_GROWTH] == 0 and (flags & SHIELDING) == 0:
        F[g, p, PCT] = F[g, p, PCT] + MOVES[mv, MV_DAMAGE]
        return
    hl = int(MOVES[mv, MV_HITLAG])
    if hl > I[g, p, HITLAG]:
        I[g, p, HITLAG] = hl
    take_hit(F, I, p, g, mv, direction, direction, flags, PH[p, P_WEIGHT])
