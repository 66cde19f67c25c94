"""Checkpoints: the policy as safetensors (config in the header) plus a training-state file,
written atomically, in the background, with rotated backups and a manifest that ties the pair
together.

Run folder layout (``RUN = PARENT/NAME``, see :func:`prepare_run_dir`)::

    RUN/config.yaml            the run's TrainConfig (written by the trainer)
    RUN/metrics.jsonl          one JSON object per line (written by the trainer)
    RUN/last.safetensors       policy weights + {"format", "config", "metadata"} header
    RUN/last.state.pt          training state: torch.save of a dict, loads with weights_only=True
    RUN/last.json              manifest, written last: step, epoch, size + sha256 of both files
    RUN/best.safetensors       the same three files for the best validation loss
    RUN/best.state.pt
    RUN/best.json
    RUN/last.safetensors.bak   backups: generation 1 (the previous save) ...
    RUN/last.safetensors.bak.1 ... generation 2, and so on up to ``backup_count`` generations
    RUN/.last.state.pt.<...>.tmp  temp files (also ``.NAME.tmp-PID`` and ``.tmpXXXXXX`` from
                               the safetensors writer); only a killed save leaves one behind

A checkpoint *name* is the stem (``last``, ``best``). Generation 0 is the plain name, generation
``g >= 1`` is ``.bak`` (g = 1) or ``.bak.{g-1}``; all three files of one save share a generation.

Save order (:func:`save_checkpoint`): first the new policy, state and manifest are written
to temp files in the run folder (each fsynced); a failure there (a full disk, a quota, a
kill) removes them and leaves every existing file as it was, so no number of failed saves
can push the last good checkpoint out of its backups. Only then the manifest, the policy
and the state are rotated one generation back (renames), the temp files renamed into place
(the manifest last), the folder fsynced and generations beyond ``backup_count`` deleted.
A file is therefore either the old or the new version, never a mix. With ``backup_count=0``
the previous generation still exists until the new manifest is in place, so even
``--no-backup`` survives a kill during a save.

Disk space: a save needs about the size of its tensors (policy and state) free in the run
folder. A folder with less free space is refused before anything is written, and a write
that fails for lack of space anyway is reported the same way: :class:`CheckpointSpaceError`
says how much the save needed and how much was free.

Manifest ``NAME.json`` (format ``exphil-checkpoint/1``)::

    {"format": "exphil-checkpoint/1", "name": "last", "step": 1200, "epoch": 3,
     "saved_at": "2026-11-24T13:05:09Z",
     "policy": {"file": "last.safetensors", "bytes": 12345678, "sha256": "..."},
     "state": {"file": "last.state.pt", "bytes": 23456789, "sha256": "..."}}

Loading (:func:`load_checkpoint`) takes the newest manifest whose two files are found (by
size and sha256) among the generations, so a torn pair (a policy from step 200 beside a state
from step 100) or a save interrupted anywhere falls back to the newest consistent generation,
with a warning; no consistent generation raises :class:`CheckpointError`.

Training state: a dict whose values are, recursively, tensors, ``dict``/``OrderedDict`` (keys
str/int/float/bool/None), ``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``,
``torch.Size``, ``torch.dtype`` or ``torch.device`` -- exactly what ``torch.load(...,
weights_only=True)`` rebuilds without running code. Anything else (a numpy array, a set, an
object) is refused on save with a ``TypeError`` naming its key path; convert numpy arrays with
``torch.from_numpy`` (``exphil.train.capture_rng`` does that for numpy's RNG). Optimizer and
scheduler ``state_dict()`` outputs are fine.

Background saving: snapshot on the training thread (:func:`snapshot_policy`,
:func:`snapshot_state`: detached CPU copies), then hand a closure to :class:`BackgroundSaver`,
which writes on one worker thread while training goes on.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import structlog
import torch
from torch import Tensor, nn

from exphil import _atomic
from exphil.errors import UserError
from exphil.nets import (
    Policy,
    PolicyConfig,
    PolicyMismatch,
    load_policy,
    read_policy_config,
    save_policy,
)

__all__ = [
    "CheckpointError",
    "CheckpointSpaceError",
    "RunExists",
    "RunInUse",
    "POLICY_SUFFIX",
    "STATE_SUFFIX",
    "MANIFEST_SUFFIX",
    "MANIFEST_FORMAT",
    "MB",
    "format_bytes",
    "atomic_write",
    "atomic_write_bytes",
    "backup_path",
    "rotate_backups",
    "remove_temp_files",
    "check_state",
    "save_training_state",
    "load_training_state",
    "snapshot_state_dict",
    "snapshot_state",
    "PolicySnapshot",
    "snapshot_policy",
    "SavedCheckpoint",
    "save_checkpoint",
    "LoadedCheckpoint",
    "load_checkpoint",
    "SaverStatistics",
    "BackgroundSaver",
    "prepare_run_dir",
    "size_warning",
    "CheckpointInfo",
    "list_checkpoints",
]

POLICY_SUFFIX: Final = ".safetensors"
STATE_SUFFIX: Final = ".state.pt"
MANIFEST_SUFFIX: Final = ".json"
MANIFEST_FORMAT: Final = "exphil-checkpoint/1"
#: sizes in messages are decimal megabytes
MB: Final = 1_000_000

_ZIP_MAGIC: Final = b"PK\x03\x04"
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_+=@-]*")
_RUST_TEMP_RE: Final = re.compile(r"\.tmp[A-Za-z0-9]{6,}")
_BACKUP_RE: Final = re.compile(r"\.bak(?:\.([1-9][0-9]*))?")

log = structlog.get_logger("exphil.train.checkpoint")


class CheckpointError(UserError):
    """A checkpoint cannot be read or written as asked (missing, corrupt, unsafe, torn): the
    wrong path or file, a user error when it reaches the CLI."""


class RunExists(CheckpointError):
    """The run folder already holds checkpoints and overwriting was refused."""


class RunInUse(CheckpointError):
    """The run folder is held by another process (or another run in this one): a run
    folder is written by one process at a time."""


class CheckpointSpaceError(CheckpointError):
    """A save did not fit on the disk (or in the quota) of the run folder. Nothing was
    replaced: the previous files of every checkpoint are intact. ``needed`` and ``free`` are
    bytes (``free`` as measured after the failed save's temp files were removed)."""

    def __init__(self, message: str, *, needed: int, free: int | None) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free


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


# --------------------------------------------------------------------------- training state

_SCALARS: Final = (str, int, float, bool, type(None))
_OPAQUE: Final = (torch.Size, torch.dtype, torch.device)
_HINTS: Final = {
    "ndarray": "convert it with torch.from_numpy",
    "set": "store a sorted list",
    "frozenset": "store a sorted list",
    "Path": "store str(path)",
    "PosixPath": "store str(path)",
    "WindowsPath": "store str(path)",
}


def _key_path(parts: list[str]) -> str:
    return "state" + "".join(parts)


def _unsupported(value: Any, parts: list[str]) -> TypeError:
    kind = type(value)
    hint = _HINTS.get(kind.__name__)
    if hint is None and kind.__module__.startswith("numpy"):
        hint = "convert numpy values with torch.from_numpy / .item()"
    return TypeError(
        f"{_key_path(parts)}: {kind.__module__}.{kind.__qualname__} cannot be stored in a "
        "training state (allowed: tensors, dict, list, tuple, str, int, float, bool, None, "
        f"torch.Size, torch.dtype, torch.device){'; ' + hint if hint else ''}"
    )


def _copy_tree(value: Any, parts: list[str], *, clone: bool) -> Any:
    """Validate ``value`` for weights_only loading; with ``clone``, return a copy whose
    tensors are detached CPU clones (containers copied, scalars shared)."""
    kind = type(value)
    if kind in _SCALARS or kind in _OPAQUE:
        return value
    if isinstance(value, Tensor):
        if kind not in (Tensor, nn.Parameter):
            raise _unsupported(value, parts)
        return value.detach().to("cpu", copy=True) if clone else value
    if kind in (dict, collections.OrderedDict):
        out = kind()
        for key, item in value.items():
            if type(key) not in _SCALARS:
                raise TypeError(
                    f"{_key_path(parts)}: key {key!r} of type {type(key).__qualname__} "
                    "(dict keys must be str, int, float, bool or None)"
                )
            shown = json.dumps(key) if type(key) is str else repr(key)
            out[key] = _copy_tree(item, [*parts, f"[{shown}]"], clone=clone)
        return out if clone else value
    if kind in (list, tuple):
        items = [_copy_tree(item, [*parts, f"[{i}]"], clone=clone) for i, item in enumerate(value)]
        if not clone:
            return value
        return items if kind is list else tuple(items)
    raise _unsupported(value, parts)


def check_state(state: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the key path (``state["rng"]["numpy"]``) of the first value
    that ``torch.load(weights_only=True)`` could not rebuild."""
    if type(state) not in (dict, collections.OrderedDict):
        raise TypeError(f"a training state must be a dict, got {type(state).__qualname__}")
    _copy_tree(state, [], clone=False)


def snapshot_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A checked deep copy of a training state with every tensor a detached CPU clone, so a
    background writer sees it as it was (``optimizer.state_dict()`` holds live tensors that the
    next ``step()`` changes in place)."""
    if type(state) not in (dict, collections.OrderedDict):
        raise TypeError(f"a training state must be a dict, got {type(state).__qualname__}")
    copied: dict[str, Any] = dict(_copy_tree(state, [], clone=True))
    return copied


def snapshot_state_dict(module_or_dict: nn.Module | Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Detached CPU clones of a module's ``state_dict()`` (or of a flat dict of tensors)."""
    tensors = (
        module_or_dict.state_dict() if isinstance(module_or_dict, nn.Module) else module_or_dict
    )
    out: dict[str, Tensor] = {}
    for key, value in tensors.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"{key!r} is a {type(value).__qualname__}, not a tensor")
        out[key] = value.detach().to("cpu", copy=True)
    return out


def save_training_state(path: str | os.PathLike[str], state: Mapping[str, Any]) -> None:
    """``torch.save`` the checked ``state`` atomically (see :func:`check_state`)."""
    check_state(state)
    atomic_write(path, lambda tmp: torch.save(dict(state), tmp))


def _unpickling_detail(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        low = line.lower()
        if "unsupported global" in low or ("global" in low and "blocked" in low):
            return line.strip()
    return "it holds objects other than tensors and plain containers"


def load_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a training state with ``torch.load(weights_only=True, map_location="cpu")``: no
    code from the file runs. A missing, truncated or corrupt file, or one that would need
    unsafe unpickling, raises :class:`CheckpointError`."""
    import pickle

    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"{p}: training state not found") from None
    except OSError as exc:
        raise CheckpointError(f"{p}: cannot read the training state ({exc})") from None
    if head != _ZIP_MAGIC:
        if head[:1] == b"\x80":
            raise CheckpointError(
                f"{p}: refused: a plain pickle (or legacy torch.save file) needs unsafe "
                "unpickling, which could run code; only files written by save_training_state "
                "load"
            )
        raise CheckpointError(f"{p}: truncated or corrupt training state (not torch's zip format)")
    try:
        obj = torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc):
            raise CheckpointError(
                f"{p}: refused: loading it needs unsafe unpickling ({_unpickling_detail(exc)})"
            ) from None
        raise CheckpointError(f"{p}: corrupt training state ({exc})") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{p}: truncated or corrupt training state ({first})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: a training state is a dict, this file holds a {type(obj)}")
    return obj


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class PolicySnapshot:
    """A policy's config and detached CPU weights: what :func:`save_checkpoint` writes, taken
    on the training thread so the background writer never reads weights being updated."""

    config: PolicyConfig
    tensors: dict[str, Tensor]

    def state_dict(self) -> dict[str, Tensor]:
        """The weights (the interface ``save_policy`` reads)."""
        return self.tensors


def snapshot_policy(
    policy: Policy, weights: nn.Module | Mapping[str, Tensor] | None = None
) -> PolicySnapshot:
    """Snapshot ``policy`` -- or, with ``weights`` (e.g. the EMA average), those weights under
    ``policy``'s config; their names and shapes must be the policy's."""
    tensors = snapshot_state_dict(policy if weights is None else weights)
    if weights is not None:
        expected = {k: tuple(v.shape) for k, v in policy.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in tensors.items()}
        if expected != got:
            missing = sorted(set(expected) - set(got))[:5]
            extra = sorted(set(got) - set(expected))[:5]
            shapes = [k for k in expected.keys() & got.keys() if expected[k] != got[k]][:5]
            raise ValueError(
                "weights do not fit the policy: "
                f"missing {missing}, unexpected {extra}, other shapes {shapes}"
            )
    return PolicySnapshot(policy.config, tensors)


@dataclass(frozen=True)
class SavedCheckpoint:
    """What :func:`save_checkpoint` wrote."""

    name: str
    policy_path: Path
    state_path: Path
    manifest_path: Path
    policy_bytes: int
    state_bytes: int
    step: int | None
    epoch: int | None
    seconds: float
    #: size warnings (see :func:`size_warning`), also logged
    warnings: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"bad checkpoint name {name!r}: use letters, digits and _ + = @ - "
            "(no dots or path separators)"
        )


def _pair_paths(run_dir: Path, name: str) -> tuple[Path, Path, Path]:
    return (
        run_dir / f"{name}{POLICY_SUFFIX}",
        run_dir / f"{name}{STATE_SUFFIX}",
        run_dir / f"{name}{MANIFEST_SUFFIX}",
    )


def _int_or_none(*values: Any) -> int | None:
    for v in values:
        if type(v) is int:
            return v
    return None


def _tree_bytes(value: Any) -> int:
    """Bytes of the tensors in a training-state tree (what its file holds, less overhead)."""
    if isinstance(value, Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_tree_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tree_bytes(v) for v in value)
    return 0


def _policy_bytes(policy: Policy | PolicySnapshot) -> int:
    return sum(t.numel() * t.element_size() for t in policy.state_dict().values())


#: files besides the tensors: headers, pickle framing, the manifest (an estimate's slack)
_SAVE_OVERHEAD: Final = 256_000


def _free_bytes(folder: Path) -> int | None:
    """Bytes free to this user in ``folder``'s file system (None: unknown)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def format_bytes(n: int | float) -> str:
    """A size for messages, in decimal units: ``850 kB``, ``12.3 MB``, ``1.25 GB``."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB"


def _space_errno(exc: BaseException) -> int | None:
    """ENOSPC or EDQUOT when ``exc`` (or what caused it) is an out-of-space error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current.errno
        text = str(current)  # writers in Rust or C++ report it in words (safetensors, torch)
        for code in (errno.ENOSPC, errno.EDQUOT):
            if os.strerror(code) in text:
                return code
        current = current.__cause__ or current.__context__
    return None


def _previous_step(manifest_path: Path) -> str:
    try:
        step = json.loads(manifest_path.read_bytes()).get("step")
    except (OSError, ValueError, AttributeError):
        return ""
    return f" (step {step})" if type(step) is int else ""


def _space_error(
    run: Path, name: str, needed: int, free: int | None, reason: int | None
) -> CheckpointSpaceError:
    what = "the disk quota is exceeded" if reason == errno.EDQUOT else "not enough disk space"
    have = f", {format_bytes(free)} free" if free is not None else ""
    previous = _previous_step(run / f"{name}{MANIFEST_SUFFIX}")
    return CheckpointSpaceError(
        f"checkpoint {name!r} not saved in {run}: {what} (the save needs about "
        f"{format_bytes(needed)}{have}); nothing was replaced: the previous {name!r}"
        f"{previous}, every other checkpoint and their backups are intact. Free some space "
        "(each save also keeps checkpoint.backup_count backups of every file) and resume",
        needed=needed,
        free=free,
    )


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    name: str,
    policy: Policy | PolicySnapshot,
    state: Mapping[str, Any],
    *,
    metadata: Mapping[str, Any] | None = None,
    backup_count: int = 2,
    warn_mb: float | None = None,
) -> SavedCheckpoint:
    """Write ``RUN/NAME.safetensors``, ``RUN/NAME.state.pt`` and, last, the manifest
    ``RUN/NAME.json``: all three to temp files first, then the previous generation is
    rotated to backups and the new files renamed into place (see the module docstring).

    ``policy`` is a live :class:`Policy` (synchronous saves) or a :class:`PolicySnapshot`
    (background saves). ``metadata`` (JSON-able) goes into the safetensors header; ``step``
    and ``epoch`` (ints, taken from ``state`` or else ``metadata``) are added to it and to the
    manifest. ``backup_count`` generations are kept besides the new one (0: none once the new
    one is complete). ``warn_mb`` > 0 adds (and logs) a warning for a file larger than that.

    A save that does not fit on the disk raises :class:`CheckpointSpaceError` (how much it
    needed, how much was free) and changes no existing file; so does any other failure
    before the new files are complete."""
    if backup_count < 0:
        raise ValueError(f"backup_count must be >= 0, got {backup_count}")
    _check_name(name)
    check_state(state)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    policy_path, state_path, manifest_path = _pair_paths(run, name)
    meta = dict(metadata or {})
    step = _int_or_none(state.get("step"), meta.get("step"))
    epoch = _int_or_none(state.get("epoch"), meta.get("epoch"))
    for key, value in (("step", step), ("epoch", epoch)):
        if value is not None:
            meta.setdefault(key, value)
    started = time.perf_counter()

    needed = _policy_bytes(policy) + _tree_bytes(state) + _SAVE_OVERHEAD
    free = _free_bytes(run)
    if free is not None and free < needed:
        raise _space_error(run, name, needed, free, None)

    # 1. the new generation, complete, under temp names: a failure leaves every file as it was
    staged = [_atomic.temp_path(p) for p in (policy_path, state_path, manifest_path)]
    staged_policy, staged_state, staged_manifest = staged
    try:
        try:
            save_policy(policy, staged_policy, metadata=meta)  # type: ignore[arg-type]  # duck-typed
            save_training_state(staged_state, state)
            policy_bytes = staged_policy.stat().st_size
            state_bytes = staged_state.stat().st_size
            manifest = {
                "format": MANIFEST_FORMAT,
                "name": name,
                "step": step,
                "epoch": epoch,
                "saved_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "policy": {
                    "file": policy_path.name,
                    "bytes": policy_bytes,
                    "sha256": _sha256(staged_policy),
                },
                "state": {
                    "file": state_path.name,
                    "bytes": state_bytes,
                    "sha256": _sha256(staged_state),
                },
            }
            atomic_write_bytes(staged_manifest, (json.dumps(manifest, indent=1) + "\n").encode())
        except Exception as exc:
            for path in staged:
                path.unlink(missing_ok=True)
            free = _free_bytes(run)
            reason = _space_errno(exc)
            # a write error with (nearly) no room left is the disk, whatever the writer said
            if reason is not None or (free is not None and free < needed * 1.05 + 1_000_000):
                raise _space_error(run, name, needed, free, reason) from exc
            raise

        # 2. commit: rotate the previous generation back, rename the new one in (renames
        # only); the manifest goes first and comes back last, so until the new one is in
        # place loading finds the previous generation complete (or its files by hash)
        for path in (manifest_path, policy_path, state_path):
            rotate_backups(path, max(backup_count, 1))
        os.replace(staged_policy, policy_path)
        os.replace(staged_state, state_path)
        os.replace(staged_manifest, manifest_path)
        _atomic.fsync_dir(run)
    finally:
        for path in staged:  # after an interrupt (KeyboardInterrupt) or a failed rename
            path.unlink(missing_ok=True)
    for path in (policy_path, state_path, manifest_path):
        _prune_backups(path, backup_count)

    warnings: list[str] = []
    if warn_mb is not None:
        for path in (policy_path, state_path):
            message = size_warning(path, warn_mb)
            if message is not None:
                warnings.append(message)
                log.warning("checkpoint_large", message=message)
    return SavedCheckpoint(
        name=name,
        policy_path=policy_path,
        state_path=state_path,
        manifest_path=manifest_path,
        policy_bytes=policy_bytes,
        state_bytes=state_bytes,
        step=step,
        epoch=epoch,
        seconds=time.perf_counter() - started,
        warnings=warnings,
    )


@dataclass
class LoadedCheckpoint:
    """A consistent checkpoint: the policy, its training state, the header metadata."""

    policy: Policy
    state: dict[str, Any]
    metadata: dict[str, Any]
    #: the policy file actually loaded (a ``.bak`` file after a fallback)
    path: Path
    state_path: Path
    manifest: dict[str, Any]
    #: 0: the newest save; g >= 1: the manifest of backup generation g
    generation: int
    #: fallbacks and recoveries, also logged
    warnings: list[str] = field(default_factory=list)


def _read_manifest(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"not a {MANIFEST_FORMAT} manifest")
    for kind in ("policy", "state"):
        entry = data.get(kind)
        if (
            not isinstance(entry, dict)
            or type(entry.get("bytes")) is not int
            or not isinstance(entry.get("sha256"), str)
        ):
            raise ValueError(f"bad {kind!r} entry")
    return data


def _resolve_target(target: Path, name: str) -> tuple[Path, str]:
    if target.is_dir():
        return target, name
    for suffix in (POLICY_SUFFIX, STATE_SUFFIX, MANIFEST_SUFFIX):
        if target.name.endswith(suffix) and len(target.name) > len(suffix):
            return target.parent, target.name[: -len(suffix)]
    if not target.exists():
        raise CheckpointError(f"{target}: no such run folder or checkpoint file")
    raise CheckpointError(
        f"{target}: not a run folder or a NAME{POLICY_SUFFIX} / NAME{STATE_SUFFIX} file"
    )


def _generations(paths: tuple[Path, ...]) -> list[int]:
    gens: set[int] = set()
    for p in paths:
        if p.exists():
            gens.add(0)
        gens.update(i + 1 for i in _backups(p))
    return sorted(gens)


def _find_consistent(
    run: Path, name: str
) -> tuple[int, dict[str, Any], Path, Path, list[str], list[str]]:
    """The newest generation whose manifest's files are found; returns (generation, manifest,
    policy file, state file, problems with newer generations, recovery notes)."""
    policy_base, state_base, manifest_base = _pair_paths(run, name)
    gens = _generations((policy_base, state_base, manifest_base))
    if not gens:
        raise CheckpointError(f"no checkpoint {name!r} in {run}")
    hashes: dict[Path, str] = {}

    def matches(path: Path, entry: dict[str, Any]) -> bool:
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return False
        if path not in hashes:
            hashes[path] = _sha256(path)
        return hashes[path] == str(entry["sha256"])

    problems: list[str] = []
    for g in gens:
        mpath = _generation_path(manifest_base, g)
        if not mpath.is_file():
            problems.append(f"{mpath.name}: missing")
            continue
        try:
            manifest = _read_manifest(mpath)
        except (OSError, ValueError) as exc:
            problems.append(f"{mpath.name}: unreadable ({exc})")
            continue
        found: dict[str, Path] = {}
        notes: list[str] = []
        for kind, base in (("policy", policy_base), ("state", state_base)):
            own = _generation_path(base, g)
            order = [own] + [_generation_path(base, h) for h in gens if h != g]
            hit = next((c for c in order if matches(c, manifest[kind])), None)
            if hit is None:
                why = "missing" if not own.exists() else "differs from the manifest"
                problems.append(f"{mpath.name} (step {manifest.get('step')}): {own.name} {why}")
                break
            found[kind] = hit
            if hit != own:
                notes.append(f"{own.name} was found as {hit.name}")
        else:
            return g, manifest, found["policy"], found["state"], problems, notes
    raise CheckpointError(
        f"no consistent checkpoint {name!r} in {run}: " + "; ".join(problems)
        if problems
        else f"no checkpoint {name!r} in {run}"
    )


def load_checkpoint(
    run_dir_or_file: str | os.PathLike[str],
    name: str = "last",
    *,
    map_location: str | torch.device = "cpu",
    expect: PolicyConfig | None = None,
) -> LoadedCheckpoint:
    """Load the newest consistent ``name`` checkpoint of a run folder (or of the run that a
    ``NAME.safetensors`` / ``NAME.state.pt`` path belongs to; the file's stem wins over
    ``name``). Both files are verified against the manifest (size and sha256) first.

    A newest generation that is incomplete or torn falls back to the newest consistent backup
    generation with a warning; none raises :class:`CheckpointError`. ``expect`` refuses a
    different architecture (``PolicyMismatch``). The state is always loaded onto the CPU."""
    run, stem = _resolve_target(Path(run_dir_or_file), name)
    generation, manifest, policy_file, state_file, problems, notes = _find_consistent(run, stem)
    warnings: list[str] = []
    if generation > 0:
        warnings.append(
            f"checkpoint {stem!r} in {run}: the newest save is incomplete or inconsistent ("
            + "; ".join(problems)
            + f"); loaded backup generation {generation} (step {manifest.get('step')}) instead"
        )
    if notes:
        warnings.append(
            f"checkpoint {stem!r} in {run}: recovered from an interrupted save: " + "; ".join(notes)
        )
    for message in warnings:
        log.warning("checkpoint_fallback", message=message)
    try:
        _config, metadata = read_policy_config(policy_file)
        policy = load_policy(policy_file, expect=expect, map_location=map_location)
    except FileNotFoundError:
        raise CheckpointError(f"{policy_file}: vanished while loading") from None
    except PolicyMismatch:
        raise
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    state = load_training_state(state_file)
    return LoadedCheckpoint(
        policy=policy,
        state=state,
        metadata=metadata,
        path=policy_file,
        state_path=state_file,
        manifest=manifest,
        generation=generation,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- background saver


@dataclass(frozen=True)
class SaverStatistics:
    """Counters of a :class:`BackgroundSaver`."""

    done: int
    superseded: int
    failed: int
    seconds_writing: float
    pending: int
    running: str | None


@dataclass
class _Job:
    name: str
    fn: Callable[[], Any]
    droppable: bool


class BackgroundSaver:
    """Runs save jobs on one worker thread, in submission order.

    ``submit(name, fn)`` returns at once. A pending (not started) job is replaced by a newer
    job of the same name when it is droppable -- by default every name except ``best``, so a
    burst of ``last`` saves writes only the newest while every ``best`` is written. A failed
    job's exception is re-raised by the next ``submit``, ``wait`` or ``close`` (once; later
    failures before that are logged). ``close`` (or leaving the ``with`` block) writes what is
    pending and stops the thread. Jobs must not share mutable tensors with training: build
    them from :func:`snapshot_policy` / :func:`snapshot_state` copies."""

    NEVER_DROPPED: Final = frozenset({"best"})

    def __init__(self, *, thread_name: str = "exphil-checkpoint-saver") -> None:
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._running: _Job | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._done = 0
        self._superseded = 0
        self._failed = 0
        self._seconds = 0.0
        self._thread = threading.Thread(target=self._work, name=thread_name, daemon=True)
        self._thread.start()

    def _raise_error(self) -> None:
        """Re-raise (once) a failed job's exception; call with the lock held."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def submit(self, name: str, fn: Callable[[], Any], *, droppable: bool | None = None) -> None:
        """Queue ``fn()`` as the save job for checkpoint ``name``; ``droppable`` (default:
        ``name`` not in ``NEVER_DROPPED``) lets a later job of the same name replace it while
        it is still pending."""
        drop = name not in self.NEVER_DROPPED if droppable is None else droppable
        with self._cond:
            if self._closed:
                raise RuntimeError("the background saver is closed")
            self._raise_error()
            kept: list[_Job] = []
            for job in self._pending:
                if job.name == name and job.droppable:
                    self._superseded += 1
                else:
                    kept.append(job)
            kept.append(_Job(name, fn, drop))
            self._pending = kept
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                job = self._pending.pop(0)
                self._running = job
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                job.fn()
            except BaseException as exc:  # reported to the training thread
                error = exc
            elapsed = time.perf_counter() - started
            with self._cond:
                self._running = None
                self._seconds += elapsed
                if error is None:
                    self._done += 1
                else:
                    self._failed += 1
                    error.add_note(f"(in the background save job for checkpoint {job.name!r})")
                    if self._error is None:
                        self._error = error
                    else:
                        log.error("checkpoint_save_failed", name=job.name, error=repr(error))
                self._cond.notify_all()

    def check(self) -> None:
        """Re-raise (once) a failed job's exception now, without waiting for the others."""
        with self._cond:
            self._raise_error()

    def _idle(self) -> bool:
        return not self._pending and self._running is None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is pending or running (True) or ``timeout`` passes (False);
        re-raise a failed job's exception."""
        with self._cond:
            idle = self._cond.wait_for(self._idle, timeout)
            self._raise_error()
            return idle

    def close(self, *, raise_errors: bool = True) -> None:
        """Write what is pending, stop the worker; re-raise a failed job's exception."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            if raise_errors:
                self._raise_error()
            elif self._error is not None:
                log.error("checkpoint_save_failed", error=repr(self._error))
                self._error = None

    def statistics(self) -> SaverStatistics:
        with self._cond:
            return SaverStatistics(
                done=self._done,
                superseded=self._superseded,
                failed=self._failed,
                seconds_writing=self._seconds,
                pending=len(self._pending),
                running=self._running.name if self._running else None,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Pending saves are still written when leaving on an exception (e.g. Ctrl-C), but a
        # save error then is logged rather than hiding the original exception.
        self.close(raise_errors=exc_type is None)


# --------------------------------------------------------------------------- run folders


def _is_checkpoint_file(name: str) -> bool:
    if _is_temp_name(name):
        return False
    base = name
    m = re.search(r"\.bak(?:\.\d+)?$", name)
    if m:
        base = name[: m.start()]
    return base.endswith(POLICY_SUFFIX) or base.endswith(STATE_SUFFIX)


def _checkpoint_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _is_checkpoint_file(p.name))


def _describe(path: Path) -> str:
    st = path.stat()
    when = datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
    return f"{path.name} {st.st_size / MB:.1f} MB from {when}"


def _describe_files(files: list[Path]) -> str:
    main = [p for p in files if not re.search(r"\.bak(?:\.\d+)?$", p.name)] or files
    backups = len(files) - len(main)
    text = ", ".join(_describe(p) for p in main)
    return text + (f" (and {backups} backup file{'s' * (backups != 1)})" if backups else "")


def prepare_run_dir(
    parent: str | os.PathLike[str],
    name: str,
    *,
    overwrite: bool | None = None,
    claim: Callable[[Path], Callable[[], None] | str] | None = None,
) -> tuple[Path, list[str]]:
    """Create (if needed) and return the run folder ``parent/name`` and user-facing warnings.

    A folder without checkpoint files is used as is. One with checkpoints is never silently
    overwritten: ``overwrite=True`` uses it (files are rotated to backups as they are
    replaced) with a warning listing them; ``overwrite=False`` raises :class:`RunExists`;
    ``overwrite=None`` leaves it alone and uses the first free ``name-2``, ``name-3``, ...
    with a warning. Temp files of killed saves in the chosen folder are removed.

    ``claim(folder)`` (``Run.create`` passes a run-folder lock) takes each candidate folder
    before its files are looked at: it returns a function that gives the folder back, or a
    description of the process that holds it. A folder held by another process counts as
    taken: ``overwrite=None`` moves on to the next name, ``True`` and ``False`` raise
    :class:`RunInUse`. The folder returned stays claimed; those passed over are given back."""
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"bad run name {name!r}: a single folder name is needed")
    root = Path(parent)
    why_not_first = ""
    k = 1
    while True:
        folder = root / (name if k == 1 else f"{name}-{k}")
        folder.mkdir(parents=True, exist_ok=True)
        release: Callable[[], None] | None = None
        if claim is not None:
            got = claim(folder)
            if isinstance(got, str):
                if k == 1 and overwrite is not None:
                    raise RunInUse(
                        f"run folder {folder} is in use by {got}: its files cannot be "
                        f"{'replaced' if overwrite else 'checked'} while that run goes on; "
                        "wait for it to end (or stop it), or choose another --name"
                    )
                if k == 1:
                    why_not_first = f"is in use by {got}"
                k += 1
                continue
            release = got
        existing = _checkpoint_files(folder)
        if not existing:
            break
        if k == 1:
            described = _describe_files(existing)
            if overwrite is True:
                warnings = [
                    f"replacing run {name}: {described}; each file is rotated to a .bak "
                    "backup when it is replaced (unless backups are off)"
                ]
                remove_temp_files(folder)
                return folder, warnings
            if release is not None:
                release()
            if overwrite is False:
                raise RunExists(
                    f"run folder {folder} already holds checkpoints: {described}; pass "
                    "--overwrite to replace them (they are rotated to .bak backups as they "
                    "are replaced, unless backups are off) or choose another --name"
                )
            why_not_first = f"already exists in {root} ({described}); left untouched"
        elif release is not None:
            release()
        k += 1
    warnings = []
    if k > 1:
        if why_not_first.startswith("is in use"):
            warnings.append(f"run {name} in {root} {why_not_first}; writing to {folder} instead")
        else:
            warnings.append(
                f"run {name} {why_not_first}, writing to {folder} instead (pass --overwrite "
                "to replace it)"
            )
    remove_temp_files(folder)
    return folder, warnings


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


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class CheckpointInfo:
    """One ``*.safetensors`` file found by :func:`list_checkpoints`."""

    path: Path
    #: the stem (``last``, ``best``)
    name: str
    #: the folder holding it, relative to the listed folder ("." for the folder itself)
    run: str
    size: int
    mtime: float
    #: why this file is not a loadable policy (None: it is one)
    problem: str | None = None
    config: PolicyConfig | None = None
    backbone: str | None = None
    step: int | None = None
    epoch: int | None = None
    best_val_loss: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: a training state (``NAME.state.pt``) lies beside it
    has_state: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None


def _walk_safetensors(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.endswith(POLICY_SUFFIX) and not filename.startswith("."):
                yield Path(dirpath) / filename


def list_checkpoints(directory: str | os.PathLike[str]) -> list[CheckpointInfo]:
    """Every ``*.safetensors`` file under ``directory`` (or that one file), with its config and
    metadata read from the header (no weights loaded). Files that are not ExPhil policies are
    listed with ``problem`` set and ``ok`` false. Sorted by folder, then name."""
    root = Path(directory)
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = list(_walk_safetensors(root)), root
    else:
        raise CheckpointError(f"{root}: no such folder")
    out: list[CheckpointInfo] = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue  # removed while listing
        stem = path.name[: -len(POLICY_SUFFIX)] if path.name.endswith(POLICY_SUFFIX) else path.stem
        run = path.parent.relative_to(base).as_posix() if path.parent != base else "."
        common: dict[str, Any] = {
            "path": path,
            "name": stem,
            "run": run,
            "size": st.st_size,
            "mtime": st.st_mtime,
        }
        try:
            config, metadata = read_policy_config(path)
        except (ValueError, OSError) as exc:
            out.append(CheckpointInfo(**common, problem=f"skipped: {exc}"))
            continue
        loss = metadata.get("best_val_loss")
        out.append(
            CheckpointInfo(
                **common,
                config=config,
                backbone=config.backbone.kind,
                step=_int_or_none(metadata.get("step")),
                epoch=_int_or_none(metadata.get("epoch")),
                best_val_loss=float(loss) if isinstance(loss, int | float) else None,
                metadata=metadata,
                has_state=(path.parent / f"{stem}{STATE_SUFFIX}").is_file(),
            )
        )
    return out
