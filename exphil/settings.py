"""The user's settings file: where the replays, Slippi Dolphin and the Melee ISO are.

``exphil setup`` writes it; other commands read it through the ``resolve_*`` helpers, which
apply one precedence, highest first:

1. an explicit value (a command-line flag such as ``--dolphin PATH``);
2. an environment variable: ``EXPHIL_DOLPHIN_PATH``, ``EXPHIL_ISO_PATH``,
   ``EXPHIL_REPLAYS_DIR`` (the variable train-bc already reads), ``EXPHIL_DEVICE``;
3. the settings file;
4. nothing (``None``): the caller says what is missing.

The file is TOML (read with the standard library's :mod:`tomllib`), one key per setting::

    replays = '/home/me/Slippi'
    dolphin = '/home/me/.config/Slippi Launcher/netplay/Slippi_Online-x86_64.AppImage'
    iso = '/home/me/games/melee.iso'
    device = 'auto'

Its place: ``$EXPHIL_CONFIG`` when set, else ``$XDG_CONFIG_HOME/exphil/config.toml``
(``~/.config/exphil/config.toml``) on Linux, ``%APPDATA%\\exphil\\config.toml`` on Windows,
``~/Library/Application Support/exphil/config.toml`` on macOS. A missing file is an empty
settings; a malformed one raises :class:`SettingsError`, naming the file and the field.
Saving is atomic (:func:`exphil._atomic.atomic_write`).
"""

from __future__ import annotations

import difflib
import os
import platform
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec
import structlog

from exphil._atomic import atomic_write
from exphil.errors import UserError

__all__ = [
    "DEVICES",
    "ENV_CONFIG",
    "ENV_DEVICE",
    "ENV_DOLPHIN",
    "ENV_ISO",
    "ENV_REPLAYS",
    "Resolved",
    "Settings",
    "SettingsError",
    "dolphin_executable",
    "load_settings",
    "resolve",
    "resolve_device",
    "resolve_dolphin_path",
    "resolve_iso_path",
    "resolve_replay_dir",
    "save_settings",
    "settings_path",
    "settings_to_toml",
]

log = structlog.get_logger("exphil.settings")

ENV_CONFIG = "EXPHIL_CONFIG"
ENV_DOLPHIN = "EXPHIL_DOLPHIN_PATH"
ENV_ISO = "EXPHIL_ISO_PATH"
ENV_REPLAYS = "EXPHIL_REPLAYS_DIR"
ENV_DEVICE = "EXPHIL_DEVICE"

#: the devices ExPhil trains on (train-bc's ``device`` field)
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

Device = Literal["auto", "cpu", "cuda"]
Key = Literal["replays", "dolphin", "iso", "device"]

_ENV_OF: dict[str, str] = {
    "replays": ENV_REPLAYS,
    "dolphin": ENV_DOLPHIN,
    "iso": ENV_ISO,
    "device": ENV_DEVICE,
}

_WHAT: dict[str, str] = {
    "replays": "the folder of Slippi replays (.slp)",
    "dolphin": "the Slippi Dolphin executable (AppImage, .exe or .app)",
    "iso": "the Melee NTSC 1.02 ISO",
    "device": f"the default training device ({', '.join(DEVICES)})",
}


class Settings(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What ``exphil setup`` stores. Every field is optional (None: not set)."""

    #: the folder of Slippi replays (``.slp`` files, subfolders included)
    replays: str | None = None
    #: Slippi Dolphin: its executable (an AppImage on Linux, ``Slippi Dolphin.exe``, the binary
    #: inside ``Slippi Dolphin.app``), or an install folder libmelee understands
    dolphin: str | None = None
    #: the Melee NTSC 1.02 disc image
    iso: str | None = None
    #: the default training device
    device: Device | None = None


class SettingsError(UserError, ValueError):
    """The settings file cannot be read: not TOML, an unknown key, a value of the wrong type.
    ``path``: the file; ``field``: the key at fault (None when the whole file is)."""

    def __init__(self, message: str, *, path: Path, field: str | None = None) -> None:
        super().__init__(
            message,
            hint=f"fix or delete {path}, or run `exphil setup` to write it again",
        )
        self.path = path
        self.field = field


class Resolved(msgspec.Struct, frozen=True):
    """A resolved setting: its value and where it came from (``"--dolphin"``,
    ``"environment EXPHIL_ISO_PATH"``, ``"settings file /home/me/.config/exphil/config.toml"``)."""

    value: str
    source: str


# ---------------------------------------------------------------------------------------
# where the file lives


def settings_path(
    *, env: Mapping[str, str] | None = None, system: str | None = None, home: Path | None = None
) -> Path:
    """The settings file's path: ``$EXPHIL_CONFIG``, else the platform's config folder
    (``system``: ``platform.system()`` unless given; ``env``/``home`` for tests)."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    explicit = env.get(ENV_CONFIG, "")
    if explicit:
        return Path(explicit).expanduser()
    system = platform.system() if system is None else system
    if system == "Windows":
        appdata = env.get("APPDATA", "")
        base = Path(appdata) if appdata else home / "AppData" / "Roaming"
    elif system == "Darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = env.get("XDG_CONFIG_HOME", "")
        # the XDG spec: a relative value is invalid and ignored
        base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".config"
    return base / "exphil" / "config.toml"


# ---------------------------------------------------------------------------------------
# reading and writing

_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "a table",
    "null": "nothing",
}
_MSGSPEC_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<where>[^`]*)`)?$", re.S)


