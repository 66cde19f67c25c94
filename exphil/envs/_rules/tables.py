"""The rule tables as the kernel reads them: the states' and moves' numeric rows and the
grab boxes, built once from the definitions."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from .constants import hitlag, shieldstun
from .moves import GRAB_BOXES, MOVES, NUM_MOVES, M
from .states import NUM_STATES, STATES, S

__all__ = [
    "STATE_TABLE",
    "MOVE_TABLE",
    "STATE_PHYS",
    "T_ACTION",
    "T_FLAGS",
    "T_DURATION",
    "T_NEXT",
    "T_MOVE",
    "T_LANDING",
    "T_VARIANT",
    "T_AF_SHOWN",
    "T_AF_FIXED",
    "T_INTANGIBLE",
    "T_THROW",
    "T_THROWN",
    "T_INTANGIBLE_FROM",
    "T_OFF_EDGE",
    "T_STILL",
    "T_SHOT",
    "T_LATE",
    "MV_FIRST",
    "MV_LAST",
    "MV_DX",
    "MV_DY",
    "MV_RADIUS",
    "MV_DAMAGE",
    "MV_COS",
    "MV_SIN",
    "MV_BASE",
    "MV_GROWTH",
    "MV_HITLAG",
    "MV_SHIELDSTUN",
    "MV_EVERY",
    "MV_AIR_COS",
    "MV_AIR_SIN",
    "GRAB_BOX_TABLE",
]

_VARIANT_STATES: Final = ("WALK", "DEAD")  # their action id is the base plus a variant


def _build_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ints = np.zeros((NUM_STATES, 17), dtype=np.int64)
    for i, s in enumerate(STATES):
        landing = s.landing or "LANDING"
        thrown = "THROWN_" + s.throw.removesuffix("_FALCO").removeprefix("THROW_")
        ints[i] = (
            s.action,
            s.flags,
            s.duration,
            S[s.next] if s.next else i,
            M[s.move] if s.move else -1,
            S[landing],
            int(s.name in _VARIANT_STATES),
            s.af_shown,
            int(s.af_fixed),
            s.intangible,
            M[s.throw] if s.throw else -1,
            S[thrown] if s.throw else -1,
            s.intangible_from,
            S[s.off_edge] if s.off_edge else -1,
            s.still,
            s.shot,
            M[s.late] if s.late else -1,
        )
    moves = np.zeros((NUM_MOVES, 15), dtype=np.float64)
    for i, m in enumerate(MOVES):
        rad = math.radians(m.angle)
        air = math.radians(m.air_angle) if m.air_angle >= 0 else rad
        moves[i] = (
            m.first,
            m.last,
            m.dx,
            m.dy,
            m.radius,
            m.damage,
            math.cos(rad),
            math.sin(rad),
            m.base,
            m.growth,
            hitlag(m.damage),
            shieldstun(m.damage),
            m.every,
            math.cos(air),
            math.sin(air),
        )
    phys = np.array([(s.friction, s.gravity, s.anim) for s in STATES], dtype=np.float64)
    ints.setflags(write=False)
    moves.setflags(write=False)
    phys.setflags(write=False)
    return ints, moves, phys


STATE_TABLE, MOVE_TABLE, STATE_PHYS = _build_tables()
"""``STATE_TABLE[state]`` = (action, flags, duration, next, move, landing state, has variant,
added to the frame count in the action_frame column, that column fixed at -1, the frame
its intangibility ends before, the throw's move, the state the thrown player is in, the frame
its intangibility starts on, the state it goes on in off its surface (-1: none), its still
frames (OWN_FALL), the frame a laser loop fires on (-1: none), its late hit's move (-1: none));
``STATE_PHYS[state]`` = (its own friction, 0 for the character's; its own gravity; the
animation its action_frame column plays over its length, 0: it counts frames);
``MOVE_TABLE[move]`` = (first, last, dx, dy, radius, damage, cos, sin, base, growth, hitlag,
shieldstun, every: a multi-hit move's period, 0 for one hit, cos and sin of the angle for an
airborne defender)."""

(
    T_ACTION,
    T_FLAGS,
    T_DURATION,
    T_NEXT,
    T_MOVE,
    T_LANDING,
    T_VARIANT,
    T_AF_SHOWN,
    T_AF_FIXED,
    T_INTANGIBLE,
    T_THROW,
    T_THROWN,
    T_INTANGIBLE_FROM,
    T_OFF_EDGE,
    T_STILL,
    T_SHOT,
    T_LATE,
) = range(17)
(
    MV_FIRST,
    MV_LAST,
    MV_DX,
    MV_DY,
    MV_RADIUS,
    MV_DAMAGE,
    MV_COS,
    MV_SIN,
    MV_BASE,
    MV_GROWTH,
    MV_HITLAG,
    MV_SHIELDSTUN,
    MV_EVERY,
    MV_AIR_COS,
    MV_AIR_SIN,
) = range(15)


def _grab_box_table() -> np.ndarray:
    """``GRAB_BOX_TABLE[state]`` = (first, last, dx, dy, radius); first = -1: no grab box."""
    out = np.zeros((NUM_STATES, 5), dtype=np.float64)
    out[:, 0] = -1
    for name, box in GRAB_BOXES.items():
        out[S[name]] = box
    out.setflags(write=False)
    return out


GRAB_BOX_TABLE: Final = _grab_box_table()
