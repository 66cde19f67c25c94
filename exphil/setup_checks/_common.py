"""What every check shares: :class:`Check`, the result of one, and where Slippi Launcher keeps
its data folder and settings (the defaults the checks propose come from there)."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import msgspec

__all__ = ["Check", "Details", "Status", "launcher_settings", "slippi_launcher_dir"]

#: ``ok``: good; ``warn``: usable, with a caveat; ``fail``: set but wrong; ``missing``: not set
Status = Literal["ok", "warn", "fail", "missing"]
Details = dict[str, str | int | float | bool | None]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One checked item: ``item`` (replays, dolphin, iso, gpu, settings), its ``status``, a
    one-line ``message`` that says what is wrong, the ``path`` checked, ``fix`` (what to do;
    None when nothing) and ``details`` (counts, versions, hashes)."""

    item: str
    status: Status
    message: str
    path: str | None = None
    source: str | None = None
    fix: str | None = None
    details: Details = msgspec.field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """ok or warn."""
        return self.status in ("ok", "warn")


# ---------------------------------------------------------------------------------------
# Slippi Launcher's folder and settings (where defaults come from)


def _home(home: Path | None) -> Path:
    return Path.home() if home is None else home


def slippi_launcher_dir(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Slippi Launcher's data folder (Electron's ``userData``), as libmelee's
    ``slippi_launcher_path``: ``%APPDATA%\\Slippi Launcher``, ``~/Library/Application
    Support/Slippi Launcher``, ``~/.config/Slippi Launcher``."""
    system = platform.system() if system is None else system
    env = os.environ if env is None else env
    h = _home(home)
    if system == "Windows":
        appdata = env.get("APPDATA", "")
        return (Path(appdata) if appdata else h / "AppData" / "Roaming") / "Slippi Launcher"
    if system == "Darwin":
        return h / "Library" / "Application Support" / "Slippi Launcher"
    xdg = env.get("XDG_CONFIG_HOME", "")
    return (Path(xdg) if xdg and os.path.isabs(xdg) else h / ".config") / "Slippi Launcher"


def launcher_settings(launcher_dir: Path) -> dict[str, object]:
    """The ``settings`` object of the Launcher's ``Settings`` JSON file (``isoPath``,
    ``rootSlpPath``, ``netplayDolphinPath``, ``useNetplayBeta``); empty when absent or
    unreadable."""
    try:
        raw = json.loads((launcher_dir / "Settings").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    inner = raw.get("settings") if isinstance(raw, dict) else None
    return dict(inner) if isinstance(inner, dict) else {}


def _dedup(paths: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for p in paths:
        key = os.path.normcase(str(p))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
