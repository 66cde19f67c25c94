"""The replay folder: where replays usually are, and whether a folder holds ``.slp`` files."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from exphil.setup_checks._common import (
    Check,
    Details,
    _dedup,
    _home,
    launcher_settings,
    slippi_launcher_dir,
)

__all__ = ["check_replays", "default_replay_dirs"]


def default_replay_dirs(
    *, system: str | None = None, home: Path | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """Where replays usually are, most likely first: the Launcher's ``rootSlpPath``, then
    Slippi's default (``Documents\\Slippi`` on Windows, also under OneDrive; ``~/Slippi``
    elsewhere). Not filtered by existence."""
    system = platform.system() if system is None else system
    h = _home(home)
    found: list[Path] = []
    root = launcher_settings(slippi_launcher_dir(system=system, home=h, env=env)).get("rootSlpPath")
    if isinstance(root, str) and root:
        found.append(Path(root))
    if system == "Windows":
        found += [h / "Documents" / "Slippi", h / "OneDrive" / "Documents" / "Slippi"]
    else:
        found.append(h / "Slippi")
    return _dedup(found)


def check_replays(path: Path | None, *, source: str | None = None) -> Check:
    """The replay folder: it exists, is a folder and holds ``.slp`` files (subfolders
    included); ``details``: ``replays`` (count) and ``folders`` (how many hold some)."""
    if path is None:
        return Check(
            item="replays",
            status="missing",
            message="no replay folder set",
            fix="run `exphil setup`, or set EXPHIL_REPLAYS_DIR",
        )
    row = partial(Check, item="replays", path=str(path), source=source)
    p = str(path)
    if not path.exists():
        return row(
            status="fail",
            message=f"{p} does not exist",
            fix="give the folder Slippi saves replays to (Slippi Launcher: Settings, Replays)",
        )
    if not path.is_dir():
        single = path.suffix.lower() == ".slp"
        return row(
            status="fail",
            message=f"{p} is a file{' (one replay)' if single else ''}, not a folder",
            fix="give the folder that holds the .slp files",
        )
    count, folders, unreadable = 0, 0, 0

    def note(_: OSError) -> None:
        nonlocal unreadable
        unreadable += 1

    for _dir, _subdirs, files in os.walk(path, onerror=note):
        n = sum(1 for f in files if f.lower().endswith(".slp"))
        count += n
        folders += n > 0
    details: Details = {"replays": count, "folders": folders, "unreadable_folders": unreadable}
    if count == 0:
        return row(
            status="fail",
            message=f"no .slp replays in {p} or its subfolders"
            + (f" ({unreadable} folders could not be read)" if unreadable else ""),
            fix="give the folder Slippi saves replays to (Slippi Launcher: Settings, Replays)",
            details=details,
        )
    spread = f" in {folders} folders" if folders > 1 else ""
    caveat = f"; {unreadable} folders could not be read" if unreadable else ""
    return row(
        status="warn" if unreadable else "ok",
        message=f"{count} replays{spread}{caveat}",
        details=details,
    )
