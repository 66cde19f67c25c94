"""The replays Slippi records: which ``.slp`` file is the game that just ended.

Slippi Dolphin writes one file per game into its replay folder
(``DolphinConfig.replay_dir``, which :func:`~exphil.envs.dolphin.launch` writes into
Dolphin's config through libmelee), named ``Game_YYYYMMDDTHHMMSS.slp``, directly in the
folder or in a monthly subfolder (``YYYY-MM``) when that option is on. The file is created
when a game starts and written as it goes.

:class:`ReplayFinder` remembers the files the folder held when it was made; after each game
:meth:`~ReplayFinder.next_replay` names the oldest file (by modification time) that is new
and not named yet: games end in order, and a game's file stops changing at its end, before
the next game's file is made. It does not read the files.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import structlog

__all__ = ["ReplayFinder"]

log = structlog.get_logger("exphil.dolphin")

#: where Slippi puts replays inside its folder: at the top, or in a monthly folder
_PATTERNS = ("*.slp", "[0-9][0-9][0-9][0-9]-[0-9][0-9]/*.slp")


class ReplayFinder:
    """New ``.slp`` files in ``folder``, one per game, in the order the games ended."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._named: set[Path] = set(self._files())
        self.found: list[Path] = []
        """Every file named so far, in order."""

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for pattern in _PATTERNS:
            out.extend(self.folder.glob(pattern))
        return out

    def new_files(self) -> list[Path]:
        """Files not there at the start and not named yet, oldest first (by mtime)."""
        fresh = []
        for f in self._files():
            if f in self._named:
                continue
            try:
                fresh.append((f.stat().st_mtime_ns, f))
            except OSError:  # gone in between
                continue
        return [f for _, f in sorted(fresh)]

    def next_replay(self, timeout: float = 0.0, poll: float = 0.05) -> Path | None:
        """The file of the game that ended last: the oldest new file, waiting up to
        ``timeout`` seconds for one to appear; None when none did."""
        deadline = time.monotonic() + timeout
        while True:
            fresh = self.new_files()
            if fresh:
                path = fresh[0]
                self._named.add(path)
                self.found.append(path)
                log.info("replay", path=str(path))
                return path
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll)

    def unfinished(self) -> Path | None:
        """The newest file not named yet (the game in progress, e.g. when play stopped)."""
        fresh = self.new_files()
        return fresh[-1] if fresh else None
