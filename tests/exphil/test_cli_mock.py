"""``exphil mock watch``: plays a game, saves what it shows, refuses bad arguments, stops on
``q``, and prints paths verbatim."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from exphil.cli import cli
from exphil.cli.mock import POLICY_HINT
from exphil.envs.render import TerminalKeys
from exphil.nets import BackboneConfig, Policy, PolicyConfig, save_policy

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


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


def small_policy(path: Path, characters: list[str]) -> Path:
    cfg = PolicyConfig(backbone=BackboneConfig(kind="mlp", hidden=16, layers=1), head_hidden=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_policy(Policy(cfg), path, metadata={"delay": 0, "characters": characters})
    return path


def test_a_refused_policy_points_to_docs_that_exist(tmp_path: Path) -> None:
    pikachu = small_policy(tmp_path / "pikachu.safetensors", ["Pikachu"])
    r = CliRunner().invoke(cli, ["mock", "watch", "--no-live", "--p1", str(pikachu)])
    assert r.exit_code == 2 and "trained on Pikachu, not Fox" in r.output
    assert POLICY_HINT in r.output
    not_policy = tmp_path / "notes.safetensors"
    not_policy.write_text("[not a policy]")
    r = CliRunner().invoke(cli, ["mock", "watch", "--no-live", "--p2", str(not_policy)])
    assert r.exit_code == 2 and "not a readable policy file" in r.output
    assert POLICY_HINT in r.output
    # what the hint names exists: the doc section, and the options it suggests
    assert "\n## The Agent\n" in (ROOT / "docs" / "rl.md").read_text()
    help_text = CliRunner().invoke(cli, ["mock", "watch", "--help"]).output
    assert "--characters" in help_text and "--stage" in help_text
    info = CliRunner().invoke(cli, ["info", str(pikachu)])
    assert info.exit_code == 0 and "characters Pikachu" in info.output


def test_paths_with_markup_are_printed_verbatim(tmp_path: Path) -> None:
    policy = small_policy(tmp_path / "runs [/x]" / "p[bold].safetensors", ["Fox"])
    gif = tmp_path / "runs [/x]" / "g[bold].gif"
    r = CliRunner().invoke(
        cli,
        ["mock", "watch", "--no-live", "--speed", "0", "--minutes", "0.05", "--p1", str(policy),
         "--p2", "noop", "--gif", str(gif), "--every", "30"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"saved {gif}" in r.output and gif.exists()
    assert "by timeout after 3.0 s" in r.output


@posix_only
def test_terminal_keys_read_without_waiting_and_restore_the_terminal() -> None:
    import pty
    import termios

    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        with open(slave, "rb", buffering=0, closefd=False) as stream:
            with TerminalKeys(stream) as keys:
                assert keys.active and keys.read() == ""
                lflag = termios.tcgetattr(slave)[3]
                assert not lflag & termios.ECHO and not lflag & termios.ICANON
                assert lflag & termios.ISIG  # Ctrl-C still interrupts
                os.write(master, b"q")
                deadline = time.monotonic() + 5
                got = ""
                while "q" not in got and time.monotonic() < deadline:
                    got += keys.read()
                assert got == "q"
            assert termios.tcgetattr(slave) == before
            with pytest.raises(RuntimeError), TerminalKeys(stream):
                raise RuntimeError("the view failed")
            assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
    # not a terminal: inactive, reads nothing
    read_end, write_end = os.pipe()
    try:
        with open(read_end, "rb", closefd=False) as pipe, TerminalKeys(pipe) as keys:
            os.write(write_end, b"q")
            assert not keys.active and keys.read() == ""
    finally:
        os.close(read_end)
        os.close(write_end)
    with TerminalKeys(io.BytesIO()) as keys:
        assert not keys.active


@posix_only
def test_q_stops_the_live_view(tmp_path: Path) -> None:
    """On a terminal, q ends the game like Ctrl-C: the result so far, exit 0, the terminal as
    it was."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    before = termios.tcgetattr(slave)
    env = dict(os.environ, TERM="xterm", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exphil.cli", "mock", "watch", "--minutes", "5", "--gif",
         str(tmp_path / "g.gif"), "--every", "60"],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    out = b""
    sent = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
            if not sent and b"q or Ctrl-C stops" in out and b"\x1b" in out:
                time.sleep(0.5)  # a few frames of the game
                os.write(master, b"q")
                sent = True
            if proc.poll() is not None:
                while select.select([master], [], [], 0.2)[0]:
                    try:
                        out += os.read(master, 65536)
                    except OSError:
                        break
                break
        text = out.decode(errors="replace")
        assert sent, text[-2000:]
        assert proc.wait(timeout=10) == 0, text[-2000:]
        assert "stopped (q)" in text and "stopped after" in text, text[-2000:]
        assert "saved" in text and (tmp_path / "g.gif").exists()
        assert termios.tcgetattr(slave) == before
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)
