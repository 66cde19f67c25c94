"""Atomic file replacement, shared by every writer of files a crash must not tear (policy
files, checkpoints, ONNX graphs): write a temp file in the same folder, fsync it, rename it
over the target, fsync the folder. Readers see the old file or the new one, never a part."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["TempFileMissing", "atomic_write", "fsync_dir", "fsync_file", "temp_path"]


class TempFileMissing(OSError):
    """The writer given to :func:`atomic_write` did not create its temp file."""


def temp_path(path: Path) -> Path:
    """A fresh temp name beside ``path``: ``.NAME.<pid>-<thread>-<random>.tmp``."""
    token = f"{os.getpid()}-{threading.get_ident() % 1_000_000}-{secrets.token_hex(3)}"
    return path.with_name(f".{path.name}.{token}.tmp")


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_UMASK_LOCK = threading.Lock()


def _default_mode() -> int:
    """What ``open()`` would give a new file: 0o666 less the process umask."""
    with _UMASK_LOCK:  # reading the umask means setting it; keep that window private
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Replace ``path`` atomically: ``write(tmp)`` creates a temp file in the same folder,
    which is fsynced, renamed over ``path`` and the folder fsynced. The file gets the
    ordinary permissions of a new file (0o666 less the umask) whatever the writer used
    (safetensors creates 0600 files). On any error (including ``KeyboardInterrupt``) the
    temp file is removed and ``path`` is untouched."""
    p = Path(path)
    tmp = temp_path(p)
    try:
        write(tmp)
        if not tmp.is_file():
            raise TempFileMissing(f"{p}: the writer did not create the temp file {tmp.name}")
        os.chmod(tmp, _default_mode())
        fsync_file(tmp)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(p.parent)
