"""``exphil setup``: the wizard driven with answers on stdin, scripted setup with flags,
``--check`` (exit codes, JSON, environment overrides, malformed files), and train-bc taking
the replay folder from the settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from exphil.cli import cli
from exphil.cli import setup as setup_mod
from exphil.settings import Settings, load_settings, save_settings
from exphil.setup_checks import Check

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fake Dolphin is an sh script")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private settings file, an empty home (nothing detected), no EXPHIL_* paths, and a
    GPU check that does not import torch."""
    cfg = tmp_path / "cfg" / "config.toml"
    monkeypatch.setenv("EXPHIL_CONFIG", str(cfg))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for var in ("EXPHIL_DOLPHIN_PATH", "EXPHIL_ISO_PATH", "EXPHIL_REPLAYS_DIR", "EXPHIL_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    gpu = Check(item="gpu", status="warn", message="no GPU (test)", details={"device": "cpu"})
    monkeypatch.setattr(setup_mod, "check_gpu", lambda: gpu)
    return cfg


@pytest.fixture
def things(tmp_path: Path) -> dict[str, Path]:
    """A replay folder, a fake mainline Slippi Dolphin install folder, a GALE01 r2 image."""
    slp = tmp_path / "Slippi" / "2025-01"
    slp.mkdir(parents=True)
    (slp / "Game_1.slp").write_bytes(b"x")
    netplay = tmp_path / "netplay"
    netplay.mkdir()
    exe = netplay / "Slippi_Online-x86_64.AppImage"
    exe.write_text('#!/bin/sh\necho "Slippi Dolphin mainline 4.0.1"\nexit 0\n')
    exe.chmod(0o755)
    head = bytearray(0x440)
    head[0:6], head[7], head[0x1C:0x20] = b"GALE01", 2, bytes.fromhex("c2339f3d")
    iso = tmp_path / "melee.iso"
    iso.write_bytes(bytes(head))
    pal = tmp_path / "pal.iso"
    head[0:6] = b"GALP01"
    pal.write_bytes(bytes(head))
    return {"replays": tmp_path / "Slippi", "netplay": netplay, "exe": exe, "iso": iso, "pal": pal}


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["setup", *args], input=input)
    return res.exit_code, res.output


# --- --check -------------------------------------------------------------------------


def test_check_with_nothing_set_says_what_is_missing(env: Path) -> None:
    code, out = run("--check")
    assert code == 1
    for words in ("no replay folder set", "no Slippi Dolphin set", "no Melee ISO set"):
        assert words in out
    assert "no settings file yet" in out and "3 item(s) need attention" in out
    code, out = run("--check", "--json")
    assert code == 1
    doc = json.loads(out.splitlines()[0])
    assert doc["ok"] is False and doc["settings_file"] == str(env)
    status = {c["item"]: c["status"] for c in doc["checks"]}
    assert status == {
        "settings": "warn",
        "replays": "missing",
        "dolphin": "missing",
        "iso": "missing",
        "gpu": "warn",
    }


@posix_only
def test_scripted_setup_then_check(env: Path, things: dict[str, Path]) -> None:
    code, out = run(
        "--replays", str(things["replays"]), "--dolphin", str(things["netplay"]),
        "--iso", str(things["iso"]), "--device", "cpu", "--quick",
    )  # fmt: skip
    assert code == 0, out
    assert f"saved {env}" in out
    # the install folder was stored as the executable inside it, every path absolute
    assert load_settings(env) == Settings(
        replays=str(things["replays"]),
        dolphin=str(things["exe"]),
        iso=str(things["iso"]),
        device="cpu",
    )
    code, out = run("--check", "--quick")
    assert code == 0, out
    assert "1 replays" in out and "Slippi Dolphin (mainline)" in out and "all set" in out
    code, out = run("--check", "--quick", "--json")
    assert code == 0
    doc = json.loads(out.splitlines()[0])
    assert doc["ok"] is True
    dolphin = next(c for c in doc["checks"] if c["item"] == "dolphin")
    assert dolphin["details"]["build"] == "mainline"
    assert dolphin["source"] == f"settings file {env}"
    # the full check hashes the (made-up) image: usable, with a warning naming its MD5
    code, out = run("--check")
    assert code == 0 and "its hash is not vanilla NTSC 1.02's" in out


@posix_only
def test_scripted_setup_refuses_a_failing_value(env: Path, things: dict[str, Path]) -> None:
    code, out = run("--replays", str(things["replays"]), "--iso", str(things["pal"]), "--quick")
    assert code == 2
    assert "nothing saved: Melee ISO failed the check" in out and "PAL" in out
    assert not env.exists()
    code, out = run("--iso", str(things["pal"]), "--quick", "--force")
    assert code == 0 and load_settings(env).iso == str(things["pal"])
    code, out = run("--check", "--quick")
    assert code == 1 and "this is Melee PAL" in out


