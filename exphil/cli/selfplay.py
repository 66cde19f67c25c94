"""``exphil selfplay`` (learner + local workers, the main job), ``exphil worker`` (a game
worker attaching to a learner, local or remote) and ``exphil learner`` (a learner waiting
for remote workers only). See docs/selfplay.md."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from exphil.errors import UserError

__all__ = ["learner_cmd", "selfplay_cmd", "worker_cmd"]

_FIELDS = {
    "init": ("init", "--init"),
    "max_updates": ("max_updates", "--max-updates"),
    "workers": ("nodes.workers", "--workers"),
    "games_per_worker": ("nodes.games_per_worker", "--games-per-worker"),
    "bind": ("nodes.bind", "--bind"),
    "keys": ("nodes.keys", "--keys"),
    "seed": ("seed", "--seed"),
    "device": ("device", "--device"),
    "name": ("checkpoint.name", "--name"),
    "checkpoints_dir": ("checkpoint.dir", "--checkpoints-dir"),
    "overwrite": ("checkpoint.overwrite", "--overwrite/--no-overwrite"),
    "env_kind": ("env_kind", "--env"),
    "dolphin": ("dolphin.dolphin", "--dolphin"),
    "iso": ("dolphin.iso", "--iso"),
}

_ENV_HELP = "What the workers play: mock (the default) or dolphin (real Melee, docs/selfplay.md)."
_INSTANCES_HELP = "Dolphin instances per worker (--env dolphin; default 1): its games and runners."


def _options(f: Any) -> Any:
    for opt in reversed(
        [
            click.option("--preset", help="A selfplay preset: demo (the default), standard."),
            click.option("--config", "config_file", type=click.Path(dir_okay=False),
                         help="A YAML config file."),
            click.option("--set", "sets", multiple=True,
                         help="Any field: --set loss.teacher_kl=0.1 (repeatable)."),
            click.option("--init", help="Start from this policy file (a train-bc checkpoint)."),
            click.option("--max-updates", type=click.IntRange(0),
                         help="Stop after this many PPO updates."),
            click.option("--games-per-worker", type=click.IntRange(1),
                         help="Mock games per worker."),
            click.option("--bind", help="The learner's address (default tcp://127.0.0.1:0). "
                         "Off loopback it needs --keys."),
            click.option("--keys", type=click.Path(file_okay=False),
                         help="Curve keys: learner.key_secret and authorized/ (exphil keys)."),
            click.option("--seed", type=int),
            click.option("--device", type=click.Choice(["cpu", "cuda"])),
            click.option("--name", help="The run folder's name (default: selfplay-date-time)."),
            click.option("--checkpoints-dir", help="Parent folder of run folders."),
            click.option("--overwrite/--no-overwrite", default=None),
            click.option("--resume", type=click.Path(exists=False),
                         help="Continue a run (its folder or checkpoint)."),
            click.option("--headless", is_flag=True,
                         help="Progress lines instead of the live view (JSON when not a TTY)."),
            click.option("--env", "env_kind", type=click.Choice(["mock", "dolphin"]),
                         help=_ENV_HELP),
            click.option("--dolphin", type=click.Path(),
                         help="Slippi Dolphin for the local workers (else $EXPHIL_DOLPHIN_PATH, "
                         "else the settings file)."),
            click.option("--iso", type=click.Path(),
                         help="The Melee NTSC 1.02 ISO (else $EXPHIL_ISO_PATH, else the "
                         "settings file)."),
            click.option("--instances", type=click.IntRange(1), help=_INSTANCES_HELP),
        ]
    ):  # fmt: skip
        f = opt(f)
    return f


def _check_bind(config: Any) -> None:
    """A learner reachable from other machines needs Curve keys: say so before anything
    starts (no run folder is created)."""
    from supervisors.remote import is_loopback

    n = config.nodes
    if n.keys:
        secret = Path(n.keys) / "learner.key_secret"
        if not secret.is_file():
            raise UserError(
                f"--keys {n.keys}: no learner.key_secret there (create the learner's pair with "
                f"`exphil keys generate {n.keys} --name learner`, and put the workers' public "
                f"keys in {Path(n.keys) / 'authorized'})"
            )
        return
    if not is_loopback(n.bind):
        raise UserError(
            f"--bind {n.bind} is reachable from other machines: pass --keys DIR with the "
            f"learner's Curve keys (`exphil keys generate DIR --name learner`; docs/selfplay.md, "
            f'"Attaching workers on other machines"), or bind a loopback address such as tcp://127.0.0.1:5555'
        )


def _instances(cli: dict[str, tuple[Any, str]], values: dict[str, Any]) -> None:
    """``--instances N``: games per worker = runners = N (one Dolphin each); ``--env dolphin``
    without it means one instance per worker."""
    n = values.get("instances")
    if n is not None and values.get("env_kind") != "dolphin" and "env_kind" not in cli:
        cli["env_kind"] = ("dolphin", "--instances")  # --instances only makes sense there
    if values.get("env_kind") == "mock" and n is not None:
        raise UserError("--instances is for --env dolphin (the mock takes --games-per-worker)")
    if values.get("env_kind") == "dolphin" or n is not None:
        if "nodes.games_per_worker" in cli:
            raise UserError(
                "--games-per-worker with --env dolphin: each game is one Dolphin instance, "
                "pass --instances N instead"
            )
        n = 1 if n is None else n
        cli["nodes.games_per_worker"] = (n, "--instances")
        cli["nodes.runners"] = (n, "--instances")


def _check_dolphin(config: Any, console: Any) -> Any:
    """With Dolphin and local workers, this machine's Dolphin and ISO are resolved and checked
    before anything starts (a missing one: exit 2); the local workers get the checked paths.
    A learner without local workers needs neither (each remote worker checks its own)."""
    if not config.is_dolphin or config.nodes.workers == 0:
        return config
    import msgspec
    from rich.markup import escape

    from exphil.selfplay import resolve_dolphin

    paths = resolve_dolphin(config.dolphin.dolphin, config.dolphin.iso, config=config)
    n = config.nodes
    console.print(
        f"Dolphin {escape(str(paths.dolphin))}, ISO {escape(str(paths.iso))}: "
        f"{n.workers} worker(s) x {n.runners} instance(s)"
    )
    section = msgspec.structs.replace(
        config.dolphin, dolphin=str(paths.dolphin), iso=str(paths.iso)
    )
    return msgspec.structs.replace(config, dolphin=section)


def _with_dashboard(
    shared: Any, stop: threading.Event, foreground: list[bool], run_fn: Any, log_level: str
) -> Any:
    """Run the learner (``run_fn``) in a thread and the dashboard in this one. The dashboard's
    ``q``: "stop" ends the run with a checkpoint; "detach" closes the dashboard and the run
    goes on printing plain lines (Ctrl-C still stops it). While the dashboard owns the
    terminal, the logs go to the run folder's ``learner.log`` (JSON lines)."""
    from exphil._logging import configure_logging
    from exphil.tui import DashboardApp, InProcessSource

    box: dict[str, Any] = {}

    def learner() -> None:
        try:
            box["result"] = run_fn()
        except BaseException as exc:  # re-raised in this thread
            box["error"] = exc

    log_path = shared.run.directory / "learner.log"
    with log_path.open("a", encoding="utf-8") as log_file:
        configure_logging(json=True, level=log_level, stream=log_file)
        thread = threading.Thread(target=learner, name="learner", daemon=True)
        thread.start()
        foreground[0] = True
        try:
            choice = DashboardApp(InProcessSource(shared, stop)).run()
        finally:
            foreground[0] = False
            configure_logging(level=log_level)
    click.echo(f"the run's log while the dashboard was open: {log_path}")
    if choice == "stop":
        stop.set()
    elif thread.is_alive():
        click.echo("dashboard detached: the run goes on (Ctrl-C stops it with a checkpoint)")
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            stop.set()
    if "error" in box:
        raise box["error"]
    result = box["result"]
    if choice == "stop":
        result.interrupted = True
    return result


