"""The setup checks on synthetic inputs: replay folders, fake Dolphin executables (scripts
that answer --version like each Slippi build, hang, or are something else), disc images with
a made-up header, and a GPU seen through a patched torch."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from exphil import setup_checks as sc
from exphil.setup_checks import (
    KnownImage,
    _dolphin,
    _gpu,
    _iso,
    check_dolphin,
    check_gpu,
    check_iso,
    check_replays,
    default_replay_dirs,
    detect_dolphin,
    detect_iso,
    hash_file,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake executables are sh scripts")


# --- replays -------------------------------------------------------------------------


def test_replays(tmp_path: Path) -> None:
    assert check_replays(None).status == "missing"
    c = check_replays(tmp_path / "nope")
    assert c.status == "fail" and "does not exist" in c.message and c.fix
    one = tmp_path / "game.slp"
    one.write_bytes(b"x")
    c = check_replays(one)
    assert c.status == "fail" and "is a file (one replay), not a folder" in c.message
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    c = check_replays(empty)
    assert c.status == "fail" and "no .slp replays" in c.message
    # Slippi's monthly folders, upper-case suffixes counted too
    root = tmp_path / "Slippi"
    for month, names in (("2025-01", ["a.slp", "b.SLP"]), ("2025-02", ["c.slp"]), ("x", [])):
        (root / month).mkdir(parents=True)
        for n in names:
            (root / month / n).write_bytes(b"x")
    c = check_replays(root, source="--replays")
    assert c.status == "ok" and c.message == "3 replays in 2 folders"
    assert c.details["replays"] == 3 and c.source == "--replays" and c.path == str(root)


# --- Slippi Dolphin ------------------------------------------------------------------


def fake_dolphin(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


@posix_only
@pytest.mark.parametrize(
    ("body", "build", "words"),
    [
        ('echo "Slippi Dolphin mainline 4.0.0"; exit 0', "mainline", "mainline"),
        ('echo "Slippi Dolphin mainline 4.0.0 ExiAI"; exit 0', "exiai", "ExiAI"),
        ('echo "Faster Melee - Slippi (3.4.0)"; exit 255', "ishiiruka", "Ishiiruka"),
        ('echo "Faster Melee - Slippi (3.4.0) - ExiAI" >&2; exit 1', "exiai", "ExiAI"),
    ],
)
def test_dolphin_builds_as_libmelee_reads_them(
    tmp_path: Path, body: str, build: str, words: str
) -> None:
    exe = fake_dolphin(tmp_path / "Slippi_Online-x86_64.AppImage", body)
    c = check_dolphin(exe, system="Linux")
    assert c.status == "ok", c
    assert c.details["build"] == build and words in c.message


@posix_only
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('echo "Dolphin 5.0-21088"; exit 0', "not Slippi Dolphin: `--version` says 'Dolphin 5.0"),
        ('echo "what" >&2; exit 3', "exited with status 3"),
        ('echo "nope" >&2; exit 1', "exited with status 1"),
        (
            'echo "dlopen(): error loading libfuse.so.2" >&2; '
            'echo "AppImages require FUSE to run." >&2; exit 127',
            "FUSE is missing",
        ),
    ],
)
def test_dolphin_that_libmelee_would_refuse(tmp_path: Path, body: str, words: str) -> None:
    exe = fake_dolphin(tmp_path / "Slippi_Online-x86_64.AppImage", body)
    c = check_dolphin(exe, system="Linux")
    assert c.status == "fail" and words in c.message and c.fix, c


@posix_only
def test_dolphin_paths(tmp_path: Path) -> None:
    assert check_dolphin(None).status == "missing"
    c = check_dolphin(tmp_path / "nope")
    assert c.status == "fail" and "does not exist" in c.message
    c = check_dolphin(tmp_path, system="Linux")
    assert c.status == "fail" and "without a Slippi Dolphin executable" in c.message
    plain = tmp_path / "Slippi_Online-x86_64.AppImage"
    plain.write_text("")
    plain.chmod(0o644)
    c = check_dolphin(plain, system="Linux")
    assert c.status == "fail" and "not executable" in c.message and "chmod +x" in (c.fix or "")
    # the Launcher's install folder resolves to the AppImage inside
    plain.unlink()
    fake_dolphin(plain, 'echo "Slippi Dolphin mainline"; exit 0')
    c = check_dolphin(tmp_path, system="Linux")
    assert c.status == "ok" and c.details["executable"] == str(plain)
    # without the probe: only the file
    c = check_dolphin(plain, probe=False)
    assert c.status == "ok" and "not probed" in c.message


@posix_only
def test_dolphin_not_a_program(tmp_path: Path) -> None:
    exe = tmp_path / "Slippi_Dolphin"
    exe.write_bytes(b"\x00\x01not a program")
    exe.chmod(0o755)
    c = check_dolphin(exe, system="Linux")
    assert c.status == "fail" and "cannot be run" in c.message


@posix_only
def test_dolphin_app_bundle_on_macos(tmp_path: Path) -> None:
    app = tmp_path / "Slippi Dolphin.app"
    fake_dolphin(app / "Contents" / "MacOS" / "Slippi Dolphin", 'echo "Slippi 3.4.0"; exit 0')
    c = check_dolphin(app, system="Darwin")
    assert c.status == "ok" and c.details["build"] == "ishiiruka"
    empty = tmp_path / "Empty.app"
    empty.mkdir()
    c = check_dolphin(empty, system="Darwin")
    assert c.status == "fail" and "an app bundle without" in c.message


def test_dolphin_windows_exit_codes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    exe = tmp_path / "Slippi Dolphin.exe"
    exe.write_text("")
    answers = iter([(0, "", ""), (2**32 - 1, "Slippi 3.4.0", ""), (5, "", "")])
    monkeypatch.setattr(_dolphin, "_run_version", lambda _exe, _timeout: next(answers))
    assert check_dolphin(exe, system="Windows").details["build"] == "mainline"
    c = check_dolphin(exe, system="Windows")
    assert c.details["build"] == "ishiiruka" and "3.4.0" in c.message
    c = check_dolphin(exe, system="Windows")
    assert c.status == "fail" and "status 5" in c.message


@posix_only
def test_dolphin_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    exe = fake_dolphin(
        tmp_path / "Slippi_Online-x86_64.AppImage",
        f'sleep 60 & echo $! > "{pids}"; wait',
    )
    t0 = time.monotonic()
    c = check_dolphin(exe, timeout=0.5, system="Linux")
    assert time.monotonic() - t0 < 5
    assert c.status == "warn" and "did not answer within 0.5 s" in c.message
    child = int(pids.read_text())
    for _ in range(100):  # the group was SIGKILLed; give the kernel a moment
        if not _alive(child):
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"the Dolphin's child {child} outlived the probe")


def _alive(pid: int) -> bool:
    """Running: a killed orphan waiting for init to reap it (a zombie) does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


