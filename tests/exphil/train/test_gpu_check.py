"""scripts/gpu_check.sh --tiny: the GPU check's rehearsal runs on a CPU and writes every
JSON file the real check writes (what they hold, never how fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_gpu_check_rehearses_on_a_cpu(tmp_path: Path) -> None:
    env = os.environ | {"OUT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--tiny"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = (tmp_path / "summary.txt").read_text()
    for part in ("scaling", "train", "inference", "dry_run"):
        assert f"{part}: exit 0" in summary, summary
    scaling = json.loads((tmp_path / "scaling.json").read_text())["scaling"]
    assert {(r["kind"], r["batch"]) for r in scaling["rows"]} == {
        ("mlp", 2), ("mlp", 4), ("lstm", 2), ("lstm", 4),
    }  # fmt: skip
    assert all(r["frames_per_s"] > 0 and r["gpu_busy"] is None for r in scaling["rows"])
    assert all(f["intercept_ms"] is not None for f in scaling["fixed"])
    train = json.loads((tmp_path / "train.json").read_text())["train_synthetic"]
    assert train["steps"] == 6 and train["frames_per_s"] > 0 and train["batch"] == 64
    tables = json.loads((tmp_path / "inference.json").read_text())["tables"]
    assert tables and all("play_frames_per_s_64" in r for rows in tables.values() for r in rows)
    assert "frames/s" in (tmp_path / "dry_run.txt").read_text()
