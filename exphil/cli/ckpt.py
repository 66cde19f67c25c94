"""Checkpoint tools: ``exphil list``, ``exphil info``, ``exphil compare``.

Exit status 0, or 2 for a usage error (no such path, not a policy file). Everything that comes
from the user or from a file (paths, run names, config values, metadata) is printed as plain
text, never read as rich markup.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import click

__all__ = ["list_cmd", "info", "compare", "validation_note"]


def _date(ts: float, short: bool = False) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# --------------------------------------------------------------------------------- list

#: ``list``'s columns; ``run`` is never cut (a run name is what one types next)
_LIST_COLUMNS: Final = ("run", "name", "size", "date", "backbone", "step", "epoch", "best val loss")
_RIGHT: Final = frozenset({"size", "step", "epoch", "best val loss"})
#: how the table narrows, one step at a time, until it fits the terminal with whole run names:
#: columns left out in this order ("short date": the date without its year; "short header":
#: the loss column's header on two lines)
_NARROWING: Final = ("epoch", "size", "short date", "short header", "date", "backbone", "step")
_TWEAKS: Final = frozenset({"short date", "short header"})


def _list_table(rows: list[Any], narrowed: tuple[str, ...], fold_run: bool) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    short = "short date" in narrowed
    columns = [c for c in _LIST_COLUMNS if c not in narrowed]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for col in columns:
        table.add_column(
            "best val\nloss" if col == "best val loss" and "short header" in narrowed else col,
            justify="right" if col in _RIGHT else "left",
            no_wrap=not (col == "run" and fold_run),
            overflow="fold",
        )
    for c in rows:
        cells: dict[str, Text] = {
            "run": Text(c.run),
            "name": Text(c.name),
            "size": Text(_mb(c.size)),
            "date": Text(_date(c.mtime, short)),
            "backbone": Text(c.backbone) if c.ok else Text("not a policy", style="red"),
            "step": Text("-" if c.step is None else f"{c.step:,}"),
            "epoch": Text("-" if c.epoch is None else str(c.epoch)),
            "best val loss": Text("-" if c.best_val_loss is None else f"{c.best_val_loss:.4f}"),
        }
        table.add_row(*(cells[col] for col in columns))
    return table


def _fitted_list_table(console: Any, rows: list[Any]) -> tuple[Any, tuple[str, ...]]:
    """The list table at the console's width: whole run names, other columns left out (see
    :data:`_NARROWING`) until it fits; a run name wider than the terminal folds onto more
    lines rather than being cut. Returns (table, what was left out)."""
    from rich.measure import Measurement

    wide = console.options.update_width(10_000)
    narrowed: tuple[str, ...] = ()
    for step in (None, *_NARROWING):
        if step is not None:
            narrowed = (*narrowed, step)
        table = _list_table(rows, narrowed, fold_run=False)
        if Measurement.get(console, wide, table).maximum <= console.width:
            return table, narrowed
    return _list_table(rows, narrowed, fold_run=True), narrowed


@click.command("list")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option(
    "--sort",
    type=click.Choice(["date", "name", "size", "loss", "step"]),
    default="date",
    show_default=True,
)
@click.option("--reverse", is_flag=True, help="Reverse the order (date: oldest first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per checkpoint.")
@click.option("--all", "show_all", is_flag=True, help="Also list files that are not policies.")
def list_cmd(
    directory: Path | None, sort: str, reverse: bool, as_json: bool, show_all: bool
) -> None:
    """Policy checkpoints under DIRECTORY (default $EXPHIL_CHECKPOINTS_DIR or ./checkpoints):
    run, name, size, date, backbone, step, best validation loss.

    Run names are never cut: on a narrow terminal the epoch, size, date, backbone and step
    columns are left out in that order (and said so); --json has every field."""
    from rich.console import Console
    from rich.text import Text

    from exphil.train import CheckpointError, list_checkpoints

    root = directory or Path(os.environ.get("EXPHIL_CHECKPOINTS_DIR") or "checkpoints")
    try:
        found = list_checkpoints(root)
    except CheckpointError as exc:
        raise click.BadParameter(str(exc), param_hint="DIRECTORY") from None
    rows = [c for c in found if c.ok or show_all]
    keys: dict[str, Callable[[Any], Any]] = {
        "date": lambda c: c.mtime,
        "name": lambda c: (c.run, c.name),
        "size": lambda c: c.size,
        "loss": lambda c: (c.best_val_loss is None, c.best_val_loss or 0.0),
        "step": lambda c: c.step or 0,
    }
    rows.sort(key=keys[sort], reverse=(sort in ("date", "size", "step")) != reverse)
    if as_json:
        for c in rows:
            click.echo(
                json.dumps(
                    {
                        "path": str(c.path),
                        "run": c.run,
                        "name": c.name,
                        "size": c.size,
                        "mtime": c.mtime,
                        "backbone": c.backbone,
                        "step": c.step,
                        "epoch": c.epoch,
                        "best_val_loss": c.best_val_loss,
                        "problem": c.problem,
                    }
                )
            )
        return
    console = Console(highlight=False)
    if not rows:
        console.print(f"no policy checkpoints under {root}", markup=False)
        return
    table, narrowed = _fitted_list_table(console, rows)
    console.print(Text(f"checkpoints under {root}", style="bold"), soft_wrap=True)
    console.print(table)
    left_out = [n for n in narrowed if n not in _TWEAKS]
    if left_out:
        console.print(
            f"({', '.join(left_out)} left out to fit the terminal; --json has every field)",
            style="dim",
            markup=False,
        )
    for c in rows:
        if not c.ok:
            console.print(Text(f"{c.run}/{c.name}: {c.problem}"), soft_wrap=True)


# --------------------------------------------------------------------------------- info

_DEEP = {
    ("backbone", "blocks"),
    ("backbone", "linears"),
    ("backbone", "norms"),
    ("controller_head", "heads"),
    ("controller_head", "feed"),
}


def _param_groups(policy: Any) -> list[tuple[str, int]]:
    """Parameter counts grouped by module: id tables, each backbone block, each head."""
    groups: dict[str, int] = defaultdict(int)
    for name, p in policy.named_parameters():
        parts = name.split(".")
        deep = (parts[0], parts[1] if len(parts) > 2 else "") in _DEEP
        key = ".".join(parts[:3] if deep else parts[:2])
        groups[key] += p.numel()
    return list(groups.items())


def _top_groups(policy: Any) -> list[tuple[str, int]]:
    """Parameter counts by top-level module (tables, backbone, controller_head, value_head)."""
    groups: dict[str, int] = defaultdict(int)
    for name, p in policy.named_parameters():
        groups[name.split(".")[0]] += p.numel()
    return list(groups.items())


def _load(path: Path) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """(policy, header metadata, training state or None) of a checkpoint file or run."""
    from exphil.nets import load_policy, read_policy_config
    from exphil.train import CheckpointError, load_checkpoint

    if not path.exists():
        raise click.BadParameter(f"{path} does not exist")
    try:
        if path.is_dir() or path.with_name(path.name.replace(".safetensors", ".state.pt")).exists():
            ck = load_checkpoint(path, name="best" if (path / "best.json").exists() else "last")
            return ck.policy, ck.metadata, ck.state
        _config, meta = read_policy_config(path)
        return load_policy(path), meta, None
    except (CheckpointError, ValueError) as exc:
        raise click.BadParameter(str(exc)) from None


#: metadata ``kind`` -> the command that wrote the checkpoint (train-bc writes none)
_KINDS: Final = {"ppo": "train-ppo", "selfplay": "selfplay"}


def _config_root(meta: dict[str, Any]) -> tuple[str, type[Any]]:
    """(command, config root Struct) of the run that wrote a checkpoint with ``meta``."""
    command = _KINDS.get(str(meta.get("kind")), "train-bc")
    if command == "train-ppo":
        from exphil.rl import PPOConfig

        return command, PPOConfig
    if command == "selfplay":
        from exphil.selfplay import SelfPlayConfig

        return command, SelfPlayConfig
    from exphil.train import TrainConfig

    return command, TrainConfig


def _stored_config(
    meta: dict[str, Any], state: dict[str, Any] | None, source: str
) -> tuple[str, Any | None, str | None]:
    """(command, the training config stored in ``state`` as its Struct or None, why not)."""
    from exphil.train import ConfigError, from_builtins

    command, root = _config_root(meta)
    if state is None or "config" not in state:
        return command, None, "the file has no training state beside it"
    try:
        return command, from_builtins(state["config"], root, source=source), None
    except ConfigError as exc:  # an older or foreign format
        return command, None, str(exc)


def _short(value: Any, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _meta_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


#: metadata keys ``info`` shows on its own lines (the rest under "metadata")
_SHOWN: Final = frozenset(
    {"kind", "step", "epoch", "update", "frames", "seed", "best_val_loss", "ema", "delay"}
    | {"characters", "stages", "val"}
)


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--layers", is_flag=True, help="Also the parameters of every layer (a table).")
@click.option(
    "--embedding/--no-embedding",
    default=False,
    help="Also the input layout (the offset and width of every input).",
)
@click.option(
    "--config",
    "full_config",
    is_flag=True,
    help="The whole training config (default: the fields that differ from the defaults).",
)
def info(checkpoint: Path, layers: bool, embedding: bool, full_config: bool) -> None:
    """Describe a CHECKPOINT (a .safetensors policy or a run folder): a summary of its
    architecture, parameters, what it was trained on and how, its validation metrics and
    its training config's differences from the defaults.

    --layers, --embedding and --config add the long tables."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from exphil.embed import dimension_table

    policy, meta, state = _load(checkpoint)
    console = Console(highlight=False)

    def say(text: str) -> None:  # user text: never markup
        console.print(Text(text), soft_wrap=False)

    cfg = policy.config
    b = cfg.backbone
    file = checkpoint if checkpoint.is_file() else checkpoint / "best.safetensors"
    if not file.exists() and checkpoint.is_dir():
        file = checkpoint / "last.safetensors"
    if file.exists():
        st = file.stat()
        size = f"  {_mb(st.st_size)}, {_date(st.st_mtime)}"
        console.print(Text(str(file), style="bold") + Text(size), soft_wrap=True)
    total = sum(p.numel() for p in policy.parameters())
    say(
        f"backbone {b.kind}: hidden {b.hidden}, {b.layers} layers"
        + (
            f", state {b.state}, conv {b.conv}, expand {b.expand}"
            if b.kind in ("mamba", "jamba")
            else ""
        )
        + (f", {b.heads} heads, window {b.window}" if b.kind in ("attention", "jamba") else "")
        + f"; input {policy.dense_dim} dense + {len(policy.id_specs)} ids "
        f"(tables of width {cfg.id_embed_dim}); head hidden {cfg.head_hidden}; controller "
        f"{cfg.controller.axis_classes} stick classes, {cfg.controller.shoulder_classes} shoulder"
    )
    say(
        f"parameters: {total:,} ("
        + ", ".join(f"{name} {n:,}" for name, n in _top_groups(policy))
        + ")"
    )
    if layers:
        table = Table(title="parameters by layer")
        table.add_column("module")
        table.add_column("parameters", justify="right")
        table.add_column("share", justify="right")
        for name, n in _param_groups(policy):
            table.add_row(name, f"{n:,}", f"{n / total:.1%}")
        console.print(table)
    if embedding:
        console.print(dimension_table(cfg.embed), markup=False)

    command, stored, why = _stored_config(meta, state, str(checkpoint))
    trained = [command]
    for key in ("step", "epoch", "update", "frames", "seed"):
        if meta.get(key) is not None:
            value = meta[key]
            trained.append(f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}")
    if meta.get("delay") is not None:
        trained.append(f"reaction delay {meta['delay']} frames")
    if meta.get("ema"):
        trained.append("EMA weights")
    if isinstance(meta.get("best_val_loss"), int | float):
        trained.append(f"best validation loss {meta['best_val_loss']:.4f}")
    say("trained by " + ", ".join(trained))
    plays = [f"{key} {_meta_value(meta[key])}" for key in ("characters", "stages") if meta.get(key)]
    if plays:
        say("trained on " + "; ".join(plays) + " (it refuses to play others)")
    val = meta.get("val")
    if isinstance(val, dict) and val:
        frames = val.get("val/frames")
        say(
            "validation"
            + (f" ({frames:,.0f} frames)" if isinstance(frames, int | float) else "")
            + ": "
            + ", ".join(
                f"{k.removeprefix('val/')} {v:.4g}"
                for k, v in sorted(val.items())
                if isinstance(v, float) and k != "val/frames"
            )
        )
    rest = {k: v for k, v in meta.items() if k not in _SHOWN}
    if rest:
        say("metadata: " + ", ".join(f"{k} {_meta_value(v)}" for k, v in rest.items()))

    if full_config and state is not None and "config" in state:
        from exphil.train import to_yaml

        console.print(Text(f"training config ({command})", style="bold"))
        text = to_yaml(stored) if stored is not None else json.dumps(state["config"], indent=2)
        console.print(text, markup=False)
    elif stored is not None:
        from exphil.train import config_differences

        diffs = config_differences(type(stored)(), stored)
        console.print(
            Text(f"training config ({command})", style="bold")
            + Text(f": {len(diffs)} fields differ from the defaults" if diffs else ": the defaults")
        )
        for path, _default, value in diffs:
            say(f"  {path}: {_short(value)}")
    else:
        say(f"training config: none to show ({why})")
    more = [
        f"{flag} for {what}"
        for flag, what, given in (
            ("--layers", "the parameters by layer", layers),
            ("--embedding", "the input layout", embedding),
            ("--config", "the whole training config", full_config or state is None),
        )
        if not given
    ]
    if more:
        console.print(Text(f"(more: {'; '.join(more)})", style="dim"))


