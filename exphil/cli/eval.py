"""``exphil eval``: a policy (or any player) against opponents on the mock, with win rates
and 95% confidence intervals, KOs, self-destructs, damage per minute, time on stage and the
player's controller usage. Seeded and reproducible. Exit status 0, or 2 for a usage error
(an opponent spec that is not ``cpu:N``, ``random``, ``noop`` or a readable policy file)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

__all__ = ["eval_cmd"]


@click.command("eval")
@click.argument("policy")
@click.option(
    "--vs",
    "opponents",
    default="cpu:9,cpu:5,random,noop",
    show_default=True,
    help="Comma-separated opponents: cpu:0..cpu:9, random, noop, or policy files.",
)
@click.option("--games", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--stage", default="fd", show_default=True, help="fd or bf.")
@click.option("--stocks", default=4, show_default=True, type=click.IntRange(1, 99))
@click.option(
    "--minutes", default=8.0, show_default=True, type=click.FloatRange(0.01, 60), help="Game timer."
)
@click.option("--character", default="fox", show_default=True, help="Both players' character.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1, 4096))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per opponent on stdout.")
@click.option(
    "--replays",
    multiple=True,
    help="Instead of playing on the mock: feed POLICY every state of these replays (files, "
    "folders, globs or @lists; repeatable), from each player whose character it was trained "
    "on, and compare its controller usage with the players' own on the same frames. "
    "--games caps the games read.",
)
def eval_cmd(
    policy: str,
    opponents: str,
    games: int,
    stage: str,
    stocks: int,
    minutes: float,
    character: str,
    port: int,
    seed: int,
    batch: int,
    as_json: bool,
    replays: tuple[str, ...],
) -> None:
    """Play POLICY (a policy file, a run folder, or cpu:N / random / noop) against each
    opponent for --games games and report the results."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from exphil.envs import MockConfig
    from exphil.errors import UserError
    from exphil.eval import evaluate
    from exphil.players import parse_player

    try:
        config = MockConfig(
            stage=stage,
            characters=(character, character),
            stocks=stocks,
            time_limit=max(1, round(minutes * 3600)),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    me = parse_player(policy)
    if replays:
        _on_replays(me, list(replays), games=games, seed=seed, batch=batch, as_json=as_json)
        return
    specs = [parse_player(s) for s in opponents.split(",") if s.strip()]
    if not specs:
        raise UserError("--vs names no opponent")
    err = Console(stderr=True, highlight=False)
    # a wide table even when stdout is a file or a pipe (rich would cut it at 80 columns)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    tty = sys.stderr.isatty()
    reports = []
    for spec in specs:
        started = time.perf_counter()
        last = [0.0]

        def progress(
            done: int,
            total: int,
            label: str = spec.label,
            started: float = started,
            last: list[float] = last,
        ) -> None:
            now = time.perf_counter()
            if done == total or now - last[0] >= (0.5 if tty else 10.0):
                last[0] = now
                err.print(
                    f"  vs {escape(label)}: {done}/{total} games, {now - started:.0f} s",
                    end="\r" if tty and done < total else "\n",
                )

        report = evaluate(
            me, spec, games=games, config=config, seed=seed, batch=batch, port=port,
            progress=progress,
        )  # fmt: skip
        reports.append(report)
        if as_json:
            click.echo(json.dumps(report.as_dict()))
    if as_json:
        return
    table = Table(title=f"{escape(me.label)} on {escape(config.stage_id.display_name)}, "
                        f"{games} games per opponent, seed {seed}")  # fmt: skip
    for col in ("opponent", "win rate (95% CI)", "W-L-D", "KOs", "SDs", "dmg/min",
                "on stage", "buttons", "stick"):  # fmt: skip
        table.add_column(col, justify="left" if col == "opponent" else "right")
    for r in reports:
        table.add_row(
            escape(r.opponent),
            f"{r.win_rate:.0%} ({r.ci_low:.0%}-{r.ci_high:.0%})",
            f"{r.wins}-{r.losses}-{r.draws}",
            f"{r.kos_dealt}/{r.kos_taken}",
            str(r.self_destructs),
            f"{r.damage_dealt_per_min:.0f}/{r.damage_taken_per_min:.0f}",
            f"{r.time_on_stage:.0%}",
            f"{_any_button(r.buttons):.1%}",
            f"{r.main_stick:.0%}",
        )
    out.print(table)
    out.print(
        "KOs and dmg/min: dealt/taken. SDs: stocks lost without damage in the 5 s before. "
        "buttons: frames with a button pressed (sum over buttons); stick: main stick off neutral."
    )


def _on_replays(
    me: Any, paths: list[str], *, games: int, seed: int, batch: int, as_json: bool
) -> None:
    from rich.console import Console
    from rich.table import Table

    from exphil.cli.replays import load_kept, run_selection
    from exphil.errors import UserError
    from exphil.eval import replay_usage
    from exphil.game import BUTTONS

    if me.kind != "policy" or me.path is None:
        raise UserError(f"--replays needs a policy file or run folder, not {me.label}")
    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    run = run_selection(paths, max_games=games, progress_label="reading replays")
    loaded, lost = load_kept(run, None)
    for path in lost:
        err.print(f"  could not read back {path} from the cache", markup=False)
    if not loaded:
        raise UserError(
            f"none of the {run.selection.files} files is a readable 1v1 replay "
            "(exphil replays scan PATHS lists each file)"
        )
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        err.print(f"  {done}/{total} players fed, {time.perf_counter() - started:.0f} s")

    report = replay_usage(
        me.path, [g.frames for g in loaded], seed=seed, batch=batch, progress=progress
    )
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "ratios": report.ratios()}))
        return
    if not report.perspectives:
        raise UserError(
            f"no player in the {report.games} games has a character {me.label} was trained on"
        )
    table = Table(
        title=f"{me.label} fed {report.perspectives} players' states from {report.games} "
        f"games ({report.policy.frames:,} frames, delay {report.delay}), seed {seed}"
    )
    for col in ("", "policy", "players", "policy / players"):
        table.add_column(col, justify="left" if not col else "right")
    a, b = report.policy, report.players

    def row(name: str, x: float, y: float) -> None:
        table.add_row(name, f"{x:.1%}", f"{y:.1%}", f"{x / y:.2f}" if y > 0 else "-")

    row("any button", a.any_button, b.any_button)
    for name in BUTTONS:
        row(f"  {name}", a.buttons[name], b.buttons[name])
    row("main stick", a.main_stick, b.main_stick)
    row("c-stick", a.c_stick, b.c_stick)
    row("shoulder", a.shoulder, b.shoulder)
    out.print(table)
    skipped = ", ".join(f"{n} {why}" for why, n in report.skipped.items())
    out.print(
        "Rates: fraction of frames a button is held, a stick is off neutral (beyond 0.3), the "
        "shoulder past 0.3; the policy samples its controller as it does in play."
        + (f" Left out: {skipped}." if skipped else ""),
        markup=False,
    )


def _any_button(rates: dict[str, Any]) -> float:
    return float(sum(rates.values()))
