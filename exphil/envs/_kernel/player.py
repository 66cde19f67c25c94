"""One player's frame: controller, timers, the state machine, physics, collisions, shield;
and the ledge grab that follows it."""

from __future__ import annotations

import math

from .common import clip, di, friction, inline, shrink
from .tables import *  # noqa: F403 - the rule tables and constants (module globals numba reads)

__all__ = ["advance", "ledge_grab"]


@inline
def double_jump(PH: Array, p: int, sx: float, backward: bool) -> tuple[int, float, float]:
    """A double jump's state (backward: the stick points away from the facing), vx and vy."""
    new = DJUMP_B if backward else DJUMP_F
    return new, sx * PH[p, P_DOUBLE_JUMP_H], PH[p, P_FULL_HOP] * PH[p, P_DOUBLE_JUMP_MULT]


# --- one player's frame -------------------------------------------------------------------------
@inline
def advance(
    F: Array, I: Array, C: Array, BT: Array, NC: Array, NB: Array, p: int, g: int,  # noqa: E741
    PH: Array, CST: Array, LAG: Array, LEND: Array, SURFS: Array, ORDER: Array, geo: Array,
) -> bool:  # fmt: skip
    """Everything of a frame that concerns player ``p`` of game ``g`` alone: controller,
    timers, transitions, physics, collisions, shield. Returns whether it was frozen in hitlag.
    Hitlag: a player in hitlag sits its frame out (its controller still moves on, so presses
    during hitlag are consumed) and its hitlag counts down; DI turns the launch on its last
    frame of hitlag."""
    sx = NC[g, p, 0]
    sy = NC[g, p, 1]
    cx = NC[g, p, 2]
    cy = NC[g, p, 3]
    sh = NC[g, p, 4]
    buttons = NB[g, p]
    # the controller: edges against the last step's
    psx = C[g, p, 0]
    psy = C[g, p, 1]
    pcx = C[g, p, 2]
    pcy = C[g, p, 3]
    psh = C[g, p, 4]
    pb = BT[g, p]
    C[g, p, 0] = sx
    C[g, p, 1] = sy
    C[g, p, 2] = cx
    C[g, p, 3] = cy
    C[g, p, 4] = sh
    BT[g, p] = buttons

    # hitlag: the player sits this frame out (the controller above still moved on)
    if I[g, p, HITLAG] > 0:
        I[g, p, HITLAG] -= 1
        stf = FLAGS[I[g, p, ST]]
        if I[g, p, HITLAG] == 0 and (stf & HITSTUN) != 0 and (stf & GROUND) == 0:
            di(F, p, g, sx, sy)  # its last frame of hitlag: DI turns the launch
        return True

    pressed = buttons & ~pb
    took_off = False  # the take-off frame: no gravity, no drift
    fresh = False  # a jump's first frame: no drift
    abs_sx = abs(sx)
    jump_p = (pressed & B_JUMP) != 0 or (sy >= TAP_JUMP and psy < TAP_JUMP)
    jump_h = (buttons & B_JUMP) != 0 or sy >= TAP_JUMP
    attack_p = (pressed & B_A) != 0
    special_p = (pressed & B_B) != 0
    grab_p = (pressed & B_Z) != 0
    shield_h = (buttons & B_SHIELD) != 0 or sh >= SHOULDER_THRESHOLD
    shield_was = (pb & B_SHIELD) != 0 or psh >= SHOULDER_THRESHOLD
    c_on = abs(cx) >= CSTICK_THRESHOLD or abs(cy) >= CSTICK_THRESHOLD
    c_was = abs(pcx) >= CSTICK_THRESHOLD or abs(pcy) >= CSTICK_THRESHOLD
    c_p = c_on and not c_was
    down_p = sy <= DOWN_THRESHOLD and psy > DOWN_THRESHOLD
    smash_x = abs_sx >= DASH_THRESHOLD and abs(psx) < DASH_THRESHOLD
    stick_dir = 1 if sx >= 0 else -1
    tilted = abs_sx >= DEADZONE

    # the state into locals
    x = F[g, p, X]
    y = F[g, p, Y]
    vx = F[g, p, VX]
    vy = F[g, p, VY]
    kbx = F[g, p, KBX]
    kby = F[g, p, KBY]
    st = I[g, p, ST]
    af = I[g, p, AF]
    facing = I[g, p, FACING]
    jumps = I[g, p, JUMPS]
    surf = I[g, p, SURF]
    timer = I[g, p, TIMER]
    invuln = I[g, p, INVULN]
    hitdone = I[g, p, HITDONE]
    ff = I[g, p, FF]
    tech = I[g, p, TECH]
    ledge = I[g, p, LEDGE_SIDE]
    regrab = I[g, p, REGRAB]
    drp = I[g, p, DRP]
    x0 = x
    y0 = y
    edge = geo[G_EDGE]

    # --- timers and timed ends ----------------------------------------------------------
    af += 1
    timer = timer - 1 if timer > 1 else 0
    invuln = invuln - 1 if invuln > 1 else 0
    tech = tech - 1 if tech > 1 else 0
    drp = drp - 1 if drp > 1 else 0
    if (FLAGS[st] & CAPTURED) != 0 and (pressed & B_MASH) != 0:  # mashing out of a grab
        timer = timer - GRAB_MASH if timer > GRAB_MASH else 0
    if shield_h and not shield_was:
        tech = TECH_WINDOW

    flags = FLAGS[st]
    if st == DASH and not (tilted and stick_dir == facing):
        end = af >= PH[p, P_DASH_LENGTH]  # let go: the dash plays out, then a stand
    elif (flags & TIMED) != 0:
        end = timer <= 0
    else:
        dur = DURATION[st]
        end = dur > 0 and af >= dur
        if end and (flags & HOLD_B) != 0 and (pb & B_B) != 0:  # a loop goes on while B is held
            end = False
        elif (flags & TRAVEL) != 0 and special_p:  # B cuts side-B's dash short
            end = True
        elif end and (flags & REPEAT_B) != 0 and (pb & B_B) != 0:  # a laser loop starts over
            end = False
            af = 0
    if end and not (st == DEAD and I[g, p, STOCKS] == 0):  # a last stock stays dead
        af = 0
        if st == KNEE_BEND:  # take-off: full hop while jump is held, else a short hop
            vy = PH[p, P_FULL_HOP] if jump_h else PH[p, P_SHORT_HOP]
            jhm = PH[p, P_JUMP_H_MAX]
            vx = clip(vx * PH[p, P_JUMP_GROUND_MULT] + psx * PH[p, P_JUMP_H], -jhm, jhm)
            back = abs(psx) >= DEADZONE and (1 if psx >= 0 else -1) != facing
            st = JUMP_B if back else JUMP_F
            took_off = True
            fresh = True
            jumps = 1
            surf = -1
            ff = 0
        elif st in (UPB_HOLD_G, UPB_HOLD_A):  # up-B travels where the stick points
            dy = (sy if sy > 0.0 else 0.0) if surf >= 0 else sy
            norm = math.sqrt(sx * sx + dy * dy)
            if norm >= DEADZONE:
                ux = sx / norm
                uy = dy / norm
            else:
                ux = 0.0
                uy = 1.0
            vx = ux * PH[p, P_UPB_SPEED]
            vy = uy * PH[p, P_UPB_SPEED]
            if abs(ux) > 0.1:
                facing = 1 if ux >= 0 else -1
            st = NEXT[st]
            timer = int(PH[p, P_UPB_FRAMES])
            surf = -1
            ff = 0
            hitdone = 0
        elif st == DEAD:  # respawn on the halo
            x = SPAWN_X if p else -SPAWN_X
            y = RESPAWN_HEIGHT
            vx = 0.0
            vy = 0.0
            kbx = 0.0
            kby = 0.0
            F[g, p, PCT] = 0.0
            F[g, p, SHIELD] = SHIELD_MAX
            st = HALO
            I[g, p, VAR] = 0
            timer = HALO_MAX
            facing = -1 if p else 1
            jumps = 1
            ff = 0
            hitdone = 0
            surf = -1
            regrab = 0
            drp = 0
        elif st == HALO:
            st = FALL
            invuln = RESPAWN_INVULNERABLE
        elif st == DASH and not (tilted and stick_dir == facing):
            st = STAND
        elif (flags & TRAVEL) != 0:  # side-B's dash is over: the end starts at its own speed
            if (flags & GROUND) != 0:
                vx = facing * PH[p, P_SIDEB_END_VX]
                st = SIDEB_END_G
            else:
                vx = facing * SIDEB_END_VX_AIR
                st = SIDEB_END_A
        elif IS_GETUP_DONE[st]:  # standing on the stage at the getup's end point
            x = ledge * (edge + LEND[p, st, 0])
            y = 0.0
            vx = 0.0
            vy = 0.0
            surf = 0
            jumps = 2
            st = NEXT[st]
        elif IS_LEDGE_JUMP_1[st]:  # the second part takes off toward the stage
            vx = -ledge * PH[p, P_LEDGE_JUMP_VX]
            vy = PH[p, P_LEDGE_JUMP_VY]
            took_off = True
            fresh = True
            st = NEXT[st]
        else:
            if st == CLIFF_WAIT:  # hung too long: let go
                drp = LEDGE_REGRAB_DELAY
            st = NEXT[st]
            if st == LYING:
                timer = LYING_MAX
            elif st == CLIFF_WAIT:
                timer = LEDGE_HANG_MAX

    # --- input-driven transitions --------------------------------------------------------
    flags = FLAGS[st]
    new = st
    enter = False
    if (flags & ACT_G) != 0:
        c_smash = c_p and abs(cx) >= CSTICK_THRESHOLD
        if special_p and sy >= UP_B_THRESHOLD:
            new = UPB_HOLD_G
            enter = True
        elif special_p and sy <= DOWN_B_THRESHOLD:  # shine
            new = SHINE_START_G
            enter = True
        elif special_p and abs_sx >= SIDE_B_THRESHOLD:  # side-B, toward the stick
            new = SIDEB_START_G
            facing = stick_dir
            enter = True
        elif special_p:  # neutral-B: lasers
            new = LASER_START_G
            enter = True
        elif attack_p and sy >= TAP_JUMP and psy < TAP_JUMP:  # up-smash
            new = USMASH
            enter = True
        elif grab_p or (attack_p and shield_h):  # Z, or A with the shield held
            new = DASH_GRAB if (st in (DASH, RUN)) else GRAB
            enter = True
        elif jump_p:
            new = KNEE_BEND
            timer = int(PH[p, P_JUMP_SQUAT])
            enter = True
        elif shield_h:
            new = SHIELD_START
            enter = True
        else:
            running = st in (DASH, RUN)
            if c_smash or (attack_p and smash_x):
                new = FSMASH
                facing = (1 if cx >= 0 else -1) if c_smash else stick_dir
                enter = True
            elif attack_p and down_p:
                new = DSMASH  # A with the stick just pushed down
                enter = True
            elif attack_p:
                if running:
                    new = DASH_ATTACK
                elif sy >= DEADZONE and sy > abs_sx:
                    new = UTILT
                elif sy <= -DEADZONE and -sy > abs_sx:
                    new = DTILT
                elif tilted:
                    new = FTILT
                    facing = stick_dir
                else:
                    new = JAB
                enter = True
            else:  # movement (a crouch while the stick is held down)
                down_h = sy <= DOWN_THRESHOLD and -sy > abs_sx
                if down_h:
                    if (flags & CROUCH) == 0:
                        new = SQUAT
                        enter = True
                elif (flags & CROUCH) != 0:  # let go: up from the crouch
                    new = SQUAT_RV
                    enter = True
                elif abs_sx >= DASH_THRESHOLD:
                    if not running or stick_dir != facing:
                        new = DASH
                        facing = stick_dir
                        timer = int(PH[p, P_DASH_FRAMES])
                        enter = True
                elif tilted:
                    if stick_dir != facing:
                        new = TURN
                        facing = -facing
                        enter = True
                    else:
                        if st != WALK:
                            new = WALK
                            enter = True
                        if abs_sx < 0.5:
                            I[g, p, VAR] = WALK_SLOW
                        elif abs_sx < 0.65:
                            I[g, p, VAR] = WALK_MIDDLE
                        else:
                            I[g, p, VAR] = WALK_FAST
                elif st in (WALK, RUN):  # (a dash plays out: above)
                    new = STAND
                    enter = True
                if surf > 0 and down_p:  # drop through the platform
                    new = FALL
                    surf = -1
                    jumps = 1
                    enter = True
    elif st in (SHIELD_ST, SHIELD_START):
        if jump_p:  # jump out of shield
            new = KNEE_BEND
            timer = int(PH[p, P_JUMP_SQUAT])
            enter = True
        elif grab_p or (attack_p and shield_h):  # a grab out of shield (still held)
            new = GRAB
            enter = True
        elif st == SHIELD_ST and not shield_h:
            new = SHIELD_RELEASE
            enter = True
    elif st == CATCH_WAIT:  # holding: A pummels, a direction throws (the c-stick too)
        if attack_p:
            new = CATCH_ATTACK
            enter = True
        else:
            d = cx if c_p else sx
            dy = cy if c_p else sy
            if abs(dy) >= DEADZONE and abs(dy) > abs(d):
                new = THROW_HI if dy > 0 else THROW_LW
                enter = True
            elif abs(d) >= DEADZONE:
                new = THROW_F if (1 if d >= 0 else -1) == facing else THROW_B
                enter = True
    elif (flags & ACT_A) != 0:
        if special_p and sy >= UP_B_THRESHOLD:
            new = UPB_HOLD_A
            enter = True
        elif special_p and sy <= DOWN_B_THRESHOLD:  # shine: stalls, halves vx
            new = SHINE_START_A
            vx = vx * SHINE_AIR_VX
            vy = 0.0
            ff = 0
            enter = True
        elif special_p and abs_sx >= SIDE_B_THRESHOLD:  # side-B: keeps 2/3 of vx
            new = SIDEB_START_A
            facing = stick_dir
            vx = vx * SIDEB_AIR_VX
            vy = 0.0
            ff = 0
            enter = True
        elif special_p:  # neutral-B: lasers
            new = LASER_START_A
            enter = True
        elif jump_p and jumps > 0:
            new, vx, vy = double_jump(PH, p, sx, tilted and stick_dir != facing)
            fresh = True
            jumps -= 1
            ff = 0
            enter = True
        elif attack_p or c_p:
            d = cx if c_p else sx
            dy = cy if c_p else sy
            if abs(dy) >= DEADZONE and abs(dy) > abs(d):
                new = UAIR if dy > 0 else DAIR_INPUT
            elif abs(d) < DEADZONE:
                new = NAIR
            elif (1 if d >= 0 else -1) == facing:
                new = FAIR
            else:
                new = BAIR
            enter = True
        elif shield_h and not shield_was:  # an air dodge where the stick points
            new = AIRDODGE
            mag = math.sqrt(sx * sx + sy * sy)
            if mag >= DEADZONE:
                vx = sx / mag * AIRDODGE_SPEED
                vy = sy / mag * AIRDODGE_SPEED
            else:
                vx = 0.0
                vy = 0.0
            ff = 0
            enter = True
    elif (flags & JUMP_CANCEL) != 0 and jump_p:  # the shine's loop: jump-cancelled
        if (flags & GROUND) != 0:
            new = KNEE_BEND
            timer = int(PH[p, P_JUMP_SQUAT])
            enter = True
        elif jumps > 0:
            new, vx, vy = double_jump(PH, p, sx, tilted and stick_dir != facing)
            fresh = True
            jumps -= 1
            ff = 0
            enter = True
    elif (flags & LEDGE_ACT) != 0 or (st == CLIFF_CATCH and af == CATCH_LAST):
        # on a ledge: the getup options (from the catch's last frame), letting go
        toward = -ledge
        prev_tilted = abs(psx) >= DEADZONE
        prev_dir = 1 if psx >= 0 else -1
        toward_p = tilted and stick_dir == toward and not (prev_tilted and prev_dir == toward)
        away_p = tilted and stick_dir == ledge and not (prev_tilted and prev_dir == ledge)
        c_drop = c_p and (cy <= -CSTICK_THRESHOLD or cx * ledge >= CSTICK_THRESHOLD)
        slow = 1 if F[g, p, PCT] >= LEDGE_SLOW_PERCENT else 0
        if jump_p:
            new = LEDGE_OPTIONS[OPT_JUMP, slow]
        elif attack_p or special_p:
            new = LEDGE_OPTIONS[OPT_ATTACK, slow]
        elif shield_h and not shield_was:
            new = LEDGE_OPTIONS[OPT_ROLL, slow]
        elif toward_p:
            new = LEDGE_OPTIONS[OPT_CLIMB, slow]
        elif st == CLIFF_WAIT and (down_p or away_p or c_drop):
            new = FALL
            drp = LEDGE_REGRAB_DELAY
        enter = new != st
    elif st in (LYING, HALO):
        any_input = pressed != 0 or tilted or abs(sy) >= DEADZONE
        if any_input:
            if st == LYING:
                new = GETUP
                enter = True
            elif af >= 1:
                new = FALL
                invuln = RESPAWN_INVULNERABLE
                enter = True
    if enter:  # the port's character's own moves
        new = CST[p, new]
    st = new
    if enter:
        af = 0
        hitdone = 0

    # --- physics --------------------------------------------------------------------------
    flags = FLAGS[st]
    if (flags & FF_OK) != 0 and down_p and vy < 0:
        ff = 1
    if (flags & GROUND) != 0:
        if (flags & SELF_MOVE) != 0:
            if st == WALK:
                vx = sx * PH[p, P_WALK_SPEED]
            elif st == DASH and af == 0:  # a dash starts at its initial speed
                vx = facing * PH[p, P_DASH_INITIAL]
            else:  # toward the cap (run speed x |stick x|); above it, by the traction
                speed = vx * facing
                cap = PH[p, P_RUN_SPEED] * abs_sx
                if speed < cap:
                    up = speed + (PH[p, P_DASH_ACCEL_BASE] + PH[p, P_DASH_ACCEL_STICK] * abs_sx)
                    speed = up if up < cap else cap
                else:
                    down = speed - PH[p, P_TRACTION]
                    speed = down if down > cap else cap
                vx = facing * speed
        else:  # friction: toward 0, stopping at +0.0
            f = OWN_FRICTION[st]
            if f == 0.0:
                f = PH[p, P_TRACTION]
            if (flags & DOUBLE_TRACTION) != 0:
                f = f * 2.0
            vx = friction(vx, f)
        vy = 0.0
        kby = 0.0
    elif (flags & (FROZEN_POS | LEDGE)) != 0:
        vx = 0.0
        vy = 0.0
        kbx = 0.0
        kby = 0.0
    elif (flags & GLIDE) != 0 and af < AIRDODGE_GLIDE:  # the air dodge's glide
        vx = vx * AIRDODGE_DECAY
        vy = vy * AIRDODGE_DECAY
    else:
        if (flags & DRIFT) != 0 and tilted and not fresh:
            gap = sx * PH[p, P_AIR_SPEED] - vx
            if gap * sx > 0:
                rate = PH[p, P_AIR_ACCEL_BASE] + PH[p, P_AIR_ACCEL_STICK] * abs_sx
            else:
                rate = PH[p, P_AIR_FRICTION]
            vx = vx + clip(gap, -rate, rate)
        elif (flags & HOVER) != 0:  # the up-B charge keeps most speed on its first frame
            if af == 0:
                vx = vx * UP_B_HOLD_KEEP
            vx = friction(vx, PH[p, P_AIR_FRICTION])
        elif (flags & NO_GRAVITY) != 0 or fresh:
            pass
        else:
            f = OWN_FRICTION[st]
            if f == 0.0:
                f = PH[p, P_AIR_FRICTION]
            vx = friction(vx, f)
        terminal = PH[p, P_TERMINAL]
        if (flags & HOVER) != 0:  # the up-B charge: still, then its own slow fall
            vy = 0.0 if af < UP_B_HOLD_STILL else vy - PH[p, P_UPB_HOLD_GRAVITY]
        elif (flags & NO_GRAVITY) != 0 or took_off:
            pass
        elif (flags & OWN_FALL) != 0:  # still for the state's first frames, then its gravity
            if af < STILL_FRAMES[st]:
                vy = 0.0
            else:
                vy = vy - OWN_GRAVITY[st]
                if not vy > -terminal:
                    vy = -terminal
        elif (flags & STALL) != 0:  # the air shine: still, then its own slow fall
            if (flags & STILL) != 0 or ((flags & HOLD_B) != 0 and af == 0):
                vy = 0.0
            else:
                vy = vy - SHINE_GRAVITY
                if not vy > -terminal:
                    vy = -terminal
        elif ff == 1:
            vy = -PH[p, P_FAST_FALL]
        else:
            vy = vy - PH[p, P_GRAVITY]
            if not vy > -terminal:
                vy = -terminal
    if (flags & TRAVEL) != 0:  # side-B's dash: still on its first frame, then its speed
        vx = facing * PH[p, P_SIDEB_SPEED] if af else 0.0
        vy = 0.0
    if st == UPB_TRAVEL and af >= PH[p, P_UPB_FULL]:  # up-B's travel slows after its start
        vx, vy = shrink(vx, vy, PH[p, P_UPB_DECEL])
    # a dash's first frame records its initial speed but does not move
    if st == DASH and af == 0:
        x += kbx
    else:
        x += vx + kbx
    y += vy + kby
    if (flags & LEDGE) != 0:  # hanging or getting up: the position follows the ledge
        hd = PH[p, P_HANG_DX]
        hy = PH[p, P_HANG_Y]
        end_d = LEND[p, st, 0]
        end_y = LEND[p, st, 1]
        dur = DURATION[st]
        frac = (af + 1) / (dur if dur > 1 else 1)
        d = hd + (end_d - hd) * frac
        x = ledge * (edge + d)
        y = hy + (end_y - hy) * frac
    if kbx != 0.0 or kby != 0.0:  # knockback decays by KB_DECAY per frame along it
        kbx, kby = shrink(kbx, kby, KB_DECAY)

    # --- collisions -----------------------------------------------------------------------
    if (flags & (GROUND | FROZEN_POS | LEDGE)) == 0:
        if vy + kby < 0:  # landing: the highest surface crossed this frame
            for j in range(ORDER.shape[0]):
                k = ORDER[j]
                h = SURFS[SF_H, k]
                if (
                    y0 >= h
                    and y <= h
                    and x >= SURFS[SF_L, k]
                    and x <= SURFS[SF_R, k]
                    and (SURFS[SF_THROUGH, k] == 0.0 or sy > DOWN_THRESHOLD)
                ):
                    y = h
                    surf = k
                    if (flags & TECHABLE) != 0:
                        st = TECH_ST if tech > 0 else TECH_MISS
                    else:
                        st = LANDING[st]
                    if (flags & LAND_KEEP) == 0:  # the air shine lands at the same frame
                        af = 0
                    vy = 0.0
                    kby = 0.0
                    ff = 0
                    jumps = 2
                    # a timed landing lasts the character's lag; an L-cancel divides an
                    # aerial's
                    timer = LAG[p, st]
                    if (FLAGS[st] & LCANCEL) != 0 and tech > TECH_WINDOW - LCANCEL_WINDOW:
                        timer //= int(PH[p, P_LCANCEL_DIVISOR])
                    hitdone = 0
                    break
    elif (flags & GROUND) != 0 and surf >= 0:  # walking off the surface one stands on
        lft = SURFS[SF_L, surf]
        rgt = SURFS[SF_R, surf]
        if x < lft or x > rgt:
            if (flags & ACT_G) != 0:
                st = FALL
                af = 0
                jumps = 1
                surf = -1
            elif OFF_EDGE[st] >= 0:  # side-B goes on in the air, at the same frame
                st = OFF_EDGE[st]
                jumps = 1
                surf = -1
            else:  # busy players stop at the edge
                x = clip(x, lft, rgt)
                vx = 0.0
                kbx = 0.0
    ground_now = (FLAGS[st] & GROUND) != 0
    if (
        not ground_now
        and (FLAGS[st] & LEDGE) == 0
        and abs(x) < edge
        and y < 0
        and y > -geo[G_DEPTH]
    ):
        # the main stage is a solid block: pushed out to the side it came from, or below
        if abs(x0) >= edge:
            x = (1.0 if x > 0 else -1.0 if x < 0 else 0.0) * edge
            vx = 0.0
            kbx = 0.0
        else:
            y = -geo[G_DEPTH]
            vy = 0.0
            kby = 0.0
    if not ground_now:
        surf = -1
    else:
        regrab = 0  # the ground: the next grab is intangible again

    # --- shield health --------------------------------------------------------------------
    if st in (SHIELD_ST, SHIELD_START):
        shield = F[g, p, SHIELD] - SHIELD_DECAY
        if shield <= 0:  # shield break
            st = SB_FLY
            af = 0
            surf = -1
            vy = SHIELD_BREAK_VY
            shield = SHIELD_AFTER_BREAK
        F[g, p, SHIELD] = shield
    else:
        shield = F[g, p, SHIELD] + SHIELD_REGEN
        F[g, p, SHIELD] = shield if shield < SHIELD_MAX else SHIELD_MAX

    # a run's animation: 0, 1, then by the ground speed the frame began with (looping)
    if st == RUN:
        if af <= 1:
            F[g, p, RUN_ANIM] = float(af)
        else:
            anim = F[g, p, RUN_ANIM] + abs(F[g, p, VX]) / RUN_ANIM_RATE
            F[g, p, RUN_ANIM] = anim - RUN_ANIM_LOOP if anim >= RUN_ANIM_LOOP else anim
    else:
        F[g, p, RUN_ANIM] = 0.0
    F[g, p, X] = x
    F[g, p, Y] = y
    F[g, p, VX] = vx
    F[g, p, VY] = vy
    F[g, p, KBX] = kbx
    F[g, p, KBY] = kby
    I[g, p, ST] = st
    I[g, p, AF] = af
    I[g, p, FACING] = facing
    I[g, p, JUMPS] = jumps
    I[g, p, SURF] = surf
    I[g, p, TIMER] = timer
    I[g, p, INVULN] = invuln
    I[g, p, HITDONE] = hitdone
    I[g, p, FF] = ff
    I[g, p, TECH] = tech
    I[g, p, LEDGE_SIDE] = ledge
    I[g, p, REGRAB] = regrab
    I[g, p, DRP] = drp
    return False


