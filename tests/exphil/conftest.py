"""Fixtures for the exphil tests: the shared real replays, a fake Slippi Dolphin and ISO."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# an executable that behaves like Slippi Dolphin (its docstring says how)
FAKE_DOLPHIN = Path(__file__).resolve().parent / "envs" / "dolphin" / "fake_dolphin.py"

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


@pytest.fixture
def fake_dolphin(tmp_path: Path) -> Path:
    """An executable that behaves like Slippi Dolphin (see envs/dolphin/fake_dolphin.py)."""
    exe = tmp_path / "Slippi_Dolphin"
    exe.write_text(
        f"#!{sys.executable}\nimport runpy, sys\nsys.argv[0] = {str(FAKE_DOLPHIN)!r}\n"
        f"runpy.run_path({str(FAKE_DOLPHIN)!r}, run_name='__main__')\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@pytest.fixture
def fake_iso(tmp_path: Path) -> Path:
    """A file whose disc header reads as Melee NTSC 1.02 (GALE01, revision 2)."""
    iso = tmp_path / "melee.iso"
    iso.write_bytes(b"GALE01\x00\x02" + bytes(4096))
    return iso
