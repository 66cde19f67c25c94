"""``exphil dashboard``: watch a running self-play learner from any machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from exphil.errors import UserError

__all__ = ["dashboard_cmd"]


@click.command("dashboard")
@click.option("--connect", required=True, metavar="tcp://HOST:PORT",
              help="The learner's endpoint (the one workers connect to).")  # fmt: skip
@click.option("--keys", type=click.Path(file_okay=False),
              help="Curve keys, as a worker's: worker.key_secret and learner.key.")  # fmt: skip
@click.option("--every", type=click.FloatRange(min=0.5), default=5.0, show_default=True,
              help="Seconds between two summary lines when stdout is not a terminal.")  # fmt: skip
@click.pass_context
def dashboard_cmd(ctx: click.Context, connect: str, keys: str | None, every: float) -> None:
    """Attach a live dashboard to a running learner: losses, throughput, the Elo league,
    the nodes and the events. Several dashboards may watch one run; closing one never
    disturbs training. When stdout is not a terminal: one summary line every --every
    seconds (JSON objects with --log-json)."""
    import anyio

    from exphil.tui import DashboardApp, RemoteSource, print_summaries
    from supervisors.remote import is_loopback

    if not connect.startswith(("tcp://", "ipc://")):
        raise UserError(f"--connect {connect}: expected tcp://HOST:PORT (the learner's endpoint)")
    if keys is None and not is_loopback(connect):
        raise UserError(
            f"--connect {connect} is not a loopback address: pass --keys DIR with this "
            "machine's worker.key_secret and the learner's learner.key (docs/selfplay.md, "
            '"Attaching workers on other machines")'
        )
    if keys is not None:
        for name in ("worker.key_secret", "learner.key"):
            if not (Path(keys) / name).is_file():
                raise UserError(f"--keys {keys}: no {name} there (see `exphil keys generate`)")
    source = RemoteSource(connect, keys=keys)
    if sys.stdout.isatty():
        choice = DashboardApp(source).run()
        if choice == "stop":
            click.echo("the run was asked to stop (it saves a checkpoint first)")
        return
    json_lines = bool((ctx.obj or {}).get("log_json"))
    anyio.run(lambda: print_summaries(source, json_lines=json_lines, every=every))