def _run_learner(ctx: click.Context, values: dict[str, Any], workers: int | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    from exphil.selfplay import SELFPLAY, SelfPlayConfig, learner_shared, run_selfplay
    from exphil.train import Run, config_differences, resolve_run_config

    json_lines = values["headless"] and not sys.stdout.isatty()
    # JSON lines own stdout when it is not a terminal; the human lines go to stderr then
    console = Console(highlight=False, soft_wrap=True, stderr=json_lines)
    cli = {
        path: (values[key], flag)
        for key, (path, flag) in _FIELDS.items()
        if key in values and ctx.get_parameter_source(key) == ParameterSource.COMMANDLINE
    }
    if workers is not None:
        cli["nodes.workers"] = (workers, "--workers")
    _instances(cli, values)
    preset = values["preset"]
    if preset is None and values["resume"] is None and values["config_file"] is None:
        preset = "demo"  # the embedded default: minutes on a laptop
        console.print("preset demo (the default; --preset standard for a long run)")
    resolved, resume = resolve_run_config(
        SELFPLAY, resume=values["resume"], preset=preset,
        config_file=values["config_file"], cli=cli, sets=values["sets"],
    )  # fmt: skip
    config: SelfPlayConfig = resolved.config
    _check_bind(config)
    config = _check_dolphin(config, console)
    if resume is not None:
        run: Run[SelfPlayConfig] = Run.resume(resume, config, warn=console.print)
        console.print(f"resuming {escape(str(run.directory))} at update {resume.state['version']}")
        for path, old, new in config_differences(resume.config, config):
            console.print(f"  changed {escape(path)}: {escape(repr(old))} -> {escape(repr(new))}")
    else:
        run = Run.create(config, default_name="selfplay", warn=lambda t: console.print(escape(t)))
        console.print(f"run folder {escape(str(run.directory))}")
    if not config.is_dolphin and config.nodes.workers:  # before the workers start: they load
        from exphil.envs import compile_mock_kernel  # the kernel from the cache it leaves

        compile_mock_kernel(notify=lambda text: console.print(escape(text)))
    shared = learner_shared(config, run, resume)
    n = config.nodes
    tty = sys.stdout.isatty() and not values["headless"]
    foreground = [False]  # the dashboard owns the terminal: no lines printed meanwhile
    last = [0.0]

    def say(text: str, record: dict[str, Any] | None = None) -> None:
        if json_lines:
            click.echo(json.dumps(record or {"kind": "info", "text": text}))
        else:
            console.print(escape(text))

    def on_ready(endpoint: str, metrics: str | None) -> None:
        say(
            f"learner listening on {endpoint}" + (f", metrics on {metrics}" if metrics else "")
            + f"; {n.workers} local worker(s) x {n.games_per_worker} games; "
            f"attach more: exphil worker --connect {endpoint}",
            {"kind": "ready", "endpoint": endpoint, "metrics": metrics, "workers": n.workers},
        )  # fmt: skip

    def on_update(r: dict[str, Any]) -> None:
        now = time.monotonic()
        if foreground[0] or not (now - last[0] > 5 or r["update"] == config.max_updates):
            return  # the dashboard shows it
        last[0] = now
        from exphil.selfplay import metrics_snapshot

        m = metrics_snapshot(shared)
        if json_lines:
            click.echo(json.dumps({k: v for k, v in r.items() if k != "workers"}
                                  | {"env_fps": m.env_fps}))  # fmt: skip
            return
        losses = (
            f"value warm-up  value {r['value_loss']:.4f}" if r["value_only"]
            else f"policy {r['policy_loss']:+.4f}  value {r['value_loss']:.4f}  "
            f"entropy {r['entropy']:.2f}  kl {r['approx_kl']:.4f}"
        )  # fmt: skip
        up = sum(w.up for w in m.workers)
        anchors = "  ".join(f"{escape(k)} {v:.0%}" for k, v in sorted(m.anchors.items()))
        console.print(
            f"update {r['update']:>5}/{config.max_updates}  frames {r['frames']:>10,}  "
            f"{m.env_fps:>7,.0f} fps  {losses}  lag {r['lag_max']}  workers {up}"
            + (f"  vs {anchors}" if anchors else "")
        )

    def on_event(e: dict[str, Any]) -> None:
        if json_lines:  # a program reading the lines gets every event
            rec = {"kind": "event", "event": e["kind"], "text": e["text"]}
            if "worker" in e:
                rec["worker"] = e["worker"]
            click.echo(json.dumps(rec))
        elif e["kind"] not in ("checkpoint", "snapshot") and not foreground[0]:
            console.print(f"[dim]{escape(e['text'])}[/dim]")

    shared.on_update, shared.on_event = on_update, on_event
    stop = threading.Event()
    with run, run.interruptible():
        run.stop = stop  # the first Ctrl-C ends the run at the next update, with a checkpoint
        if tty:  # the dashboard in the foreground, the learner in a thread
            result = _with_dashboard(
                shared, stop, foreground,
                lambda: run_selfplay(shared, workers=n.workers, stop=stop, on_ready=on_ready),
                (ctx.obj or {}).get("log_level", "info"),
            )  # fmt: skip
        else:
            result = run_selfplay(shared, workers=n.workers, stop=stop, on_ready=on_ready)
    if shared.error:
        raise click.ClickException(shared.error)
    board = [s for s in shared.ratings.leaderboard() if s.games][:8]
    say(
        f"{shared.version} updates, {shared.frames:,} frames in {result.seconds / 60:.1f} min; "
        f"policy in {run.directory / 'last.safetensors'}",
        {"kind": "done", "updates": shared.version, "frames": shared.frames,
         "seconds": result.seconds, "run": str(run.directory)},
    )  # fmt: skip
    if not json_lines:
        for s in board:
            tag = " (anchor)" if s.anchor else ""
            console.print(f"  {escape(s.name):<10} {s.rating:7.0f}  {s.games:>6} games{tag}")
    if result.interrupted:
        ctx.exit(130)


def _view(shared: Any) -> Any:
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    from exphil.selfplay import metrics_snapshot

    m = metrics_snapshot(shared)
    lo = m.losses
    head = (
        f"[bold]{escape(m.run)}[/bold]  update {m.version}/{m.max_updates}  "
        f"frames {m.frames:,}  [bold]{m.env_fps:,.0f}[/bold] frames/s  "
        f"learner {m.samples_per_s:,.0f} samples/s  {m.elapsed_s / 60:.1f} min"
    )
    losses = "  ".join(
        f"{k.replace('_', ' ')} {lo[k]:+.4f}"
        for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "teacher_kl",
                  "explained_variance") if k in lo
    )  # fmt: skip
    lag = "  ".join(f"{k}:{v}" for k, v in m.lags.items())
    workers = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("worker", "host", "status", "games", "frames/s", "restarts", "heartbeat",
                "batch", "wait ms"):  # fmt: skip
        workers.add_column(col, justify="left" if col in ("worker", "host", "status") else "right")
    for w in m.workers:
        status = "[green]up[/green]" if w.up else "[red]down[/red]"
        workers.add_row(
            escape(w.name), escape(w.host), status, str(w.games), f"{w.fps:,.0f}",
            str(w.restarts), f"{w.heartbeat_age_s:.1f} s", f"{w.inference_batch:.0f}",
            f"{w.inference_wait_ms:.1f}",
        )  # fmt: skip
    board = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("policy", "Elo", "games", "win rate"):
        board.add_column(col, justify="left" if col == "policy" else "right")
    for r in [r for r in m.leaderboard if r.games or r.anchor][:10]:
        wr = "-" if r.win_rate is None else f"{r.win_rate:.0%}"
        name = escape(r.name) + (" [dim](anchor)[/dim]" if r.anchor else "")
        board.add_row(name, f"{r.rating:.0f}", str(r.games), wr)
    events = [f"[dim]{escape(e['text'])}[/dim]" for e in list(shared.events)[-5:]]
    return Group(
        head, losses or "[dim]waiting for the first update...[/dim]",
        f"policy lag (chunks): {lag or '-'}   chunks {m.chunks.get('accepted', 0)} accepted, "
        f"{m.chunks.get('stale', 0)} stale", "", workers, "", board, "", *events,
    )  # fmt: skip


