"""Embedded stores: one growing, memory-mapped table of rows per configuration, shared by every
selection of games.

A training run asks for some games (a seed's random subset, a character, the whole corpus);
each game becomes rows (one segment per perspective). The store of a configuration holds the
rows of every game ever embedded with it, so a later run over other games of the same corpus
embeds only the games the store does not have yet, and disk use grows with the games, never
with the number of runs or subsets. Layout of ``<cache>/embedded/<hash>/`` (``hash`` covers
what a row holds: the caller's configs and formats, never the games)::

    <name>.npy     [rows, width] per array: a valid .npy with a fixed 128-byte header,
                   rewritten as the store grows (rows past the manifest's count are ignored)
    segments.npy   the caller's structured segment table (offset, length, key, ...); its
                   first ``manifest.segments`` rows are the store's
    manifest.json  written last, atomically: rows, segments, arrays, the caller's metadata,
                   the games that failed (key, path, cause, detail), created/updated times

Growing is append-only under an exclusive lock (``flock`` on the first array's file): a
writer cuts any tail a crashed writer left, appends each game's rows, rewrites the headers,
then replaces ``segments.npy`` and the manifest (in that order) by atomic renames. Rows
below the manifest's count never change, so readers need no lock: a store opened before a
growth keeps its arrays, and a table read during one is cut to the manifest's count. A
store that disagrees with its manifest (under the lock, so never a growth in progress) is
deleted and built again. The manifest's modification time is the store's last use
(``exphil cache``).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import shutil
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import structlog

log = structlog.get_logger("exphil.data.embedded")

__all__ = [
    "POOL_FORMAT",
    "ArraySpec",
    "ItemFailed",
    "Pool",
    "PoolManifest",
    "open_pool",
    "grow_pool",
    "pool_summary",
]

#: bump when this layout changes (the caller's own format goes into the hash)
POOL_FORMAT: Final = 1
_HEADER_BYTES: Final = 128
_NPY_MAGIC: Final = b"\x93NUMPY\x01\x00"
_TMP_MAX_AGE_S: Final = 3600.0
_LOCK_TRIES: Final = 3

Array = np.ndarray[Any, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class ArraySpec:
    """One array of the store: ``[rows, width]`` of ``dtype``."""

    name: str
    dtype: np.dtype[Any]
    width: int

    @property
    def row_bytes(self) -> int:
        return int(self.dtype.itemsize) * self.width


class PoolManifest(msgspec.Struct, frozen=True):
    format: int
    hash: str
    rows: int
    segments: int
    arrays: dict[str, tuple[str, list[int]]]  # name -> (dtype str, [rows, width])
    meta: dict[str, Any]
    failed: list[dict[str, str]]  # games that could not be embedded: key, path, cause, detail
    created: float
    updated: float
    games: int = 0


class ItemFailed(Exception):
    """Raised by a producer: this game is left out, the others go on. A ``permanent``
    failure (the game itself) is recorded in the store, so the game is not tried again;
    another (a file that could not be read this time) is tried again by the next build."""

    def __init__(self, cause: str, detail: str, *, permanent: bool = True) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail
        self.permanent = permanent


#: a game -> its segments: (the segment's own fields, its arrays by name, [n, width] each)
Produce = Callable[[Any], list[tuple[dict[str, Any], dict[str, Array]]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Pool:
    """An opened store: its arrays (read-only memory maps over the committed rows), its
    segment table, its manifest."""

    folder: Path
    manifest: PoolManifest
    arrays: dict[str, Array]
    table: Array

    @property
    def covered(self) -> frozenset[str]:
        """Games the store answers for: embedded, or recorded as failed."""
        keys = {str(k) for k in self.table["key"]}
        return frozenset(keys | {f["key"] for f in self.manifest.failed})

    def segments_of(self, keys: set[str] | frozenset[str]) -> Array:
        """The segment rows of these games, in store order."""
        if not len(self.table):
            return self.table
        mask = np.isin(self.table["key"], np.asarray(sorted(keys), dtype=self.table["key"].dtype))
        out: Array = self.table[mask]
        return out

    def failed_of(self, keys: set[str] | frozenset[str]) -> list[dict[str, str]]:
        return [f for f in self.manifest.failed if f["key"] in keys]


# --- the .npy files ----------------------------------------------------------------------
def _npy_header(dtype: np.dtype[Any], rows: int, width: int) -> bytes:
    text = f"{{'descr': {dtype.str!r}, 'fortran_order': False, 'shape': ({rows}, {width}), }}"
    room = _HEADER_BYTES - len(_NPY_MAGIC) - 2 - 1
    if len(text) > room:
        raise ValueError(f"an .npy header of {len(text)} bytes does not fit in {room}")
    body = text.ljust(room) + "\n"
    return _NPY_MAGIC + struct.pack("<H", len(body)) + body.encode("latin1")


def _check_header(head: bytes, spec: ArraySpec) -> None:
    if len(head) < _HEADER_BYTES or head[: len(_NPY_MAGIC)] != _NPY_MAGIC:
        raise ValueError(f"{spec.name}.npy: not an .npy file of this store")
    (n,) = struct.unpack_from("<H", head, len(_NPY_MAGIC))
    if len(_NPY_MAGIC) + 2 + n != _HEADER_BYTES:
        raise ValueError(f"{spec.name}.npy: a header of another size")
    meta = ast.literal_eval(head[len(_NPY_MAGIC) + 2 : _HEADER_BYTES].decode("latin1").strip())
    shape = meta.get("shape", ())
    if np.dtype(meta.get("descr")) != spec.dtype or len(shape) != 2 or shape[1] != spec.width:
        raise ValueError(f"{spec.name}.npy holds {meta}, expected {spec.dtype} x {spec.width}")


def _map(path: Path, spec: ArraySpec, rows: int) -> Array:
    size = path.stat().st_size
    need = _HEADER_BYTES + rows * spec.row_bytes
    with open(path, "rb") as f:
        _check_header(f.read(_HEADER_BYTES), spec)
    if size < need:
        raise ValueError(f"{path.name}: {size} bytes, the manifest needs {need}")
    if rows == 0:
        empty = np.zeros((0, spec.width), dtype=spec.dtype)
        empty.flags.writeable = False
        return empty
    mm = np.memmap(path, dtype=spec.dtype, mode="r", offset=_HEADER_BYTES, shape=(rows, spec.width))
    return mm.view(np.ndarray)


def _write_json(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _save_table(path: Path, table: Array) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            np.save(f, table)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- opening ------------------------------------------------------------------------------
def _read(
    folder: Path, digest: str, specs: Sequence[ArraySpec], segment_dtype: np.dtype[Any]
) -> Pool:
    manifest = msgspec.json.decode((folder / "manifest.json").read_bytes(), type=PoolManifest)
    if manifest.format != POOL_FORMAT or manifest.hash != digest:
        raise ValueError("a different format or key")
    want = {s.name: (s.dtype.str, s.width) for s in specs}
    have = {k: (v[0], v[1][1]) for k, v in manifest.arrays.items()}
    if want != have:
        raise ValueError(f"arrays {have}, expected {want}")
    arrays = {s.name: _map(folder / f"{s.name}.npy", s, manifest.rows) for s in specs}
    table = np.load(folder / "segments.npy")
    if table.dtype != segment_dtype:
        raise ValueError("segments.npy has another layout")
    if len(table) < manifest.segments:
        raise ValueError(f"segments.npy has {len(table)} rows, the manifest {manifest.segments}")
    table = table[: manifest.segments]  # rows past the count: a growth not committed yet
    if len(table):
        ends = table["offset"] + table["length"]
        if int(ends.max()) > manifest.rows or int(table["offset"].min()) < 0:
            raise ValueError("segments.npy points past the arrays")
    return Pool(folder, manifest, arrays, table)


_DAMAGE = (OSError, EOFError, ValueError, KeyError, SyntaxError, msgspec.DecodeError)


def open_pool(
    folder: Path, digest: str, specs: Sequence[ArraySpec], segment_dtype: np.dtype[Any]
) -> Pool | None:
    """The store in ``folder``, or None when there is none. A store that disagrees with its
    manifest (checked again under the lock, so never one being grown) is deleted (a warning
    is logged) and None returned. Opening marks the store used (the manifest's mtime)."""
    if not (folder / "manifest.json").is_file():
        return None
    try:
        pool = _read(folder, digest, specs, segment_dtype)
    except (*_DAMAGE, msgspec.ValidationError):
        try:
            with _locked(folder, specs):
                pool = _read(folder, digest, specs, segment_dtype)
        except (*_DAMAGE, msgspec.ValidationError) as exc:
            log.warning("embedded store damaged, rebuilding", store=str(folder), error=str(exc))
            shutil.rmtree(folder, ignore_errors=True)
            return None
    with contextlib.suppress(OSError):
        os.utime(folder / "manifest.json")
    return pool


@contextlib.contextmanager
def _locked(folder: Path, specs: Sequence[ArraySpec]) -> Iterator[None]:
    """An exclusive lock on the store (``flock`` on its first array's file, which is never
    replaced). Raises FileNotFoundError when the store is gone."""
    fd = os.open(folder / f"{specs[0].name}.npy", os.O_RDWR)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: one writer at a time is assumed
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --- creating and growing ------------------------------------------------------------------
def _prune_tmp(parent: Path) -> None:
    if not parent.is_dir():
        return
    now = time.time()
    for p in parent.iterdir():
        if p.name.startswith(".tmp-"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime >= _TMP_MAX_AGE_S:
                    shutil.rmtree(p, ignore_errors=True)


def _create(
    folder: Path,
    digest: str,
    specs: Sequence[ArraySpec],
    segment_dtype: np.dtype[Any],
    meta: dict[str, Any],
) -> None:
    """An empty store, made under a temporary name and renamed into place (a concurrent
    creator's store, if it got there first, is kept)."""
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    _prune_tmp(parent)
    tmp = parent / f".tmp-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for s in specs:
            with open(tmp / f"{s.name}.npy", "wb") as f:
                f.write(_npy_header(s.dtype, 0, s.width))
                os.fsync(f.fileno())
        _save_table(tmp / "segments.npy", np.zeros(0, dtype=segment_dtype))
        now = time.time()
        manifest = PoolManifest(
            format=POOL_FORMAT,
            hash=digest,
            rows=0,
            segments=0,
            arrays={s.name: (s.dtype.str, [0, s.width]) for s in specs},
            meta=meta,
            failed=[],
            created=now,
            updated=now,
        )
        _write_json(tmp / "manifest.json", msgspec.json.format(msgspec.json.encode(manifest)))
        _fsync_dir(tmp)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "manifest.json").is_file():
                raise
        _fsync_dir(parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def grow_pool(
    folder: Path,
    digest: str,
    specs: Sequence[ArraySpec],
    segment_dtype: np.dtype[Any],
    items: Sequence[Any],
    produce: Produce,
    meta: dict[str, Any],
) -> tuple[Pool, int]:
    """The store in ``folder`` holding every game of ``items`` (each with a ``key``, the
    game's content hash, and a ``path``; created when absent):
    ``produce(item)`` is called for each game the store does not cover yet (it may raise
    :class:`ItemFailed`: the game is recorded as failed and left out). Returns the opened
    store and the number of games embedded now (0: all were there)."""
    for _ in range(_LOCK_TRIES):
        pool = open_pool(folder, digest, specs, segment_dtype)
        if pool is not None and not [i for i in items if i.key not in pool.covered]:
            return pool, 0
        if pool is None:
            _create(folder, digest, specs, segment_dtype, meta)
        try:
            with _locked(folder, specs):
                try:  # under the lock: no growth in progress, so a mismatch is damage
                    pool = _read(folder, digest, specs, segment_dtype)
                except (*_DAMAGE, msgspec.ValidationError) as exc:
                    log.warning(
                        "embedded store damaged, rebuilding", store=str(folder), error=str(exc)
                    )
                    shutil.rmtree(folder, ignore_errors=True)
                    continue
                added = _append(folder, pool, specs, segment_dtype, items, produce)
        except FileNotFoundError:  # deleted meanwhile (damaged, or exphil cache clean)
            continue
        pool = open_pool(folder, digest, specs, segment_dtype)
        if pool is not None:
            return pool, added
    raise RuntimeError(f"the embedded store {folder} kept disappearing while it was built")


def _append(
    folder: Path,
    pool: Pool,
    specs: Sequence[ArraySpec],
    segment_dtype: np.dtype[Any],
    items: Sequence[Any],
    produce: Produce,
) -> int:
    """Embed the games of ``items`` that ``pool`` (read under the lock) does not cover."""
    covered = pool.covered
    todo = [i for i in items if i.key not in covered]
    if not todo:
        return 0
    m = pool.manifest
    start = m.rows
    files = {s.name: open(folder / f"{s.name}.npy", "r+b") for s in specs}  # noqa: SIM115
    rows: list[tuple[Any, ...]] = []
    failed = list(m.failed)
    added = 0
    offset = start
    try:
        for s in specs:  # a crashed writer's tail goes
            files[s.name].truncate(_HEADER_BYTES + start * s.row_bytes)
            files[s.name].seek(0, os.SEEK_END)
        for item in todo:
            try:
                segments = produce(item)
            except ItemFailed as exc:
                if exc.permanent:
                    entry = {"key": item.key, "path": item.path, "cause": exc.cause}
                    failed.append({**entry, "detail": exc.detail})
                continue
            for fields, arrays in segments:
                n = _check_block(arrays, specs)
                for s in specs:
                    block = np.ascontiguousarray(arrays[s.name], dtype=s.dtype)
                    files[s.name].write(block.reshape(-1).view(np.uint8).data)
                rows.append(_row(segment_dtype, fields, offset, n, item.key))
                offset += n
            added += 1
        for s in specs:
            f = files[s.name]
            f.flush()
            f.seek(0)
            f.write(_npy_header(s.dtype, offset, s.width))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        for s in specs:  # leave the committed rows only (the next writer would cut it too)
            with contextlib.suppress(OSError, ValueError):
                files[s.name].truncate(_HEADER_BYTES + start * s.row_bytes)
        raise
    finally:
        for f in files.values():
            f.close()
    table = np.concatenate([pool.table, np.asarray(rows, dtype=segment_dtype)])
    _save_table(folder / "segments.npy", table)
    manifest = msgspec.structs.replace(
        m,
        rows=offset,
        segments=len(table),
        arrays={s.name: (s.dtype.str, [offset, s.width]) for s in specs},
        failed=failed,
        updated=time.time(),
        games=len({str(k) for k in table["key"]}),
    )
    _write_json(folder / "manifest.json", msgspec.json.format(msgspec.json.encode(manifest)))
    _fsync_dir(folder)
    return added


def _check_block(arrays: dict[str, Array], specs: Sequence[ArraySpec]) -> int:
    lengths = {len(arrays[s.name]) for s in specs}
    if len(lengths) != 1:
        raise RuntimeError(f"a segment's arrays have different lengths: {sorted(lengths)}")
    for s in specs:
        a = arrays[s.name]
        if a.ndim != 2 or a.shape[1] != s.width:
            raise RuntimeError(f"{s.name}: shape {a.shape}, expected [n, {s.width}]")
    return lengths.pop()


def _row(
    segment_dtype: np.dtype[Any], fields: dict[str, Any], offset: int, n: int, key: str
) -> tuple[Any, ...]:
    values = {**fields, "offset": offset, "length": n, "key": key}
    names = segment_dtype.names or ()
    return tuple(values[name] for name in names)


# --- describing (exphil cache) ------------------------------------------------------------
def pool_summary(folder: Path) -> dict[str, Any]:
    """What ``exphil cache info`` shows of one store folder, without opening its arrays:
    ``games``, ``rows``, ``bytes`` (on disk), ``last_used`` (the manifest's mtime),
    ``current`` (this layout), ``meta``; a folder without a readable manifest has
    ``games`` None (an interrupted build or another version's store)."""
    size = sum(_disk_bytes(p) for p in folder.rglob("*") if p.is_file())
    out: dict[str, Any] = {"folder": str(folder), "bytes": size}
    try:
        st = (folder / "manifest.json").stat()
        m = msgspec.json.decode((folder / "manifest.json").read_bytes())
    except (OSError, msgspec.DecodeError):
        return {**out, "games": None, "rows": None, "last_used": folder.stat().st_mtime}
    current = isinstance(m, dict) and m.get("format") == POOL_FORMAT and "segments" in m
    return {
        **out,
        "games": m.get("games") if isinstance(m, dict) else None,
        "rows": m.get("rows") if isinstance(m, dict) else None,
        "last_used": st.st_mtime,
        "current": current,
        "meta": m.get("meta", {}) if isinstance(m, dict) else {},
    }


def _disk_bytes(path: Path) -> int:
    st = path.stat()
    blocks = getattr(st, "st_blocks", None)
    return int(blocks * 512) if blocks is not None else int(st.st_size)
