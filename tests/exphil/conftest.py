"""Fixtures for the exphil tests: the shared real replays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def replays_dir() -> Path:
    """``../shared/replays`` (or ``EXPHIL_TEST_REPLAYS``); skips when it is absent."""
    path = Path(os.environ.get("EXPHIL_TEST_REPLAYS", ROOT.parent / "shared" / "replays"))
    if not (path / "manifest.json").is_file():
        pytest.skip(f"real replays not found at {path} (set EXPHIL_TEST_REPLAYS)")
    return path
