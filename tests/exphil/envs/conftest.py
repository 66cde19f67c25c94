"""Fixtures for the mock's tests: ``exphil mock calibrate`` run once on the Fox/Falco games
of ``../shared/corpus`` (``$EXPHIL_TEST_CORPUS`` overrides the folder); skips with the
reason when the corpus is absent."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from exphil.cli import cli

ROOT = Path(__file__).resolve().parents[3]
N_FILES = 14  # Fox/Falco dittos: enough samples of every quantity, well under 30 s


@pytest.fixture(scope="session")
def corpus_calibration(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """``exphil mock calibrate --json``'s ``characters`` over ``N_FILES`` Fox/Falco dittos
    of the corpus, parsed cold into a private cache."""
    corpus = Path(os.environ.get("EXPHIL_TEST_CORPUS", ROOT.parent / "shared" / "corpus"))
    manifest = corpus / "manifest.json"
    if not manifest.is_file():
        pytest.skip(f"replay corpus not found at {corpus} (set EXPHIL_TEST_CORPUS)")
    entries = json.loads(manifest.read_text())
    files = [corpus / e["file"] for e in entries if e.get("split") == "fox_falco_ditto"]
    files = [f for f in files if f.is_file()][:N_FILES]
    if not files:
        pytest.skip(f"no Fox/Falco ditto of {manifest} is in {corpus}")
    tmp = tmp_path_factory.mktemp("calibration")
    listing = tmp / "files.txt"
    listing.write_text("\n".join(map(str, files)) + "\n")
    result = CliRunner().invoke(
        cli,
        ["mock", "calibrate", f"@{listing}", "--json", "--cache-dir", str(tmp / "cache")],
    )
    assert result.exit_code == 0, result.output
    characters: list[dict[str, Any]] = json.loads(result.stdout)["characters"]
    return characters
