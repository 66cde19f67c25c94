"""The two players together: grabs and throws, hitboxes against hurtboxes, a hit's
knockback, blast zones."""

from __future__ import annotations

import math

from .common import clip, inline, intangible
from .tables import *  # noqa: F403 - the rule tables and constants (module globals numba reads)

__all__ = ["take_hit", "grab", "hits", "blast_zone"]


# --- the two players together ---------------------------------------------------------------
@inline
def hold(F: Array, I: Array, a: int, d: int, g: int, PH: Array) -> None:  # noqa: E741
    """``d`` is held in front of ``a``, facing it, on its surface."""
    F[g, d, X] = F[g, a, X] + I[g, a, FACING] * PH[a, P_HOLD_DX]
    F[g, d, Y] = F[g, a, Y]
    F[g, d, VX] = 0.0
    F[g, d, VY] = 0.0
    F[g, d, KBX] = 0.0
    F[g, d, KBY] = 0.0
    I[g, d, FACING] = -I[g, a, FACING]
    I[g, d, SURF] = I[g, a, SURF]


@inline
def take_hit(
    F: Array, I: Array, p: int, g: int, mv: int, att_facing: int, away: int, flags: int,  # noqa: E741
    weight: float,
) -> None:  # fmt: skip
    """``p`` (whose state had ``flags`` when the hits were resolved) is hit by move ``mv``;
    ``away`` points from the attacker to ``p``."""
    dmg = MOVES[mv, MV_DAMAGE]
    if (flags & SHIELDING) != 0:
        shield = F[g, p, SHIELD] - dmg
        if shield <= 0:  # shield break
            I[g, p, ST] = SB_FLY
            I[g, p, AF] = 0
            I[g, p, SURF] = -1
            F[g, p, VY] = SHIELD_BREAK_VY
            F[g, p, SHIELD] = SHIELD_AFTER_BREAK
        else:
            F[g, p, SHIELD] = shield
            I[g, p, ST] = SHIELD_STUN
            I[g, p, AF] = 0
            I[g, p, TIMER] = int(MOVES[mv, MV_SHIELDSTUN])
            F[g, p, VX] = away * SHIELD_PUSH * dmg
        return
    pct = F[g, p, PCT] + dmg
    F[g, p, PCT] = pct
    growth = MOVES[mv, MV_GROWTH]
    base = MOVES[mv, MV_BASE]
    kb = ((pct / 10 + pct * dmg / 20) * 200 / (weight + 100) * 1.4 + 18) * growth / 100 + base
    if (flags & CROUCH) != 0:  # crouch cancel
        kb = kb * CROUCH_CANCEL
    speed = kb * KB_SPEED
    airborne = (flags & GROUND) == 0  # (some moves launch airborne defenders their own way)
    if airborne:
        kbx = speed * MOVES[mv, MV_AIR_COS] * att_facing
        kby = speed * MOVES[mv, MV_AIR_SIN]
    else:
        kbx = speed * MOVES[mv, MV_COS] * att_facing
        kby = speed * MOVES[mv, MV_SIN]
    tumble = kb >= TUMBLE_KB
    lifted = airborne or (tumble and kby > 0)
    I[g, p, ST] = DAMAGE_FLY if tumble else DAMAGE_A if lifted else DAMAGE_G
    F[g, p, KBX] = kbx
    F[g, p, KBY] = kby if lifted else 0.0
    F[g, p, VX] = 0.0
    F[g, p, VY] = 0.0
    I[g, p, AF] = 0
    I[g, p, TIMER] = math.floor(kb * HITSTUN_PER_KB)
    I[g, p, FACING] = -away
    I[g, p, FF] = 0
    I[g, p, HITDONE] = 0
    I[g, p, REGRAB] = 0  # a hit: the next grab is intangible again
    if lifted:
        I[g, p, SURF] = -1


