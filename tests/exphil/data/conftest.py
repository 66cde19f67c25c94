"""Fixtures for the replay-corpus tests: one deep scan of the real corpus, shared."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exphil.data import GameCache, ScanResult, discover, scan


@dataclass(frozen=True)
class Corpus:
    """The real replays, scanned once (``jobs=2``, a fresh cache) for the whole session."""

    root: Path
    files: list[Path]
    results: list[ScanResult]
    cache: GameCache
    manifest: dict[str, dict[str, Any]]  # by path relative to ``root``

    def rel(self, r: ScanResult) -> str:
        return os.path.relpath(r.path, self.root)

    def result(self, rel: str) -> ScanResult:
        path = str(self.root / rel)
        return next(r for r in self.results if r.path == path)

    def path(self, rel: str) -> Path:
        return self.root / rel


@pytest.fixture(scope="session")
def corpus(replays_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = replays_dir.resolve()
    manifest = {e["file"]: e for e in json.loads((root / "manifest.json").read_text())}
    files = discover([root])
    cache = GameCache(tmp_path_factory.mktemp("corpus-cache"))
    results = scan(files, cache=cache, jobs=2)
    yield Corpus(root, files, results, cache, manifest)
    cache.close()
