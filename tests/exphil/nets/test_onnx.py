"""ONNX export: every backbone's graphs run in ONNX Runtime exactly as the PyTorch policy
plays (same controllers, same log-probs, values and states, frame after frame), a graph that
disagrees is refused and nothing is written, and ``exphil export`` reports what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from exphil.cli import cli
from exphil.embed import ControllerConfig, EmbedConfig
from exphil.nets import (
    BACKBONE_KINDS,
    COMPONENTS,
    NOISE_WIDTH,
    BackboneConfig,
    Policy,
    PolicyConfig,
    _onnx,
    save_policy,
)
from exphil.nets._onnx import ExportMismatch, OnnxPolicy, export_onnx

FAST = {"steps": 3, "batches": (1, 3)}


def small(kind: str, **embed: Any) -> PolicyConfig:
    return PolicyConfig(
        embed=EmbedConfig(**embed),
        backbone=BackboneConfig(kind=kind, hidden=32, layers=2, window=6, heads=2),
        controller=ControllerConfig(axis_buckets=8),
        id_embed_dim=8,
        head_hidden=16,
    )


def frames(policy: Policy, batch: int, n: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        dense = torch.randn(batch, policy.dense_dim, generator=gen)
        ids = torch.stack(
            [torch.randint(0, s.size, (batch,), generator=gen) for s in policy.id_specs], dim=1
        ) if policy.id_specs else torch.zeros(batch, 0, dtype=torch.int64)  # fmt: skip
        noise = torch.rand(batch, NOISE_WIDTH, generator=gen)
        out.append((dense, ids, noise))
    return out


@pytest.mark.parametrize("kind", BACKBONE_KINDS)
def test_onnx_plays_a_game_like_pytorch(kind: str, tmp_path: Path) -> None:
    """Independently of the export's own check: 14 consecutive frames of 2 games through
    ``OnnxPolicy`` (threading its own state) equal ``Policy.step`` + the head with the same
    noise, a new game starting in one slot halfway (its state rows reset)."""
    torch.manual_seed(0)
    policy = Policy(small(kind)).eval()
    graph = "step" if policy.backbone.temporal else "frame"
    report = export_onnx(policy, tmp_path / "p.onnx", graphs=[graph], **FAST)  # type: ignore[arg-type]
    assert report.paths == {graph: tmp_path / "p.onnx"}
    assert [p.name for p in tmp_path.iterdir()] == ["p.onnx"]  # no temp files left
    runner = OnnxPolicy(report.paths[graph])
    assert runner.meta["config"]["backbone"]["kind"] == kind
    assert runner.meta["dense_dim"] == policy.dense_dim
    torch_state = policy.initial_state(2)
    onnx_state = runner.initial_state(2)
    assert len(onnx_state) == len(torch_state)
    for t, (dense, ids, noise) in enumerate(frames(policy, 2, 14, seed=5)):
        if t == 7:  # slot 1 starts a new game
            mask = torch.tensor([False, True])
            torch_state = policy.reset_state(torch_state, mask)
            onnx_state = tuple(s.copy() for s in onnx_state)
            for s in onnx_state:
                s[1] = 0
        deterministic = t % 3 == 2
        with torch.no_grad():
            torch_state, trunk = policy.step(torch_state, dense, ids)
            want = policy.act(trunk, noise=noise, deterministic=deterministic)
            value = policy.value(trunk)
        got = runner.run(
            dense.numpy(),
            ids.numpy(),
            noise.numpy(),
            deterministic=deterministic,
            state=onnx_state,
        )
        for c in COMPONENTS:
            np.testing.assert_array_equal(got[c], want.actions[c].numpy(), err_msg=f"{c} @ {t}")
        np.testing.assert_allclose(got["log_prob"], want.log_prob.numpy(), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(got["value"], value.numpy(), atol=1e-4, rtol=1e-4)
        onnx_state = tuple(got[f"next_state_{i}"] for i in range(runner.n_state))
        for ours, theirs in zip(onnx_state, torch_state, strict=True):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4, rtol=1e-4)


def test_single_frame_graph_is_a_frame_at_the_start_of_a_game(tmp_path: Path) -> None:
    torch.manual_seed(1)
    policy = Policy(small("lstm")).eval()
    paths = export_onnx(policy, tmp_path / "p.onnx", **FAST).paths  # type: ignore[arg-type]
    assert set(paths) == {"step", "frame"} and paths["frame"].name == "p.frame.onnx"
    frame = OnnxPolicy(paths["frame"])
    assert frame.n_state == 0 and frame.kind == "frame"
    ((dense, ids, noise),) = frames(policy, 4, 1, seed=2)
    with torch.no_grad():
        _, trunk = policy.step(policy.initial_state(4), dense, ids)
        want = policy.act(trunk, noise=noise, temperature=0.5)
    got = frame.run(dense.numpy(), ids.numpy(), noise.numpy(), temperature=0.5)
    for c in COMPONENTS:
        np.testing.assert_array_equal(got[c], want.actions[c].numpy())
    assert "next_state_0" not in got


def test_the_mlp_has_one_single_frame_graph(tmp_path: Path) -> None:
    policy = Policy(small("mlp"))
    report = export_onnx(policy, tmp_path / "mlp.onnx", **FAST)  # type: ignore[arg-type]
    assert set(report.paths) == {"frame"} and report.paths["frame"] == tmp_path / "mlp.onnx"
    assert OnnxPolicy(tmp_path / "mlp.onnx").n_state == 0


def test_one_hot_embedding_without_id_inputs_exports(tmp_path: Path) -> None:
    cfg = small("gru", action="one_hot", character="one_hot", stage="one_hot")
    policy = Policy(cfg)
    assert not policy.id_specs
    report = export_onnx(policy, tmp_path / "p.onnx", graphs=["step"], **FAST)  # type: ignore[arg-type]
    assert report.max_abs_diff["step"] < 1e-4


def test_a_graph_that_disagrees_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = Policy(small("mamba")).eval()
    real = _onnx._export_graph

    def export_then_drift(p: Policy, kind: Any, path: Path) -> None:
        real(p, kind, path)
        with torch.no_grad():  # the PyTorch model no longer matches the graph just written
            p.value_head.net[-1].bias.add_(0.5)

    monkeypatch.setattr(_onnx, "_export_graph", export_then_drift)
    with pytest.raises(ExportMismatch, match="value"):
        export_onnx(policy, tmp_path / "p.onnx", **FAST)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="graphs"):
        export_onnx(policy, tmp_path / "p.onnx", graphs=["window"])  # type: ignore[list-item]


def test_onnx_policy_rejects_files_that_are_not_exphil_graphs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        OnnxPolicy(bad)
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    other = tmp_path / "other.onnx"
    onnx.save_model(helper.make_model(helper.make_graph([node], "g", [x], [y])), str(other))
    with pytest.raises(ValueError, match="not an ExPhil policy graph"):
        OnnxPolicy(other)


def test_cli_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    ckpt = tmp_path / "gru.safetensors"
    save_policy(Policy(small("gru")), ckpt)
    out = tmp_path / "out" / "gru.onnx"
    res = runner.invoke(cli, ["export", str(ckpt), "--onnx", str(out), "--steps", "3"])
    assert res.exit_code == 2 and "does not exist" in res.output  # no such folder
    out.parent.mkdir()
    res = runner.invoke(cli, ["export", str(ckpt), "--onnx", str(out), "--steps", "3"])
    assert res.exit_code == 0, res.output
    assert out.exists() and (out.parent / "gru.frame.onnx").exists()
    assert "step-mode" in res.output and "single-frame" in res.output
    res = runner.invoke(cli, ["export", str(ckpt), "--onnx", str(out), "--no-overwrite"])
    assert res.exit_code == 2 and "refusing to replace" in res.output and "MB" in res.output
    res = runner.invoke(cli, ["export", str(tmp_path / "nope.safetensors"), "--onnx", str(out)])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(cli, ["export", str(out), "--onnx", str(tmp_path / "x.onnx")])
    assert res.exit_code == 2 and "not a safetensors file" in res.output

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ExportMismatch("value: ONNX Runtime differs from PyTorch by up to 0.5")

    import exphil.nets

    monkeypatch.setattr(exphil.nets, "export_onnx", refuse)  # what the command calls
    target = tmp_path / "refused.onnx"
    res = runner.invoke(cli, ["export", str(ckpt), "--onnx", str(target)])
    assert res.exit_code == 1 and "refused" in res.output and "nothing was written" in res.output
    assert not target.exists()


def test_cli_export_takes_a_run_folder(tmp_path: Path) -> None:
    """As info and compare do: a run folder means its best checkpoint, else its last."""
    run = tmp_path / "run"
    run.mkdir()
    runner = CliRunner()
    res = runner.invoke(cli, ["export", str(run), "--onnx", str(tmp_path / "a.onnx")])
    assert res.exit_code == 2 and "no best.safetensors or last.safetensors" in res.output
    save_policy(Policy(small("mlp")), run / "last.safetensors")
    res = runner.invoke(
        cli, ["export", str(run), "--onnx", str(tmp_path / "a.onnx"), "--steps", "2"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "a.onnx").exists()
