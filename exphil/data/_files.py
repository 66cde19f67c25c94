"""Finding replay files and checking that they look like Slippi files before parsing."""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from exphil.game.peppi import ReplayError

__all__ = ["SLP_MAGIC", "MIN_SLP_BYTES", "discover", "validate", "file_hash", "DiscoveryError"]

#: Every ``.slp`` starts with the UBJSON opening of ``{"raw": [$U #l`` (an object holding the
#: event stream as a byte array): ``{U\x03raw[$U#l``.
SLP_MAGIC = b"{U\x03raw[$U#l"
#: The magic, a 4-byte length, the event-payloads event and a game start: nothing shorter can
#: hold a game.
MIN_SLP_BYTES = 512

_HASH_CHUNK = 1 << 20


class DiscoveryError(ValueError):
    """A path given by the user names nothing (with the path in the message)."""


def _expand(arg: str | os.PathLike[str]) -> Iterable[Path]:
    text = os.fspath(arg)
    if text.startswith("@"):  # a list file: one path (or glob, or directory) per line
        list_file = Path(text[1:]).expanduser()
        try:
            lines = list_file.read_text().splitlines()
        except OSError as exc:
            raise DiscoveryError(f"cannot read the list file {list_file}: {exc.strerror}") from exc
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                yield from _expand(line if os.path.isabs(line) else str(list_file.parent / line))
        return
    path = Path(text).expanduser()
    # a path that exists is taken literally: "Slippi [2023]" is a folder, not a pattern
    if glob.has_magic(text) and not (path.exists() or path.is_symlink()):
        matches = sorted(glob.glob(os.path.expanduser(text), recursive=True))
        if not matches:
            raise DiscoveryError(f"no file matches the pattern {text!r}")
        for m in matches:
            p = Path(m)
            if p.is_dir():
                yield from _walk(p)
            else:
                yield p
    elif path.is_dir():
        yield from _walk(path)
    elif path.exists() or path.is_symlink():
        yield path  # a file named explicitly is taken whatever its suffix (validation says)
    else:
        raise DiscoveryError(f"no such file or directory: {text}")


def _walk(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(".slp") and not name.startswith("."):
                yield Path(dirpath, name)


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Replay files under ``paths``: directories (recursively, ``*.slp``, hidden entries
    skipped), glob patterns (``**`` allowed), files, and ``@LIST`` files holding one of those
    per line. Returns absolute paths, each once, in a stable order (the order of ``paths``,
    then sorted within a directory). Raises ``DiscoveryError`` for a path that names nothing.
    """
    seen: set[Path] = set()
    out: list[Path] = []
    for arg in paths:
        for p in _expand(arg):
            ap = Path(os.path.abspath(p))
            if ap not in seen:
                seen.add(ap)
                out.append(ap)
    return out


def validate(path: str | os.PathLike[str]) -> int:
    """Cheap checks before parsing: the file exists, is readable, is long enough and starts
    with ``SLP_MAGIC``. Returns its size; raises ``ReplayError`` (``not_found``,
    ``unreadable``, ``empty``, ``not_slp``, ``truncated``)."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(len(SLP_MAGIC))
    except FileNotFoundError as exc:
        raise ReplayError(p, "not_found", "the file does not exist") from exc
    except IsADirectoryError as exc:
        raise ReplayError(p, "unreadable", "a directory, not a file") from exc
    except OSError as exc:
        raise ReplayError(p, "unreadable", exc.strerror or str(exc)) from exc
    if size == 0:
        raise ReplayError(p, "empty", "the file is empty (0 bytes)")
    if head != SLP_MAGIC[: len(head)] or len(head) < len(SLP_MAGIC):
        kind = _sniff(head)
        raise ReplayError(p, "not_slp", f"not a Slippi replay ({kind}; starts with {head[:8]!r})")
    if size < MIN_SLP_BYTES:
        raise ReplayError(p, "truncated", f"only {size} bytes: too short to hold a game")
    return size


def _sniff(head: bytes) -> str:
    if head.startswith(b"\x89PNG"):
        return "a PNG image"
    if head[:1] == b"<":
        return "HTML or XML text"
    if head.startswith((b"PK\x03\x04",)):
        return "a zip archive"
    try:
        head.decode("ascii")
    except UnicodeDecodeError:
        return "unknown binary data"
    return "text"


def file_hash(path: str | os.PathLike[str]) -> str:
    """The content key of a file: BLAKE2b-128 of its bytes, hex."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()
