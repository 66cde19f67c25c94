"""How the kernel is compiled, and the small helpers every part of it uses."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import numba
from numba import njit

from .tables import *  # noqa: F403 - the rule tables and constants (module globals numba reads)

__all__ = [
    "entry",
    "inline",
    "clip",
    "friction",
    "shrink",
    "intangible",
    "di",
    "KERNEL_SOURCES",
    "KERNEL_CACHE_DIR",
    "sources_fingerprint",
]

# --- compilation --------------------------------------------------------------------------------
# Cached on disk. No reference counting (numba's private ``_nrt`` flag: the kernel allocates
# nothing, and numba's atomic refcounts on the array arguments of each call cost more than the
# rules; were the flag gone, the first compile would fail with "Unrecognized options"). Helpers
# inlined into the entry points by LLVM (a call with a dozen array arguments costs as much as a
# player's whole frame). No bounds checks (numba's default): MockEnv checks shapes and the
# indices it loads.
_OPTIONS: Final[dict[str, Any]] = {"cache": True, "_nrt": False}
_Fn = TypeVar("_Fn", bound=Callable[..., Any])

# Where the compiled code is cached. numba checks a cached function against its own file's
# timestamp only, and freezes the module globals it reads: a rule edited in exphil.envs._rules
# (or a helper here, inlined into player.py) would otherwise load the old machine code, and
# MockEnv would play the old rules (the plain-Python oracle the new ones). So the cache lives
# in a folder named after a hash of every source the kernel's code and frozen values come from:
# any edit compiles afresh, once (~20 s). A test checks this list against the kernel's imports.
_ENVS = Path(__file__).resolve().parents[1]
_NUMBA_CONFIG: Any = numba.config  # its settings are set from the environment at run time
KERNEL_SOURCES: Final[tuple[Path, ...]] = (
    _ENVS / "_kernel",
    _ENVS / "_rules",
    _ENVS / "_characters.py",
    _ENVS.parent / "game" / "frames.py",
)


def sources_fingerprint(paths: Iterable[Path]) -> str:
    """A hash of the files (every ``*.py`` of a folder) in ``paths``: names and contents."""
    h = hashlib.sha256()
    for path in paths:
        for f in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _cache_dir(fingerprint: str) -> str:
    """``exphil-kernel-<fingerprint>`` under numba's cache: ``$NUMBA_CACHE_DIR`` when set, else
    the kernel's ``__pycache__`` when writable, else numba's per-user cache folder."""
    name = f"exphil-kernel-{fingerprint}"
    if _NUMBA_CONFIG.CACHE_DIR:
        return os.path.join(_NUMBA_CONFIG.CACHE_DIR, name)
    in_tree = _ENVS / "_kernel" / "__pycache__"
    if os.access(in_tree if in_tree.is_dir() else in_tree.parent, os.W_OK):
        _prune(in_tree, keep=name)
        return str(in_tree / name)
    from numba.misc import appdirs

    dirs: Any = appdirs.AppDirs
    return os.path.join(dirs(appname="numba", appauthor=False).user_cache_dir, name)


def _prune(folder: Path, keep: str) -> None:
    """Remove the kernel's older compiled code from its own ``__pycache__`` (this tree's
    earlier sources: each folder is a few MB)."""
    import shutil

    for old in folder.glob("exphil-kernel-*"):
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for old in [*folder.glob("*.nbi"), *folder.glob("*.nbc")]:  # numba's own, before the hash
        old.unlink(missing_ok=True)


KERNEL_CACHE_DIR: Final = _cache_dir(sources_fingerprint(KERNEL_SOURCES))


def _jit(fn: _Fn, **options: Any) -> _Fn:
    """``njit`` with the kernel's options, cached under :data:`KERNEL_CACHE_DIR` (numba reads
    its cache folder once, when the function is decorated)."""
    saved = _NUMBA_CONFIG.CACHE_DIR
    _NUMBA_CONFIG.CACHE_DIR = KERNEL_CACHE_DIR
    try:
        return cast(_Fn, njit(**options, **_OPTIONS)(fn))
    finally:
        _NUMBA_CONFIG.CACHE_DIR = saved


def entry(fn: _Fn) -> _Fn:
    """A kernel entry point (called from Python)."""
    return _jit(fn)


def inline(fn: _Fn) -> _Fn:
    """A helper, inlined where it is called."""
    return _jit(fn, forceinline=True)


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
