"""Checkpoint tools: ``exphil list``, ``exphil info``, ``exphil compare``.

Exit status 0, or 2 for a usage error (no such path, not a policy file).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import click

__all__ = ["list_cmd", "info", "compare"]


def _date(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


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
    run, name, size, date, backbone, step, best validation loss."""
    from rich.console import Console
    from rich.table import Table

    from exphil.train import CheckpointError, list_checkpoints

    root = directory or Path(os.environ.get("EXPHIL_CHECKPOINTS_DIR") or "checkpoints")
    try:
        found = list_checkpoints(root)
    except CheckpointError as exc:
        raise click.BadParameter(str(exc), param_hint="DIRECTORY") from None
    rows = [c for c in found if c.ok or show_all]
    keys: dict[str, Any] = {
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
        console.print(f"no policy checkpoints under {root}")
        return
    table = Table(title=f"checkpoints under {root}")
    for col in ("run", "name", "size", "date", "backbone", "step", "epoch", "best val loss"):
        table.add_column(col, justify="right" if col in ("size", "step", "epoch") else "left")
    for c in rows:
        table.add_row(
            c.run,
            c.name,
            _mb(c.size),
            _date(c.mtime),
            c.backbone or f"[red]{c.problem}[/red]",
            "-" if c.step is None else f"{c.step:,}",
            "-" if c.epoch is None else str(c.epoch),
            "-" if c.best_val_loss is None else f"{c.best_val_loss:.4f}",
        )
    console.print(table)


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


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--embedding/--no-embedding", default=True, help="Show the input layout table.")
def info(checkpoint: Path, embedding: bool) -> None:
    """Describe a CHECKPOINT (a .safetensors policy or a run folder): architecture,
    parameters by layer, the embedding layout, the training config and metrics."""
    from rich.console import Console
    from rich.table import Table

    from exphil.embed import dimension_table

    policy, meta, state = _load(checkpoint)
    console = Console(highlight=False)
    cfg = policy.config
    b = cfg.backbone
    file = checkpoint if checkpoint.is_file() else checkpoint / "best.safetensors"
    if file.exists():
        st = file.stat()
        console.print(f"[bold]{file}[/bold]  {_mb(st.st_size)}, {_date(st.st_mtime)}")
    total = sum(p.numel() for p in policy.parameters())
    console.print(
        f"backbone [bold]{b.kind}[/bold]: hidden {b.hidden}, {b.layers} layers"
        + (
            f", state {b.state}, conv {b.conv}, expand {b.expand}"
            if b.kind in ("mamba", "jamba")
            else ""
        )
        + (f", {b.heads} heads, window {b.window}" if b.kind in ("attention", "jamba") else "")
        + f"; {total:,} parameters; input {policy.dense_dim} dense + {len(policy.id_specs)} ids "
        f"(tables of width {cfg.id_embed_dim}); head hidden {cfg.head_hidden}; controller "
        f"{cfg.controller.axis_classes} stick classes, {cfg.controller.shoulder_classes} shoulder",
        soft_wrap=True,
    )
    table = Table(title="parameters by layer")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    table.add_column("share", justify="right")
    for name, n in _param_groups(policy):
        table.add_row(name, f"{n:,}", f"{n / total:.1%}")
    console.print(table)
    if embedding:
        console.print(dimension_table(cfg.embed), markup=False)
    metrics = {k: v for k, v in meta.items() if k != "val"}
    if metrics:
        console.print("metadata: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    val = meta.get("val")
    if isinstance(val, dict) and val:
        console.print(
            "validation: "
            + ", ".join(
                f"{k.removeprefix('val/')} {v:.4g}"
                for k, v in sorted(val.items())
                if isinstance(v, float)
            ),
            soft_wrap=True,
        )
    if state is not None and "config" in state:
        import yaml

        train_cfg = {k: v for k, v in state["config"].items() if k != "policy"}
        console.print("[bold]training config[/bold]")
        console.print(yaml.safe_dump(train_cfg, sort_keys=False), markup=False)


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
    """Compare two checkpoints: config differences and metrics side by side."""
    from rich.console import Console
    from rich.table import Table

    from exphil.train import config_differences

    pa, ma, sa = _load(a)
    pb, mb, sb = _load(b)
    console = Console(highlight=False)
    table = Table(title="configuration differences")
    table.add_column("field")
    table.add_column(str(a), overflow="fold")
    table.add_column(str(b), overflow="fold")
    diffs = _flat_diff("policy", pa.config, pb.config)
    if sa is not None and sb is not None:
        from exphil.train import ConfigError, TrainConfig, from_builtins

        try:
            ca = from_builtins(sa["config"], TrainConfig, source=str(a))
            cb = from_builtins(sb["config"], TrainConfig, source=str(b))
            diffs = config_differences(ca, cb)
        except (ConfigError, KeyError):
            pass
    for path, x, y in diffs:
        table.add_row(path, repr(x), repr(y))
    if diffs:
        console.print(table)
    else:
        console.print("same configuration")
    mt = Table(title="metrics")
    mt.add_column("metric")
    mt.add_column(str(a), justify="right")
    mt.add_column(str(b), justify="right")
    va, vb = ma.get("val") or {}, mb.get("val") or {}
    for key in ("step", "epoch", "best_val_loss"):
        mt.add_row(key, str(ma.get(key, "-")), str(mb.get(key, "-")))
    for key in sorted(set(va) | set(vb)):
        if key.startswith("val/"):
            mt.add_row(key, _fmt(va.get(key)), _fmt(vb.get(key)))
    mt.add_row(
        "parameters",
        f"{sum(p.numel() for p in pa.parameters()):,}",
        f"{sum(p.numel() for p in pb.parameters()):,}",
    )
    console.print(mt)
    if eval_path is not None:
        _compare_eval(console, a, pa, b, pb, eval_path, max_files)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


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
    from rich.table import Table

    from exphil.train import score_policy

    results = []
    for policy in (pa, pb):
        results.append(score_policy(policy, [str(path)], max_files=max_files))
    table = Table(
        title=f"scored on the same games: {path} ({results[0]['val/frames']:,.0f} frames)"
    )
    table.add_column("metric")
    table.add_column(str(a), justify="right")
    table.add_column(str(b), justify="right")
    for key in results[0]:
        if key.startswith("val/") and key != "val/frames":
            table.add_row(
                key.removeprefix("val/"), _fmt(results[0][key]), _fmt(results[1].get(key))
            )
    console.print(table)