@inline
def grab(F: Array, I: Array, a: int, g: int, frozen: bool, PH: Array) -> None:  # noqa: E741
    """``a``'s grab of the other player (port 0's first): a released player goes free, a grab
    box catches, a holder whose player went free lets go, the pummel hits, a throw takes the
    player and releases it on its frame; the held player is placed in front."""
    d = 1 - a
    st = I[g, a, ST]
    flags = FLAGS[st]
    dflags = FLAGS[I[g, d, ST]]
    if (flags & CAPTURED) != 0:  # held by a player that no longer holds: free
        if not ((dflags & HOLDING) != 0 or THROW[I[g, d, ST]] >= 0):
            I[g, a, ST] = CAPTURE_CUT
            I[g, a, AF] = 0
        return
    if GRAB_BOX[st, 0] >= 0:
        first = GRAB_BOX[st, 0]
        last = GRAB_BOX[st, 1]
        reach = GRAB_BOX[st, 4] + HURT_RADIUS
        af = I[g, a, AF]
        if (
            not frozen
            and first <= af
            and af <= last
            and (dflags & (CAPTURED | HOLDING | LEDGE | FROZEN_POS)) == 0
            and not intangible(I, d, g)
        ):
            hx = F[g, a, X] + I[g, a, FACING] * GRAB_BOX[st, 2]
            hy = F[g, a, Y] + GRAB_BOX[st, 3]
            ddx = hx - F[g, d, X]
            dyd = F[g, d, Y]
            ddy = hy - clip(hy, dyd + HURT_LOW, dyd + HURT_HIGH)
            if ddx * ddx + ddy * ddy <= reach * reach:  # caught
                I[g, a, ST] = DASH_CATCH_PULL if st == DASH_GRAB else CATCH_PULL
                I[g, a, AF] = 0
                F[g, a, VX] = 0.0
                I[g, a, HITDONE] = 0
                I[g, d, ST] = CAPTURE_PULLED
                I[g, d, AF] = 0
                I[g, d, TIMER] = math.floor(
                    GRAB_ESCAPE_BASE + GRAB_ESCAPE_PER_PERCENT * F[g, d, PCT]
                )
                I[g, d, FF] = 0
                I[g, d, HITDONE] = 0
                hold(F, I, a, d, g, PH)
        return
    if (flags & HOLDING) != 0:
        if (dflags & CAPTURED) == 0:  # the grabbed player broke free
            I[g, a, ST] = CATCH_CUT
            I[g, a, AF] = 0
            return
        if st == CATCH_ATTACK and I[g, a, AF] == 0 and I[g, a, HITDONE] == 0 and not frozen:
            F[g, d, PCT] = F[g, d, PCT] + MOVES[PUMMEL, MV_DAMAGE]
            I[g, d, ST] = CAPTURE_DAMAGE
            I[g, d, AF] = 0
            I[g, a, HITDONE] = 1
            hl = int(MOVES[PUMMEL, MV_HITLAG])
            if hl > I[g, a, HITLAG]:
                I[g, a, HITLAG] = hl
            if hl > I[g, d, HITLAG]:
                I[g, d, HITLAG] = hl
        hold(F, I, a, d, g, PH)
        return
    mv = THROW[st]
    if mv < 0 or (dflags & CAPTURED) == 0:
        return
    if not IS_THROWN[I[g, d, ST]]:  # the throw takes the grabbed player
        I[g, d, ST] = THROWN[st]
        I[g, d, AF] = 0
    if I[g, a, AF] != MOVES[mv, MV_FIRST]:
        hold(F, I, a, d, g, PH)
        return
    # the release: placed where the throw lets go, launched (into the air, as Melee's)
    fa = I[g, a, FACING]
    mdx = MOVES[mv, MV_DX]
    F[g, d, X] = F[g, a, X] + fa * mdx
    F[g, d, Y] = F[g, a, Y]
    away = fa if mdx >= 0 else -fa
    take_hit(F, I, d, g, mv, fa, away, 0, PH[d, P_WEIGHT])


