"""Checkpoint files on disk: the suffixes of a checkpoint's three files, atomic writes,
temp files left by a killed save, and rotated backups.

A checkpoint *name* is the stem (``last``, ``best``). Generation 0 is the plain name, generation
``g >= 1`` is ``.bak`` (g = 1) or ``.bak.{g-1}``; all three files of one save share a generation
(see :func:`rotate_backups`). Temp files are ``.NAME.<token>.tmp`` (``atomic_write``,
``save_policy``), ``.NAME.tmp-PID`` (earlier versions, the ONNX export) and ``.tmpXXXXXX`` (the
safetensors writer); only a killed save leaves one behind (:func:`remove_temp_files`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from exphil import _atomic
from exphil.errors import UserError

__all__ = [
    "CheckpointError",
    "POLICY_SUFFIX",
    "STATE_SUFFIX",
    "MANIFEST_SUFFIX",
    "MB",
    "atomic_write",
    "atomic_write_bytes",
    "backup_path",
    "rotate_backups",
    "remove_temp_files",
    "size_warning",
]

POLICY_SUFFIX: Final = ".safetensors"
STATE_SUFFIX: Final = ".state.pt"
MANIFEST_SUFFIX: Final = ".json"
#: sizes in messages are decimal megabytes
MB: Final = 1_000_000

_RUST_TEMP_RE: Final = re.compile(r"\.tmp[A-Za-z0-9]{6,}")
_BACKUP_RE: Final = re.compile(r"\.bak(?:\.([1-9][0-9]*))?")


class CheckpointError(UserError):
    """A checkpoint cannot be read or written as asked (missing, corrupt, unsafe, torn): the
    wrong path or file, a user error when it reaches the CLI."""


# --------------------------------------------------------------------------- atomic files


def _is_temp_name(name: str) -> bool:
    """Temp files of ``atomic_write`` and ``save_policy`` (``.NAME.<token>.tmp``), of
    earlier versions and the ONNX export (``.NAME.tmp-<pid>``) and of the safetensors writer
    (``.tmpXXXXXX``)."""
    return name.startswith(".") and (
        name.endswith(".tmp") or ".tmp-" in name or _RUST_TEMP_RE.fullmatch(name) is not None
    )


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Replace ``path`` atomically (:func:`exphil._atomic.atomic_write`: a temp file
    ``.NAME.<token>.tmp`` in the same folder, fsynced, renamed over ``path``, the folder
    fsynced). Readers see the old file or the new one, never a partial one. On any error
    (including ``KeyboardInterrupt``) the temp file is removed and ``path`` is untouched."""
    try:
        _atomic.atomic_write(path, write)
    except _atomic.TempFileMissing as exc:
        raise CheckpointError(str(exc)) from None


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """:func:`atomic_write` of ``data``."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def remove_temp_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files a killed save left in ``directory`` (not recursive); returns them.

    Call only when no other process saves into this folder."""
    d = Path(directory)
    removed: list[Path] = []
    if not d.is_dir():
        return removed
    for entry in d.iterdir():
        if _is_temp_name(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


# --------------------------------------------------------------------------- backups


def backup_path(path: str | os.PathLike[str], index: int) -> Path:
    """The ``index``-th backup of ``path``: 0 -> ``path.bak``, k >= 1 -> ``path.bak.k``."""
    if index < 0:
        raise ValueError(f"backup index must be >= 0, got {index}")
    p = Path(path)
    return p.with_name(f"{p.name}.bak" if index == 0 else f"{p.name}.bak.{index}")


def _generation_path(path: Path, generation: int) -> Path:
    return path if generation == 0 else backup_path(path, generation - 1)


def _backups(path: Path) -> dict[int, Path]:
    """Existing backups of ``path`` by index (gaps allowed)."""
    found: dict[int, Path] = {}
    if not path.parent.is_dir():
        return found
    prefix = path.name
    for entry in path.parent.iterdir():
        name = entry.name
        if not name.startswith(prefix):
            continue
        m = _BACKUP_RE.fullmatch(name[len(prefix) :])
        if m is None:
            continue
        found[0 if m.group(1) is None else int(m.group(1))] = entry
    return found


def _prune_backups(path: Path, keep: int) -> None:
    for index, entry in _backups(path).items():
        if index >= keep:
            entry.unlink(missing_ok=True)


def rotate_backups(path: str | os.PathLike[str], count: int) -> None:
    """Age the backups of ``path`` by one before it is replaced: ``path.bak.{k}`` ->
    ``path.bak.{k+1}``, ..., ``path.bak`` -> ``path.bak.1``, ``path`` -> ``path.bak``, keeping
    at most ``count`` backups (the oldest are deleted).

    Renames only. A missing backup leaves a gap that ages with the others, so backup ``k`` of
    two files rotated together always comes from the same save. ``count=0`` deletes every
    backup and leaves ``path`` in place (to be replaced atomically)."""
    if count < 0:
        raise ValueError(f"backup count must be >= 0, got {count}")
    p = Path(path)
    existing = _backups(p)
    for index, entry in existing.items():
        if index >= max(count - 1, 0):
            entry.unlink(missing_ok=True)
    if count == 0:
        return
    for index in sorted((i for i in existing if i < count - 1), reverse=True):
        os.replace(existing[index], backup_path(p, index + 1))
    if p.exists():
        os.replace(p, backup_path(p, 0))
    _atomic.fsync_dir(p.parent)


def size_warning(path: str | os.PathLike[str], warn_mb: float) -> str | None:
    """A warning when ``path`` is larger than ``warn_mb`` megabytes (``warn_mb <= 0``: never)."""
    p = Path(path)
    size = p.stat().st_size
    if warn_mb <= 0 or size <= warn_mb * MB:
        return None
    return (
        f"checkpoint {p.name} is {size / MB:.1f} MB, larger than the {warn_mb:g} MB warning "
        "threshold: every save writes this much (times the backups kept); check the model "
        "size and what the training state holds (threshold: checkpoint.warn_size_mb)"
    )


def _int_or_none(*values: Any) -> int | None:
    for v in values:
        if type(v) is int:
            return v
    return None
