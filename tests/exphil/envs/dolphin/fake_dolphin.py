"""A stand-in for Slippi Dolphin, run as an executable by the lifecycle tests.

``--version``: answers like a mainline Slippi build (``FAKE_DOLPHIN_VERSION``: ``mainline``,
``exiai``, ``other`` (a non-Slippi Dolphin), ``hang`` (never answers)).

``-e ISO -u USER``: ``FAKE_DOLPHIN_MODE`` says what it does:

* ``serve`` (default): what Dolphin does for libmelee. Reads the Slippi port from
  ``USER/Config/Dolphin.ini`` and the bot pipes from ``USER/Config/GCPadNew.ini``; opens the
  pipes for reading and appends everything written to them to ``OUT/pipe<port>.log``; listens
  on the port (ENet) and streams ``FAKE_DOLPHIN_REPLAY`` (a ``.slp``) ``FAKE_DOLPHIN_GAMES``
  times, one frame per message, with ``GAME_END`` and a few menu frames in between.
  When ``Dolphin.ini`` says ``SaveReplays = True`` with a ``ReplayDir``, each game's replay
  is written there as Slippi names it (``Game_YYYYMMDDTHHMMSS.slp``) when the game starts.
  ``FAKE_DOLPHIN_HANG_AFTER=N``: stops sending after N frames (stays connected);
  ``FAKE_DOLPHIN_CRASH_AFTER=N``: exits with status 139 after N frames.
* ``crash``: prints a line and exits with status 3.
* ``sleep``: never opens the port.
* ``ignore-term``: ignores SIGTERM (and so does its child).

Every mode but ``crash`` starts a child process (``sleep``-like, in the same process group)
and writes ``"<pid> <child pid>"`` to ``OUT/pids``.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def version() -> int:
    mode = os.environ.get("FAKE_DOLPHIN_VERSION", "mainline")
    if mode == "hang":
        time.sleep(3600)
    if mode == "other":
        print("Dolphin 5.0-12345")
        return 0
    if mode == "exiai":
        print("Slippi Dolphin 4.0.0 mainline ExiAI (fake)")
        return 0
    print("Slippi Dolphin 4.0.0 mainline (fake)")
    return 0


def split_replay(path: str) -> tuple[bytes, list[bytes], bytes]:
    """(payloads + game start, [one frame's events each], game end) of a replay."""
    import ubjson

    raw = bytes(ubjson.loadb(Path(path).read_bytes())["raw"])
    assert raw[0] == 0x35
    size = raw[1]
    sizes = {}
    for i in range(2, size + 1, 3):
        sizes[raw[i]] = int.from_bytes(raw[i + 1 : i + 3], "big") + 1
    pos = size + 1
    header_end = pos + sizes[0x36]
    header = raw[:header_end]
    frames, end = [], b""
    pos, start = header_end, header_end
    while pos < len(raw):
        cmd = raw[pos]
        n = sizes[cmd]
        if cmd == 0x39:
            end = raw[pos : pos + n]
            break
        pos += n
        if cmd == 0x3C:
            frames.append(raw[start:pos])
            start = pos
    return header, frames, end


def menu_event(scene: int, frame: int) -> bytes:
    ev = bytearray(0x80)
    ev[0] = 0x3E
    ev[1:3] = scene.to_bytes(2, "big")
    ev[0x39:0x3D] = frame.to_bytes(4, "big", signed=True)
    return bytes(ev)


def read_pipe(path: Path, out: Path) -> None:
    with open(path, "rb") as fh, open(out, "ab") as log:
        while chunk := fh.read1(65536) if hasattr(fh, "read1") else fh.read(65536):
            log.write(chunk)
            log.flush()


def write_replay(folder: Path, source: Path) -> Path:
    """``source`` copied into ``folder`` under a Slippi-like name (a suffix when two games
    start in the same second)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = time.strftime("Game_%Y%m%dT%H%M%S")
    path, k = folder / f"{stem}.slp", 1
    while path.exists():
        path, k = folder / f"{stem}_{k}.slp", k + 1
    path.write_bytes(source.read_bytes())
    print(f"fake dolphin: replay {path}", flush=True)
    return path


def serve(user: Path, out: Path) -> None:
    import enet

    ini = configparser.ConfigParser()
    ini.read(user / "Config" / "Dolphin.ini")
    port = int(ini.get("Slippi", "SpectatorLocalPort"))
    pads = configparser.ConfigParser()
    pads.read(user / "Config" / "GCPadNew.ini")
    for section in pads.sections():
        device = pads.get(section, "Device", fallback="")
        if device.startswith("Pipe/0/"):
            name = device.split("/")[-1]
            threading.Thread(
                target=read_pipe,
                args=(user / "Pipes" / name, out / f"pipe{section[-1]}.log"),
                daemon=True,
            ).start()
    save = ini.get("Slippi", "SaveReplays", fallback="False") == "True"
    replay_dir = ini.get("Slippi", "ReplayDir", fallback="") if save else ""
    games = int(os.environ.get("FAKE_DOLPHIN_GAMES", "1"))
    hang_after = int(os.environ.get("FAKE_DOLPHIN_HANG_AFTER", "-1"))
    crash_after = int(os.environ.get("FAKE_DOLPHIN_CRASH_AFTER", "-1"))
    header, frames, end = split_replay(os.environ["FAKE_DOLPHIN_REPLAY"])
    time.sleep(float(os.environ.get("FAKE_DOLPHIN_BOOT_S", "0.2")))
    host = enet.Host(enet.Address(b"127.0.0.1", port), 4, 0, 0)
    peer = None
    while peer is None:  # wait for libmelee's handshake
        ev = host.service(50)
        if ev.type == enet.EVENT_TYPE_RECEIVE:
            peer = ev.peer
    reliable = enet.PACKET_FLAG_RELIABLE

    def send(msg: dict[str, object]) -> None:
        assert peer is not None
        peer.send(0, enet.Packet(json.dumps(msg).encode(), reliable))
        pump(0)

    def pump(timeout: int) -> None:
        ev = host.service(timeout)
        while ev.type != enet.EVENT_TYPE_NONE:
            if ev.type == enet.EVENT_TYPE_DISCONNECT:
                print("fake dolphin: the client disconnected", flush=True)
            elif ev.type == enet.EVENT_TYPE_RECEIVE:
                print(f"fake dolphin: received {bytes(ev.packet.data)[:60]!r}", flush=True)
            ev = host.check_events()

    def event(data: bytes) -> None:
        send({"type": "game_event", "payload": base64.b64encode(data).decode(), "cursor": 0})

    send({"type": "connect_reply", "nick": "fake", "version": "3.16.0", "cursor": 0})
    sent = 0
    for game in range(games):
        for k in range(3):  # the character select screen, then the game
            send({"type": "menu_event", "payload": base64.b64encode(menu_event(2, k)).decode()})
        print(f"fake dolphin: game {game} starts after {sent} frames", flush=True)
        if replay_dir:
            write_replay(Path(replay_dir), Path(os.environ["FAKE_DOLPHIN_REPLAY"]))
        event(header)
        for chunk in frames:
            if sent == hang_after:
                while True:
                    pump(100)
            if sent == crash_after:
                os._exit(139)
            event(chunk)
            sent += 1
            time.sleep(0.0005)
        event(end)
        print(f"fake dolphin: game {game} ended after {sent} frames", flush=True)
        for k in range(3):  # the postgame scores screen
            send(
                {"type": "menu_event", "payload": base64.b64encode(menu_event(0x0104, k)).decode()}
            )
    while True:  # Dolphin stays open at the menus
        pump(100)


def main() -> int:
    if "--version" in sys.argv:
        return version()
    args = sys.argv[1:]
    user = Path(args[args.index("-u") + 1])
    out = Path(os.environ.get("FAKE_DOLPHIN_OUT", user))
    mode = os.environ.get("FAKE_DOLPHIN_MODE", "serve")
    print(f"fake dolphin: mode {mode}", flush=True)
    if mode == "crash":
        print("fake dolphin: crashing", flush=True)
        return 3
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    handler = "SIG_IGN" if mode == "ignore-term" else "SIG_DFL"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time\n"
            f"signal.signal(signal.SIGTERM, signal.{handler})\n"
            "time.sleep(3600)",
        ]
    )
    (out / "pids").write_text(f"{os.getpid()} {child.pid}")
    if mode == "serve":
        serve(user, out)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
