"""What a Dolphin game is: :class:`DolphinConfig` (players, stage, emulator options), and
the checks on the paths it names (:func:`resolve_paths`, :func:`check_iso`,
:func:`check_port_free`).

Paths come from explicit arguments, else ``$EXPHIL_DOLPHIN_PATH`` / ``$EXPHIL_ISO_PATH``,
else the settings file ``exphil setup`` writes (:mod:`exphil.settings`, its one precedence);
:func:`resolve_paths` is the one place the environment asks.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from exphil import settings
from exphil.envs.dolphin.errors import DolphinNotFound, IsoError, PortInUse
from exphil.envs.mock import RewardConfig
from exphil.game.ids import Character, Stage, character, stage
from exphil.setup_checks import read_disc_header

__all__ = [
    "ENV_DOLPHIN",
    "ENV_ISO",
    "KINDS",
    "DolphinConfig",
    "PlayerConfig",
    "Paths",
    "resolve_paths",
    "check_dolphin_path",
    "check_iso",
    "check_port_free",
]

ENV_DOLPHIN: Final = settings.ENV_DOLPHIN
ENV_ISO: Final = settings.ENV_ISO
KINDS: Final = ("bot", "cpu", "human")
"""Who holds a port: ``bot`` (a policy: the env's ``step`` controls reach it through a
libmelee pipe), ``cpu`` (Melee's own CPU at ``cpu_level``: a pipe controller picks it in the
menus, then stays neutral), ``human`` (a real controller: the GameCube adapter)."""

MELEE_GAME_ID: Final = "GALE01"
MELEE_NTSC_102_VERSION: Final = 2
MELEE_NTSC_102_SIZE: Final = 1_459_978_240
"""Bytes of a full (untrimmed) NTSC 1.02 ``.iso``; smaller with the right header is a trimmed
or NKit image, which Dolphin plays too."""


class PlayerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One side of the game: the controller ``port`` (1-4), who holds it (:data:`KINDS`),
    the character (a name or alias), the CPU level (1-9, for ``kind="cpu"``) and costume."""

    port: int
    kind: str = "bot"
    character: str = "fox"
    cpu_level: int = 9
    costume: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 4:
            raise ValueError(f"port must be a controller port 1-4, got {self.port}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "cpu" and not 1 <= self.cpu_level <= 9:
            raise ValueError(f"cpu_level must be 1-9, got {self.cpu_level}")
        character(self.character)  # raises ValueError naming close matches

    @property
    def char(self) -> Character:
        return character(self.character)


class DolphinConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One Dolphin playing one game after another.

    ``players``: ``Frames.players[0]`` and ``[1]`` (the env's port 0 and port 1), each on a
    controller port. Emulator options: ``headless`` (the Null video backend: mainline or
    ExiAI builds only), ``fast_forward`` (ExiAI builds: EXI inputs and fast-forward, for
    self-play), ``blocking_input`` (Dolphin waits for the bot's input each frame: lockstep;
    False for real-time play against a human), ``emulation_speed`` (0 = unlimited,
    mainline only). Timeouts in seconds: ``connect_timeout`` (boot to the first message),
    ``step_timeout`` (one frame: longer means hung), ``shutdown_grace`` (SIGTERM to SIGKILL).
    ``time_limit``: game frames (from frame 0) after which a game is truncated (8 minutes);
    ``menu_frames``: frames of menus before the env gives up reaching a game.
    """

    dolphin_path: str | None = None
    iso_path: str | None = None
    players: tuple[PlayerConfig, PlayerConfig] = (
        PlayerConfig(port=1),
        PlayerConfig(port=2, kind="cpu"),
    )
    stage: str = "final_destination"
    slippi_port: int = 51441
    headless: bool = False
    disable_audio: bool = True
    fast_forward: bool = False
    blocking_input: bool = True
    emulation_speed: float = 1.0
    save_replays: bool = True
    replay_dir: str | None = None
    time_limit: int = 28_800
    menu_frames: int = 60 * 120
    connect_timeout: float = 60.0
    step_timeout: float = 5.0
    shutdown_grace: float = 2.0
    rewards: RewardConfig = RewardConfig()

    def __post_init__(self) -> None:
        a, b = self.players
        if a.port == b.port:
            raise ValueError(f"the two players need two controller ports, both are {a.port}")
        if not any(p.kind == "bot" for p in self.players):
            raise ValueError("at least one player must be a bot (kind='bot')")
        if a.kind == b.kind == "human":
            raise ValueError("two humans: nothing for the env to play")
        st = stage(self.stage)
        if not st.legal:
            raise ValueError(
                f"{st.display_name} is not a stage the menus can pick (legal stages only)"
            )
        if not 1024 <= self.slippi_port <= 65535:
            raise ValueError(f"slippi_port must be 1024-65535, got {self.slippi_port}")
        for name in ("connect_timeout", "step_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.shutdown_grace < 0:
            raise ValueError(f"shutdown_grace must be >= 0, got {self.shutdown_grace}")
        if self.time_limit < 1 or self.menu_frames < 1:
            raise ValueError("time_limit and menu_frames must be at least 1 frame")

    @property
    def stage_id(self) -> Stage:
        return stage(self.stage)

    @property
    def characters(self) -> tuple[Character, Character]:
        return self.players[0].char, self.players[1].char

    @property
    def ports(self) -> tuple[int, int]:
        """The controller ports (1-based) of ``Frames.players[0]`` and ``[1]``."""
        return self.players[0].port, self.players[1].port


@dataclass(frozen=True, slots=True)
class Paths:
    dolphin: Path
    iso: Path


def resolve_paths(
    dolphin: str | os.PathLike[str] | None = None, iso: str | os.PathLike[str] | None = None
) -> Paths:
    """The Dolphin executable (or install folder) and the ISO, each by
    :func:`exphil.settings.resolve_dolphin_path` / :func:`~exphil.settings.resolve_iso_path`:
    an explicit argument, else ``$EXPHIL_DOLPHIN_PATH`` / ``$EXPHIL_ISO_PATH``, else the
    settings file (``$EXPHIL_CONFIG`` or the platform's, written by ``exphil setup``). Checks
    both (:func:`check_dolphin_path`, :func:`check_iso`); raises :class:`DolphinNotFound` /
    :class:`IsoError` naming what to set when one is missing (a malformed settings file:
    :class:`~exphil.settings.SettingsError`, a user error too)."""
    d = settings.resolve_dolphin_path(dolphin)
    i = settings.resolve_iso_path(iso)
    if d is None:
        raise DolphinNotFound(
            f"no Slippi Dolphin given: pass --dolphin PATH, set {ENV_DOLPHIN}, "
            "or run `exphil setup`"
        )
    if i is None:
        raise IsoError(f"no Melee ISO given: pass --iso PATH, set {ENV_ISO}, or run `exphil setup`")
    return Paths(check_dolphin_path(d), check_iso(i))


def check_dolphin_path(path: str | os.PathLike[str]) -> Path:
    """The Dolphin executable ``path`` names (the executable, or a Slippi install folder),
    or :class:`DolphinNotFound` saying what is wrong."""
    p = Path(path).expanduser().absolute()  # a bare name would be looked up on $PATH
    if not p.exists():
        raise DolphinNotFound(f"Dolphin not found: {p} does not exist")
    if p.is_dir():
        from melee.console import get_exe_path  # type: ignore[import-untyped]

        try:
            return Path(get_exe_path(str(p)))
        except (ValueError, FileNotFoundError, NotImplementedError) as exc:
            raise DolphinNotFound(
                f"{p} is a folder without a Slippi Dolphin executable in it ({exc}); "
                "pass the executable itself (e.g. Slippi_Online-x86_64.AppImage)"
            ) from None
    if not os.access(p, os.X_OK):
        raise DolphinNotFound(
            f"{p} is not executable (chmod +x it, or pass the Dolphin executable)"
        )
    return p


def check_iso(path: str | os.PathLike[str]) -> Path:
    """``path`` if it is a Melee NTSC 1.02 disc image, else :class:`IsoError` saying why.

    A cheap check of the disc header, read by :func:`exphil.setup_checks.read_disc_header`:
    a raw ``.iso``/``.gcm`` (or NKit/trimmed) must have the game id ``GALE01`` and disc
    version 2; a CISO is checked at its disc offset; GCZ / RVZ / WIA (and WBFS) images cannot
    be checked without decompressing and are accepted. The full hash check is
    ``exphil setup``'s (:func:`exphil.setup_checks.check_iso`)."""
    p = Path(path).expanduser().absolute()
    if not p.is_file():
        raise IsoError(
            f"Melee ISO not found: {p} " + ("is a folder" if p.is_dir() else "does not exist")
        )
    try:
        header = read_disc_header(p)
    except OSError as exc:
        raise IsoError(f"cannot read the ISO {p}: {exc.strerror or exc}") from None
    if header.container is not None and not header.gamecube:
        return p  # a compressed container: its header is not at the start
    game_id, version = header.game_id, header.revision
    if game_id != MELEE_GAME_ID:
        shown = game_id if game_id.isprintable() and game_id.strip() else repr(game_id)
        what = (
            "a PAL Melee"
            if game_id == "GALP01"
            else (
                "a Japanese Melee"
                if game_id == "GALJ01"
                else f"not a Melee disc image (game id {shown})"
            )
        )
        raise IsoError(f"{p} is {what}; ExPhil needs Melee NTSC 1.02 (game id GALE01)")
    if version != MELEE_NTSC_102_VERSION:
        raise IsoError(f"{p} is Melee NTSC 1.0{version}; Slippi and ExPhil need NTSC 1.02")
    return p


def check_port_free(port: int, host: str = "") -> None:
    """:class:`PortInUse` if the UDP ``port`` (Slippi's spectator port, which Dolphin binds)
    is taken: a second Dolphin there would fail to listen and we would talk to the first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(
                f"the Slippi port {port} (UDP) is in use, probably by another Dolphin"
            ) from None
        raise
    finally:
        sock.close()