# --- the ISO -------------------------------------------------------------------------


def fake_image(
    path: Path, game_id: bytes = b"GALE01", revision: int = 2, *, size: int = 0x440
) -> Path:
    head = bytearray(size)
    head[0:6] = game_id
    head[7] = revision
    head[0x1C:0x20] = bytes.fromhex("c2339f3d")
    head[0x20:0x37] = b"Super Smash Bros. Melee"
    path.write_bytes(bytes(head))
    return path


def test_iso_paths(tmp_path: Path) -> None:
    assert check_iso(None).status == "missing"
    assert "does not exist" in check_iso(tmp_path / "nope.iso").message
    assert "is not a file" in check_iso(tmp_path).message
    junk = tmp_path / "junk.iso"
    junk.write_bytes(os.urandom(4096))
    c = check_iso(junk)
    assert c.status == "fail" and "not a GameCube disc image" in c.message


@pytest.mark.parametrize(
    ("game_id", "revision", "words"),
    [
        (b"GALP01", 0, "this is Melee PAL (revision 0)"),
        (b"GALE01", 0, "this is Melee NTSC-U 1.00"),
        (b"GALE01", 1, "this is Melee NTSC-U 1.01"),
        (b"GALJ01", 2, "this is Melee NTSC-J 1.02"),
        (b"GMSE01", 0, "not a Melee ISO: its game id is 'GMSE01'"),
    ],
)
def test_iso_header_names_what_is_wrong(
    tmp_path: Path, game_id: bytes, revision: int, words: str
) -> None:
    c = check_iso(fake_image(tmp_path / "x.iso", game_id, revision), verify_hash=False)
    assert c.status == "fail" and words in c.message, c.message
    assert c.details["game_id"] == game_id.decode() and c.details["revision"] == revision


def test_iso_header_ok_without_hash(tmp_path: Path) -> None:
    c = check_iso(fake_image(tmp_path / "m.iso"), verify_hash=False)
    assert c.status == "ok" and "hash not checked" in c.message
    assert "not the full 1,459,978,240" in c.message


def test_iso_hash_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    iso = fake_image(tmp_path / "m.iso")
    md5 = hashlib.md5(iso.read_bytes()).hexdigest()
    sha1 = hashlib.sha1(iso.read_bytes()).hexdigest()
    # unknown hash: usable with a warning that names the MD5
    c = check_iso(iso)
    assert c.status == "warn" and md5 in c.message and c.details["sha1"] == sha1
    # the vanilla image (its MD5 made ours)
    known = dict(sc.KNOWN_IMAGES)
    monkeypatch.setattr(_iso, "KNOWN_IMAGES", {**known, md5: KnownImage("NTSC-U 1.02", True)})
    c = check_iso(iso)
    assert c.status == "ok" and c.message == "Melee NTSC-U 1.02, hash verified"
    # a known mod, found by its SHA-1
    bad = {**known, sha1: KnownImage("20XX 4.07++ (a mod)", False)}
    monkeypatch.setattr(_iso, "KNOWN_IMAGES", bad)
    c = check_iso(iso)
    assert c.status == "fail" and "20XX 4.07++" in c.message and sc.NTSC_102_MD5 in (c.fix or "")


