"""Checkpoints: the policy as safetensors (config in the header) plus a training-state file,
written atomically, in the background, with rotated backups and a manifest that ties the pair
together.

The run folder's layout is in ``exphil.train._run_dir``; this module writes and reads one
checkpoint (``RUN/NAME.safetensors``, ``RUN/NAME.state.pt`` and the manifest ``RUN/NAME.json``)
and re-exports the names of its parts: files and backups (``_ckpt_files``), training states
(``_train_state``), the background saver (``_saver``), run folders and listing (``_run_dir``).

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

Training states: see ``exphil.train._train_state``. Background saving: snapshot on the training
thread (:func:`snapshot_policy`, :func:`snapshot_state`: detached CPU copies), then hand a
closure to :class:`BackgroundSaver` (``exphil.train._saver``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import structlog
import torch
from torch import Tensor, nn

from exphil import _atomic
from exphil.nets import (
    Policy,
    PolicyConfig,
    PolicyMismatch,
    load_policy,
    read_policy_config,
    save_policy,
)
from exphil.train._ckpt_files import (
    MANIFEST_SUFFIX,
    MB,
    POLICY_SUFFIX,
    STATE_SUFFIX,
    CheckpointError,
    _backups,
    _generation_path,
    _int_or_none,
    _prune_backups,
    atomic_write,
    atomic_write_bytes,
    backup_path,
    remove_temp_files,
    rotate_backups,
    size_warning,
)
from exphil.train._run_dir import (
    CheckpointInfo,
    RunExists,
    RunInUse,
    list_checkpoints,
    prepare_run_dir,
)
from exphil.train._saver import BackgroundSaver, SaverStatistics
from exphil.train._train_state import (
    check_state,
    load_training_state,
    save_training_state,
    snapshot_state,
    snapshot_state_dict,
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

MANIFEST_FORMAT: Final = "exphil-checkpoint/1"

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_+=@-]*")

log = structlog.get_logger("exphil.train.checkpoint")


class CheckpointSpaceError(CheckpointError):
    """A save did not fit on the disk (or in the quota) of the run folder. Nothing was
    replaced: the previous files of every checkpoint are intact. ``needed`` and ``free`` are
    bytes (``free`` as measured after the failed save's temp files were removed)."""

    def __init__(self, message: str, *, needed: int, free: int | None) -> None:
        super().__init__(message)
        self.needed = needed
        self.free = free


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
