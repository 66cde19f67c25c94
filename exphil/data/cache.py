"""A content-addressed cache of parsed games, shared by every command and run.

Layout under the cache root (``--cache-dir``, else ``$EXPHIL_CACHE_DIR``, else
``$XDG_CACHE_HOME/exphil`` or ``~/.cache/exphil``)::

    index.sqlite                      path, size, mtime, inode -> content hash (a speed-up only)
    games-p{PARSER}-peppi{VER}/ab/abcd….exg   one parsed 1v1 game (header + raw columns)
    meta-m{META}-p{PARSER}-peppi{VER}/ab/abcd….json
                                      a file that is not a 1v1 game: its metadata, or its
                                      (deterministic) parse error; ``META`` is
                                      :data:`META_VERSION`, raised when the scan classifies
                                      errors differently

Keys are the BLAKE2b-128 of the replay's bytes; the directory names carry the parser version
and peppi-py's version, so an upgrade never reads an older parse. The index only saves
re-hashing unchanged files: an entry whose size, mtime or inode changed is hashed again.

A ``.exg`` file is ``MAGIC``, a little-endian u64 header length, a msgpack header (info,
quality, the column table, the data length and its CRC-32), zero padding to 64 bytes, then
each column's bytes at a 64-byte-aligned offset. Loading memory-maps the file and wraps the
columns with ``np.frombuffer``: nothing is copied, and pages are read only when used.

Safety: every entry is written to a unique temporary name in its final directory, flushed
with ``fsync`` and renamed over the final name (atomic on POSIX), so concurrent writers of
the same key just race to write identical bytes, and an interrupted write leaves only a
temporary file (removed by ``prune``), never a partial entry. A damaged entry (bad magic,
undecodable header, wrong length, or with ``verify=True`` a CRC mismatch) is reported as
corrupt, deleted, and the caller parses the replay again.

An entry's modification time is its last use: reading it touches it (at most once a day), so
``exphil cache clean --older-than`` removes what no command read for that long
(:mod:`exphil.data.housekeeping`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import mmap
import os
import sqlite3
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import structlog

from exphil.data.quality import Quality, fingerprint
from exphil.game.frames import Frames, ItemFrames, PlayerFrames
from exphil.game.peppi import PARSER_VERSION, GameInfo

log = structlog.get_logger("exphil.data.cache")

__all__ = [
    "GameCache",
    "CachedGame",
    "MetaEntry",
    "CacheCorrupt",
    "default_cache_dir",
]

MAGIC = b"EXGAME01"
#: the meta entries' version: 2 since a deep scan reads the header first (a file whose header
#: peppi-py rejects is "unsupported" at both depths, no longer the panic its frames cause)
META_VERSION = 2
_ALIGN = 64
_TMP_MAX_AGE_S = 3600.0
#: a read marks an entry used (its mtime) when it was last marked longer ago than this
_TOUCH_EVERY_S = 86400.0


class CacheCorrupt(Exception):
    """A cache entry that cannot be read back (it is deleted by ``GameCache``)."""


class _Header(msgspec.Struct, frozen=True):
    parser_version: int
    key: str
    info: GameInfo
    quality: Quality
    layout: str  # _LAYOUT_ID: the column names, dtypes and shapes this file was written with
    rows: int
    offsets: list[int]  # per _LAYOUT column: its byte offset in the data, or _ZEROS
    data_bytes: int
    crc32: int
    fingerprint: str = ""


class MetaEntry(msgspec.Struct, frozen=True):
    """What the cache knows about a file that holds no 1v1 game."""

    info: GameInfo | None = None
    error_cause: str | None = None
    error_detail: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CachedGame:
    key: str
    info: GameInfo
    quality: Quality
    frames: Frames
    fingerprint: str


def _raise_fd_limit() -> None:
    """Every loaded game keeps one file descriptor (Python's ``mmap`` holds a duplicate) for
    as long as its arrays are referenced: allow as many as the hard limit permits."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(
                resource.RLIMIT_NOFILE,
                (hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20), hard),
            )
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX, or refused
        pass


