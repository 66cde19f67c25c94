"""The exception roots of ExPhil.

* :class:`ExphilError`: every error ExPhil raises on purpose derives from it.
* :class:`UserError`: a mistake the user can fix (a bad option value, a missing file, the
  wrong checkpoint). The CLI prints its message without a traceback (plus ``hint`` when
  given) and exits with status 2; any other exception is a bug or an environment failure
  (exit 1, traceback with ``--debug``).

Library errors that are user mistakes when they reach the CLI (a config that does not
resolve, a replay folder without games) derive from :class:`UserError`, usually together
with the builtin they used to be (``class ConfigError(UserError, ValueError)``), so library
callers can keep catching ``ValueError``.
"""

from __future__ import annotations

__all__ = ["ExphilError", "UserError"]


class ExphilError(Exception):
    """The root of ExPhil's own exceptions."""


class UserError(ExphilError):
    """A mistake the user can fix: shown as a short message (exit status 2 in the CLI).

    ``hint``: where to read more (e.g. "see README.md, section 'Training a policy'"),
    printed on a line of its own after the message; None for none."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint
