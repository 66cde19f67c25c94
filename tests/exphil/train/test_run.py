"""Run: the run folder (overwrite protection), config.yaml, metrics and sinks, background
checkpoints, resume points, Ctrl-C; for TrainConfig and for any other root Struct."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from exphil.errors import UserError
from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.train import (
    CheckpointConfig,
    OptimConfig,
    OutputConfig,
    Run,
    TrainConfig,
    from_yaml_text,
    load_resume_point,
)
from exphil.train._checkpoint import load_training_state
from exphil.train._run import RunInUse


def small_policy() -> Policy:
    return Policy(
        PolicyConfig(
            backbone=BackboneConfig(kind="mlp", hidden=16, layers=1),
            id_embed_dim=4,
            head_hidden=16,
        )
    )


def test_a_run_folder_end_to_end(tmp_path: Path) -> None:
    warnings: list[str] = []
    seen: list[dict[str, Any]] = []
    cfg = TrainConfig(
        checkpoint=CheckpointConfig(dir=str(tmp_path), name="r", backup_count=1), epochs=3
    )
    run = Run.create(cfg, default_name="mlp", warn=warnings.append, sinks=[seen.append])
    assert run.directory == tmp_path / "r"
    assert from_yaml_text((run.directory / "config.yaml").read_text(), TrainConfig) == cfg
    run.log({"kind": "train", "step": 1, "loss": 2.5})
    run.log({"kind": "val", "step": 1, "val/loss": 2.0})
    lines = [json.loads(x) for x in run.metrics_path.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["train", "val"] and seen == lines
    policy = small_policy()
    state = {"step": 1, "epoch": 0, "config": msgspec.to_builtins(cfg)}
    run.save("last", policy, state, {"delay": 3})
    run.save("best", policy, state | {"step": 1}, {"delay": 3})
    run.close()
    run.close()  # idempotent
    for name in ("last.safetensors", "last.state.pt", "last.json", "best.json"):
        assert (run.directory / name).exists(), name

    point = load_resume_point(run.directory, TrainConfig)
    assert point.run_dir == run.directory and point.config == cfg
    assert point.state["step"] == 1 and point.metadata["delay"] == 3
    changed = msgspec.structs.replace(cfg, epochs=5)
    with Run.resume(point, changed) as again:
        again.log({"kind": "train", "step": 2})
    assert from_yaml_text((run.directory / "config.yaml").read_text(), TrainConfig) == changed
    assert len(run.metrics_path.read_text().splitlines()) == 3  # appended

    # the same name again: kept, the new run goes to r-2, with a warning naming the files
    with Run.create(cfg, default_name="mlp", warn=warnings.append) as second:
        assert second.directory == tmp_path / "r-2"
        second.save("last", policy, state)
    assert any("r-2" in w and "MB" in w for w in warnings)
    refuse = msgspec.structs.replace(
        cfg, checkpoint=msgspec.structs.replace(cfg.checkpoint, overwrite=False)
    )
    with pytest.raises(UserError, match="--overwrite"):
        Run.create(refuse, default_name="mlp")


def test_resume_points_refuse_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or folder"):
        load_resume_point(tmp_path / "nope", TrainConfig)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="--resume"):
        load_resume_point(tmp_path / "empty", TrainConfig)
    with Run(tmp_path / "noconfig", TrainConfig()) as run:
        run.save("last", small_policy(), {"step": 1})
    with pytest.raises(UserError, match="config does not read"):
        load_resume_point(tmp_path / "noconfig", TrainConfig)


class OtherConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A root without checkpoint / output sections (e.g. an algorithm's own)."""

    optim: OptimConfig = OptimConfig()
    games: int = 4


def test_any_root_config_with_explicit_sections(tmp_path: Path) -> None:
    cfg = OtherConfig(games=9)
    ck = CheckpointConfig(dir=str(tmp_path), name="ppo", backup_count=0)
    with Run.create(cfg, default_name="ppo", checkpoint=ck, output=OutputConfig()) as run:
        assert run.directory == tmp_path / "ppo"
        run.save("last", small_policy(), {"step": 3, "config": msgspec.to_builtins(cfg)})
    point = load_resume_point(tmp_path / "ppo", OtherConfig)
    assert point.config == cfg and point.state["step"] == 3


def test_ctrl_c_sets_stop_then_aborts(tmp_path: Path) -> None:
    warnings: list[str] = []
    before = signal.getsignal(signal.SIGINT)
    with Run(tmp_path, OtherConfig(), warn=warnings.append) as run:
        with run.interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            assert run.stop.is_set() and "Ctrl-C again" in warnings[0]
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is before