def default_cache_dir() -> Path:
    env = os.environ.get("EXPHIL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "exphil"


def _touch(path: Path, mtime: float, every: float = _TOUCH_EVERY_S) -> None:
    """Mark an entry used (its mtime: ``exphil cache clean --older-than``), at most once per
    ``every`` seconds; a read-only cache stays as it is."""
    if time.time() - mtime >= every:
        with contextlib.suppress(OSError):
            os.utime(path)


def _peppi_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("peppi-py")
    except PackageNotFoundError:  # pragma: no cover - peppi-py is a dependency
        return "unknown"


def _flatten(frames: Frames) -> list[tuple[str, np.ndarray[Any, Any]]]:
    cols: list[tuple[str, np.ndarray[Any, Any]]] = [
        ("frame", frames.frame),
        ("stage", frames.stage),
    ]
    for prefix, group in (("p", frames.players), ("n", frames.nana)):
        for i, pf in enumerate(group):
            cols += [(f"{prefix}{i}.{k}", v) for k, v in pf.columns().items()]
    cols += [(f"items.{k}", v) for k, v in frames.items.columns().items()]
    return cols


def _unflatten(cols: dict[str, np.ndarray[Any, Any]]) -> Frames:
    # the column table was checked against _LAYOUT, so the per-column checks are skipped
    def player(prefix: str) -> PlayerFrames:
        return PlayerFrames._trusted({k: cols[f"{prefix}.{k}"] for k in PlayerFrames.DTYPES})

    frames = object.__new__(Frames)
    for name, value in (
        ("frame", cols["frame"]),
        ("stage", cols["stage"]),
        ("players", (player("p0"), player("p1"))),
        ("nana", (player("n0"), player("n1"))),
        ("items", ItemFrames._trusted({k: cols[f"items.{k}"] for k in ItemFrames.DTYPES})),
    ):
        object.__setattr__(frames, name, value)
    return frames


#: every column of a stored game: name -> (dtype, shape after the frame axis)
_LAYOUT: dict[str, tuple[str, tuple[int, ...]]] = {
    name: (arr.dtype.str, arr.shape[1:]) for name, arr in _flatten(Frames.zeros(1))
}
#: a column stored as "all zeros" has this offset and no bytes
_ZEROS = -1
_LAYOUT_ID = hashlib.blake2b(repr(sorted(_LAYOUT.items())).encode(), digest_size=8).hexdigest()
_DTYPES = {d: np.dtype(d) for d, _ in _LAYOUT.values()}
_EXTRA = {e: math.prod(e) for _, e in _LAYOUT.values()}


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def _atomic_write(final: Path, chunks: list[bytes | memoryview]) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _columns(
    mm: mmap.mmap, header: _Header, data_start: int, file: Path
) -> dict[str, np.ndarray[Any, Any]]:
    """The columns as read-only arrays over the mapping, after checking the layout and the
    bounds. All-zero columns of one dtype and shape share one zero buffer."""
    if header.layout != _LAYOUT_ID or len(header.offsets) != len(_LAYOUT):
        raise CacheCorrupt(f"{file}: a different column layout")
    n = header.rows
    zeros: dict[tuple[str, tuple[int, ...]], np.ndarray[Any, Any]] = {}
    cols: dict[str, np.ndarray[Any, Any]] = {}
    for (name, (dtype, extra)), offset in zip(_LAYOUT.items(), header.offsets, strict=True):
        shape = (n, *extra)
        if offset == _ZEROS:
            z = zeros.get((dtype, extra))
            if z is None:
                z = zeros[(dtype, extra)] = np.zeros(shape, dtype=dtype)
                z.flags.writeable = False
            cols[name] = z
            continue
        dt = _DTYPES[dtype]
        count = n * _EXTRA[extra]
        if offset < 0 or offset + count * dt.itemsize > header.data_bytes:
            raise CacheCorrupt(f"{file}: column {name} runs past the data")
        arr = np.frombuffer(mm, dtype=dt, count=count, offset=data_start + offset)
        cols[name] = arr.reshape(shape) if extra else arr
    return cols


class GameCache:
    """Parsed games by content hash (see the module doc). Thread-safe; many processes may
    share one root."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        tag = f"p{PARSER_VERSION}-peppi{_peppi_version()}"
        self.games_dir = self.root / f"games-{tag}"
        self.meta_dir = self.root / f"meta-m{META_VERSION}-{tag}"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, int, int, str]] = []
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        _raise_fd_limit()

    # ------------------------------------------------------------------ index (path -> key)
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open_index()
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError:
                self._reset_index()
                self._db = self._open_index()
        return self._db

    def _open_index(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.root / "index.sqlite", timeout=60.0, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER,"
                " mtime_ns INTEGER, ino INTEGER, key TEXT)"
            )
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    def _reset_index(self) -> None:
        """A damaged index is only a lost speed-up: delete it (the next use starts anew)."""
        log.warning("cache index damaged, rebuilding", path=str(self.root / "index.sqlite"))
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                (self.root / f"index.sqlite{suffix}").unlink()

    def known_key(
        self, path: str | os.PathLike[str], st: os.stat_result | None = None
    ) -> str | None:
        """The content hash recorded for ``path`` if the file is unchanged since, else None
        (also when the index is busy or damaged: the caller then hashes the file)."""
        p = os.path.abspath(path)
        st = st or os.stat(p)
        with self._lock:
            try:
                row = (
                    self._conn()
                    .execute("SELECT size, mtime_ns, ino, key FROM files WHERE path = ?", (p,))
                    .fetchone()
                )
            except sqlite3.OperationalError:  # locked past the timeout: just hash again
                return None
            except sqlite3.DatabaseError:
                self._reset_index()
                return None
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns and row[2] == st.st_ino:
            return str(row[3])
        return None

    def remember_key(self, path: str | os.PathLike[str], key: str, st: os.stat_result) -> None:
        """Record ``path``'s content hash (written in batches; ``flush`` to force)."""
        with self._lock:
            self._pending.append(
                (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino, key)
            )
            if len(self._pending) >= 256:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        for attempt in range(2):
            try:
                db = self._conn()
                with db:
                    db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", rows)
                return
            except sqlite3.OperationalError as exc:  # busy past the timeout: lose a speed-up
                log.warning("cache index busy, entries not recorded", error=str(exc))
                return
            except sqlite3.DatabaseError:
                if attempt:
                    return
                self._reset_index()

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> GameCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ entries
    def game_path(self, key: str) -> Path:
        return self.games_dir / key[:2] / f"{key}.exg"

    def meta_path(self, key: str) -> Path:
        return self.meta_dir / key[:2] / f"{key}.json"

    def store(
        self,
        key: str,
        info: GameInfo,
        quality: Quality,
        frames: Frames,
        fingerprint_: str | None = None,
    ) -> Path:
        """Write one parsed game atomically; returns its path."""
        cols = _flatten(frames)
        offsets: list[int] = []
        offset = 0
        parts: list[memoryview] = []
        crc = 0
        for _name, arr in cols:
            arr = np.ascontiguousarray(arr)
            if not arr.any():  # Nana outside Ice Climbers games, empty item slots...
                offsets.append(_ZEROS)
                continue
            offsets.append(offset)
            view = memoryview(arr.reshape(-1).view(np.uint8).data)
            crc = zlib.crc32(view, crc)
            pad = _pad(arr.nbytes)
            parts.append(view)
            if pad:
                parts.append(memoryview(bytes(pad)))
                crc = zlib.crc32(bytes(pad), crc)
            offset += arr.nbytes + pad
        header = msgspec.msgpack.encode(
            _Header(
                PARSER_VERSION,
                key,
                info,
                quality,
                _LAYOUT_ID,
                len(frames),
                offsets,
                offset,
                crc,
                fingerprint_ if fingerprint_ is not None else fingerprint(frames),
            )
        )
        lead = MAGIC + struct.pack("<Q", len(header)) + header
        lead += bytes(_pad(len(lead)))
        final = self.game_path(key)
        _atomic_write(final, [lead, *parts])
        return final

    def load(self, key: str, *, path: str | None = None, verify: bool = False) -> CachedGame | None:
        """The cached game for ``key`` (its ``info.path`` set to ``path`` when given), or None
        when absent. A damaged entry is deleted and counted in ``corrupt``; None is returned
        so the caller parses again."""
        file = self.game_path(key)
        try:
            game = self._read(file, key, verify)
        except FileNotFoundError:
            self.misses += 1
            return None
        except CacheCorrupt:
            self.corrupt += 1
            self.misses += 1
            with contextlib.suppress(OSError):
                file.unlink()
            return None
        self.hits += 1
        if path is not None and game.info.path != path:
            game = dataclasses.replace(game, info=dataclasses.replace(game.info, path=path))
        return game

    def _read(self, file: Path, key: str, verify: bool) -> CachedGame:
        with open(file, "rb") as f:
            st = os.fstat(f.fileno())
            size = st.st_size
            _touch(file, st.st_mtime)
            if size < len(MAGIC) + 8:
                raise CacheCorrupt(f"{file}: {size} bytes")
            try:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (ValueError, OSError) as exc:
                raise CacheCorrupt(f"{file}: {exc}") from exc
        if mm[: len(MAGIC)] != MAGIC:
            raise CacheCorrupt(f"{file}: bad magic")
        (hlen,) = struct.unpack_from("<Q", mm, len(MAGIC))
        start = len(MAGIC) + 8
        if start + hlen > size:
            raise CacheCorrupt(f"{file}: header runs past the end")
        try:
            header = msgspec.msgpack.decode(mm[start : start + hlen], type=_Header)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CacheCorrupt(f"{file}: header: {exc}") from exc
        data_start = start + hlen + _pad(start + hlen)
        if header.key != key or data_start + header.data_bytes != size:
            raise CacheCorrupt(f"{file}: wrong key or length")
        if verify and zlib.crc32(memoryview(mm)[data_start:]) != header.crc32:
            raise CacheCorrupt(f"{file}: checksum mismatch")
        cols = _columns(mm, header, data_start, file)
        frames = _unflatten(cols)
        return CachedGame(key, header.info, header.quality, frames, header.fingerprint)

    def load_info(
        self, key: str, *, path: str | None = None
    ) -> tuple[GameInfo, Quality, str] | None:
        """Only the metadata, quality and fingerprint of a cached game (reads the header,
        maps nothing)."""
        file = self.game_path(key)
        try:
            with open(file, "rb") as f:
                lead = f.read(len(MAGIC) + 8)
                st = os.fstat(f.fileno())
                size = st.st_size
                _touch(file, st.st_mtime)
                if len(lead) < len(MAGIC) + 8 or lead[: len(MAGIC)] != MAGIC:
                    raise CacheCorrupt(f"{file}: bad magic")
                (hlen,) = struct.unpack_from("<Q", lead, len(MAGIC))
                start = len(MAGIC) + 8
                if start + hlen > size:
                    raise CacheCorrupt(f"{file}: header runs past the end")
                header = msgspec.msgpack.decode(f.read(hlen), type=_Header)
                if (
                    header.key != key
                    or start + hlen + _pad(start + hlen) + header.data_bytes != size
                ):
                    raise CacheCorrupt(f"{file}: wrong key or length")
        except FileNotFoundError:
            self.misses += 1
            return None
        except (CacheCorrupt, msgspec.DecodeError, msgspec.ValidationError):
            self.corrupt += 1
            self.misses += 1
            with contextlib.suppress(OSError):
                file.unlink()
            return None
        self.hits += 1
        info = header.info
        if path is not None and info.path != path:
            info = dataclasses.replace(info, path=path)
        return info, header.quality, header.fingerprint

    def store_meta(self, key: str, entry: MetaEntry) -> None:
        _atomic_write(self.meta_path(key), [msgspec.json.encode(entry)])

    def load_meta(self, key: str, *, path: str | None = None) -> MetaEntry | None:
        file = self.meta_path(key)
        try:
            with open(file, "rb") as f:
                data = f.read()
                _touch(file, os.fstat(f.fileno()).st_mtime)
            entry = msgspec.json.decode(data, type=MetaEntry)
        except FileNotFoundError:
            return None
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            self.corrupt += 1
            with contextlib.suppress(OSError):
                file.unlink()
            return None
        if path is not None and entry.info is not None and entry.info.path != path:
            entry = msgspec.structs.replace(entry, info=dataclasses.replace(entry.info, path=path))
        return entry

    # ------------------------------------------------------------------ housekeeping
    def _entries(self) -> Iterator[Path]:
        for d in (self.games_dir, self.meta_dir):
            if d.is_dir():
                yield from d.rglob("*")

    def prune(self, max_tmp_age_s: float = _TMP_MAX_AGE_S) -> int:
        """Delete temporary files left by interrupted writes (older than ``max_tmp_age_s``)."""
        now = time.time()
        removed = 0
        for p in self._entries():
            if ".tmp." in p.name:
                with contextlib.suppress(OSError):
                    if now - p.stat().st_mtime >= max_tmp_age_s:
                        p.unlink()
                        removed += 1
        return removed

    def statistics(self) -> dict[str, Any]:
        games = list(self.games_dir.rglob("*.exg")) if self.games_dir.is_dir() else []
        metas = list(self.meta_dir.rglob("*.json")) if self.meta_dir.is_dir() else []
        return {
            "root": str(self.root),
            "games": len(games),
            "game_bytes": sum(p.stat().st_size for p in games),
            "meta_entries": len(metas),
            "hits": self.hits,
            "misses": self.misses,
            "corrupt": self.corrupt,
        }