@inline
def connects(F: Array, I: Array, att: int, g: int, frozen: bool, MOVE_OF: Array) -> int:  # noqa: E741
    """The move ``att``'s hitbox hits the other player with this frame, else -1."""
    st = I[g, att, ST]
    mv = MOVE_OF[att, st]
    if mv < 0 or frozen:
        return -1
    af = I[g, att, AF]
    if af < MOVES[mv, MV_FIRST] or af > MOVES[mv, MV_LAST]:  # the late hit, on its frames
        mv = LATE[st]
        if mv < 0:
            return -1
        if af < MOVES[mv, MV_FIRST] or af > MOVES[mv, MV_LAST]:
            return -1
    every = int(MOVES[mv, MV_EVERY])
    if every:  # a multi-hit move: out every `every` frames, each time a new hit
        if (af - int(MOVES[mv, MV_FIRST])) % every:
            return -1
        I[g, att, HITDONE] = 0
    if I[g, att, HITDONE] != 0:
        return -1
    dfn = 1 - att
    hx = F[g, att, X] + I[g, att, FACING] * MOVES[mv, MV_DX]
    hy = F[g, att, Y] + MOVES[mv, MV_DY]
    ddx = hx - F[g, dfn, X]
    dy = F[g, dfn, Y]
    ddy = hy - clip(hy, dy + HURT_LOW, dy + HURT_HIGH)
    reach = MOVES[mv, MV_RADIUS] + HURT_RADIUS
    if ddx * ddx + ddy * ddy <= reach * reach and not intangible(I, dfn, g):
        return int(mv)
    return -1


@inline
def hits(
    F: Array, I: Array, g: int, frozen0: bool, frozen1: bool, PH: Array, MOVE_OF: Array,  # noqa: E741
) -> None:  # fmt: skip
    """Hitboxes against hurtboxes, both ways from the same state (trades hit both)."""
    hit0 = connects(F, I, 0, g, frozen0, MOVE_OF)  # player 0 hits player 1 with that move
    hit1 = connects(F, I, 1, g, frozen1, MOVE_OF)
    if hit0 < 0 and hit1 < 0:
        return
    facing0 = I[g, 0, FACING]
    facing1 = I[g, 1, FACING]
    flags0 = FLAGS[I[g, 0, ST]]
    flags1 = FLAGS[I[g, 1, ST]]
    if hit0 >= 0:
        I[g, 0, HITDONE] = 1
        hl = int(MOVES[hit0, MV_HITLAG])
        if hl > I[g, 0, HITLAG]:
            I[g, 0, HITLAG] = hl
    if hit1 >= 0:
        I[g, 1, HITDONE] = 1
        hl = int(MOVES[hit1, MV_HITLAG])
        if hl > I[g, 1, HITLAG]:
            I[g, 1, HITLAG] = hl
    if hit0 >= 0:
        hl = int(MOVES[hit0, MV_HITLAG])
        if hl > I[g, 1, HITLAG]:
            I[g, 1, HITLAG] = hl
    if hit1 >= 0:
        hl = int(MOVES[hit1, MV_HITLAG])
        if hl > I[g, 0, HITLAG]:
            I[g, 0, HITLAG] = hl
    away0 = 1 if F[g, 0, X] >= F[g, 1, X] else -1  # from player 1 toward player 0
    away1 = 1 if F[g, 1, X] >= F[g, 0, X] else -1
    if hit1 >= 0:
        take_hit(F, I, 0, g, hit1, facing1, away0, flags0, PH[0, P_WEIGHT])
    if hit0 >= 0:
        take_hit(F, I, 1, g, hit0, facing0, away1, flags1, PH[1, P_WEIGHT])


@inline
def blast_zone(F: Array, I: Array, p: int, g: int, geo: Array) -> None:  # noqa: E741
    if (FLAGS[I[g, p, ST]] & FROZEN_POS) != 0:
        return
    x = F[g, p, X]
    y = F[g, p, Y]
    if x < geo[G_LEFT]:
        side = DEAD_LEFT
    elif x > geo[G_RIGHT]:
        side = DEAD_RIGHT
    elif y > geo[G_TOP]:
        side = DEAD_UP
    elif y < geo[G_BOTTOM]:
        side = DEAD_DOWN
    else:
        return
    I[g, p, ST] = DEAD
    I[g, p, VAR] = side
    I[g, p, AF] = 0
    I[g, p, STOCKS] -= 1
    I[g, p, TIMER] = 0
    I[g, p, HITLAG] = 0
    I[g, p, FF] = 0
    I[g, p, INVULN] = 0
    I[g, p, SURF] = -1
    F[g, p, VX] = 0.0
    F[g, p, VY] = 0.0
    F[g, p, KBX] = 0.0
    F[g, p, KBY] = 0.0
    F[g, p, RUN_ANIM] = 0.0