# --------------------------------------------------------------------------- one owner


def test_a_run_folder_has_one_owner_at_a_time(tmp_path: Path) -> None:
    cfg = TrainConfig(checkpoint=CheckpointConfig(dir=str(tmp_path), name="r"))
    warnings: list[str] = []
    first = Run.create(cfg, default_name="mlp", warn=warnings.append)
    assert first.directory == tmp_path / "r" and first.lock.held
    holder = json.loads((first.directory / ".lock").read_text())
    assert holder["pid"] == os.getpid()

    # a second run of that name while the first is open (no checkpoint yet): NAME-2
    with Run.create(cfg, default_name="mlp", warn=warnings.append) as second:
        assert second.directory == tmp_path / "r-2"
    assert "is in use by another run in this process" in warnings[-1] and "r-2" in warnings[-1]
    for overwrite in (True, False):  # asked to replace it, or never to take another name
        strict = msgspec.structs.replace(
            cfg, checkpoint=msgspec.structs.replace(cfg.checkpoint, overwrite=overwrite)
        )
        with pytest.raises(RunInUse, match=r"run folder .*r is in use by"):
            Run.create(strict, default_name="mlp")
    with pytest.raises(RunInUse, match="one process at a time"):
        Run(tmp_path / "r", cfg)
    first.log({"kind": "train", "step": 1, "run": "first"})
    first.save("last", small_policy(), {"step": 1, "config": msgspec.to_builtins(cfg)})
    first.wait()
    point = load_resume_point(tmp_path / "r", TrainConfig)
    with pytest.raises(RunInUse):  # resuming a run that is still going
        Run.resume(point, cfg)
    first.close()
    assert not first.lock.held
    with Run.resume(point, cfg) as again:  # given back on close
        assert again.lock.held

    # replaced (--overwrite): the new run's metrics start empty, the old ones are a backup
    replace = msgspec.structs.replace(
        cfg, checkpoint=msgspec.structs.replace(cfg.checkpoint, overwrite=True)
    )
    with Run.create(replace, default_name="mlp", warn=warnings.append) as third:
        assert third.directory == tmp_path / "r" and not third.metrics_path.exists()
        third.log({"kind": "train", "step": 1, "run": "third"})
    assert "replacing run r" in warnings[-1]
    backup = (tmp_path / "r" / "metrics.jsonl.bak").read_text()
    assert '"run": "first"' in backup and '"run": "third"' not in backup


def test_two_runs_started_at_once_with_one_name(tmp_path: Path) -> None:
    """Two processes open a run named ``r`` at the same moment: one gets ``r``, the other
    ``r-2``, and every file of each folder (config, metrics, checkpoints and backups) is its
    own run's. The one killed with its run open leaves a lock that is taken over."""
    go = tmp_path / "go"
    racer = Path(__file__).with_name("_run_racer.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {
        seed: subprocess.Popen(
            [sys.executable, str(racer), str(tmp_path / "ck"), str(seed), str(go), mode],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed, mode in ((11, "close"), (22, "kill"))
    }
    for proc in procs.values():
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.communicate()[0]
    go.touch()
    outputs = {seed: proc.communicate(timeout=60)[0] for seed, proc in procs.items()}
    assert procs[11].returncode == 0, outputs[11]
    assert procs[22].returncode == -signal.SIGKILL, outputs[22]
    folders = {
        seed: Path(next(x for x in out.splitlines() if x.startswith("dir ")).removeprefix("dir "))
        for seed, out in outputs.items()
    }
    assert sorted(p.name for p in folders.values()) == ["r", "r-2"]
    second = next(seed for seed, p in folders.items() if p.name == "r-2")
    assert "ck is in use by another process (pid" in outputs[second]
    assert "_run_racer.py" in outputs[second] and "r-2 instead" in outputs[second]
    for seed, folder in folders.items():
        saved = from_yaml_text((folder / "config.yaml").read_text(), TrainConfig)
        metrics = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
        assert saved.seed == seed and [m["seed"] for m in metrics] == [seed] * 3
        for name in ("last.state.pt", "last.state.pt.bak"):
            assert load_training_state(folder / name)["seed"] == seed, (folder, name)
    # the killed run's lock is free: resumed at once, from its last save
    point = load_resume_point(folders[22], TrainConfig)
    assert point.state["step"] == 3
    with Run.resume(point, point.config) as resumed:
        assert json.loads((resumed.directory / ".lock").read_text())["pid"] == os.getpid()