def _field_name(where: str) -> str | None:
    m = re.match(r"\.(\w+)", where)
    return m.group(1) if m else None


def _validation_message(exc: msgspec.ValidationError, path: Path) -> SettingsError:
    text = str(exc)
    m = _MSGSPEC_AT.match(text)
    what, where = (m.group("what"), m.group("where") or "") if m else (text, "")
    unknown = re.match(r"Object contains unknown field `(?P<key>[^`]+)`", what)
    if unknown:
        key = unknown.group("key")
        close = difflib.get_close_matches(key, Settings.__struct_fields__, n=1)
        known = ", ".join(Settings.__struct_fields__)
        guess = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {known})"
        return SettingsError(
            f"settings file {path}: unknown key {key!r}{guess}", path=path, field=key
        )
    field = _field_name(where)
    expected = re.match(r"Expected `(?P<exp>[^`]+)`, got `(?P<got>[^`]+)`", what)
    if field == "device" and "Invalid enum value" in what:
        value = re.search(r"'([^']*)'", what)
        shown = f" {value.group(1)!r}" if value else ""
        return SettingsError(
            f"settings file {path}: device{shown} is not one of {', '.join(DEVICES)}",
            path=path,
            field=field,
        )
    if expected and field:
        got = _TYPE_WORDS.get(expected.group("got"), expected.group("got"))
        return SettingsError(
            f"settings file {path}: {field} must be a string ({_WHAT.get(field, field)}), "
            f"not {got}",
            path=path,
            field=field,
        )
    label = f"{field}: " if field else ""
    return SettingsError(f"settings file {path}: {label}{what}", path=path, field=field)


def _parse(text: str, path: Path) -> Settings:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = ""
        if "escape" in str(exc).lower() or "hex value" in str(exc).lower():
            hint = (
                "; a backslash inside double quotes starts an escape: write Windows paths in "
                "single quotes (iso = 'C:\\Games\\melee.iso')"
            )
        raise SettingsError(
            f"settings file {path} is not valid TOML: {exc}{hint}", path=path
        ) from None
    # an empty value is "not set" (a user blanking a line by hand)
    cleaned = {k: (None if v == "" else v) for k, v in raw.items()}
    try:
        return msgspec.convert(cleaned, Settings)
    except msgspec.ValidationError as exc:
        raise _validation_message(exc, path) from None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The settings in ``path`` (default :func:`settings_path`); empty when the file does not
    exist. Raises :class:`SettingsError` for a file that is unreadable or malformed."""
    p = settings_path() if path is None else Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return Settings()
    except IsADirectoryError:
        raise SettingsError(f"settings file {p} is a folder, not a file", path=p) from None
    except OSError as exc:
        raise SettingsError(
            f"settings file {p} cannot be read: {exc.strerror or exc}", path=p
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"settings file {p} is not UTF-8 text (byte {exc.start})", path=p
        ) from None
    return _parse(text, p)


def _toml_string(value: str) -> str:
    """A TOML string for ``value``: a literal ('...') string where possible, so Windows paths
    stay readable; else a basic string with escapes."""
    if "'" not in value and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return f"'{value}'"
    out = []
    for c in value:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def settings_to_toml(settings: Settings) -> str:
    """The file's text: a comment header, then one ``key = 'value'`` line per set field."""
    lines = [
        "# ExPhil settings, written by `exphil setup` (edit freely; `exphil setup --check`",
        "# verifies them). Environment variables override them: EXPHIL_REPLAYS_DIR,",
        "# EXPHIL_DOLPHIN_PATH, EXPHIL_ISO_PATH, EXPHIL_DEVICE; command-line flags override both.",
        "",
    ]
    for name in Settings.__struct_fields__:
        value = getattr(settings, name)
        if value is not None:
            lines.append(f"# {_WHAT[name]}")
            lines.append(f"{name} = {_toml_string(str(value))}")
    return "\n".join(lines) + "\n"