# ------------------------------------------------------------------------------ compare

#: the fields that decide which games (and frames) a train-bc run validates on
_SPLIT_FIELDS: Final = (
    "data.replays",
    "data.character",
    "data.stage",
    "data.min_quality",
    "data.max_files",
    "data.val_fraction",
    "data.both_perspectives",
    "data.window",
    "data.burnin",
    "data.delay",
)


def _at(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part, None)
    return config


def validation_note(
    meta_a: dict[str, Any], meta_b: dict[str, Any], config_a: Any, config_b: Any
) -> str | None:
    """Why two checkpoints' stored validation metrics may not be comparable (None: they
    were measured on the same validation games, as far as the files tell, or one has none).

    Different validation frame counts mean different games for sure; equal counts with a
    different seed or data selection (``_SPLIT_FIELDS``, when both configs are known) may."""
    val_a, val_b = meta_a.get("val"), meta_b.get("val")
    if not (isinstance(val_a, dict) and val_a and isinstance(val_b, dict) and val_b):
        return None
    differ = [
        p
        for p in _SPLIT_FIELDS
        if config_a is not None and config_b is not None and _at(config_a, p) != _at(config_b, p)
    ]
    if meta_a.get("seed") != meta_b.get("seed"):
        differ.append("seed")
    fields = f"; the runs differ in {', '.join(differ)}" if differ else ""
    frames_a, frames_b = val_a.get("val/frames"), val_b.get("val/frames")
    counted = isinstance(frames_a, int | float) and isinstance(frames_b, int | float)
    if counted and frames_a != frames_b:
        return (
            f"A and B were validated on different games (A {frames_a:,.0f} frames, "
            f"B {frames_b:,.0f} frames{fields}): their validation metrics are not comparable"
        )
    if differ:
        return (
            f"A and B may have been validated on different games (the runs differ in "
            f"{', '.join(differ)}): their validation metrics may not be comparable"
        )
    return None


