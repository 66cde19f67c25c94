"""The settings file: its place per platform, the precedence of the resolve helpers, the TOML
round trip and the messages of malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from exphil import settings as st
from exphil.errors import UserError
from exphil.settings import (
    Resolved,
    Settings,
    SettingsError,
    load_settings,
    resolve,
    save_settings,
    settings_path,
)

# --- where the file lives ------------------------------------------------------------


def test_path_per_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert settings_path(env={}, system="Linux", home=home) == home / ".config/exphil/config.toml"
    xdg = str(tmp_path / "xdg")
    assert settings_path(env={"XDG_CONFIG_HOME": xdg}, system="Linux", home=home) == Path(
        xdg, "exphil", "config.toml"
    )
    # a relative XDG_CONFIG_HOME is invalid per the spec: ignored
    assert settings_path(env={"XDG_CONFIG_HOME": "rel"}, system="Linux", home=home).is_relative_to(
        home
    )
    appdata = str(tmp_path / "Roaming")
    assert settings_path(env={"APPDATA": appdata}, system="Windows", home=home) == Path(
        appdata, "exphil", "config.toml"
    )
    assert settings_path(env={}, system="Darwin", home=home) == (
        home / "Library" / "Application Support" / "exphil" / "config.toml"
    )
    mine = str(tmp_path / "elsewhere.toml")
    assert settings_path(env={"EXPHIL_CONFIG": mine}, system="Windows", home=home) == Path(mine)


# --- round trip --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "/home/me/Slippi",
        r"C:\Users\me\Documents\Slippi",
        'it\'s a "quoted" path\\with\ttab',
        "ünïcødé/フォルダ",
    ],
)
def test_round_trip(tmp_path: Path, value: str) -> None:
    s = Settings(replays=value, dolphin=value, iso=value, device="cuda")
    p = save_settings(s, tmp_path / "sub" / "config.toml")
    assert p.is_file()
    assert load_settings(p) == s
    assert not list(p.parent.glob(".*.tmp"))  # the atomic writer's temp file is gone


def test_missing_file_is_empty_and_unset_fields_are_not_written(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nope.toml") == Settings()
    p = save_settings(Settings(iso="/x.iso"), tmp_path / "c.toml")
    text = p.read_text()
    assert "iso = '/x.iso'" in text and "dolphin =" not in text and "replays =" not in text


def test_windows_path_written_readably(tmp_path: Path) -> None:
    p = save_settings(Settings(iso=r"C:\Games\melee.iso"), tmp_path / "c.toml")
    assert r"iso = 'C:\Games\melee.iso'" in p.read_text()


# --- malformed files -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("dolphn = '/x'\n", "dolphn", ["unknown key 'dolphn'", "did you mean 'dolphin'"]),
        ("iso = 3\n", "iso", ["iso must be a string", "not an integer"]),
        ("device = 'gpu'\n", "device", ["device 'gpu' is not one of auto, cpu, cuda"]),
        ("[replays]\nx = 1\n", "replays", ["replays must be a string", "not a table"]),
        ('iso = "C:\\Users\\q.iso"\n', None, ["not valid TOML", "single quotes"]),
        ("iso = \n", None, ["not valid TOML", "line 1"]),
    ],
)
def test_malformed_file_names_file_and_field(
    tmp_path: Path, text: str, field: str | None, words: list[str]
) -> None:
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(SettingsError) as info:
        load_settings(p)
    message = str(info.value)
    assert str(p) in message
    for w in words:
        assert w in message
    assert info.value.field == field
    assert isinstance(info.value, UserError) and "exphil setup" in (info.value.hint or "")


def test_not_utf8_and_folder(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_bytes(b"iso = '\xff'\n")
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(p)
    with pytest.raises(SettingsError, match="is a folder"):
        load_settings(tmp_path)


def test_empty_value_means_unset(tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    p.write_text("iso = ''\nreplays = '/r'\n")
    assert load_settings(p) == Settings(replays="/r")


# --- precedence ----------------------------------------------------------------------


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    p = tmp_path / "config.toml"
    monkeypatch.setenv("EXPHIL_CONFIG", str(p))
    for var in ("EXPHIL_DOLPHIN_PATH", "EXPHIL_ISO_PATH", "EXPHIL_REPLAYS_DIR", "EXPHIL_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    return p


def test_precedence_explicit_env_file_none(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert st.resolve_iso_path() is None
    assert st.resolve_replay_dir() is None
    assert st.resolve_device() is None
    save_settings(Settings(iso="/file.iso", replays="/file/slp", device="cpu"), cfg)
    assert st.resolve_iso_path() == Path("/file.iso")
    assert resolve("iso") == Resolved("/file.iso", f"settings file {cfg}")
    monkeypatch.setenv("EXPHIL_ISO_PATH", "/env.iso")
    monkeypatch.setenv("EXPHIL_REPLAYS_DIR", "/env/slp")
    monkeypatch.setenv("EXPHIL_DEVICE", "cuda")
    assert st.resolve_iso_path() == Path("/env.iso")
    assert resolve("iso") == Resolved("/env.iso", "environment EXPHIL_ISO_PATH")
    assert st.resolve_replay_dir() == Path("/env/slp")
    assert st.resolve_device() == "cuda"
    assert st.resolve_iso_path("/flag.iso") == Path("/flag.iso")
    assert resolve("iso", "/flag.iso", flag="--iso") == Resolved("/flag.iso", "--iso")
    assert st.resolve_device("cpu") == "cpu"
    # an empty variable is unset
    monkeypatch.setenv("EXPHIL_ISO_PATH", "")
    assert st.resolve_iso_path() == Path("/file.iso")


def test_tilde_expanded(cfg: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    save_settings(Settings(replays="~/Slippi"), cfg)
    assert st.resolve_replay_dir() == tmp_path / "Slippi"


def test_malformed_file_does_not_matter_when_given(cfg: Path) -> None:
    cfg.write_text("this is not toml")
    assert st.resolve_iso_path("/flag.iso") == Path("/flag.iso")
    with pytest.raises(SettingsError, match="not valid TOML"):
        st.resolve_iso_path()


def test_dolphin_resolves_bundles_and_install_folders(cfg: Path, tmp_path: Path) -> None:
    app = tmp_path / "Slippi Dolphin.app"
    binary = app / "Contents" / "MacOS" / "Slippi Dolphin"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    assert st.resolve_dolphin_path(app) == binary
    netplay = tmp_path / "netplay"
    netplay.mkdir()
    image = netplay / "Slippi_Online-x86_64.AppImage"
    image.write_text("")
    assert st.dolphin_executable(netplay, system="Linux") == image
    exe = netplay / "Slippi Dolphin.exe"
    exe.write_text("")
    assert st.dolphin_executable(netplay, system="Windows") == exe
    # nothing known inside: returned as given
    empty = tmp_path / "empty"
    empty.mkdir()
    assert st.dolphin_executable(empty, system="Linux") == empty
    save_settings(Settings(dolphin=str(image)), cfg)
    assert st.resolve_dolphin_path() == image