def test_the_published_hashes_are_the_good_ones() -> None:
    assert sc.KNOWN_IMAGES[sc.NTSC_102_MD5] == KnownImage("NTSC-U 1.02", True)
    assert sc.KNOWN_IMAGES[sc.NTSC_102_SHA1].good
    assert sc.NTSC_102_MD5 == "0e63d4223b01d9aba596259dc155a174"
    assert all(len(k) in (32, 40) for k in sc.KNOWN_IMAGES)


def test_hash_file_and_progress(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    p = tmp_path / "f"
    p.write_bytes(data)
    seen: list[tuple[int, int]] = []
    md5, sha1 = hash_file(p, progress=lambda d, t: seen.append((d, t)), chunk=4096)
    assert (md5, sha1) == (hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest())
    assert seen == [(4096, 10_000), (8192, 10_000), (10_000, 10_000)]


def test_compressed_image(tmp_path: Path) -> None:
    gcz = tmp_path / "m.gcz"
    gcz.write_bytes(bytes.fromhex("01c00bb1") + os.urandom(500))
    c = check_iso(gcz, verify_hash=False)
    assert c.status == "warn" and "a GCZ image" in c.message
    c = check_iso(gcz)
    assert c.status == "warn" and "GCZ image with an unknown hash" in c.message
    # a CISO keeps the disc header after its 0x8000-byte block map: checked there
    for game_id, status in ((b"GALE01", "ok"), (b"GALP01", "fail")):
        disc = fake_image(tmp_path / "disc", game_id).read_bytes()
        ciso = tmp_path / "m.ciso"
        ciso.write_bytes(b"CISO" + bytes(0x8000 - 4) + disc)
        c = check_iso(ciso, verify_hash=False)
        assert c.status == status and c.details["container"] == "CISO", c


# --- detection -----------------------------------------------------------------------


def test_detection_from_the_launcher_and_usual_places(tmp_path: Path) -> None:
    home = tmp_path / "home"
    launcher = home / ".config" / "Slippi Launcher"
    slp = home / "Documents" / "MySlippi"
    slp.mkdir(parents=True)
    (home / "stuff").mkdir()
    iso = fake_image(home / "stuff" / "melee.iso")
    launcher.mkdir(parents=True)
    settings = {"settings": {"isoPath": str(iso), "rootSlpPath": str(slp), "useNetplayBeta": False}}
    (launcher / "Settings").write_text(json.dumps(settings))
    image = launcher / "netplay" / "Slippi_Online-x86_64.AppImage"
    image.parent.mkdir()
    image.write_text("")
    downloaded = home / "Downloads" / "Slippi_Online-x86_64.AppImage"
    downloaded.parent.mkdir()
    downloaded.write_text("")
    env: dict[str, str] = {}
    assert default_replay_dirs(system="Linux", home=home, env=env) == [slp, home / "Slippi"]
    assert detect_dolphin(system="Linux", home=home, env=env) == [image, downloaded]
    # a big GALE01 image in Downloads (sparse), next to a big file that is not Melee
    big = fake_image(home / "Downloads" / "Melee.iso", size=0x440)
    with open(big, "r+b") as f:
        f.truncate(150 << 20)
    other = fake_image(home / "Downloads" / "Other.iso", b"GMSE01", 0)
    with open(other, "r+b") as f:
        f.truncate(150 << 20)
    assert detect_iso(system="Linux", home=home, env=env) == [iso, big]
    # Windows: Documents\\Slippi (and under OneDrive) when the Launcher says nothing
    assert default_replay_dirs(system="Windows", home=home, env={"APPDATA": str(tmp_path)}) == [
        home / "Documents" / "Slippi",
        home / "OneDrive" / "Documents" / "Slippi",
    ]


# --- the GPU -------------------------------------------------------------------------


def test_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    props = SimpleNamespace(name="Fake GPU", total_memory=80 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda _i: props)
    c = check_gpu()
    assert c.status == "ok" and c.message == "CUDA: Fake GPU, 80 GiB (+1 more)"
    assert c.details["device"] == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(_gpu.shutil, "which", lambda _name: None)
    c = check_gpu()
    assert c.status == "warn" and c.message.startswith("no GPU") and c.details["device"] == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert "Apple GPU (MPS)" in check_gpu().message
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(_gpu.shutil, "which", lambda _name: "/usr/bin/nvidia-smi")
    c = check_gpu()
    assert "NVIDIA driver is installed but this torch has no CUDA" in c.message and c.fix