def _describe(meta: dict[str, Any]) -> str:
    command = _KINDS.get(str(meta.get("kind")), "train-bc")
    parts = [command] + [
        f"{key} {meta[key]:,}"
        for key in ("step", "epoch", "update")
        if isinstance(meta.get(key), int)
    ]
    return ", ".join(parts)


@click.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(path_type=Path),
    help="Score both on the same games (a replay folder): loss and accuracies.",
)
@click.option("--max-files", type=int, default=None, help="With --eval: at most this many games.")
def compare(a: Path, b: Path, eval_path: Path | None, max_files: int | None) -> None:
    """Compare two checkpoints A and B: config differences and metrics side by side.

    The stored validation metrics of two runs come from their own validation games; when
    those differ (another corpus, seed or split) a note says so. --eval scores both on the
    same games."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    pa, ma, sa = _load(a)
    pb, mb, sb = _load(b)
    console = Console(highlight=False)
    for label, given, meta in (("A", a, ma), ("B", b, mb)):
        console.print(Text(f"{label}  ", style="bold") + Text(f"{given}  ({_describe(meta)})"))
    cmd_a, ca, _ = _stored_config(ma, sa, str(a))
    cmd_b, cb, _ = _stored_config(mb, sb, str(b))
    table = Table(title="configuration differences")
    table.add_column("field")
    table.add_column("A", overflow="fold")
    table.add_column("B", overflow="fold")
    if ca is not None and cb is not None and type(ca) is type(cb):
        from exphil.train import config_differences

        diffs = config_differences(ca, cb)
    else:
        diffs = _flat_diff("policy", pa.config, pb.config)
        if cmd_a != cmd_b:
            console.print(
                Text(f"A was trained by {cmd_a}, B by {cmd_b}: only their policies compare")
            )
    for path, x, y in diffs:
        table.add_row(Text(path), Text(repr(x)), Text(repr(y)))
    if diffs:
        console.print(table)
    else:
        console.print("same configuration")
    mt = Table(title="metrics")
    mt.add_column("metric")
    mt.add_column("A", justify="right")
    mt.add_column("B", justify="right")
    va, vb = ma.get("val") or {}, mb.get("val") or {}
    for key in ("step", "epoch", "update", "frames", "best_val_loss"):
        if key in ma or key in mb:
            mt.add_row(key, _fmt(ma.get(key)), _fmt(mb.get(key)))
    for key in sorted(set(va) | set(vb)):
        if key.startswith("val/"):
            fmt = _count if key == "val/frames" else _fmt
            mt.add_row(key, fmt(va.get(key)), fmt(vb.get(key)))
    mt.add_row(
        "parameters",
        f"{sum(p.numel() for p in pa.parameters()):,}",
        f"{sum(p.numel() for p in pb.parameters()):,}",
    )
    console.print(mt)
    note = validation_note(ma, mb, ca, cb)
    if note is not None:
        then = (
            "the table below scores both on the same games"
            if eval_path is not None
            else "this scores both on the same games (a replay folder):"
        )
        console.print(Text("note: ", style="yellow") + Text(f"{note}; {then}"))
        if eval_path is None:
            console.print(Text(f"  exphil compare {a} {b} --eval REPLAYS"), soft_wrap=True)
    if eval_path is not None:
        _compare_eval(console, a, pa, b, pb, eval_path, max_files)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _count(v: Any) -> str:
    return f"{v:,.0f}" if isinstance(v, int | float) else "-"


def _flat_diff(prefix: str, x: Any, y: Any) -> list[tuple[str, Any, Any]]:
    import msgspec

    if isinstance(x, msgspec.Struct) and type(x) is type(y):
        out: list[tuple[str, Any, Any]] = []
        for f in x.__struct_fields__:
            out += _flat_diff(f"{prefix}.{f}", getattr(x, f), getattr(y, f))
        return out
    return [] if x == y else [(prefix, x, y)]


def _compare_eval(
    console: Any, a: Path, pa: Any, b: Path, pb: Any, path: Path, max_files: int | None
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from exphil.train import StageProgress, score_policy

    # progress on stderr: a bar on a terminal, log lines otherwise (the tables stay on stdout)
    err = Console(stderr=True, highlight=False)
    results = []
    for label, policy in (("A", pa), ("B", pb)):
        with StageProgress(err, f"scoring {label}") as progress:
            results.append(
                score_policy(policy, [str(path)], max_files=max_files, progress=progress)
            )
    table = Table(
        title=Text(f"scored on the same games: {path} ({results[0]['val/frames']:,.0f} frames)")
    )
    table.add_column("metric")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    for key in results[0]:
        if key.startswith("val/") and key != "val/frames":
            table.add_row(
                key.removeprefix("val/"), _fmt(results[0][key]), _fmt(results[1].get(key))
            )
    console.print(table)
