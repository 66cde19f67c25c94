"""``exphil play`` end to end against the fake Dolphin executable (fake_dolphin.py serves a
real replay over ENet and writes it into Slippi's replay folder): the games are played
through, status lines printed, each game's replay named; bad input is a short message with
exit status 2, a crash exit status 1, Ctrl-C 130; no process is left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from exphil.cli import cli
from exphil.envs.dolphin.process import live_processes
from exphil.nets import BackboneConfig, Policy, PolicyConfig, save_policy
from tests.exphil.envs.dolphin.conftest import NO_ORPHANS, alive, free_port, wait_for

pytestmark = pytest.mark.usefixtures("no_orphans")

ROOT = Path(__file__).resolve().parents[4]


def policy(path: Path, delay: int = 2, **meta: object) -> Path:
    torch.manual_seed(0)
    cfg = PolicyConfig(backbone=BackboneConfig(kind="gru", hidden=16, layers=1), head_hidden=16)
    save_policy(Policy(cfg), path, metadata={"delay": delay, **meta})
    return path


@pytest.fixture
def fox(tmp_path: Path) -> Path:
    return policy(tmp_path / "fox.safetensors", characters=["fox"], stages=["Final Destination"])


@pytest.fixture
def out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, game_path: Path) -> Path:
    """The fake Dolphin's output folder (its pids, what reached the pipes); no path
    variables, no settings file."""
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.setenv("FAKE_DOLPHIN_OUT", str(folder))
    monkeypatch.setenv("FAKE_DOLPHIN_REPLAY", str(game_path))
    monkeypatch.delenv("EXPHIL_DOLPHIN_PATH", raising=False)
    monkeypatch.delenv("EXPHIL_ISO_PATH", raising=False)
    monkeypatch.setenv("EXPHIL_CONFIG", str(tmp_path / "no-settings.toml"))
    return folder


def args(policy: Path, exe: Path, iso: Path, tmp_path: Path, *extra: str) -> list[str]:
    """The replay's game: Fox on port 1 against Pichu on port 3, Final Destination."""
    return [
        "play",
        str(policy),
        "--vs",
        "cpu:9",
        "--character",
        "fox",
        "--opponent-character",
        "pichu",
        "--port",
        "1",
        "--opponent-port",
        "3",
        "--stage",
        "fd",
        "--dolphin",
        str(exe),
        "--iso",
        str(iso),
        "--slippi-port",
        str(free_port()),
        "--replay-dir",
        str(tmp_path / "replays"),
        "--connect-timeout",
        "15",
        "--status-every",
        "0.01",
        *extra,
    ]


def dolphin_pids(out: Path) -> list[int]:
    found = [int(p) for p in (out / "pids").read_text().split()]
    NO_ORPHANS.extend(found)
    return found


@pytest.mark.parametrize(
    ("mode", "vs", "them"),
    [("--realtime", "policy", "Pichu (pichu)"), ("--lockstep", "noop", "Pichu (noop)")],
)
def test_play_games_through_with_status_and_replays(
    fox: Path,
    fake_dolphin: Path,
    fake_iso: Path,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    vs: str,
    them: str,
) -> None:
    """Real time against a second policy (trained with 4 frames of delay: the runner's slack
    is the smaller, 2), lockstep against an idle controller; two games each."""
    if vs == "policy":
        vs = str(policy(tmp_path / "pichu.safetensors", characters=["pichu"], delay=4))
    monkeypatch.setenv("FAKE_DOLPHIN_GAMES", "2")
    argv = args(fox, fake_dolphin, fake_iso, tmp_path, mode, "--games", "2")
    argv[argv.index("--vs") + 1] = vs
    r = CliRunner().invoke(cli, argv)
    text = r.output
    assert r.exit_code == 0, text
    assert ("real time, 2 frames of delay" in text) == (mode == "--realtime")
    # status lines: game, time, FPS, late frames, score, both players' stocks and percent
    status = [
        line for line in text.splitlines() if re.match(r"game \d \| +\d+\.\d s \| .* fps \|", line)
    ]
    assert status, text
    assert "late " in status[0] and "Fox (fox) 1 stocks" in status[0]
    assert f"{them} 1 stocks" in status[0]
    # each game's result and its replay, the one Slippi (the fake) wrote for it
    for game in (1, 2):
        assert f"game {game}: {them} wins (stocks) after 2.5 s: stocks 0-1" in text
    named = [Path(m) for m in re.findall(r"^  replay: (.+\.slp)$", text, re.M)]
    written = sorted((tmp_path / "replays").glob("*.slp"), key=lambda p: p.stat().st_mtime_ns)
    assert named == written and len(set(named)) == 2
    assert "played 2 games" in text and f"{them} 2" in text
    # the policy pressed its controller through the pipe; the emulator is gone
    assert "FLUSH" in (out / "pipe1.log").read_text()
    for pid in dolphin_pids(out):
        assert wait_for(lambda pid=pid: not alive(pid), 5)
    assert not live_processes()


