"""exphil train-ppo: a tiny run, its folder, resume, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from exphil.cli import cli

TINY = ["--set", "env.games=4", "--set", "rollout=8", "--set", "minibatches=2",
        "--set", "env.time_limit=60", "--set", "policy.backbone.hidden=16"]  # fmt: skip


def test_a_tiny_run_writes_its_folder_and_resumes(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["train-ppo", "--preset", "quick", "--updates", "2", "--name", "t",
            "--checkpoints-dir", str(tmp_path), *TINY]  # fmt: skip
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    run = tmp_path / "t"
    for name in ("config.yaml", "metrics.jsonl", "last.safetensors", "initial.safetensors"):
        assert (run / name).exists(), name
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in records if x.get("kind") == "update"] == [1, 2]
    r = runner.invoke(cli, ["train-ppo", "--resume", str(run), "--updates", "3"])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in records if x.get("kind") == "update"] == [1, 2, 3]
    # the result plays: eval takes the run folder
    r = runner.invoke(cli, ["eval", str(run), "--vs", str(run / "initial.safetensors"),
                            "--games", "2", "--stocks", "1", "--minutes", "0.05"])  # fmt: skip
    assert r.exit_code == 0, r.output


def test_user_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(cli, ["train-ppo", "--init", str(tmp_path / "nope.safetensors")])
    assert r.exit_code == 2 and "no policy file" in r.output
    r = runner.invoke(cli, ["train-ppo", "--set", "loss.clipp=0.1"])
    assert r.exit_code == 2 and "clip" in r.output
    r = runner.invoke(cli, ["train-ppo", "--preset", "nope"])
    assert r.exit_code == 2 and "quick" in r.output
