"""Fixtures for the Dolphin environment's tests: a fake Dolphin executable, a fake ISO, free
ports, the pipe protocol parsed back, real replays as a live stream."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# made executable by the fake_dolphin fixture (tests/exphil/conftest.py)
FAKE = HERE / "fake_dolphin.py"
# 148 frames, FD, Fox (port 1) vs Pichu (port 3), 1 stock each; port 1 loses it
GAME = "hohav__peppi/tests__data__v3.13.slp"


def free_port() -> int:
    """A port free for UDP (and TCP) on this machine now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if port >= 1024:
            return int(port)


@pytest.fixture
def game_path(replays_dir: Path) -> Path:
    path = replays_dir / GAME
    if not path.is_file():
        pytest.skip(f"{GAME} not in the replays at {replays_dir}")
    return path


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2] not in "ZX"


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


# --- libmelee's pipe protocol, parsed back ----------------------------------------------------
NEUTRAL: dict[str, Any] = {
    "buttons": frozenset(),
    "MAIN": (0.5, 0.5),
    "C": (0.5, 0.5),
    "L": 0.0,
    "R": 0.0,
}


def parse_pipe(text: str) -> list[dict[str, Any]]:
    """The controller state at every ``FLUSH`` of a libmelee pipe stream (``PRESS X``,
    ``RELEASE X``, ``SET MAIN x y``, ``SET L v``, ``FLUSH``)."""
    state = dict(NEUTRAL)
    pressed: set[str] = set()
    out = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "FLUSH":
            out.append({**state, "buttons": frozenset(pressed)})
        elif parts[0] == "PRESS":
            pressed.add(parts[1])
        elif parts[0] == "RELEASE":
            pressed.discard(parts[1])
        elif parts[0] == "SET" and parts[1] in ("MAIN", "C"):
            state[parts[1]] = (float(parts[2]), float(parts[3]))
        elif parts[0] == "SET":
            state[parts[1]] = float(parts[2])
        else:
            raise AssertionError(f"unknown pipe command {line!r}")
    return out


class PipeReader:
    """Reads a FIFO in a thread (as Dolphin would) and keeps every byte."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with open(self.path, "rb") as fh:
            while chunk := fh.read1(65536):
                self.data += chunk

    def text(self, timeout: float = 5.0) -> str:
        self._thread.join(timeout)
        return self.data.decode()


def capture_controllers(
    tmp_path: Path, ports: tuple[int, ...]
) -> tuple[dict[int, Any], dict[int, PipeReader], Any]:
    """Real ``melee.Controller`` objects on FIFOs in ``tmp_path`` (a remote Console with that
    home folder: no Dolphin), each read by a :class:`PipeReader`; connected like launch()
    does (``open_pipe``)."""
    import melee

    from exphil.envs.dolphin import open_pipe

    home = tmp_path / "home"
    (home / "Config").mkdir(parents=True)
    (home / "Config" / "Dolphin.ini").write_text("[Core]\n")
    console = melee.Console(is_dolphin=True, is_remote=True, dolphin_home_path=str(home))
    controllers, readers = {}, {}
    for port in ports:
        c = melee.Controller(console, port)
        readers[port] = PipeReader(Path(c.pipe_path))
        c.pipe = open_pipe(c.pipe_path, time.monotonic() + 5.0, None)
        controllers[port] = c
    return controllers, readers, console


@pytest.fixture
def no_orphans() -> Iterator[None]:
    """Fails the test if a process started during it is still alive afterwards (checked on
    the fake Dolphin's pids files the test registers in ``NO_ORPHANS``)."""
    NO_ORPHANS.clear()
    yield
    left = [pid for pid in NO_ORPHANS if alive(pid)]
    for pid in left:
        os.kill(pid, 9)
    assert not left, f"orphaned processes: {left}"


NO_ORPHANS: list[int] = []