def test_bad_input_is_exit_2_before_dolphin_starts(
    fox: Path, fake_dolphin: Path, fake_iso: Path, out: Path, tmp_path: Path
) -> None:
    runner = CliRunner()

    def play(*extra: str, exe: Path = fake_dolphin, iso: Path = fake_iso) -> tuple[int, str]:
        r = runner.invoke(cli, args(fox, exe, iso, tmp_path, *extra))
        assert "Traceback" not in r.output
        return r.exit_code, r.output

    r = runner.invoke(cli, ["play", str(tmp_path / "missing.safetensors")])
    assert r.exit_code == 2 and "no such policy file" in r.output
    r = runner.invoke(cli, ["play", "cpu:9"])
    assert r.exit_code == 2 and "no such policy file" in r.output
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, text = play("--replay-dir", str(blocker / "replays"))
    assert code == 2 and "cannot make the folder" in text
    code, text = play(exe=tmp_path / "nope")
    assert code == 2 and "does not exist" in text
    pal = tmp_path / "pal.iso"
    pal.write_bytes(b"GALP01\x00\x00" + bytes(64))
    code, text = play(iso=pal)
    assert code == 2 and "PAL Melee" in text
    for vs, words in [
        ("bogus", "not an opponent"),
        ("random", "mock only"),
        ("cpu:0", "cpu:1 .. cpu:9"),
    ]:
        code, text = play("--vs", vs)
        assert code == 2 and words in text, (vs, text)
    code, text = play("--vs", "human", "--lockstep")
    assert code == 2 and "real time" in text
    falco = policy(tmp_path / "falco.safetensors", characters=["falco"])
    code, text = play("--vs", str(falco))  # the opponent policy plays Pichu here
    assert code == 2 and "character" in text and "Pichu" in text
    code, text = play("--character", "falco", "--opponent-character", "pichu")
    assert code == 2 and "trained on fox" in text and "exphil info" in text
    code, text = play("--stage", "bf")
    assert code == 2 and "stage" in text and "Battlefield" in text
    assert not (out / "pids").exists()  # none of them started Dolphin
    # with neither --dolphin nor a variable nor a settings file
    r = runner.invoke(cli, ["play", str(fox), "--iso", str(fake_iso)])
    assert r.exit_code == 2 and "no Slippi Dolphin given" in r.output and "exphil setup" in r.output


def test_dolphin_faults(
    fox: Path,
    fake_dolphin: Path,
    fake_iso: Path,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("FAKE_DOLPHIN_VERSION", "other")
    r = runner.invoke(cli, args(fox, fake_dolphin, fake_iso, tmp_path))
    assert r.exit_code == 2 and "not a Slippi Dolphin" in r.output
    monkeypatch.delenv("FAKE_DOLPHIN_VERSION")
    import socket

    argv = args(fox, fake_dolphin, fake_iso, tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", int(argv[argv.index("--slippi-port") + 1])))
        r = runner.invoke(cli, argv)
    assert r.exit_code == 2 and "in use" in r.output
    monkeypatch.setenv("FAKE_DOLPHIN_CRASH_AFTER", "20")
    t = time.monotonic()
    r = runner.invoke(cli, args(fox, fake_dolphin, fake_iso, tmp_path))
    assert r.exit_code == 1, r.output
    assert "exited with status 139 during the game" in r.output and "stopped: game 1" in r.output
    assert "replay of the unfinished game" in r.output and "Traceback" not in r.output
    assert time.monotonic() - t < 10
    for pid in dolphin_pids(out):
        assert wait_for(lambda pid=pid: not alive(pid), 5)
    assert not live_processes()


def test_ctrl_c_stops_the_emulator_and_exits_130(
    fox: Path, fake_dolphin: Path, fake_iso: Path, out: Path, tmp_path: Path
) -> None:
    argv = args(fox, fake_dolphin, fake_iso, tmp_path, "--games", "0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exphil.cli", "--log-level", "warning", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "FAKE_DOLPHIN_GAMES": "50", "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # its own group: Ctrl-C reaches the group, as on a terminal
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("game 1:"):
            break
    else:
        pytest.fail("".join(lines))
    NO_ORPHANS.extend(dolphin_pids(out))
    os.killpg(proc.pid, signal.SIGINT)
    rest, _ = proc.communicate(timeout=15)
    text = "".join(lines) + rest
    assert proc.returncode == 130, text
    assert "stopped: game" in text and "interrupted" in text and "Traceback" not in text
    for pid in dolphin_pids(out):
        assert wait_for(lambda pid=pid: not alive(pid), 5), text


def test_replay_finder_names_new_files_in_the_order_games_ended(tmp_path: Path) -> None:
    from exphil.envs.dolphin import ReplayFinder

    old = tmp_path / "Game_20200101T000000.slp"
    old.write_bytes(b"x")
    finder = ReplayFinder(tmp_path)
    assert finder.next_replay() is None  # the files already there are not ours
    month = tmp_path / "2026-12"
    month.mkdir()
    first, second = month / "Game_20261205T120000.slp", tmp_path / "Game_20261205T115959.slp"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    (tmp_path / "notes.txt").write_text("not a replay")
    os.utime(first, ns=(1_000, 1_000))  # the first game's file stopped changing first
    os.utime(second, ns=(2_000, 2_000))
    assert finder.unfinished() == second
    t = time.monotonic()
    assert finder.next_replay(timeout=0.2) == first
    assert finder.next_replay(timeout=0.2) == second
    assert finder.next_replay(timeout=0.2) is None and time.monotonic() - t >= 0.2
    assert finder.found == [first, second] and finder.unfinished() is None
