"""``exphil train-bc``: behavioral cloning from replays.

Exit status: 0 when training ended (finished, max steps, early stopping); 130 when it was
interrupted (Ctrl-C: a resumable ``last`` checkpoint is written first); 2 for a user
mistake (no replays, a bad path, an unknown preset or field, incompatible options), with a
short message and a pointer to the README (the traceback only with ``--debug``); 1 for an
unexpected error. The group's error wrapper (:class:`exphil.cli.ExphilGroup`) prints them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from exphil.errors import UserError

__all__ = ["train_bc"]

README_HINT = "see README.md, section 'Training a policy (train-bc)'"

#: fields of one invocation, not of the run (how it is watched): a resume takes them from
#: its own flags only, never from the resumed run's config
PER_INVOCATION = ("output.verbosity", "output.progress_every_s")

# option name -> (dotted config field, flag as typed)
_FIELDS: dict[str, tuple[str, str]] = {
    "backbone": ("policy.backbone.kind", "--backbone"),
    "hidden": ("policy.backbone.hidden", "--hidden"),
    "layers": ("policy.backbone.layers", "--layers"),
    "window": ("data.window", "--window"),
    "burnin": ("data.burnin", "--burnin"),
    "delay": ("data.delay", "--delay"),
    "delay_spread": ("data.delay_spread", "--delay-spread"),
    "mirror": ("data.mirror", "--mirror"),
    "prev_controller": ("policy.embed.controller", "--prev-controller"),
    "balance_characters": ("data.balance_characters", "--balance-characters"),
    "character": ("data.character", "--character"),
    "stage": ("data.stage", "--stage"),
    "min_quality": ("data.min_quality", "--min-quality"),
    "max_files": ("data.max_files", "--max-files"),
    "val_fraction": ("data.val_fraction", "--val-fraction"),
    "batch_size": ("data.batch_size", "--batch-size"),
    "workers": ("data.workers", "--workers"),
    "epochs": ("epochs", "--epochs"),
    "max_steps": ("max_steps", "--max-steps"),
    "lr": ("optim.lr", "--lr"),
    "schedule": ("optim.schedule", "--schedule"),
    "warmup": ("optim.warmup_steps", "--warmup"),
    "grad_accum": ("optim.grad_accum", "--grad-accum"),
    "clip_norm": ("optim.clip_norm", "--clip-norm"),
    "ema": ("optim.ema", "--ema"),
    "label_smoothing": ("optim.label_smoothing", "--label-smoothing"),
    "focal_gamma": ("optim.focal_gamma", "--focal-gamma"),
    "grad_checkpointing": ("optim.grad_checkpointing", "--grad-checkpointing"),
    "patience": ("patience", "--patience"),
    "seed": ("seed", "--seed"),
    "device": ("device", "--device"),
    "checkpoints_dir": ("checkpoint.dir", "--checkpoints-dir"),
    "name": ("checkpoint.name", "--name"),
    "overwrite": ("checkpoint.overwrite", "--overwrite/--no-overwrite"),
    "backup_count": ("checkpoint.backup_count", "--backup-count"),
    "tensorboard": ("output.tensorboard", "--tensorboard"),
    "wandb": ("output.wandb", "--wandb"),
}


def _cli_overrides(ctx: click.Context, values: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    out: dict[str, tuple[Any, str]] = {}
    for name, (path, flag) in _FIELDS.items():
        if ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        value = values[name]
        if isinstance(value, tuple):
            value = list(value)
        out[path] = (value, flag)
    if values["no_backup"]:
        out["checkpoint.backup_count"] = (0, "--no-backup")
    if values["replays"]:
        out["data.replays"] = (list(values["replays"]), "--replays")
    verbosity = "quiet" if values["quiet"] else "verbose" if values["verbose"] else None
    if verbosity:
        out["output.verbosity"] = (verbosity, f"--{verbosity}")
    return out


@click.command("train-bc")
@click.option(
    "--replays",
    "-r",
    multiple=True,
    help="Replay files, folders, globs or @lists (repeatable; default $EXPHIL_REPLAYS_DIR).",
)
@click.option("--preset", help="A train-bc preset (quick, standard, full, lstm, ...; see README).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML config file (may name its preset with 'preset: NAME').",
)
@click.option("--set", "sets", multiple=True, help="Any field: --set optim.lr=1e-4 (repeatable).")
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    help="Continue a run: its folder or a checkpoint file in it (flags still override).",
)
@click.option(
    "--backbone", type=click.Choice(["mlp", "lstm", "gru", "mamba", "attention", "jamba"])
)
@click.option("--hidden", type=int, help="Trunk width.")
@click.option("--layers", type=int, help="Backbone layers.")
@click.option("--window", type=int, help="Frames per training window (temporal backbones).")
@click.option("--burnin", type=int, help="Frames at a window's start without loss.")
@click.option(
    "--delay", type=int, help="Reaction delay: state t predicts controller t + delay (presets: 18)."
)
@click.option("--delay-spread", type=int, help="Delay augmentation: +/- frames per sample.")
@click.option("--mirror/--no-mirror", default=None, help="Mirror augmentation (flip x).")
@click.option(
    "--prev-controller/--no-prev-controller",
    default=None,
    help="Feed the policy its own previous controller (every preset: off; with it, "
    "a policy trained on a few hours of replays copies itself in play).",
)
@click.option("--balance-characters/--no-balance-characters", default=None)
@click.option("--character", "-c", multiple=True, help="Keep games with this character.")
@click.option("--stage", "-s", multiple=True, help="Keep games on this stage.")
@click.option("--min-quality", type=float, help="Minimum replay quality (0-100).")
@click.option("--max-files", type=int, help="Use at most this many games.")
@click.option("--val-fraction", type=float, help="Games held out for validation.")
@click.option("--batch-size", type=int)
@click.option("--workers", type=int, help="Loader threads.")
@click.option("--epochs", type=int)
@click.option("--max-steps", type=int, help="Stop after this many optimizer steps.")
@click.option("--lr", type=float, help="Peak learning rate (AdamW).")
@click.option("--schedule", type=click.Choice(["constant", "cosine", "cosine_restarts", "linear"]))
@click.option("--warmup", type=int, help="Warm-up optimizer steps.")
@click.option("--grad-accum", type=int, help="Batches per optimizer step.")
@click.option("--clip-norm", type=float, help="Gradient norm clip (0 = off).")
@click.option("--ema", type=float, help="EMA decay of the weights (e.g. 0.999).")
@click.option("--label-smoothing", type=float)
@click.option("--focal-gamma", type=float)
@click.option("--grad-checkpointing/--no-grad-checkpointing", default=None)
@click.option("--patience", type=int, help="Early stopping: epochs without improvement.")
@click.option("--seed", type=int, help="Random seed (default: a random one, printed and saved).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option(
    "--checkpoints-dir",
    type=click.Path(file_okay=False),
    help="Parent folder of run folders (default $EXPHIL_CHECKPOINTS_DIR or ./checkpoints).",
)
@click.option("--name", help="The run folder's name (default: backbone-date-time).")
@click.option(
    "--overwrite/--no-overwrite",
    default=None,
    help="Replace an existing run of that name / refuse. Default: keep it, use NAME-2.",
)
@click.option("--backup-count", type=int, help="Rotated backups kept per checkpoint file.")
@click.option("--no-backup", is_flag=True, help="Keep no backups (same as --backup-count 0).")
@click.option("--tensorboard/--no-tensorboard", default=None, help="Also log to TensorBoard.")
@click.option("--wandb/--no-wandb", default=None, help="Also log to Weights & Biases.")
@click.option("--dry-run", is_flag=True, help="Resolve and check everything, then exit.")
@click.option("--verbose", "-v", is_flag=True, help="Per-step timings and memory.")
@click.option("--quiet", "-q", is_flag=True, help="Errors and the final summary only.")
@click.option("--debug", is_flag=True, help="Full tracebacks.")
@click.pass_context
def train_bc(ctx: click.Context, /, **values: Any) -> None:
    """Train a policy by behavioral cloning on replays.

    Configuration layers, later wins: defaults < --preset < --config FILE.yaml <
    environment (EXPHIL_REPLAYS_DIR, EXPHIL_CHECKPOINTS_DIR, EXPHIL_DEFAULT_PRESET, ...) <
    flags < --set. Writes the run folder: last / best checkpoints (policy .safetensors +
    training state), config.yaml, metrics.jsonl. Ctrl-C saves a resumable checkpoint.
    """
    from rich.console import Console

    console = Console(highlight=False, stderr=False)
    err = Console(highlight=False, stderr=True)
    if values["debug"]:
        ctx.ensure_object(dict)["debug"] = True
    if values["quiet"] and values["verbose"]:
        raise click.UsageError("--quiet and --verbose cannot be combined")
    try:
        code = _run(ctx, values, console, err)
    except UserError as exc:
        exc.hint = exc.hint or README_HINT  # the CLI's error wrapper prints it
        raise
    ctx.exit(code)


def _run(ctx: click.Context, values: dict[str, Any], console: Any, err: Any) -> int:
    import msgspec

    from exphil.train import TRAIN_BC, config_differences, resolve_run_config

    resolved, resume = resolve_run_config(
        TRAIN_BC,
        resume=values["resume"],
        preset=values["preset"],
        config_file=values["config_file"],
        cli=_cli_overrides(ctx, values),
        sets=values["sets"],
        per_invocation=PER_INVOCATION,
    )
    base = (resume.config, f"checkpoint {resume.path}") if resume is not None else None
    config = resolved.config
    sources = dict(resolved.sources)
    if not config.data.replays:
        # no layer gave replays: the settings file's folder (`exphil setup`), said out loud
        from exphil.settings import resolve

        taken = resolve("replays")
        if taken is not None:
            config = msgspec.structs.replace(
                config, data=msgspec.structs.replace(config.data, replays=[taken.value])
            )
            sources["data.replays"] = taken.source
            if config.output.verbosity != "quiet":
                err.print(
                    f"replays: {taken.value} (from the {taken.source}; --replays gives others)",
                    markup=False,
                    soft_wrap=True,
                )
    replays_from = sources.get("data.replays", "default")
    stored_replays = replays_from.startswith("checkpoint ")
    if not stored_replays:
        # given now: stored absolute, so that --resume works from any folder
        absolute = [_absolute(p) for p in config.data.replays]
        config = msgspec.structs.replace(
            config, data=msgspec.structs.replace(config.data, replays=absolute)
        )
    quiet = config.output.verbosity == "quiet"
    if base is not None:
        diffs = config_differences(base[0], config)
        arch = [(p, a, b) for p, a, b in diffs if p.startswith("policy.")]
        if arch:
            raise UserError(
                "the policy's architecture cannot change on --resume: "
                + "; ".join(f"{p}: {a!r} -> {b!r}" for p, a, b in arch)
            )
        if not quiet:
            console.print(
                "changes from the resumed run's config:"
                if diffs
                else "resuming with the run's own config (no changes)"
            )
            for path, old, new in diffs:  # values come from the user: no markup
                console.print(f"  {path}: {old!r} -> {new!r}", markup=False)
    if not config.data.replays:
        raise UserError(
            "no replays given: pass --replays PATH (a folder of .slp files), set "
            "EXPHIL_REPLAYS_DIR, or save a replay folder with `exphil setup`"
        )
    for p in config.data.replays:
        if not p.startswith("@") and not any(ch in p for ch in "*?[") and not Path(p).exists():
            if not stored_replays:
                raise UserError(f"replay path {p} does not exist")
            relative = (
                "" if os.path.isabs(p) else ", relative to the folder that run was started in"
            )
            raise UserError(
                f"replay path {p} does not exist: it is the resumed run's own data.replays "
                f"(stored in {resume.path if resume is not None else 'the checkpoint'}"
                f"{relative}); pass --replays PATH to give the replays again (it replaces "
                "the stored path)"
            )
    if config.output.wandb:
        _require("wandb", "--wandb needs the wandb package: pip install wandb")
    if config.output.tensorboard:
        _require(
            "tensorboard", "--tensorboard needs the tensorboard package: pip install tensorboard"
        )

    seed = config.seed
    if resume is not None:
        seed = int(resume.state["seed"])
    if seed is None:
        from exphil.train import new_seed

        seed = new_seed()
    config = msgspec.structs.replace(config, seed=seed)
    if not quiet:
        _print_header(
            console,
            config,
            sources,
            resolved.preset,
            resumed=resume.path if resume is not None else None,
        )

    from exphil.train import StageProgress, build_corpus

    t0 = time.perf_counter()
    with StageProgress(console, "preparing data") as progress:
        corpus = build_corpus(
            config.data,
            config.policy.embed,
            config.policy.controller,
            seed=seed,
            progress=None if quiet else progress,
            value=config.value,
        )
    if not quiet:
        _print_dataset(console, corpus, time.perf_counter() - t0)
    from exphil.train import check_validation

    # validation too small: an error now, before a run folder is made
    d = config.data
    _, val_ids = corpus.split(
        d.val_fraction, seed, min_games=d.min_val_games, min_frames=d.min_val_frames
    )
    held = check_validation(corpus, val_ids, d)
    if values["dry_run"]:
        _print_dry_run(console, config, corpus, held)
        return 0
    return _train(config, corpus, seed, resume, console, err)


def _require(module: str, message: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(message)


def _absolute(path: str) -> str:
    """A replay path (a file, folder, glob or @list) made absolute against this folder."""
    if path.startswith("@"):
        return "@" + os.path.abspath(os.path.expanduser(path[1:]))
    return os.path.abspath(os.path.expanduser(path))


def _group_sources(sources: dict[str, str], skip: set[str]) -> list[tuple[str, list[str]]]:
    """The fields set by each layer, one group per layer, in a stable order: ``command
    line`` (each field with its flag), ``--set`` (the assignments), then each preset, file
    or variable with its fields. Fields from a resumed run's config are left out."""
    groups: dict[str, list[str]] = {}
    for field, source in sorted(sources.items()):
        if field in skip or source.startswith("checkpoint "):
            continue
        if source.startswith("command line "):
            groups.setdefault("command line", []).append(
                f"{field} ({source.removeprefix('command line ')})"
            )
        elif source.startswith("--set "):
            groups.setdefault("--set", []).append(source)
        else:
            groups.setdefault(source, []).append(field)
    order = {"command line": 0, "--set": 1}
    return sorted(groups.items(), key=lambda kv: (order.get(kv[0], 2), kv[0]))


