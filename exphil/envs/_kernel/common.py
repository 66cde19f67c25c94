"""How the kernel is compiled, and the small helpers every part of it uses."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from numba import njit

from .tables import *  # noqa: F403 - the rule tables and constants (module globals numba reads)

__all__ = ["entry", "inline", "clip", "friction", "shrink", "intangible", "di"]

# --- compilation --------------------------------------------------------------------------------
# Cached on disk. No reference counting (numba's private ``_nrt`` flag: the kernel allocates
# nothing, and numba's atomic refcounts on the array arguments of each call cost more than the
# rules; were the flag gone, the first compile would fail with "Unrecognized options"). Helpers
# inlined into the entry points by LLVM (a call with a dozen array arguments costs as much as a
# player's whole frame). No bounds checks (numba's default): MockEnv checks shapes and the
# indices it loads.
_OPTIONS: Final[dict[str, Any]] = {"cache": True, "_nrt": False}
_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def entry(fn: _Fn) -> _Fn:
    """A kernel entry point (called from Python)."""
    return cast(_Fn, njit(**_OPTIONS)(fn))


def inline(fn: _Fn) -> _Fn:
    """A helper, inlined where it is called."""
    return cast(_Fn, njit(forceinline=True, **_OPTIONS)(fn))


# --- small helpers ------------------------------------------------------------------------------
@inline
def clip(v: float, lo: float, hi: float) -> float:
    """``np.clip`` for one float."""
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


@inline
def friction(v: float, f: float) -> float:
    """``v`` slowed by ``f`` toward 0, stopping at +0.0 (``v - clip(v, -f, f)``)."""
    return v - (-f if v < -f else f if v > f else v)


@inline
def shrink(x: float, y: float, by: float) -> tuple[float, float]:
    """``(x, y)`` shortened by ``by`` along its direction, stopping at zero."""
    mag = math.sqrt(x * x + y * y)
    if mag > 0.0:
        m = mag - by
        scale = (m if m > 0.0 else 0.0) / mag
    else:
        scale = 0.0
    return x * scale, y * scale


@inline
def intangible(I: Array, p: int, g: int) -> bool:  # noqa: E741
    """Hitboxes pass through: an intangible state, its intangible frames, invulnerability."""
    st = I[g, p, ST]
    af = I[g, p, AF]
    return bool(
        (FLAGS[st] & INTANGIBLE) != 0
        or (INTANG_FROM[st] <= af and af < INTANG[st])
        or I[g, p, INVULN] > 0
    )


@inline
def di(F: Array, p: int, g: int, sx: float, sy: float) -> None:
    """DI: the stick (out of the dead zone) turns the launch (R.DI_MAX at most)."""
    kbx = F[g, p, KBX]
    kby = F[g, p, KBY]
    speed = math.sqrt(kbx * kbx + kby * kby)
    if speed > 0.0 and math.sqrt(sx * sx + sy * sy) >= DEADZONE:
        cross = clip((sx * kby - sy * kbx) / speed, -1.0, 1.0)
        d = -DI_MAX * cross  # R.di_turn
        d2 = d * d
        c = 1.0 - d2 / 2.0 + d2 * d2 / 24.0 - d2 * d2 * d2 / 720.0
        s = d - d * d2 / 6.0 + d * d2 * d2 / 120.0
        F[g, p, KBX] = kbx * c - kby * s
        F[g, p, KBY] = kbx * s + kby * c
