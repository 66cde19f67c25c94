"""The ``exphil`` command line.

One click group; each later feature adds a subcommand (selfplay, train-bc, worker, replays, ...).
click suggests corrections for mistyped commands and options ("Did you mean ...?").
"""

from __future__ import annotations

from pathlib import Path

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


@cli.group()
def keys() -> None:
    """CurveZMQ keys for nodes on other machines.

    A learner that binds a non-loopback address needs its own key pair and a directory of the
    public keys (NAME.key) of the workers allowed to attach; each worker needs its own key pair
    and the learner's public key.
    """


@keys.command("generate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--name",
    default="node",
    show_default=True,
    help="Base name: writes NAME.key (public, share it) and NAME.key_secret (keep it).",
)
def keys_generate(directory: Path, name: str) -> None:
    """Create a key pair in DIRECTORY (never overwrites an existing one)."""
    from rich.console import Console

    from supervisors.remote import generate_keypair, load_keypair

    try:
        public_file, secret_file = generate_keypair(directory, name)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    pair = load_keypair(secret_file)
    # markup off: Z85 keys contain "[" and "]", which rich would read as style tags
    console = Console(highlight=False, soft_wrap=True, markup=False)
    console.print(f"public key  {pair.public.decode()}")
    console.print(f"public      {public_file}  (copy to the learner's authorized-keys directory)")
    console.print(f"secret      {secret_file}  (mode 0600; keep it on this machine)")


from exphil._cli_replays import replays  # noqa: E402  (the group is defined above)

cli.add_command(replays)

from exphil._cli_mock import mock  # noqa: E402

cli.add_command(mock)

from exphil._cli_kmeans import kmeans  # noqa: E402

cli.add_command(kmeans)

from exphil._cli_export import export  # noqa: E402

cli.add_command(export)

from exphil._cli_train import train_bc  # noqa: E402

cli.add_command(train_bc)

from exphil._cli_ckpt import compare, info, list_cmd  # noqa: E402

cli.add_command(list_cmd)
cli.add_command(info)
cli.add_command(compare)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="exphil")


if __name__ == "__main__":
    main()
