"""``exphil kmeans``: stick centers from real replays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from exphil.cli import cli
from exphil.embed import ControllerConfig


def test_kmeans_fits_centers_that_a_config_loads(replays_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sticks.json"
    result = CliRunner().invoke(
        cli, ["kmeans", str(replays_dir), "--k", "21", "--max-files", "12", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["k"] == 21 and data["replays"] >= 1 and data["samples"] > 10_000
    cfg = ControllerConfig.from_centers_file(out)
    centers = cfg.axis_values
    assert len(centers) == 21 and (np.diff(centers) > 0).all() and 0.0 in centers.tolist()
    assert centers.min() >= -1 and centers.max() <= 1


def test_kmeans_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["kmeans", str(tmp_path / "missing"), "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 2
    (tmp_path / "a.slp").write_bytes(b"not a replay")
    res = runner.invoke(cli, ["kmeans", str(tmp_path), "-o", str(tmp_path / "c.json")])
    assert res.exit_code == 2 and "readable 1v1 replay" in res.output
    res = runner.invoke(cli, ["kmeans", str(tmp_path), "-o", str(tmp_path / "no" / "c.json")])
    assert res.exit_code == 2 and "does not exist" in res.output