@click.command("selfplay")
@_options
@click.option("--workers", type=click.IntRange(0), help="Local worker processes (default 2).")
@click.pass_context
def selfplay_cmd(ctx: click.Context, /, **values: Any) -> None:
    """Train by self-play: a learner and local game workers (the mock, or --env dolphin)."""
    src = ctx.get_parameter_source("workers")
    _run_learner(ctx, values, values["workers"] if src == ParameterSource.COMMANDLINE else None)


@click.command("learner")
@_options
@click.pass_context
def learner_cmd(ctx: click.Context, /, **values: Any) -> None:
    """A learner without local workers: game workers attach with `exphil worker --connect`."""
    _run_learner(ctx, values, 0)


@click.command("worker")
@click.option("--connect", required=True, help="The learner's address, e.g. tcp://HOST:PORT.")
@click.option("--keys", type=click.Path(file_okay=False),
              help="Curve keys: worker.key_secret and learner.key (exphil keys).")  # fmt: skip
@click.option("--games", type=click.IntRange(1), help="Games on this node (default: the run's).")
@click.option("--runners", type=click.IntRange(1), help="GameRunners (envs) on this node.")
@click.option("--name", help="This worker's name (default: worker-HOST-PID).")
@click.option("--threads", type=click.IntRange(1), help="torch threads for inference.")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False),
    help="A selfplay config this worker must match (it is refused when env or policy differ).",
)  # fmt: skip
@click.option("--env", "env_kind", type=click.Choice(["mock", "dolphin"]),
              help="What this worker plays (default: the run's); dolphin checks --dolphin/--iso "
              "before it connects.")  # fmt: skip
