"""The errors of the Dolphin environment: each one short and specific.

Setup mistakes the user can fix derive from :class:`~exphil.errors.UserError` (the CLI prints
them without a traceback): :class:`DolphinNotFound`, :class:`NotSlippiDolphin`,
:class:`IsoError`, :class:`PortInUse`, :class:`GameSetupError`. What goes wrong while a game
runs derives from :class:`DolphinFailure` (an :class:`~exphil.errors.ExphilError`, not a user
error): :class:`DolphinCrashed` (the emulator exited or dropped the connection),
:class:`DolphinHung` (no frame within the step or connect timeout). Every one of them leaves
no emulator behind: the code that raises them has stopped the process group first.
"""

from __future__ import annotations

from exphil.errors import ExphilError, UserError

__all__ = [
    "DolphinError",
    "DolphinNotFound",
    "NotSlippiDolphin",
    "IsoError",
    "PortInUse",
    "GameSetupError",
    "DolphinFailure",
    "DolphinCrashed",
    "DolphinHung",
    "StreamEnded",
]

_SETUP_HINT = "see docs/dolphin.md (or run `exphil setup`)"


class DolphinError(ExphilError):
    """The root of the Dolphin environment's errors."""


class DolphinNotFound(DolphinError, UserError, FileNotFoundError):
    """The Dolphin path does not exist or is not an executable."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message, hint=_SETUP_HINT)


class NotSlippiDolphin(DolphinError, UserError):
    """The executable runs but is not a Slippi Dolphin build libmelee can drive."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message, hint=_SETUP_HINT)


class IsoError(DolphinError, UserError):
    """The ISO is missing, unreadable, or not Melee NTSC 1.02."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message, hint=_SETUP_HINT)


class PortInUse(DolphinError, UserError):
    """The Slippi spectator port (UDP) is taken, e.g. by another Dolphin."""

    def __init__(self, message: str) -> None:
        UserError.__init__(
            self, message, hint="pass another --slippi-port, or stop the other Dolphin"
        )


class GameSetupError(DolphinError, UserError):
    """The game that started is not the one configured (character, stage, ports)."""


class DolphinFailure(DolphinError):
    """The emulator failed while running (not a setup mistake)."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(
            message if not log_tail else f"{message}\n--- Dolphin's log ---\n{log_tail}"
        )
        self.log_tail = log_tail


class DolphinCrashed(DolphinFailure):
    """The emulator exited, or dropped the connection, while a game was running."""


class DolphinHung(DolphinFailure):
    """No frame arrived within the timeout (connect or step): the emulator was stopped."""


class StreamEnded(DolphinError):
    """A recorded stream (a replay file, recorded gamestates) has no more gamestates."""
