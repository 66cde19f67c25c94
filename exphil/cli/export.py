"""``exphil export``: a policy checkpoint to ONNX, checked against PyTorch before writing.

Exit status: 0 when every graph was written; 1 when ONNX Runtime's outputs differed from
PyTorch's (nothing written); 2 for a usage error (no such checkpoint, not a policy file).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

__all__ = ["export"]


def _describe_existing(path: Path) -> str:
    st = path.stat()
    when = dt.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
    return f"{path} ({st.st_size / 1e6:.1f} MB, {when})"


@click.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "--onnx",
    "onnx_out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (.onnx). Temporal backbones also get OUT's .frame.onnx sibling.",
)
@click.option(
    "--overwrite/--no-overwrite",
    default=True,
    show_default=True,
    help="Replace existing output files (each replaced file is named with its size and date).",
)
@click.option("--atol", default=1e-4, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option("--rtol", default=1e-3, show_default=True, type=click.FloatRange(0))
@click.option(
    "--steps",
    default=12,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Consecutive frames compared per check (step-mode graph).",
)
def export(
    checkpoint: Path, onnx_out: Path, overwrite: bool, atol: float, rtol: float, steps: int
) -> None:
    """Export a policy CHECKPOINT (.safetensors, or a run folder: its best, else last) to ONNX.

    Writes the step-mode graph (frame + backbone state in, controller + value + next state
    out) and the single-frame graph (no state: a frame at the start of a game); for the MLP,
    which has no state, the one single-frame graph. Each graph runs in ONNX Runtime against
    PyTorch on random frames first (batch 1 and 5, consecutive steps, sampled and
    deterministic); if any output differs beyond --atol/--rtol nothing is written.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from exphil.nets import ExportMismatch, export_onnx, load_policy, onnx_paths

    out = Console(highlight=False)
    err = Console(highlight=False, stderr=True)
    if not checkpoint.exists():
        raise click.BadParameter(f"{checkpoint} does not exist", param_hint="CHECKPOINT")
    if checkpoint.is_dir():  # a run folder, as info and compare take: its best, else last
        found = [checkpoint / f"{n}.safetensors" for n in ("best", "last")]
        found = [p for p in found if p.is_file()]
        if not found:
            raise click.BadParameter(
                f"{checkpoint} holds no best.safetensors or last.safetensors",
                param_hint="CHECKPOINT",
            )
        checkpoint = found[0]
    try:
        policy = load_policy(checkpoint)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="CHECKPOINT") from None
    paths = onnx_paths(onnx_out, policy)
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise click.UsageError(
            "refusing to replace "
            + ", ".join(_describe_existing(p) for p in existing)
            + " (drop --no-overwrite to replace)"
        )
    if not onnx_out.parent.exists():
        raise click.BadParameter(f"folder {onnx_out.parent} does not exist", param_hint="--onnx")
    replaced = [_describe_existing(p) for p in existing]
    kind = policy.config.backbone.kind
    err.print(f"exporting {checkpoint} ({kind}) and checking it in ONNX Runtime...", markup=False)
    try:
        report = export_onnx(policy, onnx_out, atol=atol, rtol=rtol, steps=steps)
    except ExportMismatch as exc:
        err.print(f"[red]refused:[/red] {escape(str(exc))}; nothing was written", soft_wrap=True)
        raise SystemExit(1) from None
    for r in replaced:
        err.print(f"[yellow]replaced[/yellow] {escape(r)}", soft_wrap=True)
    table = Table(title=Text(f"ONNX export of {checkpoint.name} ({kind})"))
    table.add_column("graph")
    table.add_column("file", overflow="fold")
    for col in ("size", "state in", "checks", "max diff"):
        table.add_column(col, justify="right")
    n_state = len(policy.initial_state(1))
    for graph, path in report.paths.items():
        table.add_row(
            "step-mode" if graph == "step" else "single-frame",
            Text(str(path)),
            f"{path.stat().st_size / 1e6:.1f} MB",
            str(n_state if graph == "step" else 0),
            str(report.checks[graph]),
            f"{report.max_abs_diff[graph]:.2g}",
        )
    out.print(table)
    out.print(
        f"max diff: the largest |ONNX Runtime - PyTorch| of any float output "
        f"(allowed {atol:g} + {rtol:g} x |value|); actions were identical in every check"
    )