@click.option("--dolphin", type=click.Path(),
              help="This machine's Slippi Dolphin (else $EXPHIL_DOLPHIN_PATH, else the settings "
              "file).")  # fmt: skip
@click.option(
    "--iso",
    type=click.Path(),
    help="This machine's Melee ISO (else $EXPHIL_ISO_PATH, else the settings file).",
)
@click.option(
    "--instances",
    type=click.IntRange(1),
    help="Dolphin instances on this node (its games and runners).",
)
@click.option("--heartbeat-interval", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="Seconds between this node's heartbeats (at most half "
              "the learner's nodes.heartbeat_timeout).")  # fmt: skip
@click.option("--heartbeat-timeout", type=click.FloatRange(min=0, min_open=True), default=5.0,
              show_default=True, help="Seconds of silence after which the learner counts as "
              "gone (this worker then waits for it to come back).")  # fmt: skip
def worker_cmd(
    connect: str, keys: str | None, games: int | None, runners: int | None, name: str | None,
    threads: int | None, config_file: str | None, env_kind: str | None, dolphin: str | None,
    iso: str | None, instances: int | None, heartbeat_interval: float, heartbeat_timeout: float,
) -> None:  # fmt: skip
    """A game worker: plays the run's games and sends trajectories to the learner."""
    from rich.console import Console
    from rich.markup import escape

    from exphil.selfplay import SELFPLAY, WorkerOptions, run_worker
    from exphil.train import resolve_config

    console = Console(highlight=False, soft_wrap=True, stderr=True)
    own = None
    if config_file is not None:
        own = resolve_config(SELFPLAY, config_file=config_file).config
    worker = name or f"worker-{socket.gethostname()}-{os.getpid()}"
    if heartbeat_interval >= heartbeat_timeout:
        raise UserError(
            f"--heartbeat-interval {heartbeat_interval:g} must be below --heartbeat-timeout "
            f"{heartbeat_timeout:g}"
        )
    if instances is not None:
        if env_kind == "mock":
            raise UserError("--instances is for --env dolphin (the mock takes --games)")
        if games is not None or runners is not None:
            raise UserError(
                "--instances sets this node's games and runners: not with --games/--runners"
            )
        env_kind, games, runners = "dolphin", instances, instances
    paths = None
    if env_kind == "dolphin":  # checked before connecting: a missing Dolphin is exit 2
        from exphil.selfplay import resolve_dolphin

        paths = resolve_dolphin(
            dolphin, iso, config=own if own is not None and own.is_dolphin else None
        )
        console.print(
            f"{escape(worker)}: Dolphin {escape(str(paths.dolphin))}, ISO {escape(str(paths.iso))}"
        )
    console.print(f"{escape(worker)}: connecting to {escape(connect)}")
    options = WorkerOptions(
        name=worker, games=games, runners=runners, config=own, threads=threads,
        heartbeat_interval=heartbeat_interval, heartbeat_timeout=heartbeat_timeout,
        env_kind=env_kind, dolphin=paths, dolphin_flags=(dolphin, iso),
    )  # fmt: skip
    code, why = run_worker(connect, options, keys=keys)
    if code == 2:
        raise UserError(why)
    console.print(f"{escape(worker)}: {escape(why)}")
    sys.exit(code)
