"""``exphil train-bc`` end to end, and the checkpoint tools on what it writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from exphil.cli import cli
from exphil.nets import read_policy_config


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.getbasetemp() / "exphil-cache"
    monkeypatch.setenv("EXPHIL_CACHE_DIR", str(cache))
    for var in ("EXPHIL_REPLAYS_DIR", "EXPHIL_CHECKPOINTS_DIR", "EXPHIL_DEFAULT_PRESET"):
        monkeypatch.delenv(var, raising=False)


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.output


def test_user_mistakes_are_short_errors_with_a_pointer(tmp_path: Path, replays_dir: Path) -> None:
    code, out = run("train-bc", "--preset", "quick", "--checkpoints-dir", str(tmp_path))
    assert code == 2 and "no replays given" in out and "README" in out
    assert "Traceback" not in out
    code, out = run("train-bc", "--preset", "quick", "--replays", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in out
    (tmp_path / "empty").mkdir()
    code, out = run("train-bc", "--preset", "quick", "--replays", str(tmp_path / "empty"))
    assert code == 2 and "no replays found" in out and "Traceback" not in out
    code, out = run("train-bc", "-r", str(replays_dir), "--backbone", "mlp", "--window", "30")
    assert code == 2 and "needs a temporal backbone" in out and "--window" in out
    code, out = run("train-bc", "-r", str(replays_dir), "--set", "optim.lrr=0.1")
    assert code == 2 and "did you mean 'lr'" in out
    code, out = run("train-bc", "-r", str(replays_dir), "--preset", "quikc")
    assert code == 2 and "quick" in out
    code, out = run("train-bc", "-r", str(replays_dir), "--debug", "--preset", "quikc")
    assert code == 2 and "Traceback" in out


def test_dry_run_trains_nothing(tmp_path: Path, replays_dir: Path) -> None:
    code, out = run(
        "train-bc", "--preset", "quick", "-r", str(replays_dir), "--max-files", "3",
        "--checkpoints-dir", str(tmp_path / "ck"), "--dry-run",
    )  # fmt: skip
    assert code == 0, out
    assert "Nothing was trained" in out and "parameters" in out and "3 games" in out
    assert not (tmp_path / "ck").exists()


def test_a_run_writes_checkpoints_that_the_tools_read(tmp_path: Path, replays_dir: Path) -> None:
    ck = tmp_path / "ck"
    args = [
        "train-bc", "--preset", "quick", "-r", str(replays_dir), "--max-files", "3",
        "--max-steps", "30", "--checkpoints-dir", str(ck), "--name", "r", "--seed", "4",
    ]  # fmt: skip
    code, out = run(*args)
    assert code == 0, out
    run_dir = ck / "r"
    for name in ("best.safetensors", "best.state.pt", "last.safetensors", "config.yaml"):
        assert (run_dir / name).exists(), name
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {x["kind"] for x in lines} == {"baseline", "train", "val"}
    assert "accuracy main stick x" in out and "chance" in out and "value loss" in out
    # the preset's reaction delay, for a player to read
    assert read_policy_config(run_dir / "best.safetensors")[1]["delay"] == 18

    code, out = run("list", str(ck))
    assert code == 0 and "mlp" in out and "best" in out and "last" in out
    code, out = run("info", str(run_dir / "best.safetensors"), "--no-embedding")
    assert code == 0 and "parameters by layer" in out and "training config" in out
    code, out = run("compare", str(run_dir / "best.safetensors"), str(run_dir / "last.safetensors"))
    assert code == 0 and "metrics" in out
    code, out = run(
        "compare", str(run_dir / "best.safetensors"), str(run_dir / "last.safetensors"),
        "--eval", str(replays_dir), "--max-files", "2",
    )  # fmt: skip
    assert code == 0 and "scored on the same games" in out and "acc/main_x" in out

    # the same name again: kept, the new run goes to r-2 with a warning naming the files
    code, out = run(*args, "--delay", "0")
    assert code == 0 and "r-2" in out and "MB" in out
    assert read_policy_config(ck / "r-2" / "last.safetensors")[1]["delay"] == 0
    code, out = run(*args, "--no-overwrite")
    assert code == 2 and "--overwrite" in out


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path: Path, replays_dir: Path) -> None:
    ck = tmp_path / "ck"
    env = dict(os.environ)
    cmd = [
        sys.executable, "-m", "exphil.cli", "train-bc", "--preset", "quick", "-r",
        str(replays_dir), "--max-files", "3", "--epochs", "50", "--checkpoints-dir", str(ck),
        "--name", "i", "--seed", "2", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metrics = ck / "i" / "metrics.jsonl"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if metrics.exists() and '"kind": "train"' in metrics.read_text():
            break
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out.decode()
    manifest = json.loads((ck / "i" / "last.json").read_text())
    assert manifest["step"] >= 1
    code, text = run("train-bc", "--resume", str(ck / "i"), "--hidden", "32")
    assert code == 2 and "cannot change on --resume" in text and "hidden" in text
    code, text = run(
        "train-bc", "--resume", str(ck / "i"), "--epochs", "1", "--set", "output.verbosity=normal"
    )
    assert code == 0, text
    assert "changes from the resumed run's config" in text and "epochs: 50 -> 1" in text
    after = json.loads((ck / "i" / "last.json").read_text())
    assert after["step"] >= manifest["step"]
