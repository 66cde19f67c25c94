"""Real Melee: a Dolphin environment through libmelee (see ``docs/dolphin.md``).

* :class:`DolphinEnv`: one game on one Slippi Dolphin behind the ``GameEnv`` protocol
  (menus, game end and restart, the zero-sum reward from frames).
* :func:`launch` / :class:`DolphinProcess`: the emulator's lifecycle (its own process
  group, stopped on every exit path).
* Links (where gamestates come from): :class:`ConsoleLink` (Dolphin), :class:`ReplayLink`
  (``.slp`` files through libmelee, no Dolphin), :class:`RecordedLink` (recorded states).
* Runners: :class:`LockstepRunner` and :class:`RealtimeRunner` (60 fps, the reaction delay
  as inference slack, late frames counted).
* :class:`ReplayFinder`: the ``.slp`` file Slippi recorded for each game.
* Errors: :class:`DolphinNotFound`, :class:`NotSlippiDolphin`, :class:`IsoError`,
  :class:`PortInUse`, :class:`GameSetupError` (user errors), :class:`DolphinCrashed`,
  :class:`DolphinHung`.
"""

from exphil.envs.dolphin.config import (
    ENV_DOLPHIN,
    ENV_ISO,
    DolphinConfig,
    Paths,
    PlayerConfig,
    check_dolphin_path,
    check_iso,
    check_port_free,
    resolve_paths,
)
from exphil.envs.dolphin.env import DRAIN_FRAMES, DolphinEnv, winner_of
from exphil.envs.dolphin.errors import (
    DolphinCrashed,
    DolphinError,
    DolphinFailure,
    DolphinHung,
    DolphinNotFound,
    GameSetupError,
    IsoError,
    NotSlippiDolphin,
    PortInUse,
    StreamEnded,
)
from exphil.envs.dolphin.launch import check_build, launch, open_pipe
from exphil.envs.dolphin.link import ConsoleLink, Link, RecordedLink, ReplayLink
from exphil.envs.dolphin.menus import MenuNavigator, in_game
from exphil.envs.dolphin.process import DolphinBuild, DolphinProcess, probe_version
from exphil.envs.dolphin.replays import ReplayFinder
from exphil.envs.dolphin.runners import (
    FRAME_SECONDS,
    Actor,
    Clock,
    Decider,
    LockstepRunner,
    MonotonicClock,
    RealtimeRunner,
    RunnerStatistics,
    ThreadDecider,
)

__all__ = [
    "DRAIN_FRAMES",
    "ENV_DOLPHIN",
    "ENV_ISO",
    "FRAME_SECONDS",
    "Actor",
    "Clock",
    "ConsoleLink",
    "Decider",
    "DolphinBuild",
    "DolphinConfig",
    "DolphinCrashed",
    "DolphinEnv",
    "DolphinError",
    "DolphinFailure",
    "DolphinHung",
    "DolphinNotFound",
    "DolphinProcess",
    "GameSetupError",
    "IsoError",
    "Link",
    "LockstepRunner",
    "MenuNavigator",
    "MonotonicClock",
    "NotSlippiDolphin",
    "Paths",
    "PlayerConfig",
    "PortInUse",
    "RealtimeRunner",
    "RecordedLink",
    "ReplayFinder",
    "ReplayLink",
    "RunnerStatistics",
    "StreamEnded",
    "ThreadDecider",
    "check_build",
    "check_dolphin_path",
    "check_iso",
    "check_port_free",
    "in_game",
    "launch",
    "open_pipe",
    "probe_version",
    "resolve_paths",
    "winner_of",
]