def _print_header(
    console: Any,
    config: Any,
    sources: dict[str, str],
    preset: str | None,
    *,
    resumed: Path | None = None,
) -> None:
    from rich.table import Table
    from rich.text import Text

    def origin(path: str) -> str:
        source = sources.get(path, "default")
        return "the resumed run" if source.startswith("checkpoint ") else source

    table = Table(title="train-bc: resolved configuration", show_lines=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_column("from", overflow="fold")
    b = config.policy.backbone
    rows = [
        ("preset", preset or "-", ""),
        (
            "backbone",
            f"{b.kind} hidden {b.hidden} x {b.layers} layers",
            origin("policy.backbone.kind"),
        ),
        ("replays", ", ".join(config.data.replays), origin("data.replays")),
    ]
    shown = {"policy.backbone.kind", "data.replays"}
    for path in (
        "data.window",
        "data.delay",
        "data.batch_size",
        "epochs",
        "max_steps",
        "optim.lr",
        "optim.schedule",
        "optim.ema",
        "seed",
        "device",
    ):
        value: Any = config
        for part in path.split("."):
            value = getattr(value, part)
        rows.append((path, str(value), origin(path)))
        shown.add(path)
    for r in rows:
        table.add_row(*(Text(cell) for cell in r))  # values and sources hold user text
    console.print(table)
    if resumed is not None:
        console.print(
            f"base: the resumed run's saved config ({resumed}); fields without another "
            "source keep its values",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    groups = _group_sources(sources, shown)
    if groups:
        console.print("also set:", highlight=False)
        for source, fields in groups:
            line = ", ".join(fields) if source == "--set" else f"{source}: {', '.join(fields)}"
            console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)


def _print_dataset(console: Any, corpus: Any, seconds: float) -> None:
    s = corpus.summary()

    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"

    console.print(
        f"dataset: {s['games']} games ({s['perspectives']} player perspectives), "
        f"{s['frames']:,} frames ({s['hours']:.2f} h of play), "
        f"{'reused' if s['reused'] else 'embedded'} in {seconds:.1f} s; store {s['store']}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"  characters: {counts(s['characters'])}", highlight=False, soft_wrap=True)
    console.print(f"  stages: {counts(s['stages'])}", highlight=False, soft_wrap=True)
    left = dict(s["skipped"]) | {f"filtered {k}": v for k, v in s["filtered"].items()}
    if s["duplicates"]:
        left["duplicates"] = s["duplicates"]
    if s["not_selected"]:
        left["past --max-files"] = s["not_selected"]
    console.print(
        f"  of {s['files']} files, left out: {counts(left)}", highlight=False, soft_wrap=True
    )


def _estimate(config: Any, corpus: Any) -> dict[str, float]:
    from exphil.nets import Policy

    policy = Policy(config.policy)
    params = sum(p.numel() for p in policy.parameters())
    window = config.data.window if config.policy.backbone.kind != "mlp" else 1
    act = config.data.batch_size * window * config.policy.backbone.hidden * 4 * 24
    act *= max(1, config.policy.backbone.layers)
    return {
        "params": float(params),
        "weights_mb": params * 4 / 1e6,
        "train_ram_mb": (params * 4 * 4 + act) / 1e6,  # weights, grads, 2 Adam moments
        "store_mb": float(getattr(corpus, "nbytes", 0)) / 1e6,
    }


def _print_dry_run(console: Any, config: Any, corpus: Any, held: dict[str, Any]) -> None:
    from exphil.train import degenerate_warning, extended_note

    note = extended_note(held, config.data)
    if note is not None:
        console.print(note, highlight=False, soft_wrap=True)
    if held["games"]:
        console.print(
            f"validation: {held['games']} game{'s' * (held['games'] != 1)}, "
            f"{held['frames']:,} frames ({held['perspectives']} perspectives)",
            highlight=False,
        )
    warning = degenerate_warning(held)
    if warning is not None:
        console.print(
            f"warning: {warning}", style="yellow", highlight=False, soft_wrap=True, markup=False
        )
    est = _estimate(config, corpus)
    console.print(
        f"dry run: model {est['params']:,.0f} parameters ({est['weights_mb']:.1f} MB of weights); "
        f"about {est['train_ram_mb']:,.0f} MB for weights, gradients, optimizer state and "
        f"one batch of activations; embedded corpus {est['store_mb']:,.0f} MB on disk "
        "(memory-mapped). Nothing was trained.",
        highlight=False,
        soft_wrap=True,
    )
    _print_speed(console, config)


def _print_speed(console: Any, config: Any) -> None:
    """The batch and learning rate this device trains with, and frames/s measured by
    timing a few of the trainer's steps on synthetic batches of that shape."""
    from exphil.train import effective_config, measure_step, resolve_device

    device = resolve_device(config.device)
    run = effective_config(config, device)
    speed = measure_step(run, device, warmup=1, steps=5, max_seconds=5.0)
    scaled = (
        f" (data.cuda_batch_size on CUDA; lr scaled from {config.optim.lr:g} at "
        f"{config.data.batch_size}, optim.lr_scaling {config.optim.lr_scaling})"
        if run is not config
        else ""
    )
    unit = "frames" if speed.window == 1 else f"windows of {speed.window} frames"
    console.print(
        f"on {device}: batch {speed.batch} {unit}, {speed.frames:,} loss frames per step, "
        f"lr {run.optim.lr:g}{scaled}; expected speed about {speed.frames_per_s:,.0f} "
        f"frames/s ({speed.seconds * 1e3:,.1f} ms per step, {speed.steps} step"
        f"{'s' * (speed.steps != 1)} of the trainer's timed on synthetic batches; the data "
        "loader and validation come on top)",
        highlight=False,
        soft_wrap=True,
    )


def _train(
    config: Any,
    corpus: Any,
    seed: int,
    resume: Any,
    console: Any,
    err: Any,
) -> int:
    from rich.text import Text

    from exphil.train import CheckpointSpaceError, RichReporter, Run, train

    def warn(text: str) -> None:
        err.print(Text("warning: ", style="yellow") + Text(text), soft_wrap=True)

    if resume is not None:
        run = Run.resume(resume, config, warn=warn)
    else:
        run = Run.create(config, default_name=config.policy.backbone.kind, warn=warn)
    reporter = RichReporter(
        console,
        config.output.verbosity,
        epochs=config.epochs,
        progress_every=config.output.progress_every_s,
    )
    try:
        with run, run.interruptible():
            try:
                result = train(config, corpus, run, seed=seed, reporter=reporter, resume=resume)
            finally:
                reporter.close()
    except CheckpointSpaceError as exc:  # the disk filled up: the run is resumable
        exc.hint = f"once there is room: exphil train-bc --resume {run.directory}"
        raise
    _print_summary(console, result, config)
    return 130 if result.stopped == "interrupted" else 0


def _print_summary(console: Any, result: Any, config: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="train-bc: summary", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("stopped", result.stopped)
    table.add_row("time", f"{result.seconds / 60:.1f} min")
    table.add_row("epochs / steps", f"{result.epochs_done} / {result.steps:,}")
    if result.train_losses:
        table.add_row(
            "train loss first / last",
            f"{result.train_losses[0]:.4f} / {result.train_losses[-1]:.4f}",
        )
    held = result.validation
    if held.get("games"):
        table.add_row(
            "validation set",
            f"{held['games']} game{'s' * (held['games'] != 1)}, {held['frames']:,} frames "
            f"({held['frames'] / 3600:.1f} min of play), {held['perspectives']} perspectives",
        )
    if result.best_val_loss is not None:
        table.add_row("best validation loss", f"{result.best_val_loss:.4f}")
    v, base = result.final_val, result.baseline
    if v.get("val/loss") is not None:
        chance_loss = base.get("val/loss")
        table.add_row(
            "final validation loss",
            f"{v['val/loss']:.4f}"
            + (f"  (chance {chance_loss:.4f})" if chance_loss is not None else ""),
        )
        if v.get("val/loss/value") is not None:
            chance_value = base.get("val/loss/value")
            table.add_row(
                "value loss",
                f"{v['val/loss/value']:.4f}"
                + (f"  (chance: the mean return, {chance_value:.4f})" if chance_value else ""),
            )
        names = {
            "buttons": "buttons (each)",
            "buttons_exact": "buttons (all 8)",
            "main_x": "main stick x",
            "main_y": "main stick y",
            "c_x": "c-stick x",
            "c_y": "c-stick y",
            "shoulder": "shoulder",
        }
        single = set(result.validation.get("single_class") or [])
        for key, label in names.items():
            acc = v.get(f"val/acc/{key}")
            if acc is None:
                continue
            chance = base.get(f"val/acc/{key}")
            repeat = base.get(f"repeat/acc/{key}")
            notes = [f"chance {chance:.1%}"] if chance is not None else []
            notes += [f"repeat previous {repeat:.1%}"] if repeat is not None else []
            if key.removesuffix("_exact") in single:
                notes = ["meaningless: a single class in validation"]
            table.add_row(
                f"accuracy {label}", f"{acc:.1%}" + (f"  ({', '.join(notes)})" if notes else "")
            )
    elif result.validation.get("games") == 0:
        table.add_row("validation", "none (--val-fraction 0)")
    table.add_row("checkpoints", Text(str(result.run_dir)))  # a user's path: no markup
    console.print(table)
    if result.stopped == "interrupted":
        console.print(f"resume with: exphil train-bc --resume {result.run_dir}", markup=False)
