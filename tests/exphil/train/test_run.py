"""Run: the run folder (overwrite protection), config.yaml, metrics and sinks, background
checkpoints, resume points, Ctrl-C; for TrainConfig and for any other root Struct."""

from __future__ import annotations

import json
import os
import signal
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
