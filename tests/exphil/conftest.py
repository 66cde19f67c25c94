"""Fixtures for the exphil tests: the shared real replays."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# the user's own settings file (`exphil setup`) must not change what the tests see: point
# EXPHIL_CONFIG at a file that does not exist (tests of the settings set their own)
os.environ["EXPHIL_CONFIG"] = str(
    Path(tempfile.gettempdir()) / f"exphil-tests-{os.getpid()}" / "no-settings.toml"
)


@pytest.fixture(scope="session")
def replays_dir() -> Path:
    """``../shared/replays`` (or ``EXPHIL_TEST_REPLAYS``); skips when it is absent."""
    path = Path(os.environ.get("EXPHIL_TEST_REPLAYS", ROOT.parent / "shared" / "replays"))
    if not (path / "manifest.json").is_file():
        pytest.skip(f"real replays not found at {path} (set EXPHIL_TEST_REPLAYS)")
    return path
