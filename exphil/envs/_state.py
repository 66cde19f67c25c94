"""Helpers behind the envs' ``state_dict`` / ``load_state_dict``.

A state is a nested dict of torch tensors, Python scalars, strings, lists and None, so it
survives ``torch.save`` and ``torch.load(weights_only=True)``. Arrays become tensors of the
same dtype and shape (copies: a saved state never aliases the live object) and come back as
numpy copies, checked against what the loading object expects. ``torch`` is imported lazily:
stepping an env never needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from exphil.envs._protocol import Counters

if TYPE_CHECKING:
    import torch

__all__ = [
    "array_from_state",
    "check_kind",
    "config_differences",
    "counters_from_state",
    "counters_state",
    "int_from_state",
    "tensor",
]

Array = np.ndarray[Any, Any]


def tensor(arr: Array) -> torch.Tensor:
    """A torch copy of ``arr`` with the same dtype and shape."""
    import torch

    return torch.from_numpy(np.array(arr, copy=True, order="C"))


def check_kind(state: object, kind: str) -> Mapping[str, Any]:
    """``state`` as a mapping whose ``kind`` is ``kind``; else a ValueError saying what it is."""
    if not isinstance(state, Mapping):
        raise ValueError(f"a {kind} state must be a dict, got {type(state).__name__}")
    got = state.get("kind")
    if got != kind:
        raise ValueError(f"state kind: expected {kind!r}, got {got!r}")
    return state


def _field(state: Mapping[str, Any], key: str, owner: str) -> Any:
    if key not in state:
        raise ValueError(f"{owner} state: missing field {key!r}")
    return state[key]


def array_from_state(
    state: Mapping[str, Any],
    key: str,
    shape: tuple[int, ...],
    dtype: type[np.generic] | np.dtype[Any],
    owner: str,
) -> Array:
    """``state[key]`` (a tensor) as a fresh numpy array, which must have ``shape`` and
    ``dtype`` exactly; else a ValueError naming the field."""
    import torch

    value = _field(state, key, owner)
    want = np.dtype(dtype)
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{owner} state: {key} must be a tensor, got {type(value).__name__}")
    arr = value.detach().cpu().numpy()
    if arr.dtype != want or arr.shape != shape:
        raise ValueError(
            f"{owner} state: {key} must be {want} of shape {shape}, "
            f"got {arr.dtype} of shape {tuple(arr.shape)}"
        )
    return np.array(arr, copy=True)


def int_from_state(state: Mapping[str, Any], key: str, owner: str, minimum: int = 0) -> int:
    """``state[key]``, an int ``>= minimum``; else a ValueError naming the field."""
    value = _field(state, key, owner)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner} state: {key} must be an int >= {minimum}, got {value!r}")
    return value


def counters_state(c: Counters) -> dict[str, Any]:
    """The statistics counters of an env as plain ints."""
    return {
        "steps": c.steps,
        "terminated": c.terminated,
        "truncated": c.truncated,
        "wins": list(c.wins),
        "game_frames": c.game_frames,
    }


def counters_from_state(state: object, n: int, owner: str) -> Counters:
    """Counters for ``n`` games from :func:`counters_state`'s dict (validated)."""
    where = f"{owner} counters"
    if not isinstance(state, Mapping):
        raise ValueError(f"{where} state must be a dict, got {type(state).__name__}")
    c = Counters(n)
    c.steps = int_from_state(state, "steps", where)
    c.terminated = int_from_state(state, "terminated", where)
    c.truncated = int_from_state(state, "truncated", where)
    c.game_frames = int_from_state(state, "game_frames", where)
    wins = _field(state, "wins", where)
    if (
        not isinstance(wins, list | tuple)
        or len(wins) != 3
        or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 0 for w in wins)
    ):
        raise ValueError(f"{where} state: wins must be 3 ints >= 0, got {wins!r}")
    c.wins = [int(w) for w in wins]
    return c


def config_differences(saved: Any, current: Any, path: str = "") -> list[str]:
    """The fields (dotted paths) where two decoded JSON configs differ, as
    ``"field: saved X, this env Y"``."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out: list[str] = []
        for k in sorted(set(saved) | set(current), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in saved or k not in current:
                out.append(f"{sub}: saved {saved.get(k)!r}, this env {current.get(k)!r}")
            else:
                out += config_differences(saved[k], current[k], sub)
        return out
    if saved != current:
        return [f"{path or 'config'}: saved {saved!r}, this env {current!r}"]
    return []
