"""``exphil train-ppo``: the synchronous PPO self-play loop in one process (the reference that
the distributed ``exphil selfplay`` is measured against).

Configuration is layered like train-bc's: defaults < ``--preset`` (``exphil/presets/train-ppo``:
quick, standard, from-bc) < ``--config FILE.yaml`` < environment < flags < ``--set``. The run
folder holds ``config.yaml``, ``metrics.jsonl``, ``initial.safetensors`` (the frozen starting
policy, to evaluate against) and ``last`` checkpoints; ``--resume RUN`` continues exactly.
Ctrl-C finishes the update, saves a resumable ``last`` and exits 130.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

__all__ = ["train_ppo_cmd"]

_FIELDS = {
    "init": ("init", "--init"),
    "updates": ("updates", "--updates"),
    "games": ("env.games", "--games"),
    "seed": ("seed", "--seed"),
    "device": ("device", "--device"),
    "name": ("checkpoint.name", "--name"),
    "checkpoints_dir": ("checkpoint.dir", "--checkpoints-dir"),
    "overwrite": ("checkpoint.overwrite", "--overwrite/--no-overwrite"),
}


@click.command("train-ppo")
@click.option("--preset", help="A train-ppo preset: quick, standard, from-bc.")
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="A YAML config file."
)
@click.option("--set", "sets", multiple=True, help="Any field: --set loss.clip=0.1 (repeatable).")
@click.option("--init", help="Start from this policy file (a train-bc checkpoint).")
@click.option("--updates", type=click.IntRange(0), help="Stop after this many PPO updates.")
@click.option("--games", type=click.IntRange(1), help="Mock games stepped together.")
@click.option("--seed", type=int)
@click.option("--device", type=click.Choice(["cpu", "cuda"]))
@click.option("--name", help="The run folder's name (default: ppo-date-time).")
@click.option("--checkpoints-dir", help="Parent folder of run folders (default ./checkpoints).")
@click.option("--overwrite/--no-overwrite", default=None, help="Replace / refuse an existing run.")
@click.option(
    "--resume", type=click.Path(exists=False), help="Continue a run (its folder or checkpoint)."
)
@click.pass_context
def train_ppo_cmd(ctx: click.Context, /, **values: Any) -> None:
    """Improve a policy by PPO self-play on the mock (see README, 'Self-play')."""
    from rich.console import Console
    from rich.markup import escape

    from exphil.rl import TRAIN_PPO, PPOConfig, train_ppo
    from exphil.train import Run, config_differences, resolve_run_config

    console = Console(highlight=False, soft_wrap=True)
    cli = {
        path: (values[key], flag)
        for key, (path, flag) in _FIELDS.items()
        if ctx.get_parameter_source(key) == ParameterSource.COMMANDLINE
    }
    resolved, resume = resolve_run_config(
        TRAIN_PPO,
        resume=values["resume"],
        preset=values["preset"],
        config_file=values["config_file"],
        cli=cli,
        sets=values["sets"],
    )
    config = resolved.config
    if resume is not None:
        run: Run[PPOConfig] = Run.resume(resume, config, warn=console.print)
        console.print(f"resuming {escape(str(run.directory))} at update {resume.state['update']}")
        for path, old, new in config_differences(resume.config, config):
            console.print(f"  changed {escape(path)}: {escape(repr(old))} -> {escape(repr(new))}")
    else:
        run = Run.create(config, default_name="ppo", warn=lambda t: console.print(escape(t)))
        console.print(f"run folder {escape(str(run.directory))}")
    start = config.init or "a new policy"
    console.print(
        f"PPO: {escape(start)}, {config.env.games} games, {config.rollout} frames per update, "
        f"{config.updates} updates"
    )
    tty = sys.stdout.isatty()
    last = [0.0]

    def show(r: dict[str, Any]) -> None:
        now = time.perf_counter()
        if tty or now - last[0] > 10 or r["update"] == config.updates:
            last[0] = now
            wr = r["win_rate"]
            losses = (
                f"value warm-up  value {r['value_loss']:.4f}"
                if r["value_only"]
                else f"policy {r['policy_loss']:+.4f}  value {r['value_loss']:.4f}  "
                f"entropy {r['entropy']:.2f}  kl {r['approx_kl']:.4f}  "
                f"teacher kl {r['teacher_kl']:.4f}"
            )
            console.print(
                f"update {r['update']:>5}  frames {r['frames']:>10,}  {r['fps']:>7,.0f} fps  "
                f"{losses}  win rate {'-' if wr is None else f'{wr:.0%}'}"
            )

    interrupted = False
    with run, run.interruptible():
        result = train_ppo(
            config, run=run, resume=resume, on_update=show,
            stop=run.stop.is_set,
        )  # fmt: skip
        interrupted = run.stop.is_set()
    console.print(
        f"{result.updates} updates, {result.frames:,} frames in {result.seconds / 60:.1f} min; "
        f"policy in {escape(str(run.directory / 'last.safetensors'))}"
    )
    for m in result.pool:
        if m["games"]:
            console.print(f"  vs {escape(m['name'])}: {m['win_rate']:.0%} of {m['games']} games")
    initial = escape(str(Path(run.directory) / "initial.safetensors"))
    console.print(f"evaluate it: exphil eval {escape(str(run.directory))} --vs {initial},cpu:5")
    if interrupted:
        ctx.exit(130)
