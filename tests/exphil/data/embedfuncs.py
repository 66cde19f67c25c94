"""Helpers for the embedded-store tests: a tiny store layout and a producer, importable by
the subprocesses of the concurrency test."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exphil.data.embedded import ArraySpec, ItemFailed, grow_pool

SPECS = [ArraySpec("a", np.dtype(np.float32), 3), ArraySpec("b", np.dtype(np.uint8), 2)]
SEGMENTS = np.dtype([("offset", "<i8"), ("length", "<i8"), ("key", "<U32"), ("port", "<i1")])
DIGEST = "d" * 32


@dataclass(frozen=True)
class Item:
    key: str
    path: str


def item(i: int) -> Item:
    return Item(f"k{i:03d}", f"/r/{i}.slp")


def rows(i: int, port: int) -> dict[str, Any]:
    """Game ``i``'s rows from ``port``'s side: ``i + 2`` rows whose values say who they are."""
    n = i + 2
    a = np.full((n, 3), i * 10 + port, dtype=np.float32)
    a[:, 2] = np.arange(n)
    b = np.full((n, 2), (i + port) % 256, dtype=np.uint8)
    return {"a": a, "b": b}


def produce(it: Item, *, fail: frozenset[str] = frozenset(), slow: float = 0.0) -> Any:
    i = int(it.key[1:])
    if it.key in fail:
        raise ItemFailed("embed", f"game {i} cannot be embedded")
    time.sleep(slow)
    return [({"port": p}, rows(i, p)) for p in (0, 1)]


def grow(folder: Path, items: list[Item], **kw: Any) -> Any:
    return grow_pool(folder, DIGEST, SPECS, SEGMENTS, items, lambda it: produce(it, **kw), {})


if __name__ == "__main__":  # grow FOLDER FIRST LAST: a concurrent writer
    folder, first, last = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    grow(folder, [item(i) for i in range(first, last)], slow=0.01)
