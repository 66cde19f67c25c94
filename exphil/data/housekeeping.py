"""What the cache holds and removing what is not needed (``exphil cache info|clean``).

The cache root (``--cache-dir``, ``$EXPHIL_CACHE_DIR``, else ``~/.cache/exphil``) holds, by
kind:

``games``
    ``games-p{PARSER}-peppi{VER}/ab/<key>.exg``: parsed 1v1 games (``GameCache``); the
    folder of another parser or peppi-py version is never read by this one (``current``
    False).
``meta``
    ``meta-m{META}-p{PARSER}-peppi{VER}/ab/<key>.json``: metadata of files that hold no 1v1
    game, and parse errors.
``embedded``
    ``embedded/<hash>/``: train-bc's embedded stores, one per configuration
    (:mod:`exphil.data.embedded`).
``index``
    ``index.sqlite`` (and its ``-wal``/``-shm``): path -> content hash, a speed-up only.
``temporary``
    what interrupted writes left (``*.tmp.*`` entries, ``embedded/.tmp-*`` folders).

An entry's last use is its modification time: a parsed game or a meta entry is touched when
read (at most once a day), a store's manifest when opened. Only these kinds are ever
removed; anything else under the root is listed as ``other`` and left alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from exphil.data.cache import GameCache

__all__ = [
    "KINDS",
    "CacheEntry",
    "inventory",
    "clean",
    "parse_age",
    "TMP_MIN_AGE_S",
]

KINDS: Final = ("games", "meta", "embedded", "index", "temporary")
#: a temporary entry younger than this may belong to a write in progress: never removed
TMP_MIN_AGE_S: Final = 3600.0
_STORE_NAME = re.compile(r"^[0-9a-f]{32}$")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclasses.dataclass(frozen=True, slots=True)
class CacheEntry:
    """One removable thing: a file, or a store folder. ``current``: this version reads it
    (False for another parser's games, an older store layout)."""

    kind: str
    path: Path
    bytes: int
    last_used: float
    current: bool = True
    info: dict[str, Any] = dataclasses.field(default_factory=dict)


def parse_age(text: str) -> float:
    """Seconds from ``30d``, ``12h``, ``90m``, ``2w``, ``45s`` (a bare number is days).
    Raises ``ValueError`` with the accepted forms."""
    m = _AGE.match(text)
    if not m:
        raise ValueError(f"expected an age such as 30d, 12h, 90m or 2w, got {text!r}")
    return float(m.group(1)) * _UNITS[(m.group(2) or "d").lower()]


def _disk(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)
    return int(blocks) * 512 if blocks is not None else int(st.st_size)


def _files(folder: Path) -> Iterator[os.DirEntry[str]]:
    stack = [folder]
    while stack:
        d = stack.pop()
        with contextlib.suppress(OSError), os.scandir(d) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif e.is_file(follow_symlinks=False):
                    yield e


def _folder_entry(kind: str, folder: Path, current: bool) -> CacheEntry:
    size = 0
    newest = 0.0
    for e in _files(folder):
        with contextlib.suppress(OSError):
            st = e.stat(follow_symlinks=False)
            size += _disk(st)
            newest = max(newest, st.st_mtime)
    with contextlib.suppress(OSError):
        newest = newest or folder.stat().st_mtime
    return CacheEntry(kind, folder, size, newest, current)


def inventory(root: str | os.PathLike[str]) -> list[CacheEntry]:
    """Everything under ``root``, by kind (see the module docstring)."""
    from exphil.data.embedded import pool_summary

    base = Path(root)
    if not base.is_dir():
        return []
    probe = GameCache(base)
    current_dirs = {probe.games_dir.name, probe.meta_dir.name}
    out: list[CacheEntry] = []
    for top in sorted(base.iterdir()):
        name = top.name
        if top.is_dir() and (name.startswith("games-") or name.startswith("meta-")):
            kind = "games" if name.startswith("games-") else "meta"
            current = name in current_dirs
            for e in _files(top):
                with contextlib.suppress(OSError):
                    st = e.stat(follow_symlinks=False)
                    tmp = ".tmp." in e.name
                    out.append(
                        CacheEntry(
                            "temporary" if tmp else kind,
                            Path(e.path),
                            _disk(st),
                            st.st_mtime,
                            current and not tmp,
                        )
                    )
        elif top.is_dir() and name == "embedded":
            for store in sorted(top.iterdir()):
                if store.is_dir() and store.name.startswith(".tmp-"):
                    out.append(_folder_entry("temporary", store, False))
                elif store.is_dir() and _STORE_NAME.match(store.name):
                    s = pool_summary(store)
                    out.append(
                        CacheEntry(
                            "embedded",
                            store,
                            int(s["bytes"]),
                            float(s["last_used"]),
                            bool(s.get("current")),
                            {k: s.get(k) for k in ("games", "rows", "meta")},
                        )
                    )
                else:
                    out.append(_folder_entry("other", store, False))
        elif top.is_file() and name.startswith("index.sqlite"):
            st = top.stat()
            out.append(CacheEntry("index", top, _disk(st), st.st_mtime))
        elif top.is_dir():
            out.append(_folder_entry("other", top, False))
        else:
            with contextlib.suppress(OSError):
                st = top.stat()
                out.append(CacheEntry("other", top, _disk(st), st.st_mtime, False))
    return out


def clean(
    root: str | os.PathLike[str],
    *,
    older_than: float | None = None,
    kinds: Iterable[str] = KINDS,
    dry_run: bool = False,
    now: float | None = None,
) -> list[CacheEntry]:
    """Remove the entries of ``kinds`` last used more than ``older_than`` seconds ago (all
    of them when None; the index only then, its age says nothing). Temporary entries go
    once they are :data:`TMP_MIN_AGE_S` old (younger ones may be a write in progress), at
    any ``older_than``; nothing of kind ``other`` is ever removed. Returns
    what was (with ``dry_run``: would be) removed. Safe while other commands run: a
    training keeps the store it has mapped, a scan parses a removed game again."""
    wanted = set(kinds)
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(f"unknown cache kinds {sorted(unknown)}; expected some of {KINDS}")
    t = time.time() if now is None else now
    removed: list[CacheEntry] = []
    for e in inventory(root):
        if e.kind not in wanted:
            continue
        age = t - e.last_used
        if e.kind == "temporary" and age < TMP_MIN_AGE_S:
            continue
        if e.kind == "index" and older_than is not None:
            continue
        if e.kind != "temporary" and older_than is not None and age < older_than:
            continue
        if not dry_run:
            try:
                if e.path.is_dir():
                    shutil.rmtree(e.path)
                else:
                    e.path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
        removed.append(e)
    if not dry_run:
        _remove_empty_dirs(Path(root))
    return removed


def _remove_empty_dirs(root: Path) -> None:
    if not root.is_dir():
        return
    for top in root.iterdir():
        if top.is_dir() and (top.name.startswith(("games-", "meta-"))):
            for shard in list(top.iterdir()):
                with contextlib.suppress(OSError):
                    shard.rmdir()  # only when empty
            with contextlib.suppress(OSError):
                top.rmdir()
