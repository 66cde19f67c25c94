"""The emulator's lifecycle against a fake Dolphin executable (fake_dolphin.py): launch,
connect, the full libmelee live path, and no process left behind on any exit path."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exphil.envs.dolphin import (
    DolphinConfig,
    DolphinCrashed,
    DolphinEnv,
    DolphinHung,
    DolphinNotFound,
    DolphinProcess,
    IsoError,
    NotSlippiDolphin,
    PlayerConfig,
    PortInUse,
    check_iso,
    probe_version,
    resolve_paths,
)
from exphil.envs.dolphin.process import group_members, live_processes
from exphil.game import Controls
from tests.exphil.envs.dolphin.conftest import (
    NO_ORPHANS,
    alive,
    free_port,
    parse_pipe,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("no_orphans")


def pids(out: Path) -> list[int]:
    assert wait_for(lambda: (out / "pids").is_file() and (out / "pids").read_text(), 10)
    found = [int(p) for p in (out / "pids").read_text().split()]
    NO_ORPHANS.extend(found)
    return found


def config(exe: Path, iso: Path, **kw: object) -> DolphinConfig:
    base: dict[str, object] = dict(
        dolphin_path=str(exe),
        iso_path=str(iso),
        slippi_port=free_port(),
        players=(
            PlayerConfig(port=1, character="fox"),
            PlayerConfig(port=3, character="pichu", kind="cpu"),
        ),
        stage="fd",
        connect_timeout=15.0,
        step_timeout=2.0,
        shutdown_grace=0.5,
    )
    base.update(kw)
    return DolphinConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, game_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("FAKE_DOLPHIN_OUT", str(out))
    monkeypatch.setenv("FAKE_DOLPHIN_REPLAY", str(game_path))
    return out


def test_paths_and_versions(
    fake_dolphin: Path, fake_iso: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXPHIL_DOLPHIN_PATH", raising=False)
    monkeypatch.delenv("EXPHIL_ISO_PATH", raising=False)
    with pytest.raises(DolphinNotFound, match="EXPHIL_DOLPHIN_PATH"):
        resolve_paths()
    monkeypatch.setenv("EXPHIL_DOLPHIN_PATH", str(fake_dolphin))
    monkeypatch.setenv("EXPHIL_ISO_PATH", str(fake_iso))
    assert resolve_paths().dolphin == fake_dolphin
    with pytest.raises(DolphinNotFound, match="does not exist"):
        resolve_paths(tmp_path / "nope")
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(DolphinNotFound, match="not executable"):
        resolve_paths(plain)
    for head, match in [
        (b"GALE01\x00\x00", "NTSC 1.00"),
        (b"GALP01\x00\x00", "PAL Melee"),
        (b"GMSE01\x00\x00", "not a Melee disc image"),
    ]:
        bad = tmp_path / "bad.iso"
        bad.write_bytes(head + bytes(64))
        with pytest.raises(IsoError, match=match):
            check_iso(bad)
    with pytest.raises(IsoError, match="does not exist"):
        check_iso(tmp_path / "missing.iso")
    rvz = tmp_path / "melee.rvz"
    rvz.write_bytes(b"RVZ\x01" + bytes(64))
    assert check_iso(rvz) == rvz  # compressed: cannot be checked cheaply, accepted
    build = probe_version(fake_dolphin)
    assert build.mainline and not build.exi_ai
    monkeypatch.setenv("FAKE_DOLPHIN_VERSION", "other")
    with pytest.raises(NotSlippiDolphin, match="not a Slippi Dolphin"):
        probe_version(fake_dolphin)
    monkeypatch.setenv("FAKE_DOLPHIN_VERSION", "hang")
    t = time.monotonic()
    with pytest.raises(NotSlippiDolphin, match="did not answer"):
        probe_version(fake_dolphin, timeout=1.0)
    assert time.monotonic() - t < 5


def test_headless_and_fast_forward_need_the_right_build(fake_dolphin: Path, fake_iso: Path) -> None:
    with pytest.raises(NotSlippiDolphin, match="cannot fast-forward"):
        DolphinEnv(config(fake_dolphin, fake_iso, fast_forward=True))
    assert not live_processes()


def test_port_in_use(fake_dolphin: Path, fake_iso: Path) -> None:
    cfg = config(fake_dolphin, fake_iso)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", cfg.slippi_port))
        with pytest.raises(PortInUse, match=str(cfg.slippi_port)):
            DolphinEnv(cfg)
    assert not live_processes()


def test_live_path_two_games_and_pipes(
    fake_dolphin: Path, fake_iso: Path, fake_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libmelee's whole live path against the fake: Console, ENet stream, FIFO controllers,
    menus, two games; what the bot pressed is what reached the pipe."""
    monkeypatch.setenv("FAKE_DOLPHIN_GAMES", "3")
    sent = []
    with DolphinEnv(config(fake_dolphin, fake_iso)) as env:
        leader, child = pids(fake_env)
        env.reset()
        games, k = 0, 0
        while games < 2:
            c = Controls.full(1, main_x=((k % 9) - 4) / 4, buttons=["A"] if k % 3 == 0 else [])
            sent.append(c)
            r = env.step(c, Controls.neutral(1))
            games += len(r.results)
            k += 1
        assert env.statistics().games_terminated == 2
        assert len(sent) == 2 * 147
        # the fake logs its pipe as it reads it: on a loaded machine it can trail the env by
        # many frames, and the close below would cut the log short (not a fault of the env:
        # Dolphin reads its pipe at its own pace), so wait for it before closing
        deadline = time.monotonic() + 20.0
        while not _both_games_in(fake_env / "pipe1.log", sent) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not alive(leader) and not alive(child) and not live_processes()
    # each game's steps reached port 1's pipe as one contiguous run of FLUSHes, in order
    # (menus before, between and after them press other things)
    assert _both_games_in(fake_env / "pipe1.log", sent)


