"""``exphil keys``: CurveZMQ key pairs for nodes on other machines."""

from __future__ import annotations

from pathlib import Path

import click

from exphil.errors import UserError

__all__ = ["keys"]


@click.group()
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
        raise UserError(str(exc)) from exc
    pair = load_keypair(secret_file)
    # markup off: Z85 keys contain "[" and "]", which rich would read as style tags
    console = Console(highlight=False, soft_wrap=True, markup=False)
    console.print(f"public key  {pair.public.decode()}")
    console.print(f"public      {public_file}  (copy to the learner's authorized-keys directory)")
    console.print(f"secret      {secret_file}  (mode 0600; keep it on this machine)")
