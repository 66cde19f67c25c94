"""Run folders and listing: :func:`prepare_run_dir` picks (and claims) the folder a run writes
its checkpoints to, never silently replacing one that holds checkpoints;
:func:`list_checkpoints` reads the headers of every policy file under a folder.

Run folder layout (``RUN = PARENT/NAME``; the checkpoint files: ``exphil.train._checkpoint``)::

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
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from exphil.nets import PolicyConfig, read_policy_config
from exphil.train._ckpt_files import (
    MB,
    POLICY_SUFFIX,
    STATE_SUFFIX,
    CheckpointError,
    _int_or_none,
    _is_temp_name,
    remove_temp_files,
)

__all__ = [
    "RunExists",
    "RunInUse",
    "prepare_run_dir",
    "CheckpointInfo",
    "list_checkpoints",
]


class RunExists(CheckpointError):
    """The run folder already holds checkpoints and overwriting was refused."""


class RunInUse(CheckpointError):
    """The run folder is held by another process (or another run in this one): a run
    folder is written by one process at a time."""


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
