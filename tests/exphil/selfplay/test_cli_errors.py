"""``exphil selfplay`` refuses what cannot work before it starts anything: a learner bound
off loopback without Curve keys, a keys folder without the learner's secret key."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from exphil.cli import cli


def test_an_open_bind_without_keys_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["selfplay", "--headless", "--bind", "tcp://0.0.0.0:5555", "--checkpoints-dir",
         str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--bind tcp://0.0.0.0:5555 is reachable from other machines" in result.output
    assert "exphil keys generate" in result.output and "127.0.0.1" in result.output
    assert "--debug" not in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # no run folder was created


def test_a_keys_folder_without_the_learner_secret_is_named(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    result = CliRunner().invoke(
        cli,
        ["learner", "--headless", "--bind", "tcp://0.0.0.0:5555", "--keys", str(keys),
         "--checkpoints-dir", str(tmp_path / "ck")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "no learner.key_secret" in result.output and "--name learner" in result.output
    assert not (tmp_path / "ck").exists()
