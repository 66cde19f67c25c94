"""User text with rich markup in it (``[/x]``, ``[bold]``) through every error path of the
layered configuration (``--set``, ``--config``, presets, the environment, ``--resume``) of
``train-bc``, ``train-ppo`` and ``selfplay``: each ends in a short error (exit 2) that shows
the text verbatim, never in a ``rich.errors.MarkupError`` traceback, and a hint keeps its
bracketed example. All fail before anything trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from exphil.cli import cli

COMMANDS = ("train-bc", "train-ppo", "selfplay")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXPHIL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EXPHIL_CHECKPOINTS_DIR", str(tmp_path / "ck"))
    for var in ("EXPHIL_REPLAYS_DIR", "EXPHIL_DEFAULT_PRESET", "EXPHIL_SEED"):
        monkeypatch.delenv(var, raising=False)


def refused(args: list[str], *shown: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, args, env=env)
    out = result.output
    assert result.exit_code == 2, (args, out)
    assert "MarkupError" not in out and "Traceback" not in out, (args, out)
    for text in shown:
        assert text in out, (args, text, out)
    return out


def config_file(tmp_path: Path, text: str) -> str:
    folder = tmp_path / "cfg [/x] [bold]"  # "cfg [" / "x] [bold]"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"c{len(list(folder.iterdir()))}.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("command", COMMANDS)
def test_set_errors_show_bracketed_text_verbatim(command: str) -> None:
    # the case: stick_centers takes the path of an `exphil kmeans` file now; a
    # missing one is named
    refused(
        [command, "--set", "policy.controller.stick_centers=/some/[/x]"],
        "/some/[/x] does not exist (from --set policy.controller.stick_centers=/some/[/x])",
    )
    # a path where a list goes: the hint's example keeps its brackets
    refused(
        [command, "--set", "optim.betas=/some/path"],
        "'/some/path' (from --set optim.betas=/some/path)",
        "write a list, e.g. [/some/path]",
    )
    refused([command, "--set", "[/x]"], "[/x]: expected --set PATH=VALUE")
    refused([command, "--set", "[/x].a=1"], "[/x]: unknown field (from --set [/x].a=1)")
    refused([command, "--set", "seed=[/x"], "cannot read the value '[/x' as YAML")
    refused([command, "--set", "a..[/b]=1"], "a..[/b]: not a field path")
    refused(
        [command, "--set", 'policy.backbone.kind="[bold]x[/bold]"'],
        "invalid value '[bold]x[/bold]'",
    )
    refused([command, "--set", "seed=[/x]"], "got array ['/x'] (from --set seed=[/x])")


@pytest.mark.parametrize("command", COMMANDS)
def test_config_file_and_preset_errors_show_bracketed_text_verbatim(
    command: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / "[/x]" / "run.yaml")
    refused([command, "--config", missing], f"--config: no such file {missing}")
    bad = config_file(tmp_path, "seed: [/x\n")
    refused([command, "--config", bad], "--config: not valid YAML", bad)
    listed = config_file(tmp_path, "- '[/x]'\n")
    refused([command, "--config", listed], f"expected a mapping of fields at the top of {listed}")
    unknown = config_file(tmp_path, "'[/x]': 1\n")
    refused([command, "--config", unknown], f"[/x]: unknown field (from --config {unknown})")
    wrong = config_file(tmp_path, "seed: '[/x]'\n")
    refused([command, "--config", wrong], "got str '[/x]'", f"(from --config {wrong})")
    preset = config_file(tmp_path, "preset: '[/x]'\n")
    refused([command, "--config", preset], "expected a preset name, got '[/x]'")
    refused([command, "--preset", "[/x]"], "expected a preset name, got '[/x]'")
    refused([command, "--preset", "[bold]"], "expected a preset name, got '[bold]'")


@pytest.mark.parametrize("command", COMMANDS)
def test_environment_and_resume_errors_show_bracketed_text_verbatim(
    command: str, tmp_path: Path
) -> None:
    refused([command], "expected an integer, got '[/x]'", env={"EXPHIL_SEED": "[/x]"})
    run = tmp_path / "runs [/x]" / "r[bold]"
    run.mkdir(parents=True)
    out = refused([command, "--resume", str(run)])
    assert "r[bold]" in out


def test_train_bc_default_preset_from_the_environment() -> None:
    refused(
        ["train-bc"],
        "got '[/x]' (from environment EXPHIL_DEFAULT_PRESET)",
        env={"EXPHIL_DEFAULT_PRESET": "[/x]"},
    )


def test_train_ppo_init_path_with_brackets() -> None:
    refused(["train-ppo", "--set", "init=/tmp/[/x]/p.safetensors"], "/tmp/[/x]/p.safetensors")


def test_train_bc_prints_bracketed_set_values_in_its_header(tmp_path: Path) -> None:
    """A --set that resolves reaches the resolved-configuration table and the "also set"
    line (train-bc's header); the run then stops on the unknown character."""
    empty = tmp_path / "replays [/x]"
    empty.mkdir(parents=True)
    out = refused(
        ["train-bc", "--preset", "quick", "--replays", str(empty),
         "--set", 'data.character=["fox[/b]"]', "--set", 'output.wandb_project="[red]p"'],
        "unknown character 'fox[/b]'",
    )  # fmt: skip
    assert '--set data.character=["fox[/b]"]' in out
    assert '--set output.wandb_project="[red]p"' in out
    assert "resolved configuration" in out and "replays [/x]" in out


@pytest.mark.slow
def test_a_checkpoints_dir_with_markup_survives_to_the_summary(
    tmp_path: Path, replays_dir: Path
) -> None:
    """--checkpoints-dir (checkpoint.dir) is printed in the final summary: a path holding [/x]
    ended a finished run in a MarkupError (exit 1) after training."""
    parent = tmp_path / "ck [/x]"
    result = CliRunner().invoke(
        cli,
        ["train-bc", "--preset", "quick", "-r", str(replays_dir), "--max-files", "2",
         "--max-steps", "2", "--checkpoints-dir", str(parent), "--name", "r[bold]", "--seed", "1",
         "--quiet", "--set", "data.min_val_games=1"],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert str(parent / "r[bold]") in result.output
    assert (parent / "r[bold]" / "last.safetensors").exists()
