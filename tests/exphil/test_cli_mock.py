"""``exphil mock watch``: plays a game, saves what it shows, refuses bad arguments."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from exphil.cli import cli


def test_watch_plays_and_saves_a_gif_and_a_strip(tmp_path: Path) -> None:
    gif, png = tmp_path / "game.gif", tmp_path / "strip.png"
    result = CliRunner().invoke(
        cli,
        ["mock", "watch", "--no-live", "--speed", "0", "--max-frames", "240", "--p1", "cpu:9",
         "--p2", "random", "--stage", "bf", "--gif", str(gif), "--png", str(png), "--every", "8",
         "--strip", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "stopped after 240 frames" in result.output
    with Image.open(gif) as im:
        assert im.n_frames >= 20  # 241 frames, every 8th (Pillow merges identical ones)
    with Image.open(png) as im:
        assert im.width > im.height  # four frames side by side


def test_watch_reports_the_winner_of_a_finished_game() -> None:
    result = CliRunner().invoke(
        cli, ["mock", "watch", "--no-live", "--speed", "0", "--minutes", "0.1", "--p2", "cpu:0"]
    )
    assert result.exit_code == 0, result.output
    assert "after 6.0 s" in result.output and ("wins" in result.output or "draw" in result.output)


def test_watch_refuses_unknown_players_stages_and_folders(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["mock", "watch", "--no-live", "--p1", "cpu:12"])
    assert bad.exit_code == 2 and "cpu:0 .. cpu:9" in bad.output
    bad = runner.invoke(cli, ["mock", "watch", "--no-live", "--stage", "dreamland"])
    assert bad.exit_code == 2 and "Final Destination, Battlefield" in bad.output
    bad = runner.invoke(
        cli, ["mock", "watch", "--no-live", "--gif", str(tmp_path / "nope" / "g.gif")]
    )
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_stage_suggestions_come_from_what_the_mock_plays() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["mock", "watch", "--no-live", "--stage", "yoshis"])
    assert bad.exit_code == 2 and "fd (Final Destination) or bf (Battlefield)" in bad.output
    assert "yoshisstory" not in bad.output
    bad = runner.invoke(cli, ["mock", "watch", "--no-live", "--stage", "battlefeld"])
    assert bad.exit_code == 2 and "did you mean 'battlefield'" in bad.output


def test_the_live_view_comes_with_a_legend() -> None:
    result = CliRunner().invoke(
        cli, ["mock", "watch", "--speed", "0", "--max-frames", "30", "--p2", "cpu:0"]
    )
    assert result.exit_code == 0, result.output
    assert "in hitstun" in result.output and "shielding" in result.output