def _both_games_in(log: Path, sent: list[Controls]) -> bool:
    """Whether the pipe's log holds both games' 147 steps, each as one contiguous run."""
    from melee.controller import fix_analog_stick

    flushes = parse_pipe(log.read_text()) if log.exists() else []
    got = [(f["MAIN"], "A" in f["buttons"]) for f in flushes]
    want = [
        (
            (fix_analog_stick((float(c.main_x[0]) + 1) / 2), fix_analog_stick(0.5)),
            bool(c.buttons[0] & 1),
        )
        for c in sent
    ]
    at = 0
    for game in (want[:147], want[147:]):
        found = [i for i in range(at, len(got)) if got[i : i + len(game)] == game]
        if not found:
            return False
        at = found[0] + len(game)
    return True


@pytest.mark.parametrize(
    ("mode", "error", "match"),
    [
        (
            {"FAKE_DOLPHIN_MODE": "crash"},
            DolphinCrashed,
            "exited with status 3 before it connected",
        ),
        ({"FAKE_DOLPHIN_MODE": "sleep"}, DolphinHung, "did not open its Slippi port within 1.5 s"),
        ({"FAKE_DOLPHIN_HANG_AFTER": "20"}, DolphinHung, "sent no frame for 1 s"),
        ({"FAKE_DOLPHIN_CRASH_AFTER": "20"}, DolphinCrashed, "during the game"),
    ],
)
def test_failures_stop_the_emulator(
    fake_dolphin: Path,
    fake_iso: Path,
    fake_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: dict[str, str],
    error: type[Exception],
    match: str,
) -> None:
    for k, v in mode.items():
        monkeypatch.setenv(k, v)
    t = time.monotonic()

    def play() -> None:
        env = DolphinEnv(config(fake_dolphin, fake_iso, connect_timeout=1.5, step_timeout=1.0))
        env.reset()
        for _ in range(200):
            env.step(Controls.neutral(1), Controls.neutral(1))

    with pytest.raises(error, match=match) as info:
        play()
    assert time.monotonic() - t < 10
    assert "fake dolphin: mode" in str(info.value)  # the log tail is in the message
    if (fake_env / "pids").is_file():
        for pid in pids(fake_env):
            assert not alive(pid)
    assert not live_processes()


def test_stop_kills_the_group_even_when_sigterm_is_ignored(
    fake_dolphin: Path, fake_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_DOLPHIN_MODE", "ignore-term")
    proc = DolphinProcess(
        [str(fake_dolphin), "-e", "x", "-u", str(tmp_path)], log_path=tmp_path / "log", grace=0.3
    )
    leader, child = pids(fake_env)
    assert set(group_members(proc.pgid)) >= {leader, child}
    t = time.monotonic()
    with pytest.raises(KeyboardInterrupt), proc:
        raise KeyboardInterrupt
    assert 0.3 <= time.monotonic() - t < 5
    assert not alive(leader) and not alive(child) and not group_members(proc.pgid)
    proc.stop()  # idempotent


SCRIPT = """
import os, sys, time
from exphil.envs.dolphin import DolphinProcess
argv = [sys.argv[1], "-e", "x", "-u", sys.argv[2]]
p = DolphinProcess(argv, log_path=sys.argv[2] + "/log", grace=0.3)
pids = os.path.join(os.environ["FAKE_DOLPHIN_OUT"], "pids")
while not os.path.exists(pids):
    time.sleep(0.01)
print("started", flush=True)
if sys.argv[3] == "exit":
    sys.exit(0)  # atexit stops it
time.sleep(60)
"""


@pytest.mark.parametrize("how", ["sigterm", "exit"])
def test_sigterm_and_exit_of_the_parent_leave_nothing(
    fake_dolphin: Path, fake_env: Path, tmp_path: Path, how: str
) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(fake_dolphin), str(tmp_path), how],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "FAKE_DOLPHIN_MODE": "sleep"},
        cwd=Path(__file__).resolve().parents[4],
    )
    assert parent.stdout is not None
    assert any(line.strip() == "started" for line in parent.stdout)
    leader, child = pids(fake_env)
    if how == "sigterm":
        parent.send_signal(signal.SIGTERM)
    assert parent.wait(10) == (128 + signal.SIGTERM if how == "sigterm" else 0)
    assert wait_for(lambda: not alive(leader) and not alive(child), 5)
