"""Functions the data tests run in spawned processes (``WorkerPool`` workers, concurrent cache
writers). They live in a module of their own, importable as ``tests.exphil.data.poolfuncs``,
so a ``spawn`` child can import them without importing a test module."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any


def _no_core_dump() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass


def task(data: bytes) -> bytes:
    """``WorkerPool`` task: ``b"COMMAND:ARG"``.

    ``ok:X`` -> ``ok:X``; ``hang:`` sleeps; ``segv:`` kills itself with SIGSEGV; ``exit:N``
    writes an error line to stderr and exits with N; ``stderr:X`` writes X to stderr (through
    the fd and through ``sys.stderr``) and returns what ``stderr_since`` reads back;
    ``env:NAME`` -> the variable's value; ``pid:`` -> the worker's pid.
    """
    from exphil.data._pool import stderr_since

    cmd, _, arg = data.partition(b":")
    if cmd == b"hang":
        time.sleep(600)
    elif cmd == b"segv":
        _no_core_dump()
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(600)
    elif cmd == b"exit":
        sys.stderr.write("fatal error: the worker gives up\n")
        sys.stderr.flush()
        os._exit(int(arg))
    elif cmd == b"stderr":
        mark = stderr_since(0)[1]
        os.write(2, b"fd-line " + arg + b"\n")
        print("py-line", arg.decode(), file=sys.stderr, flush=True)
        text, _ = stderr_since(mark)
        return text.encode()
    elif cmd == b"env":
        return os.environ.get(arg.decode(), "<unset>").encode()
    elif cmd == b"pid":
        return str(os.getpid()).encode()
    return b"ok:" + arg


def store_game(root: str, replay: str, barrier: Any = None) -> None:
    """Parse ``replay`` and store it in the cache at ``root`` (after ``barrier``, if any)."""
    from exphil.data import GameCache, file_hash, quality
    from exphil.game.peppi import read_game

    info, frames = read_game(replay)
    q = quality(frames)
    key = file_hash(replay)
    cache = GameCache(root)
    if barrier is not None:
        barrier.wait(60)
    cache.store(key, info, q, frames)


def store_game_then_die(root: str, replay: str) -> None:
    """Store ``replay`` but die (exit 17) just before the final rename, as a killed writer
    would: everything is written to the temporary file, nothing to the entry."""
    os.replace = lambda *args, **kwargs: os._exit(17)  # type: ignore[assignment]
    store_game(root, replay)


def scan_entry_hanging_on_slow(data: bytes) -> bytes:
    """The scan's worker entry, except that it hangs on any file named ``slow.slp``."""
    import importlib

    if b"slow.slp" in data:
        time.sleep(600)
    return importlib.import_module("exphil.data.scan")._worker_entry(data)  # type: ignore[no-any-return]