def save_settings(settings: Settings, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``settings`` to ``path`` (default :func:`settings_path`) atomically, creating
    its folder; returns the path written."""
    p = settings_path() if path is None else Path(path)
    text = settings_to_toml(settings)
    if _parse(text, p) != settings:  # never write a file we would read differently
        raise ValueError(f"settings do not survive a TOML round trip: {settings!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    log.info("settings saved", path=str(p))
    return p


# ---------------------------------------------------------------------------------------
# precedence


def resolve(
    key: Key,
    explicit: str | os.PathLike[str] | None = None,
    *,
    flag: str | None = None,
    env: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Resolved | None:
    """The value of setting ``key`` and its source: ``explicit`` (named ``flag``, default
    ``--KEY``) > its environment variable > the settings file (``settings`` if given, else
    read from ``path`` / :func:`settings_path`) > None. Paths get ``~`` expanded. The file is
    read only when the first two give nothing, so a malformed file does not stop a command
    that was given everything on its command line."""
    env = os.environ if env is None else env
    expand = key != "device"

    def done(value: str, source: str) -> Resolved:
        return Resolved(os.path.expanduser(value) if expand else value, source)

    if explicit is not None and str(explicit) != "":
        return done(os.fspath(explicit), flag or f"--{key}")
    var = _ENV_OF[key]
    if env.get(var, ""):
        return done(env[var], f"environment {var}")
    if settings is None:
        file = settings_path(env=env) if path is None else Path(path)
        settings = load_settings(file)
        source = f"settings file {file}"
    else:
        source = "settings file" if path is None else f"settings file {path}"
    value = getattr(settings, key)
    return None if value is None else done(str(value), source)


def _as_path(r: Resolved | None) -> Path | None:
    return None if r is None else Path(r.value)


def resolve_replay_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The replay folder: ``explicit`` > ``$EXPHIL_REPLAYS_DIR`` > settings file > None."""
    return _as_path(resolve("replays", explicit))


def resolve_iso_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The Melee ISO: ``explicit`` > ``$EXPHIL_ISO_PATH`` > settings file > None. Not checked
    here (:func:`exphil.setup_checks.check_iso` does)."""
    return _as_path(resolve("iso", explicit))


def resolve_dolphin_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Slippi Dolphin: ``explicit`` > ``$EXPHIL_DOLPHIN_PATH`` > settings file > None. A
    ``.app`` bundle or an install folder with a known Slippi executable inside resolves to
    that executable (:func:`dolphin_executable`), the form libmelee's ``Console(path=...)``
    always accepts; anything else is returned as given (checked where it is used)."""
    p = _as_path(resolve("dolphin", explicit))
    return None if p is None else dolphin_executable(p)


def resolve_device(explicit: str | None = None) -> str | None:
    """The training device: ``explicit`` > ``$EXPHIL_DEVICE`` > settings file > None."""
    r = resolve("device", explicit)
    return None if r is None else r.value


# ---------------------------------------------------------------------------------------
# Slippi Dolphin's executable inside bundles and install folders

#: executable names inside an install folder, per ``platform.system()``: libmelee's
#: ``get_exe_path`` names (mainline first) and the Slippi Launcher's
_EXE_NAMES: dict[str, tuple[str, ...]] = {
    "Linux": (
        "Slippi_Netplay_Mainline-x86_64.AppImage",
        "Slippi_Online-x86_64.AppImage",
    ),
    "Windows": ("Slippi_Dolphin.exe", "Slippi Dolphin.exe", "Dolphin.exe"),
    "Darwin": ("Slippi_Dolphin.app", "Slippi Dolphin.app"),
}
_APP_BINARIES = ("Slippi_Dolphin", "Slippi Dolphin")


def dolphin_executable(path: Path, *, system: str | None = None) -> Path:
    """The executable for a Slippi Dolphin ``path``: a file is itself; a ``.app`` bundle is
    its ``Contents/MacOS/Slippi Dolphin`` (or ``Slippi_Dolphin``); an install folder (the
    Launcher's ``netplay``) is the Slippi executable in it, else any ``Slippi_Online*``
    AppImage in it. Returns ``path`` unchanged when none is found."""
    system = platform.system() if system is None else system
    if path.is_file():
        return path
    if not path.is_dir():
        return path
    if path.suffix == ".app":
        for name in _APP_BINARIES:
            binary = path / "Contents" / "MacOS" / name
            if binary.is_file():
                return binary
        return path
    names = _EXE_NAMES.get(system, ())
    for name in names:
        candidate = path / name
        if candidate.suffix == ".app" and candidate.is_dir():
            return dolphin_executable(candidate, system=system)
        if candidate.is_file():
            return candidate
    if system == "Linux":
        found = sorted(path.glob("Slippi_Online*.AppImage"))
        if found:
            return found[0]
    return path
