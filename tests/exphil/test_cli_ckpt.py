"""``exphil list``, ``info``, ``compare`` and ``export`` on small checkpoints written here
(no training): run names are never cut, ``info`` is a summary unless asked for the tables,
``compare`` says when stored validation metrics come from different games, and user text with
rich markup in it (paths, run names, config values) is printed verbatim."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from exphil.cli import cli
from exphil.cli.ckpt import validation_note
from exphil.nets import BackboneConfig, Policy, PolicyConfig
from exphil.train import DataConfig, TrainConfig
from exphil.train._checkpoint import save_checkpoint

LONG = "gru-20261125-101500-a-long-run-name"


def write_run(
    folder: Path,
    *,
    seed: int = 1,
    max_files: int | None = None,
    frames: float = 3354.0,
    names: tuple[str, ...] = ("best", "last"),
    replays: str = "/data/slp",
) -> Path:
    policy_config = PolicyConfig(
        backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), head_hidden=16
    )
    config = TrainConfig(
        policy=policy_config,
        data=DataConfig(replays=[replays], max_files=max_files, window=1),
        seed=seed,
    )
    state = {
        "step": 10,
        "epoch": 1,
        "seed": seed,
        "config": json.loads(msgspec.json.encode(config)),
    }
    meta = {
        "seed": seed,
        "best_val_loss": 1.25,
        "delay": 18,
        "characters": ["Fox", "Falco"],
        "stages": ["Final Destination"],
        "val": {"val/loss": 1.25, "val/acc/buttons": 0.5, "val/frames": frames},
    }
    policy = Policy(policy_config)
    for name in names:
        save_checkpoint(folder, name, policy, state, metadata=meta, backup_count=0)
    return folder


def run(*args: str, columns: int = 80) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(columns)})
    return result.exit_code, result.output


def test_list_never_cuts_run_names(tmp_path: Path) -> None:
    write_run(tmp_path / LONG)
    write_run(tmp_path / "mlp-b", names=("last",))
    code, out = run("list", str(tmp_path), columns=80)
    assert code == 0, out
    assert LONG in out and "…" not in out
    assert "left out to fit the terminal" in out and "--json" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out = run("list", str(tmp_path), columns=160)
    assert code == 0 and LONG in out and "left out" not in out
    assert "epoch" in out and "MB" in out
    # narrower than the name itself: it folds onto two lines, whole, never "…"
    code, out = run("list", str(tmp_path), columns=30)
    assert code == 0 and "…" not in out
    lines = out.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("gru-"))
    name = lines[row].split()[0]
    for line in lines[row + 1 :]:
        if not LONG.startswith(name + line.split()[0]):
            break
        name += line.split()[0]
    assert name == LONG


def test_info_is_a_summary_unless_asked_for_the_tables(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "r", max_files=6)
    code, out = run("info", str(folder))
    assert code == 0, out
    assert len(out.splitlines()) < 30
    assert "parameters:" in out and "controller_head" in out
    assert "trained on characters Fox, Falco; stages Final Destination" in out
    assert "validation (3,354 frames)" in out
    assert "data.max_files: 6" in out and "differ from the defaults" in out
    assert "controller_head.heads.buttons" not in out and "offset" not in out
    assert "--layers" in out and "--embedding" in out and "--config" in out
    code, out = run("info", str(folder), "--layers")
    assert code == 0 and "parameters by layer" in out and "controller_head.heads.buttons" in out
    code, out = run("info", str(folder), "--embedding")
    assert code == 0 and "offset" in out and "self.percent" in out
    code, out = run("info", str(folder), "--config")
    assert code == 0 and "val_fraction: 0.1" in out and "max_files: 6" in out
    # a bare policy file: no training state, said so
    code, out = run("info", str(folder / "last.safetensors"))
    assert code == 0, out
    assert "no training state" not in out  # its state.pt lies beside it
    bare = tmp_path / "bare.safetensors"
    bare.write_bytes((folder / "last.safetensors").read_bytes())
    code, out = run("info", str(bare))
    assert code == 0 and "training config: none to show" in out


def test_compare_says_when_validation_sets_differ(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", seed=1, max_files=20, frames=3354.0)
    b = write_run(tmp_path / "b", seed=2, frames=34125.0)
    code, out = run("compare", str(a), str(b), columns=200)
    assert code == 0, out
    assert "validated on different games (A 3,354 frames, B 34,125 frames" in out
    assert "data.max_files, seed" in out and "not comparable" in out
    assert f"exphil compare {a} {b} --eval REPLAYS" in out
    # the same run's best and last: the same validation games, no note
    code, out = run("compare", str(a / "best.safetensors"), str(a / "last.safetensors"))
    assert code == 0 and "same configuration" in out and "note:" not in out
    # the same frame count from another seed: may differ
    c = write_run(tmp_path / "c", seed=3, max_files=20, frames=3354.0)
    code, out = run("compare", str(a), str(c), columns=200)
    assert code == 0 and "may have been validated on different games" in out and "seed" in out


def test_validation_note_needs_metrics_on_both_sides() -> None:
    val = {"val": {"val/frames": 10.0}}
    assert validation_note({}, val, None, None) is None
    assert validation_note(val | {"seed": 1}, val | {"seed": 1}, None, None) is None
    note = validation_note(val, {"val": {"val/frames": 11.0}}, None, None)
    assert note is not None and "A 10 frames, B 11 frames" in note


def test_user_text_with_markup_is_printed_verbatim(tmp_path: Path) -> None:
    root = tmp_path / "ck [/x]"  # "ck [" / "x]"
    a = write_run(root / "r[bold]", replays="/data/[/slp]")
    b = write_run(root / "s[/b]", seed=9, frames=10.0, replays="/data/[red]")
    code, out = run("list", str(root), columns=200)
    assert code == 0, out
    assert "ck [/x]" in out and "r[bold]" in out and "s[/b]" in out
    code, out = run("info", str(a))
    assert code == 0, out
    assert str(a / "best.safetensors") in out and "data.replays: ['/data/[/slp]']" in out
    code, out = run("compare", str(a), str(b), columns=300)
    assert code == 0, out
    assert str(a) in out and str(b) in out and "'/data/[red]'" in out
    code, out = run("list", str(root / "nope [/x]"))
    assert code == 2 and "nope [/x]" in out and "Traceback" not in out
    code, out = run("info", str(root / "nope [/x]"))
    assert code == 2 and "nope [/x]" in out and "Traceback" not in out


@pytest.mark.slow
def test_export_prints_bracketed_paths_verbatim(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "r[/b]", names=("last",))
    out_dir = tmp_path / "onnx [/x]"
    out_dir.mkdir(parents=True)
    target = out_dir / "p[bold].onnx"
    target.write_bytes(b"old")  # replaced, and said so
    code, out = run("export", str(folder), "--onnx", str(target), "--steps", "2", columns=300)
    assert code == 0, out
    assert f"exporting {folder / 'last.safetensors'}" in out
    assert f"replaced {target}" in out and str(target) in out
