"""Reading a corpus: every file gets a ``ScanResult``, with metadata or a specific error.

Two depths:

* ``deep=True`` (default): every file is fully parsed (so a file that only *looks* fine —
  truncated, or one peppi-py panics on — is reported), its quality scored, and each 1v1
  game stored in the parsed-game cache, so training and later scans reuse it;
* ``deep=False``: the header only (``skip_frames=True``, about 0.5 ms a file). The frame
  count then comes from the replay's metadata and may be 0 when absent.

One classification at both depths: a deep scan reads the header first, exactly as a quick
scan does, so a file whose header is the problem (a game end method or a placement peppi-py
rejects, a file that is not a replay) gets the same cause from both. What only a deep scan
can find is damage in the frames (``truncated``, ``corrupt``, ``panic`` while reading the
frames): a quick scan reports such a file as readable.

Files are parsed in a ``WorkerPool`` (``jobs`` processes, a per-file ``timeout``): a panic,
its Rust backtrace, a hang or a crash of the parser costs one file. ``jobs=0`` parses in the
calling process (no containment: for tests and benchmarks).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from exphil.data._files import file_hash, validate
from exphil.data._pool import PoolFailure, WorkerPool, stderr_since
from exphil.data.cache import GameCache, MetaEntry
from exphil.data.quality import Quality, fingerprint, quality
from exphil.game.peppi import GameInfo, ReplayError, read_any, read_info

__all__ = ["ScanResult", "ScanError", "scan", "DEFAULT_TIMEOUT_S", "default_jobs"]

DEFAULT_TIMEOUT_S = 60.0
_REGISTRY = re.compile(r"^.*?/registry/src/[^/]+/")
#: causes that depend on the machine or the moment, never cached
_TRANSIENT = frozenset({"timeout", "crash", "not_found", "unreadable"})


class ScanError(msgspec.Struct, frozen=True):
    cause: str
    detail: str


class ScanResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """One file of a scan. ``info`` is set for every readable replay (any mode), ``quality``
    for fully parsed 1v1 games, ``error`` for every file that could not be read."""

    path: str
    size: int = 0
    key: str | None = None
    info: GameInfo | None = None
    quality: Quality | None = None
    error: ScanError | None = None
    cached: bool = False
    seconds: float = 0.0
    fingerprint: str | None = None  # of the game's frames (deep scans of 1v1 games)

    @property
    def ok(self) -> bool:
        return self.error is None


class _Task(msgspec.Struct, array_like=True, frozen=True):
    path: str
    deep: bool
    cache_root: str | None


def default_jobs() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, n)


_worker_caches: dict[str, GameCache] = {}


def _cache(root: str | None) -> GameCache | None:
    if root is None:
        return None
    cache = _worker_caches.get(root)
    if cache is None:
        cache = _worker_caches[root] = GameCache(root)
    return cache


def _process(task: _Task) -> ScanResult:
    """Scan one file (runs in a worker, or in-process with ``jobs=0``)."""
    t0 = time.perf_counter()
    path = task.path
    size = 0
    key: str | None = None
    stderr_mark = stderr_since(0)[1]
    try:
        size = validate(path)
        if not task.deep:
            info = read_info(path)
            return ScanResult(path, size, None, info, seconds=time.perf_counter() - t0)
        key = file_hash(path)
        cache = _cache(task.cache_root)
        if cache is not None:
            hit = _from_cache(cache, path, size, key)
            if hit is not None:
                return hit
        # the header first, as a quick scan reads it: a problem the header shows gets the
        # same cause at both depths (a single-player mode's game end method is
        # "unsupported", not the panic the frames of such a file may cause later)
        read_info(path)
        info, frames = read_any(path)
        q = quality(frames) if frames is not None else None
        fp = fingerprint(frames) if frames is not None else None
        if cache is not None:
            if frames is not None and q is not None:
                cache.store(key, info, q, frames, fp)
            else:
                cache.store_meta(key, MetaEntry(info=info))
        return ScanResult(
            path, size, key, info, q, seconds=time.perf_counter() - t0, fingerprint=fp
        )
    except ReplayError as exc:
        detail = exc.detail
        if exc.cause == "panic":  # where it panicked, from the stderr we captured
            text, _ = stderr_since(stderr_mark)
            where = next((ln for ln in text.splitlines() if "panicked at" in ln), "")
            if where:  # "thread '<unnamed>' panicked at …/peppi-2.1.2/src/x.rs:1:2:"
                loc = where.split("panicked at", 1)[1].strip().rstrip(":")
                loc = _REGISTRY.sub("", loc)
                detail = f"{detail} (at {loc})"
        cache = _cache(task.cache_root)
        if cache is not None and key is not None and exc.cause not in _TRANSIENT:
            cache.store_meta(key, MetaEntry(error_cause=exc.cause, error_detail=detail))
        return ScanResult(
            path, size, key, error=ScanError(exc.cause, detail), seconds=time.perf_counter() - t0
        )
    except OSError as exc:  # the file vanished or became unreadable while we worked
        return ScanResult(path, size, key, error=ScanError("unreadable", str(exc)))
    except Exception as exc:  # a bug of ours on this file: report it, keep going
        return ScanResult(
            path, size, key, error=ScanError("internal", f"{type(exc).__name__}: {exc}")
        )


_TASK_DECODER = msgspec.msgpack.Decoder(_Task)
_RESULT_DECODER = msgspec.msgpack.Decoder(ScanResult)
_ENCODER = msgspec.msgpack.Encoder()


def _worker_entry(task: bytes) -> bytes:
    return _ENCODER.encode(_process(_TASK_DECODER.decode(task)))


@dataclass
class _Pending:
    index: int
    path: str
    st: os.stat_result | None


def scan(
    paths: Sequence[str | os.PathLike[str]],
    *,
    deep: bool = True,
    cache: GameCache | None = None,
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_result: Callable[[ScanResult], None] | None = None,
    stop: Callable[[ScanResult], bool] | None = None,
) -> list[ScanResult]:
    """Scan ``paths`` (files; see ``discover``) and return one result per file, in order.

    ``on_result`` sees each result as it arrives (progress bars); when ``stop(result)``
    returns True the scan ends early (``--fail-fast``) and only the results so far are
    returned. Cached files are answered from ``cache`` without starting a worker.
    """
    strs = [os.fspath(p) for p in paths]
    results: list[ScanResult | None] = [None] * len(strs)
    todo: list[_Pending] = []
    stopped = False

    def emit(i: int, r: ScanResult) -> bool:
        results[i] = r
        if on_result is not None:
            on_result(r)
        return stop is not None and stop(r)

    for i, p in enumerate(strs):
        st: os.stat_result | None = None
        if cache is not None and deep:
            try:
                st = os.stat(p)
            except OSError:
                st = None
            key = cache.known_key(p, st) if st is not None else None
            if key is not None:
                hit = _from_cache(cache, p, st.st_size if st else 0, key)
                if hit is not None:
                    if emit(i, hit):
                        stopped = True
                        break
                    continue
        try:  # the cheap checks here: a file that is not a replay never costs a worker
            validate(p)
        except ReplayError as exc:
            if emit(
                i, ScanResult(p, st.st_size if st else 0, error=ScanError(exc.cause, exc.detail))
            ):
                stopped = True
                break
            continue
        todo.append(_Pending(i, p, st))

    if not stopped and todo:
        root = str(cache.root) if cache is not None else None
        tasks = [_Task(t.path, deep, root) for t in todo]
        for j, r in _run(tasks, jobs, timeout):
            pend = todo[j]
            if cache is not None and r.key is not None and pend.st is not None:
                cache.remember_key(pend.path, r.key, pend.st)
            if emit(pend.index, r):
                stopped = True
                break
    if cache is not None:
        cache.flush()
    return [r for r in results if r is not None]


def _from_cache(cache: GameCache, path: str, size: int, key: str) -> ScanResult | None:
    head = cache.load_info(key, path=path)
    if head is not None:
        return ScanResult(path, size, key, head[0], head[1], cached=True, fingerprint=head[2])
    meta = cache.load_meta(key, path=path)
    if meta is not None:
        err = ScanError(meta.error_cause, meta.error_detail or "") if meta.error_cause else None
        return ScanResult(path, size, key, meta.info, error=err, cached=True)
    return None


def _run(tasks: list[_Task], jobs: int | None, timeout: float) -> Iterator[tuple[int, ScanResult]]:
    n_jobs = default_jobs() if jobs is None else jobs
    if n_jobs <= 0:
        for j, t in enumerate(tasks):
            yield j, _process(t)
        return
    with WorkerPool(_worker_entry, min(n_jobs, len(tasks)), timeout) as pool:
        for j, out in pool.map_unordered(_ENCODER.encode(t) for t in tasks):
            if isinstance(out, PoolFailure):
                yield j, ScanResult(tasks[j].path, error=ScanError(out.cause, out.detail))
            else:
                yield j, _RESULT_DECODER.decode(out)
