"""The ``exphil`` command line.

One click group; each later feature adds a subcommand (selfplay, train-bc, worker, replays, ...).
click suggests corrections for mistyped commands and options ("Did you mean ...?").
"""

from __future__ import annotations

import click

from exphil._logging import LEVELS, configure_logging
from exphil._version import __version__

__all__ = ["main", "cli"]

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EXPHIL"}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="exphil")
@click.option(
    "--log-json/--no-log-json",
    default=None,
    help="Log JSON lines (default: only when stderr is not a terminal).",
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    help="Lowest log level shown.",
)
@click.pass_context
def cli(ctx: click.Context, log_json: bool | None, log_level: str) -> None:
    """ExPhil: Melee AIs from Slippi replays (behavioral cloning) and self-play (PPO).

    Run `exphil COMMAND --help` for the options of one command.
    """
    configure_logging(json=log_json, level=log_level.lower())
    ctx.ensure_object(dict)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="exphil")


if __name__ == "__main__":
    main()
