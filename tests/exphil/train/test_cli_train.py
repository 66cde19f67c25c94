"""``exphil train-bc`` end to end, and the checkpoint tools on what it writes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
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


def events(out: str) -> list[dict[str, Any]]:
    """The JSON log lines in ``out`` (off a terminal, logs are JSON lines)."""
    return [json.loads(x) for x in out.splitlines() if x.startswith("{") and '"event"' in x]


#: the shared test replays are short games: runs of 3 keep one of them for validation
SMALL_VALIDATION = ("--set", "data.min_val_games=1", "--set", "data.min_val_frames=0")
#: a table row of nothing but borders (the summary had one for a header)
EMPTY_HEADER = re.compile(r"^[┃│](\s+[┃│])+\s*$", re.MULTILINE)


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


def test_dry_run_trains_nothing_and_checks_the_validation_size(
    tmp_path: Path, replays_dir: Path
) -> None:
    args = [
        "train-bc", "--preset", "quick", "-r", str(replays_dir), "--max-files", "3",
        "--seed", "2", "--checkpoints-dir", str(tmp_path / "ck"), "--dry-run",
    ]  # fmt: skip
    # 3 short games: 1 held out (at most half are) is below the minimum (2 games, 3600 frames)
    code, out = run(*args)
    assert code == 2 and "Traceback" not in out, out
    assert re.search(r"validation holds 1 game \([\d,]+ frames, \d+ s of play\)", out), out
    assert "at least 2 games and 3,600 frames are needed" in out
    assert "data.min_val_frames" in out and "--val-fraction 0" in out
    code, out = run(*args, "--val-fraction", "0.5")
    assert code == 0, out
    assert "Nothing was trained" in out and "parameters" in out and "3 games" in out
    assert re.search(r"validation: 2 games, [\d,]+ frames \(4 perspectives\)", out), out
    # the batch this device trains with and the frames/s a few timed steps give
    assert re.search(r"on cpu: batch 64 frames, 64 loss frames per step, lr 0.0003;", out), out
    assert re.search(r"expected speed about [\d,]+ frames/s \([\d.,]+ ms per step", out), out
    assert not (tmp_path / "ck").exists()


def test_a_run_writes_checkpoints_that_the_tools_read(tmp_path: Path, replays_dir: Path) -> None:
    ck = tmp_path / "ck"
    args = [
        "train-bc", "--preset", "quick", "-r", str(replays_dir), "--max-files", "3",
        "--max-steps", "30", "--checkpoints-dir", str(ck), "--name", "r", "--seed", "4",
        *SMALL_VALIDATION,
    ]  # fmt: skip
    code, out = run(*args)
    assert code == 0, out
    assert not EMPTY_HEADER.search(out), out  # the summary has no empty header row
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
    # progress of both scorings, as log lines (not a terminal)
    stages = [(e["task"], e["stage"]) for e in events(out) if e["event"] == "progress"]
    assert ("scoring A", "score") in stages and ("scoring B", "score") in stages

    # the same name again: kept, the new run goes to r-2 with a warning naming the files
    code, out = run(*args, "--delay", "0", "--prev-controller")
    assert code == 0 and "r-2" in out and "MB" in out
    assert read_policy_config(ck / "r-2" / "last.safetensors")[1]["delay"] == 0
    # the presets leave the previous controller out; the flag puts it back
    assert not read_policy_config(run_dir / "best.safetensors")[0].embed.controller
    assert read_policy_config(ck / "r-2" / "last.safetensors")[0].embed.controller
    code, out = run(*args, "--no-overwrite")
    assert code == 2 and "--overwrite" in out


def test_ctrl_c_saves_a_resumable_checkpoint(
    tmp_path: Path, replays_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted with Ctrl-C (a quiet run, replays given as a relative path), then resumed
    from another folder: the stored replay path is absolute, the resume is not quiet, shows
    progress as log lines (not a terminal) and names the checkpoint once."""
    ck = tmp_path / "ck"
    started_in = tmp_path / "first"
    started_in.mkdir()
    env = dict(os.environ)
    cmd = [
        sys.executable, "-m", "exphil.cli", "train-bc", "--preset", "quick", "-r",
        os.path.relpath(replays_dir, started_in), "--max-files", "3", "--epochs", "50",
        "--checkpoints-dir", str(ck), "--name", "i", "--seed", "2", "--quiet",
        *SMALL_VALIDATION,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, cwd=started_in, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
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
    assert b"train progress" not in out  # --quiet: errors and the summary only
    manifest = json.loads((ck / "i" / "last.json").read_text())
    assert manifest["step"] >= 1
    saved = yaml.safe_load((ck / "i" / "config.yaml").read_text())
    assert saved["data"]["replays"] == [os.path.abspath(replays_dir)]  # stored absolute

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, text = run("train-bc", "--resume", str(ck / "i"), "--hidden", "32")
    assert code == 2 and "cannot change on --resume" in text and "hidden" in text
    code, text = run("train-bc", "--resume", str(ck / "i"), "--epochs", "1")
    assert code == 0, text
    # not quiet: --quiet was the first command's, not the run's
    assert "changes from the resumed run's config" in text and "epochs: 50 -> 1" in text
    assert "output.verbosity" not in text
    assert "the resumed run" in text and text.count("last.safetensors") == 1
    progress = [e for e in events(text) if e["event"] == "train progress"]
    assert progress and progress[-1]["batch"] == progress[-1]["batches"]  # the epoch's end
    assert {"epoch", "step", "total_steps", "loss", "eta_s"} <= set(progress[0])
    assert not EMPTY_HEADER.search(text)
    after = json.loads((ck / "i" / "last.json").read_text())
    assert after["step"] >= manifest["step"]


def test_a_stored_relative_replay_path_is_named_on_resume(
    tmp_path: Path, replays_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run saved with a relative replay path (as older versions stored it), resumed from
    another folder: the error says it is the run's stored path and that --replays gives it
    again; with --replays the resume goes on."""
    import msgspec

    from exphil.nets import BackboneConfig, Policy, PolicyConfig
    from exphil.train import DataConfig, Run, TrainConfig

    policy = PolicyConfig(
        backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), id_embed_dim=4, head_hidden=8
    )
    data = DataConfig(
        replays=["../shared/replays"], max_files=3, window=1, min_val_games=1, min_val_frames=0
    )
    cfg = TrainConfig(policy=policy, data=data, seed=2)
    with Run(tmp_path / "old", cfg) as old:
        old.save("last", Policy(policy), {"step": 1, "seed": 2, "config": msgspec.to_builtins(cfg)})
    monkeypatch.chdir(tmp_path)
    code, out = run("train-bc", "--resume", str(tmp_path / "old"))
    assert code == 2 and "Traceback" not in out, out
    assert "replay path ../shared/replays does not exist: it is the resumed run's own" in out
    assert "relative to the folder that run was started in" in out
    assert "pass --replays PATH to give the replays again" in out
    resume = ("train-bc", "--resume", str(tmp_path / "old"))
    code, out = run(*resume, "-r", str(replays_dir), "--dry-run")
    assert code == 0 and "Nothing was trained" in out, out
    assert f"data.replays: ['../shared/replays'] -> ['{os.path.abspath(replays_dir)}']" in out


def test_a_full_disk_stops_the_run_with_its_last_good_checkpoint(
    tmp_path: Path, replays_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up after the first save: the next save is refused, the run stops with
    a short error (how much was needed and free) and how to resume; 'last' is the first."""
    from exphil.train import _checkpoint

    saves = []

    def free(folder: Path) -> int:
        saves.append(folder)
        return 10**12 if len(saves) == 1 else 50_000

    monkeypatch.setattr(_checkpoint, "_free_bytes", free)
    ck = tmp_path / "ck"
    code, out = run(
        "train-bc", "--preset", "quick", "-r", str(replays_dir), "--max-files", "3",
        "--max-steps", "40", "--checkpoints-dir", str(ck), "--name", "f", "--seed", "4",
        "--set", "checkpoint.every_steps=10", *SMALL_VALIDATION,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in out, out
    assert "checkpoint 'last' not saved in" in out and "50 kB free" in out
    assert "the previous 'last' (step 10)" in out
    assert f"once there is room: exphil train-bc --resume {ck / 'f'}" in out
    assert json.loads((ck / "f" / "last.json").read_text())["step"] == 10
