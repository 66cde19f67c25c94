"""Training states: a dict whose values are, recursively, tensors, ``dict``/``OrderedDict``
(keys str/int/float/bool/None), ``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``,
``None``, ``torch.Size``, ``torch.dtype`` or ``torch.device`` -- exactly what ``torch.load(...,
weights_only=True)`` rebuilds without running code. Anything else (a numpy array, a set, an
object) is refused on save with a ``TypeError`` naming its key path; convert numpy arrays with
``torch.from_numpy`` (``exphil.train.capture_rng`` does that for numpy's RNG). Optimizer and
scheduler ``state_dict()`` outputs are fine.

A checkpoint's ``NAME.state.pt`` is such a state (see ``exphil.train._checkpoint``);
:func:`snapshot_state` and :func:`snapshot_state_dict` take the detached CPU copies that a
background save writes.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import torch
from torch import Tensor, nn

from exphil.train._ckpt_files import CheckpointError, atomic_write

__all__ = [
    "check_state",
    "save_training_state",
    "load_training_state",
    "snapshot_state_dict",
    "snapshot_state",
]

_ZIP_MAGIC: Final = b"PK\x03\x04"

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
