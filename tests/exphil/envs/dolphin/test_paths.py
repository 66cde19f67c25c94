"""Where the Dolphin environment finds Slippi Dolphin and the ISO: ``resolve_paths`` goes
through ``exphil.settings`` (explicit > environment > settings file), and its cheap ISO
check reads the header with ``exphil.setup_checks``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from exphil.envs.dolphin import DolphinNotFound, IsoError, check_iso, resolve_paths
from exphil.errors import UserError
from exphil.settings import Settings, SettingsError, save_settings

GC_MAGIC = bytes.fromhex("c2339f3d")


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def iso(path: Path, game_id: bytes = b"GALE01", revision: int = 2) -> Path:
    head = bytearray(0x60)
    head[:6] = game_id
    head[7] = revision
    head[0x1C:0x20] = GC_MAGIC
    head[0x20:0x3C] = b"Super Smash Bros Melee\0\0\0\0\0\0"
    path.write_bytes(bytes(head) + bytes(1024))
    return path


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No path variables; EXPHIL_CONFIG at a settings file in tmp_path (not written yet)."""
    monkeypatch.delenv("EXPHIL_DOLPHIN_PATH", raising=False)
    monkeypatch.delenv("EXPHIL_ISO_PATH", raising=False)
    file = tmp_path / "cfg" / "config.toml"
    monkeypatch.setenv("EXPHIL_CONFIG", str(file))
    return file


def test_the_settings_file_is_honoured(no_env: Path, tmp_path: Path) -> None:
    with pytest.raises(DolphinNotFound, match="exphil setup"):
        resolve_paths()
    exe, image = executable(tmp_path / "Slippi_Dolphin"), iso(tmp_path / "melee.iso")
    save_settings(Settings(dolphin=str(exe), iso=str(image)), no_env)
    paths = resolve_paths()
    assert (paths.dolphin, paths.iso) == (exe, image)
    # the Launcher's install folder in the file: its Slippi executable
    netplay = tmp_path / "netplay"
    netplay.mkdir()
    inside = executable(netplay / "Slippi_Online-x86_64.AppImage")
    save_settings(Settings(dolphin=str(netplay), iso=str(image)), no_env)
    assert resolve_paths().dolphin == inside
    # a file naming only Dolphin: the ISO is what is missing
    save_settings(Settings(dolphin=str(exe)), no_env)
    with pytest.raises(IsoError, match="no Melee ISO given"):
        resolve_paths()
    # what the file names is checked like any path
    save_settings(Settings(dolphin=str(exe), iso=str(tmp_path / "gone.iso")), no_env)
    with pytest.raises(IsoError, match=r"gone\.iso does not exist"):
        resolve_paths()


def test_explicit_beats_environment_beats_file(
    no_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exes = {k: executable(tmp_path / f"dolphin-{k}") for k in ("file", "env", "arg")}
    isos = {k: iso(tmp_path / f"melee-{k}.iso") for k in ("file", "env", "arg")}
    save_settings(Settings(dolphin=str(exes["file"]), iso=str(isos["file"])), no_env)
    assert resolve_paths() == type(resolve_paths())(exes["file"], isos["file"])
    monkeypatch.setenv("EXPHIL_DOLPHIN_PATH", str(exes["env"]))
    got = resolve_paths()
    assert (got.dolphin, got.iso) == (exes["env"], isos["file"])  # each path on its own
    monkeypatch.setenv("EXPHIL_ISO_PATH", str(isos["env"]))
    got = resolve_paths()
    assert (got.dolphin, got.iso) == (exes["env"], isos["env"])
    got = resolve_paths(exes["arg"], isos["arg"])
    assert (got.dolphin, got.iso) == (exes["arg"], isos["arg"])
    got = resolve_paths(None, isos["arg"])
    assert (got.dolphin, got.iso) == (exes["env"], isos["arg"])
    # given everything, a broken settings file is never read
    no_env.write_text("dolphin = [not toml")
    got = resolve_paths()
    assert got.dolphin == exes["env"]
    monkeypatch.delenv("EXPHIL_DOLPHIN_PATH")
    with pytest.raises(SettingsError, match="not valid TOML") as info:
        resolve_paths()
    assert isinstance(info.value, UserError)


def test_cheap_iso_check_reads_the_setup_header(tmp_path: Path) -> None:
    good = iso(tmp_path / "good.iso")
    assert check_iso(good) == good
    for game_id, revision, match in [
        (b"GALE01", 1, "NTSC 1.01"),
        (b"GALP01", 0, "a PAL Melee"),
        (b"GALJ01", 2, "a Japanese Melee"),
        (b"GMSE01", 0, r"not a Melee disc image \(game id GMSE01\)"),
    ]:
        with pytest.raises(IsoError, match=match):
            check_iso(iso(tmp_path / "bad.iso", game_id, revision))
    # a CISO: a 0x8000-byte block map, then the disc's header
    ciso = tmp_path / "melee.ciso"
    body = iso(tmp_path / "inner.iso").read_bytes()
    ciso.write_bytes(b"CISO" + bytes(0x8000 - 4) + body)
    assert check_iso(ciso) == ciso
    inner = iso(tmp_path / "inner.iso", b"GALE01", 0).read_bytes()
    ciso.write_bytes(b"CISO" + bytes(0x8000 - 4) + inner)
    with pytest.raises(IsoError, match=r"NTSC 1\.00"):
        check_iso(ciso)
    gcz = tmp_path / "melee.gcz"
    gcz.write_bytes(bytes.fromhex("01c00bb1") + bytes(64))
    assert check_iso(gcz) == gcz  # compressed: accepted unread
    with pytest.raises(IsoError, match="is a folder"):
        check_iso(tmp_path)
    empty = tmp_path / "empty.iso"
    empty.write_bytes(b"")
    with pytest.raises(IsoError, match="not a Melee disc image"):
        check_iso(empty)