def test_check_environment_overrides_the_file(
    env: Path, things: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    save_settings(Settings(iso=str(things["iso"])), env)
    monkeypatch.setenv("EXPHIL_ISO_PATH", str(things["iso"].parent / "gone.iso"))
    code, out = run("--check", "--quick", "--json")
    iso = next(c for c in json.loads(out.splitlines()[0])["checks"] if c["item"] == "iso")
    assert code == 1 and iso["status"] == "fail" and iso["source"] == "environment EXPHIL_ISO_PATH"
    assert "it comes from EXPHIL_ISO_PATH" in iso["fix"]


def test_check_malformed_file(env: Path) -> None:
    env.parent.mkdir(parents=True)
    env.write_text("dolphn = '/x'\n")
    code, out = run("--check", "--quick")
    assert code == 1 and "Traceback" not in out
    assert f"settings file {env}: unknown key 'dolphn' (did you mean 'dolphin'?)" in out
    code, out = run("--check", "--quick", "--json")
    first = json.loads(out.splitlines()[0])["checks"][0]
    assert first["item"] == "settings" and first["status"] == "fail"
    assert first["details"]["field"] == "dolphn"
    # scripted setup does not overwrite it silently
    code, out = run("--device", "cpu")
    assert code == 2 and "unknown key 'dolphn'" in out and "Traceback" not in out
    code, out = run("--device", "cpu", "--force")
    assert code == 0 and load_settings(env) == Settings(device="cpu")


def test_usage_mistakes(env: Path) -> None:
    code, out = run("--json")
    assert code == 2 and "--json goes with --check" in out
    code, out = run("--check", "--force")
    assert code == 2
    # no terminal, nothing to do without questions: a message, not a prompt that hangs
    code, out = run(input="")
    assert code == 2 and "stdin is not a terminal" in out and "--check" in out


# --- the wizard ----------------------------------------------------------------------


@posix_only
def test_wizard_with_answers(env: Path, things: dict[str, Path], tmp_path: Path) -> None:
    # a folder name that looks like rich markup must be shown as it is
    odd = tmp_path / "[red]replays"
    odd.mkdir()
    (odd / "g.slp").write_bytes(b"x")
    answers = "\n".join(
        [
            str(odd),  # replays: ok
            str(tmp_path / "nope"),  # Dolphin: does not exist
            "n",  # ... do not use it anyway
            str(things["netplay"]),  # then the install folder: ok
            str(things["pal"]),  # ISO: PAL
            "n",
            f'"{things["iso"]}"',  # quoted, as a file manager copies it
            "cpu",  # device
            "y",  # save
        ]
    )
    code, out = run("--interactive", "--quick", input=answers + "\n")
    assert code == 0, out
    assert f"  {odd}\n" in out  # shown as it is, not eaten as markup
    assert "does not exist" in out and "this is Melee PAL" in out
    assert load_settings(env) == Settings(
        replays=str(odd), dolphin=str(things["exe"]), iso=str(things["iso"]), device="cpu"
    )


@posix_only
def test_wizard_proposes_current_values_and_skips(env: Path, things: dict[str, Path]) -> None:
    save_settings(Settings(replays=str(things["replays"]), dolphin=str(things["exe"])), env)
    # Enter takes the proposal (the current value); '-' leaves the ISO unset; 'n': no save
    code, out = run("--interactive", "--quick", input="\n\n-\n\nn\n")
    assert code == 0, out
    assert str(things["replays"]) in out and "skipped: not set" in out and "nothing saved" in out
    code, out = run("--interactive", "--quick", input="\n\n-\n\ny\n")
    assert code == 0, out
    assert load_settings(env) == Settings(
        replays=str(things["replays"]), dolphin=str(things["exe"]), device="auto"
    )


# --- train-bc reads the replay folder ------------------------------------------------


def test_train_bc_takes_the_replay_folder_from_the_settings(env: Path, tmp_path: Path) -> None:
    missing = tmp_path / "saved-replays"
    save_settings(Settings(replays=str(missing)), env)
    res = CliRunner().invoke(cli, ["train-bc", "--preset", "quick", "--dry-run"])
    assert res.exit_code == 2
    assert f"replays: {missing} (from the settings file {env}" in res.output
    assert f"replay path {missing} does not exist" in res.output
    env.write_text("replays = 3\n")
    res = CliRunner().invoke(cli, ["train-bc", "--preset", "quick", "--dry-run"])
    assert res.exit_code == 2 and "replays must be a string" in res.output
    assert "Traceback" not in res.output
