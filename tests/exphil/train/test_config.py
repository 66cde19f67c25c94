"""``TrainConfig`` layering (``exphil.train._layers``): order, presets, environment, error
messages, cross-field rules, differences and the YAML round trip. No replays needed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from exphil.nets import BackboneConfig, PolicyConfig
from exphil.presets import families, preset_folder
from exphil.train import (
    TRAIN_BC,
    BCOptimConfig,
    CheckpointConfig,
    ConfigError,
    ConfigFamily,
    DataConfig,
    OptimConfig,
    RuleContext,
    TrainConfig,
    config_differences,
    config_family,
    from_builtins,
    from_yaml_text,
    list_presets,
    load_preset,
    resolve_config,
    to_yaml,
)

PRESET_DIR = preset_folder("train-bc")

EXPECTED_PRESETS = {
    "quick",
    "standard",
    "full",
    "mlp",
    "lstm",
    "gru",
    "mamba",
    "attention",
    "jamba",
}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def presets(tmp_path: Path) -> Path:
    """A preset folder: base <- mid <- top (extends chain), a <-> b (a cycle), and p (sets
    checkpoint.dir and optim.lr for the layering tests)."""
    folder = tmp_path / "presets"
    folder.mkdir()
    write(folder / "base.yaml", "data:\n  batch_size: 8\n  workers: 1\noptim:\n  lr: 0.5\n")
    write(folder / "mid.yaml", "extends: base\ndata:\n  batch_size: 16\n")
    write(folder / "top.yaml", "# the top\nextends: mid\noptim:\n  lr: 0.25\n")
    write(folder / "a.yaml", "extends: b\n")
    write(folder / "b.yaml", "extends: a\n")
    write(folder / "self.yaml", "extends: self\n")
    write(folder / "typo.yaml", "extends: bsae\n")
    write(folder / "p.yaml", "checkpoint:\n  dir: from-preset\noptim:\n  lr: 0.1\n")
    return folder


def error(**kwargs: Any) -> str:
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        resolve_config(TRAIN_BC, **kwargs)
    return str(info.value)


# --- layering ----------------------------------------------------------------------------


def test_nothing_given_is_the_defaults() -> None:
    resolved = resolve_config(TRAIN_BC, env={})
    assert resolved.config == TrainConfig()
    assert resolved.sources == {}
    assert resolved.preset is None


@pytest.mark.parametrize("top", ["sets", "cli", "env", "file", "preset", "defaults"])
def test_each_layer_beats_the_ones_below(presets: Path, tmp_path: Path, top: str) -> None:
    """checkpoint.dir set by every layer up to ``top``: the highest one wins and is the
    reported source."""
    order = ["defaults", "preset", "file", "env", "cli", "sets"]
    used = order[: order.index(top) + 1]
    config_file = write(tmp_path / "run.yaml", "checkpoint:\n  dir: from-file\n")
    resolved = resolve_config(
        TRAIN_BC,
        preset="p" if "preset" in used else None,
        config_file=config_file if "file" in used else None,
        env={"EXPHIL_CHECKPOINTS_DIR": "from-env"} if "env" in used else {},
        cli={"checkpoint.dir": ("from-cli", "--checkpoints")} if "cli" in used else None,
        sets=["checkpoint.dir=from-set"] if "sets" in used else (),
        preset_dir=presets,
    )
    expected_value, expected_source = {
        "defaults": (None, None),
        "preset": ("from-preset", f"preset p ({presets / 'p.yaml'})"),
        "file": ("from-file", f"--config {config_file}"),
        "env": ("from-env", "environment EXPHIL_CHECKPOINTS_DIR"),
        "cli": ("from-cli", "command line --checkpoints"),
        "sets": ("from-set", "--set checkpoint.dir=from-set"),
    }[top]
    assert resolved.config.checkpoint.dir == expected_value
    assert resolved.sources.get("checkpoint.dir") == expected_source


def test_layers_merge_field_by_field(presets: Path, tmp_path: Path) -> None:
    config_file = write(tmp_path / "run.yaml", "optim:\n  weight_decay: 0.2\n")
    resolved = resolve_config(
        TRAIN_BC,
        preset="p",
        config_file=config_file,
        env={"EXPHIL_SEED": "7"},
        cli={"optim.lr": (1e-3, "--lr")},
        sets=["optim.focal_gamma=2"],
        preset_dir=presets,
    )
    cfg = resolved.config
    assert cfg.checkpoint.dir == "from-preset"
    assert cfg.optim.weight_decay == 0.2
    assert cfg.seed == 7
    assert cfg.optim.lr == 1e-3
    assert cfg.optim.focal_gamma == 2.0
    assert cfg.optim.schedule == OptimConfig().schedule  # untouched fields keep defaults
    assert resolved.sources == {
        "optim.lr": "command line --lr",
        "optim.weight_decay": f"--config {config_file}",
        "optim.focal_gamma": "--set optim.focal_gamma=2",
        "checkpoint.dir": f"preset p ({presets / 'p.yaml'})",
        "seed": "environment EXPHIL_SEED",
    }


def test_mappings_merge_and_lists_replace(tmp_path: Path) -> None:
    config_file = write(
        tmp_path / "run.yaml",
        "data:\n  character: [fox, falco, marth]\noptim:\n  loss_weights: {buttons: 2}\n",
    )
    cfg = resolve_config(
        TRAIN_BC,
        config_file=config_file,
        env={},
        sets=["optim.loss_weights.shoulder=0.5", "data.character=[sheik]"],
    ).config
    assert cfg.optim.loss_weights == {"buttons": 2.0, "shoulder": 0.5}
    assert cfg.data.character == ["sheik"]


def test_set_values_are_yaml(tmp_path: Path) -> None:
    cfg = resolve_config(
        TRAIN_BC,
        env={},
        sets=[
            "optim.lr=1e-4",
            "data.character=[fox,falco]",
            "optim.bf16=off",
            "data.max_files=null",
            "optim.betas=[0.8, 0.95]",
            "checkpoint.name=2024-01-01",
        ],
    ).config
    assert cfg.optim.lr == 1e-4
    assert cfg.data.character == ["fox", "falco"]
    assert cfg.optim.bf16 == "off"
    assert cfg.data.max_files is None
    assert cfg.optim.betas == (0.8, 0.95)
    assert cfg.checkpoint.name == "2024-01-01"


def test_yaml_1_1_quirks_in_files(tmp_path: Path) -> None:
    """PyYAML alone reads 1e-4 as a string and off as False: the loader must not."""
    config_file = write(
        tmp_path / "run.yaml",
        "optim:\n  lr: 1e-4\n  min_lr_ratio: 1E-2\n  bf16: off\n  compile: on\n"
        "checkpoint:\n  every_steps: 5_000\n  name: '010'\n",
    )
    cfg = resolve_config(TRAIN_BC, config_file=config_file, env={}).config
    assert cfg.optim.lr == pytest.approx(1e-4)
    assert isinstance(cfg.optim.lr, float)
    assert cfg.optim.min_lr_ratio == pytest.approx(0.01)
    assert (cfg.optim.bf16, cfg.optim.compile) == ("off", "on")
    assert cfg.checkpoint.every_steps == 5000
    assert cfg.checkpoint.name == "010"


def test_empty_sections_and_files_change_nothing(tmp_path: Path) -> None:
    assert resolve_config(TRAIN_BC, config_file=write(tmp_path / "e.yaml", ""), env={}).config == (
        TrainConfig()
    )
    only_comments = write(tmp_path / "c.yaml", "data:\n  # window: 30\noptim:\n")
    assert resolve_config(TRAIN_BC, config_file=only_comments, env={}).config == TrainConfig()


# --- presets -----------------------------------------------------------------------------


def test_the_shipped_presets_are_there() -> None:
    assert PRESET_DIR.is_dir()
    assert set(list_presets("train-bc")) >= EXPECTED_PRESETS
    assert list_presets(TRAIN_BC) == list_presets("train-bc")
    assert "train-bc" in families()
    assert list_presets("nope") == []
    with pytest.raises(ValueError, match=r"no presets for .nope.; families: .*train-bc"):
        preset_folder("nope")


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_every_preset_resolves(name: str) -> None:
    text = (PRESET_DIR / f"{name}.yaml").read_text()
    assert text.startswith(f"# {name}: "), "each preset opens with a comment saying what it is"
    assert "Time:" in text
    resolved = resolve_config(TRAIN_BC, preset=name, env={})
    assert resolved.preset == name
    assert resolved.sources
    assert all(src.startswith(("preset ", "forced ")) for src in resolved.sources.values())
    cfg = resolved.config
    if cfg.policy.backbone.kind == "mlp":
        assert (cfg.data.window, cfg.data.burnin) == (1, 0)
    else:
        assert 0 <= cfg.data.burnin < cfg.data.window


def test_preset_contents() -> None:
    def cfg(name: str) -> TrainConfig:
        return resolve_config(TRAIN_BC, preset=name, env={}).config

    quick = cfg("quick")
    assert (quick.policy.backbone.kind, quick.policy.backbone.hidden) == ("mlp", 64)
    assert (quick.epochs, quick.data.max_files, quick.data.batch_size) == (1, 8, 64)
    assert quick.data.val_fraction == 0.2
    standard = cfg("standard")
    assert standard.policy.backbone.kind == "mlp"
    assert (standard.policy.backbone.hidden, standard.policy.backbone.layers) == (256, 2)
    assert (standard.epochs, standard.data.max_files, standard.patience) == (10, 100, 3)
    assert standard.optim.schedule == "cosine" and standard.optim.warmup_steps > 0
    assert standard.optim.label_smoothing == 0.0  # it inflates the c-stick in play
    assert standard.data.mirror
    full = cfg("full")
    assert (full.policy.backbone.kind, full.data.window, full.epochs) == ("mamba", 60, 30)
    assert (full.policy.backbone.hidden, full.policy.backbone.layers) == (256, 2)
    assert full.data.max_files is None and full.optim.ema == 0.999
    assert (full.optim.warmup_steps, full.optim.grad_accum, full.patience) == (1000, 2, 5)
    assert full.data.delay_spread == 0 and full.optim.bf16 == "auto"
    for kind in ("lstm", "gru", "mamba", "attention", "jamba"):
        c = cfg(kind)
        assert c.policy.backbone.kind == kind
        assert (c.data.window, c.policy.backbone.hidden, c.policy.backbone.layers) == (30, 128, 2)
        assert 5 <= c.data.burnin <= 10
        assert (c.epochs, c.data.max_files) == (3, 30)
    assert cfg("mlp").policy.backbone.kind == "mlp"
    # every preset trains with a human reaction delay; --delay 0 still turns it off
    for name in EXPECTED_PRESETS:
        assert cfg(name).data.delay == 18, name
        # and without its own previous controller as an input: with it, policies trained on
        # the corpus copied themselves in the mock (0-64 against CPU 1; without: 46-18)
        assert not cfg(name).policy.embed.controller, name
        assert cfg(name).data.mirror or name == "quick", name
    cli_prev = {"policy.embed.controller": (True, "--prev-controller")}
    with_prev = resolve_config(TRAIN_BC, preset="gru", env={}, cli=cli_prev).config
    assert with_prev.policy.embed.controller
    cli = {"data.delay": (0, "--delay")}
    assert resolve_config(TRAIN_BC, preset="full", env={}, cli=cli).config.data.delay == 0
    assert TrainConfig().data.delay == 0  # code that builds a config itself opts in


def test_preset_extends_chain(presets: Path) -> None:
    resolved = resolve_config(TRAIN_BC, preset="top", env={}, preset_dir=presets)
    assert resolved.config.data.batch_size == 16  # mid over base
    assert resolved.config.data.workers == 1  # base
    assert resolved.config.optim.lr == 0.25  # top over base
    assert resolved.sources["data.batch_size"] == f"preset mid ({presets / 'mid.yaml'})"
    assert resolved.sources["data.workers"] == f"preset base ({presets / 'base.yaml'})"
    assert resolved.sources["optim.lr"] == f"preset top ({presets / 'top.yaml'})"
    assert load_preset("train-bc", "top", preset_dir=presets) == {
        "data": {"batch_size": 16, "workers": 1},
        "optim": {"lr": 0.25},
    }


def test_preset_cycles_are_errors(presets: Path) -> None:
    msg = error(preset="a", preset_dir=presets)
    assert "cycle: a -> b -> a" in msg
    assert msg.startswith("extends: ")
    assert "cycle: self -> self" in error(preset="self", preset_dir=presets)


def test_unknown_preset_suggests_the_closest(presets: Path) -> None:
    msg = error(preset="quik")
    assert msg.startswith("preset: unknown preset 'quik' (from command line --preset)")
    assert "did you mean 'quick'?" in msg
    assert "available presets: " + ", ".join(list_presets("train-bc")) in msg
    msg = error(preset="typo", preset_dir=presets)
    assert msg.startswith("extends: unknown preset 'bsae' (from preset typo (")
    assert "did you mean 'base'?" in msg
    with pytest.raises(ConfigError, match="did you mean 'standard'"):
        load_preset("train-bc", "standrd")
    assert "expected a preset name" in error(preset="../etc/passwd")


def test_config_file_can_extend_a_preset(presets: Path, tmp_path: Path) -> None:
    config_file = write(tmp_path / "run.yaml", "preset: top\ndata:\n  workers: 3\n")
    resolved = resolve_config(TRAIN_BC, config_file=config_file, env={}, preset_dir=presets)
    assert resolved.preset == "top"
    assert (resolved.config.optim.lr, resolved.config.data.workers) == (0.25, 3)
    # --preset wins over the file's preset
    resolved = resolve_config(
        TRAIN_BC, preset="p", config_file=config_file, env={}, preset_dir=presets
    )
    assert resolved.preset == "p"
    assert (resolved.config.optim.lr, resolved.config.data.batch_size) == (0.1, 64)
    bad = write(tmp_path / "bad.yaml", "preset: qiuck\n")
    assert "did you mean 'quick'?" in error(config_file=bad)
    assert f"(from --config {bad})" in error(config_file=bad)


def test_default_preset_only_when_none_is_given(presets: Path, tmp_path: Path) -> None:
    env = {"EXPHIL_DEFAULT_PRESET": "p"}
    resolved = resolve_config(TRAIN_BC, env=env, preset_dir=presets)
    assert resolved.preset == "p" and resolved.config.optim.lr == 0.1
    resolved = resolve_config(TRAIN_BC, preset="top", env=env, preset_dir=presets)
    assert resolved.preset == "top" and resolved.config.checkpoint.dir is None
    config_file = write(tmp_path / "run.yaml", "preset: base\n")
    resolved = resolve_config(TRAIN_BC, config_file=config_file, env=env, preset_dir=presets)
    assert resolved.preset == "base"
    assert resolve_config(TRAIN_BC, env={"EXPHIL_DEFAULT_PRESET": ""}).preset is None
    msg = error(env={"EXPHIL_DEFAULT_PRESET": "nope"}, preset_dir=presets)
    assert "(from environment EXPHIL_DEFAULT_PRESET)" in msg


# --- environment -------------------------------------------------------------------------


def test_environment_variables() -> None:
    env = {
        "EXPHIL_CHECKPOINTS_DIR": "/ck",
        "EXPHIL_WANDB_PROJECT": "proj",
        "EXPHIL_SEED": "42",
        "EXPHIL_DEVICE": "cpu",
        "EXPHIL_REPLAYS_DIR": "/replays",
        "UNRELATED": "x",
    }
    resolved = resolve_config(TRAIN_BC, env=env)
    cfg = resolved.config
    assert cfg.checkpoint.dir == "/ck"
    assert cfg.output.wandb_project == "proj"
    assert cfg.seed == 42
    assert cfg.device == "cpu"
    assert cfg.data.replays == ["/replays"]
    assert resolved.sources["seed"] == "environment EXPHIL_SEED"
    assert resolved.sources["data.replays"] == "environment EXPHIL_REPLAYS_DIR"


def test_replays_dir_only_when_no_replays_are_given(tmp_path: Path) -> None:
    env = {"EXPHIL_REPLAYS_DIR": "/replays"}
    cli = {"data.replays": (["a.slp", "b/"], "REPLAYS")}
    resolved = resolve_config(TRAIN_BC, env=env, cli=cli)
    assert resolved.config.data.replays == ["a.slp", "b/"]
    assert resolved.sources["data.replays"] == "command line REPLAYS"
    config_file = write(tmp_path / "run.yaml", "data:\n  replays: [mine/]\n")
    assert resolve_config(TRAIN_BC, env=env, config_file=config_file).config.data.replays == [
        "mine/"
    ]
    assert resolve_config(TRAIN_BC, env=env, sets=["data.replays=[]"]).config.data.replays == [
        "/replays"
    ]
    assert resolve_config(TRAIN_BC, env={}).config.data.replays == []


def test_bad_environment_values_name_the_variable() -> None:
    assert error(env={"EXPHIL_SEED": "abc"}) == (
        "seed: expected an integer, got 'abc' (from environment EXPHIL_SEED)"
    )
    msg = error(env={"EXPHIL_DEVICE": "tpu"})
    assert msg.startswith("device: invalid value 'tpu'")
    assert "'auto', 'cpu', 'cuda'" in msg
    assert msg.endswith("(from environment EXPHIL_DEVICE)")


# --- errors ------------------------------------------------------------------------------


def test_unknown_fields_suggest_the_closest_name(tmp_path: Path) -> None:
    run = write(tmp_path / "run.yaml", "optim:\n  lrr: 1e-4\n")
    assert error(config_file=run) == (
        f"optim.lrr: unknown field (from --config {run}); did you mean 'lr'?"
    )
    assert error(cli={"data.windw": (30, "--window")}) == (
        "data.windw: unknown field (from command line --window); did you mean 'window'?"
    )
    assert error(sets=["lr=0.1"]) == (
        "lr: unknown field (from --set lr=0.1); did you mean 'optim.lr'?"
    )
    msg = error(sets=["optim.zzzzzz=1"])
    assert msg.startswith("optim.zzzzzz: unknown field (from --set optim.zzzzzz=1); valid names")
    assert "lr, weight_decay" in msg
    with pytest.raises(ConfigError) as info:
        resolve_config(TRAIN_BC, env={}, sets=["policy.backbone.kindd=lstm"])
    assert info.value.path == "policy.backbone.kindd"
    assert info.value.layer == "--set policy.backbone.kindd=lstm"
    assert "did you mean 'kind'?" in str(info.value)


def test_wrong_types_name_the_field_and_layer(tmp_path: Path) -> None:
    run = write(tmp_path / "run.yaml", "data:\n  window: thirty\n")
    assert error(config_file=run) == (
        f"data.window: expected int, got str 'thirty' (from --config {run})"
    )
    assert error(cli={"data.batch_size": ("64", "--batch-size")}) == (
        "data.batch_size: expected int, got str '64' (from command line --batch-size)"
    )
    msg = error(sets=["data.character=fox"])
    assert msg.startswith("data.character: expected array, got str 'fox' (from --set")
    assert msg.endswith("write a list, e.g. [fox]")
    assert "optim.schedule: invalid value 'cosin'" in error(sets=["optim.schedule=cosin"])
    assert error(sets=["data=3"]) == "data: expected object, got int 3 (from --set data=3)"


def test_struct_checks_name_the_field_and_layer() -> None:
    assert error(cli={"data.batch_size": (0, "--batch-size")}) == (
        "data.batch_size: must be >= 1, got 0 (from command line --batch-size)"
    )
    assert error(sets=["optim.ema=1.0"]) == (
        "optim.ema: must be in (0, 1) or null, got 1.0 (from --set optim.ema=1.0)"
    )
    msg = error(sets=["policy.backbone.kind=attention", "policy.backbone.heads=3"])
    assert msg.startswith("policy.backbone.heads: ")
    assert "policy.backbone.heads from --set policy.backbone.heads=3" in msg
    assert "policy.backbone.kind from --set policy.backbone.kind=attention" in msg


@pytest.mark.parametrize(
    ("setting", "path", "rule"),
    [
        ("data.val_fraction=0.95", "data.val_fraction", "must be in [0, 0.9]"),
        ("data.workers=-1", "data.workers", "must be >= 0"),
        ("data.prefetch=0", "data.prefetch", "must be >= 1"),
        ("data.max_files=0", "data.max_files", "must be >= 1 or null"),
        ("data.min_quality=101", "data.min_quality", "must be in [0, 100] or null"),
        ("optim.lr=0", "optim.lr", "must be > 0"),
        ("optim.grad_accum=0", "optim.grad_accum", "must be >= 1"),
        ("optim.clip_norm=-1", "optim.clip_norm", "must be >= 0"),
        ("optim.label_smoothing=1", "optim.label_smoothing", "must be in [0, 1)"),
        ("optim.focal_gamma=-0.5", "optim.focal_gamma", "must be >= 0"),
        ("optim.loss_weights={buttonz: 1}", "optim.loss_weights", "did you mean 'buttons'?"),
        ("checkpoint.backup_count=-1", "checkpoint.backup_count", "must be >= 0"),
        ("checkpoint.name=a/b", "checkpoint.name", "plain folder name"),
        ("output.log_every=0", "output.log_every", "must be >= 1"),
        ("epochs=0", "epochs", "must be >= 1"),
        ("max_steps=0", "max_steps", "must be >= 1 or null"),
        ("patience=0", "patience", "must be >= 1 or null"),
        ("val_per_epoch=0", "val_per_epoch", "must be >= 1"),
    ],
)
def test_range_errors(setting: str, path: str, rule: str) -> None:
    msg = error(sets=[setting])
    assert msg.startswith(f"{path}: ")
    assert rule in msg
    assert msg.endswith(f"(from --set {setting})") or f"(from --set {setting})" in msg


def test_range_checks_hold_for_configs_built_in_code() -> None:
    with pytest.raises(ValueError, match=r"^DataConfig.batch_size must be >= 1, got 0$"):
        DataConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"DataConfig.window must be an integer >= 1"):
        DataConfig(window="30")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"OptimConfig.lr must be a finite number > 0"):
        OptimConfig(lr=float("nan"))
    with pytest.raises(ValueError, match=r"TrainConfig.patience must be >= 1 or null"):
        TrainConfig(patience=0)
    with pytest.raises(ValueError, match=r"CheckpointConfig.backup_count must be >= 0"):
        CheckpointConfig(backup_count=-1)
    BCOptimConfig(loss_weights={"buttons": 2.0, "shoulder": 0.0}, ema=0.999)


def test_malformed_set_and_cli() -> None:
    assert error(sets=["data.window"]).startswith("data.window: expected --set PATH=VALUE")
    assert "cannot read the value '[1' as YAML" in error(sets=["data.character=[1"])
    assert error(sets=["data..window=3"]).startswith("data..window: not a field path")
    with pytest.raises(TypeError, match="must be a"):
        resolve_config(TRAIN_BC, env={}, cli={"optim.lr": 1e-4})  # type: ignore[dict-item]


def test_bad_config_files(tmp_path: Path) -> None:
    assert error(config_file=tmp_path / "missing.yaml").startswith("--config: no such file")
    bad = write(tmp_path / "bad.yaml", "data: [1\n")
    assert error(config_file=bad).startswith("--config: not valid YAML")
    twice = write(tmp_path / "twice.yaml", "optim:\n  lr: 1\noptim:\n  lr: 2\n")
    assert "found the key 'optim' twice" in error(config_file=twice)
    a_list = write(tmp_path / "list.yaml", "- 1\n")
    assert "expected a mapping of fields" in error(config_file=a_list)
    ext = write(tmp_path / "ext.yaml", "extends: quick\n")
    assert "preset: NAME" in error(config_file=ext)


# --- the MLP and other cross-field rules --------------------------------------------------


def test_mlp_with_an_explicit_window_is_an_error() -> None:
    cli = {"policy.backbone.kind": ("mlp", "--backbone"), "data.window": (30, "--window")}
    assert error(cli=cli) == (
        "data.window 30 (from command line --window) needs a temporal backbone; the MLP "
        "sees one frame at a time (use --backbone lstm|gru|mamba|attention|jamba, or drop "
        "--window)"
    )
    msg = error(preset="mlp", sets=["data.burnin=5"])
    assert msg.startswith("data.burnin 5 (from --set data.burnin=5) needs a temporal backbone")
    assert msg.endswith("or drop --set data.burnin=5)")


def test_mlp_window_is_one_otherwise() -> None:
    resolved = resolve_config(TRAIN_BC, env={}, cli={"policy.backbone.kind": ("mlp", "--backbone")})
    assert (resolved.config.data.window, resolved.config.data.burnin) == (1, 0)
    assert resolved.sources["data.window"].startswith("forced to 1: the MLP")
    # a window from a layer below the one that chose the MLP is dropped, not an error
    resolved = resolve_config(TRAIN_BC, preset="lstm", env={}, sets=["policy.backbone.kind=mlp"])
    assert (resolved.config.data.window, resolved.config.data.burnin) == (1, 0)
    assert "30 from preset lstm" in resolved.sources["data.window"]
    assert "5 from preset lstm" in resolved.sources["data.burnin"]
    # window 1 given explicitly is fine
    resolved = resolve_config(
        TRAIN_BC,
        env={},
        cli={"policy.backbone.kind": ("mlp", "--backbone"), "data.window": (1, "--w")},
    )
    assert resolved.sources["data.window"] == "command line --w"


def test_burnin_and_delay_spread_rules() -> None:
    msg = error(preset="lstm", sets=["data.burnin=30"])
    assert msg.startswith(
        "data.burnin 30 (from --set data.burnin=30) must be smaller than data.window 30 "
        "(from preset lstm (exphil/presets/train-bc/lstm.yaml))"
    )
    msg = error(sets=["data.delay_spread=2"])
    assert msg.startswith(
        "data.delay_spread 2 (from --set data.delay_spread=2) must be <= data.delay 0 "
        "(from defaults)"
    )
    cfg = resolve_config(TRAIN_BC, env={}, sets=["data.delay=4", "data.delay_spread=2"]).config
    assert (cfg.data.delay, cfg.data.delay_spread) == (4, 2)


# --- differences and YAML ----------------------------------------------------------------


def test_config_differences() -> None:
    a = TrainConfig()
    b = TrainConfig(
        policy=PolicyConfig(backbone=BackboneConfig(kind="lstm", hidden=128)),
        optim=BCOptimConfig(lr=1e-3, loss_weights={"buttons": 2.0}),
        epochs=3,
    )
    assert config_differences(a, a) == []
    assert config_differences(a, b) == [
        ("policy.backbone.kind", "mamba", "lstm"),
        ("policy.backbone.hidden", 256, 128),
        ("optim.lr", 3e-4, 1e-3),
        ("optim.loss_weights", {}, {"buttons": 2.0}),
        ("epochs", 10, 3),
    ]
    assert [d[0] for d in config_differences(b, a)] == [d[0] for d in config_differences(a, b)]


def test_yaml_round_trip() -> None:
    cfg = TrainConfig(
        data=DataConfig(replays=["a b/", "yes"], character=["fox"], window=30, max_files=None),
        optim=BCOptimConfig(lr=1e-5, bf16="off", compile="on", loss_weights={"c_x": 0.5}),
        checkpoint=CheckpointConfig(name="1e-4", dir="010"),
        seed=0,
        min_delta=1e-12,
    )
    for config in (TrainConfig(), cfg):
        text = to_yaml(config)
        assert from_yaml_text(text, TrainConfig) == config
    text = to_yaml(cfg)
    assert text.startswith("policy:\n  embed:\n")  # field order, not sorted
    assert re.search(r"^  bf16: 'off'$", text, re.M)
    assert re.search(r"^  name: '1e-4'$", text, re.M)
    assert msgspec.to_builtins(from_yaml_text(text, TrainConfig)) == msgspec.to_builtins(cfg)


def test_from_yaml_text_checks_like_a_layer() -> None:
    assert from_yaml_text("epochs: 2\n", TrainConfig).epochs == 2
    assert from_yaml_text("", TrainConfig).epochs == TrainConfig().epochs
    with pytest.raises(ConfigError, match=r"^optim.lrr: unknown field \(from run/config.yaml\)"):
        from_yaml_text("optim:\n  lrr: 1\n", TrainConfig, source="run/config.yaml")
    # the cross-field rules are resolve_config's: a saved config reads back as it was
    cfg = TrainConfig(policy=PolicyConfig(backbone=BackboneConfig(kind="mlp")))
    assert from_yaml_text(to_yaml(cfg), TrainConfig).data.window == 60


def test_a_resumed_run_config_is_the_base_layer() -> None:
    base = msgspec.structs.replace(TrainConfig(), epochs=3)
    r = resolve_config(
        TRAIN_BC, base=(base, "checkpoint runs/a/last"), cli={"epochs": (5, "--epochs")}, env={}
    )
    assert config_differences(base, r.config) == [("epochs", 3, 5)]
    assert r.sources["epochs"] == "command line --epochs"
    assert r.sources["optim.lr"] == "checkpoint runs/a/last"
    with pytest.raises(ConfigError, match="preset cannot be combined"):
        resolve_config(TRAIN_BC, base=(base, "checkpoint runs/a/last"), preset="quick", env={})


# --- any root Struct -----------------------------------------------------------------------


class _Loss(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gamma: float = 0.99
    lam: float = 0.95


class _Root(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    loss: _Loss = _Loss()
    optim: OptimConfig = OptimConfig()
    games: int = 8
    seed: int | None = None
    opponents: list[str] = []


def _root_rules(config: _Root, ctx: RuleContext) -> _Root:
    if config.loss.lam > config.loss.gamma:
        raise ConfigError(
            f"loss.lam (from {ctx.origin('loss.lam')}) must be <= loss.gamma "
            f"(from {ctx.origin('loss.gamma')})"
        )
    if config.games > 4 and ctx.level("games") < ctx.level("seed"):
        ctx.force("games", "forced to 4 by a test rule")
        return msgspec.structs.replace(config, games=4)
    return config


def test_layering_works_for_any_root_struct(tmp_path: Path) -> None:
    folder = tmp_path / "fam"
    folder.mkdir()
    write(folder / "base.yaml", "loss:\n  gamma: 0.9\noptim:\n  lr: 0.001\n")
    write(folder / "small.yaml", "extends: base\ngames: 2\n")
    family = ConfigFamily(
        name="test-family",
        root=_Root,
        env=(("TEST_SEED", "seed"), ("TEST_GAMES", "games")),
        env_fallbacks=(("TEST_OPPONENTS", "opponents"),),
        preset_env="TEST_PRESET",
        rules=_root_rules,
    )
    assert config_family("test-family") is family
    env = {"TEST_SEED": "7", "TEST_OPPONENTS": "cpu:9", "TEST_PRESET": "small"}
    r = resolve_config(
        family, env=env, sets=["optim.ema=0.99"], cli={"loss.lam": (0.5, "--lam")},
        preset_dir=folder,
    )  # fmt: skip
    assert isinstance(r.config, _Root) and r.preset == "small"
    assert (r.config.games, r.config.seed, r.config.opponents) == (2, 7, ["cpu:9"])
    assert (r.config.loss.gamma, r.config.loss.lam) == (0.9, 0.5)
    assert (r.config.optim.lr, r.config.optim.ema) == (0.001, 0.99)
    assert r.sources["loss.gamma"] == f"preset base ({folder / 'base.yaml'})"
    assert r.sources["seed"] == "environment TEST_SEED"
    assert r.sources["opponents"] == "environment TEST_OPPONENTS"
    # rules see the layers and may force values
    r = resolve_config(family, env={"TEST_SEED": "1"}, sets=["games=6"])
    assert r.config.games == 6  # set at the same level as the seed: kept
    r = resolve_config(family, env={"TEST_SEED": "1", "TEST_GAMES": "6"}, sets=["seed=2"])
    assert r.config.games == 4 and r.sources["games"] == "forced to 4 by a test rule"
    with pytest.raises(ConfigError, match=r"loss.lam \(from --set loss.lam=0.999\)"):
        resolve_config(family, env={}, sets=["loss.lam=0.999"])
    # errors name the field and the layer, suggestions come from this root
    with pytest.raises(ConfigError, match=r"^loss.gama: unknown field .*did you mean 'gamma'"):
        resolve_config(family, env={}, sets=["loss.gama=1"])
    with pytest.raises(ConfigError, match=r"^games: expected an integer, got 'x'"):
        resolve_config(family, env={"TEST_GAMES": "x"})
    with pytest.raises(
        ConfigError, match=r"^optim.lr: must be > 0, got -1.0 \(from --set optim.lr=-1\)"
    ):
        resolve_config(family, env={}, sets=["optim.lr=-1"])
    # presets and YAML for this family
    assert list_presets(family, preset_dir=folder) == ["base", "small"]
    assert load_preset(family, "small", preset_dir=folder)["games"] == 2
    text = to_yaml(r.config)
    assert from_yaml_text(text, _Root) == r.config
    assert from_builtins(msgspec.to_builtins(r.config), _Root, source="s") == r.config
    with pytest.raises(ValueError, match="no config family named 'nope'"):
        resolve_config("nope")
    with pytest.raises(ValueError, match="TEST_X names 'missing'"):
        ConfigFamily(name="bad", root=_Root, env=(("TEST_X", "missing"),))
