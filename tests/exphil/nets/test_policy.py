"""``Policy``: one config builds it; safetensors save -> load gives identical outputs; a
mismatched architecture is refused with the difference named; loading runs no code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from exphil.embed import ControllerConfig, EmbedConfig, embed_games
from exphil.envs import Controls, MockEnv
from exphil.nets._policy import (
    Policy,
    PolicyConfig,
    PolicyMismatch,
    load_policy,
    read_policy_config,
    save_policy,
)
from exphil.nets._registry import BackboneConfig

SMALL = PolicyConfig(
    backbone=BackboneConfig(kind="gru", hidden=32, layers=1),
    controller=ControllerConfig(axis_buckets=8),
    id_embed_dim=8,
    head_hidden=16,
)


def inputs(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    env = MockEnv(n)
    frames = env.step(Controls.neutral(n), Controls.neutral(n)).frames
    e = embed_games(frames, SMALL.embed, 0)
    return torch.from_numpy(e.dense), torch.from_numpy(e.ids)


def test_a_policy_plays_mock_frames_step_by_step_and_on_windows() -> None:
    torch.manual_seed(0)
    policy = Policy(SMALL).eval()
    dense, ids = inputs()
    state = policy.initial_state(4)
    state, trunk = policy.step(state, dense, ids)
    out = policy.act(trunk, deterministic=True)
    assert out.actions["main_x"].shape == (4,) and out.actions["buttons"].shape == (4, 8)
    window = policy(dense[:, None].repeat(1, 3, 1), ids[:, None].repeat(1, 3, 1))
    assert window.shape == (4, 3, policy.backbone.output_dim)
    assert torch.allclose(window[:, 0], trunk, atol=1e-5)  # step == forward at a game's start
    assert policy.value(trunk).shape == (4,)
    with pytest.raises(ValueError, match="width"):
        policy.step(policy.initial_state(4), dense[:, :-1], ids)


def test_save_then_load_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(1)
    policy = Policy(SMALL).eval()
    path = tmp_path / "p.safetensors"
    save_policy(policy, path, metadata={"step": 12})
    config, meta = read_policy_config(path)
    assert config == SMALL and meta == {"step": 12}
    loaded = load_policy(path).eval()  # from the file alone
    dense, ids = inputs()
    with torch.no_grad():
        a = policy(dense[:, None], ids[:, None])
        b = loaded(dense[:, None], ids[:, None])
    assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left nothing behind


@pytest.mark.parametrize(
    ("expected", "field"),
    [
        (PolicyConfig(backbone=BackboneConfig(kind="lstm", hidden=32, layers=1),
                      controller=ControllerConfig(axis_buckets=8), id_embed_dim=8, head_hidden=16),
         "backbone.kind"),
        (PolicyConfig(backbone=BackboneConfig(kind="gru", hidden=64, layers=1),
                      controller=ControllerConfig(axis_buckets=8), id_embed_dim=8, head_hidden=16),
         "backbone.hidden"),
        (PolicyConfig(embed=EmbedConfig(action="one_hot"),
                      backbone=BackboneConfig(kind="gru", hidden=32, layers=1),
                      controller=ControllerConfig(axis_buckets=8), id_embed_dim=8, head_hidden=16),
         "embed.action"),
        (PolicyConfig(backbone=BackboneConfig(kind="gru", hidden=32, layers=1),
                      controller=ControllerConfig(axis_buckets=16), id_embed_dim=8, head_hidden=16),
         "controller.axis_buckets"),
    ],
)  # fmt: skip
def test_a_mismatched_architecture_is_refused_by_name(
    tmp_path: Path, expected: PolicyConfig, field: str
) -> None:
    path = tmp_path / "p.safetensors"
    save_policy(Policy(SMALL), path)
    with pytest.raises(PolicyMismatch, match=field) as err:
        load_policy(path, expect=expected)
    assert [d[0] for d in err.value.differences] == [field]


def test_bad_files_are_refused_without_running_anything(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_policy(junk)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="not an ExPhil policy"):
        load_policy(plain)
    # a pickle is not a policy file, whatever it holds
    evil = tmp_path / "evil.safetensors"
    torch.save({"w": torch.zeros(2)}, evil)
    with pytest.raises(ValueError):
        load_policy(evil)
