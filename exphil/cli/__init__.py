"""The ``exphil`` command line.

One click group (:data:`cli`); each command family lives in its own module of this package
(``keys``, ``replays``, ``mock``, ``kmeans``, ``export``, ``train_bc``, ``ckpt``) and is
registered here. click suggests corrections for mistyped commands and options ("Did you mean
...?").

Exit status, the same for every command (:class:`ExphilGroup` maps it): 0 on success; 2 for a
user mistake (:class:`exphil.errors.UserError`, click's usage errors), printed as a short
message without a traceback; 130 when interrupted (Ctrl-C); 1 for any other failure, with a
one-line message, and the traceback only with ``--debug`` or ``--log-level debug``. A command
may also end with its own status (``train-bc`` exits 130 after saving an interrupted run).
"""

from __future__ import annotations

import traceback
from typing import Any, NoReturn

import click

from exphil._logging import LEVELS, configure_logging
from exphil._version import __version__
from exphil.errors import UserError

__all__ = ["main", "cli", "ExphilGroup", "EXIT_OK", "EXIT_FAILURE", "EXIT_USER", "EXIT_INTERRUPT"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER = 2
EXIT_INTERRUPT = 130

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "EXPHIL"}


def _debugging(ctx: click.Context) -> bool:
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    return bool(obj.get("debug")) or obj.get("log_level") == "debug"


def _fail(
    code: int, message: str, *, hint: str | None, debug: bool, offer_debug: bool = True
) -> NoReturn:
    if debug:
        click.echo(traceback.format_exc().rstrip(), err=True)
    click.echo(click.style("error: ", fg="red") + message, err=True)
    # a user's mistake is fully said by its message: no traceback to offer
    offer = "--debug for the traceback" if offer_debug and not debug else None
    notes = [n for n in (hint, offer) if n]
    if notes:
        click.echo(f"({'; '.join(notes)})", err=True)
    raise click.exceptions.Exit(code)


class ExphilGroup(click.Group):
    """A click group whose commands share one error and exit-code policy (see the module
    docstring). Commands raise :class:`~exphil.errors.UserError` for user mistakes and let
    anything else propagate; they never print tracebacks themselves. A command's own
    ``--debug`` flag sets ``ctx.obj["debug"]``."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click prints these and picks the status (usage errors: 2)
        except SystemExit:
            raise
        except UserError as exc:
            _fail(EXIT_USER, str(exc), hint=exc.hint, debug=_debugging(ctx), offer_debug=False)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPT) from None
        except Exception as exc:
            command = ctx.invoked_subcommand or ctx.info_name or "exphil"
            _fail(
                EXIT_FAILURE,
                f"{command} failed: {type(exc).__name__}: {exc}",
                hint=None,
                debug=_debugging(ctx),
            )


@click.group(cls=ExphilGroup, context_settings=CONTEXT_SETTINGS)
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
    help="Lowest log level shown (debug also shows tracebacks of failures).",
)
@click.option("--debug", is_flag=True, help="Full tracebacks of failures.")
@click.pass_context
def cli(ctx: click.Context, log_json: bool | None, log_level: str, debug: bool) -> None:
    """ExPhil: Melee AIs from Slippi replays (behavioral cloning) and self-play (PPO).

    Run `exphil COMMAND --help` for the options of one command.
    """
    configure_logging(json=log_json, level=log_level.lower())
    obj = ctx.ensure_object(dict)
    obj["log_level"] = log_level.lower()
    obj["log_json"] = bool(log_json)
    obj["debug"] = debug


def _register() -> None:
    from exphil.cli.cache import cache
    from exphil.cli.ckpt import compare, info, list_cmd
    from exphil.cli.dashboard import dashboard_cmd
    from exphil.cli.eval import eval_cmd
    from exphil.cli.export import export
    from exphil.cli.keys import keys
    from exphil.cli.kmeans import kmeans
    from exphil.cli.mock import mock
    from exphil.cli.play import play_cmd
    from exphil.cli.replays import replays
    from exphil.cli.selfplay import learner_cmd, selfplay_cmd, worker_cmd
    from exphil.cli.setup import setup_cmd
    from exphil.cli.train_bc import train_bc
    from exphil.cli.train_ppo import train_ppo_cmd

    for command in (
        keys,
        replays,
        mock,
        kmeans,
        export,
        train_bc,
        list_cmd,
        info,
        compare,
        eval_cmd,
        train_ppo_cmd,
        selfplay_cmd,
        learner_cmd,
        worker_cmd,
        dashboard_cmd,
        cache,
        setup_cmd,
        play_cmd,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="exphil")