@inline
def ledge_grab(
    F: Array, I: Array, C: Array, p: int, g: int, frozen: bool, x0: float, y0: float,  # noqa: E741
    PH: Array, edge: float,
) -> None:  # fmt: skip
    """``p`` catches a ledge (CLIFF_CATCH) if falling, its frame began in the grab box, it
    faces the ledge, does not hold down and the other player does not hold that ledge (port 0
    is checked first); a first grab since the ground (or a hit) is intangible."""
    st = I[g, p, ST]
    if frozen or (FLAGS[st] & LEDGE_OK) == 0:
        return
    if not (F[g, p, VY] + F[g, p, KBY] < 0 or st == UPB_TRAVEL):
        return
    if C[g, p, 1] <= DOWN_THRESHOLD or I[g, p, DRP] != 0:
        return
    side = 1 if x0 > 0 else -1
    d = side * x0 - edge
    if I[g, p, FACING] != -side or not (d >= 0.0 and d <= LEDGE_BOX_OUT):
        return
    if not (y0 >= LEDGE_BOX_BOTTOM and y0 <= LEDGE_BOX_TOP):
        return
    o = 1 - p
    if IS_HOLD[I[g, o, ST]] and I[g, o, LEDGE_SIDE] == side:
        return  # ledge-hog: the ledge is taken
    I[g, p, ST] = CLIFF_CATCH
    I[g, p, AF] = 0
    I[g, p, FF] = 0
    I[g, p, HITDONE] = 0
    I[g, p, SURF] = -1
    I[g, p, JUMPS] = 1
    I[g, p, LEDGE_SIDE] = side
    if I[g, p, REGRAB] == 0 and not I[g, p, INVULN] > LEDGE_INTANGIBLE:
        I[g, p, INVULN] = LEDGE_INTANGIBLE
    I[g, p, REGRAB] = 1
    F[g, p, VX] = 0.0
    F[g, p, VY] = 0.0
    F[g, p, KBX] = 0.0
    F[g, p, KBY] = 0.0
    F[g, p, X] = side * (edge + PH[p, P_HANG_DX])
    F[g, p, Y] = PH[p, P_HANG_Y]
