"""Train every backbone on the same data budget and compare them: validation loss and
accuracies against chance, training speed, batch-1 inference latency.

    python scripts/benchmark_architectures.py [--replays DIR] [--max-files N] [--steps N]
                                              [--kinds mlp,gru] [--out DIR]

Every backbone is trained by the real trainer (``exphil.train._trainer.train``) on the
same games (every usable game of ``--replays``, or ``--max-files`` of them picked by the
seed), the same train / validation split (a tenth of the games held out, by game), the
same seed and the same number of training frames:

* temporal backbones (lstm, gru, mamba, attention, jamba): ``--steps`` optimizer steps of
  ``--batch`` windows of ``--window`` frames, no burn-in (every frame carries loss);
* the MLP (one frame per sample): batches of ``--mlp-batch`` frames, as many steps as it
  takes to see the same number of frames (the last step may round up by < 1 batch).

Equal frames means unequal optimizer steps: with the defaults the MLP takes 3.75x as many
(32 x 30 / 256), and on a short budget the number of steps weighs heavily on the loss.
``--batch 8`` gives the temporal backbones about as many steps as the MLP (and 4x fewer
frames per step).

Sizes are small but real: hidden ``--hidden`` (128), ``--layers`` (2); each kind's other
settings come from its preset in ``exphil/presets/train-bc/`` (Mamba and Jamba: state 8, expand 1;
attention: 4 heads over the window). Optimizer: the trainer's defaults (AdamW, lr 3e-4,
cosine decay to 0 over the run, clip 1.0); no ``torch.compile``.

Each trained policy is validated at its final weights on every window of the held-out
games (teacher-forced, with the trainer's ``evaluate`` and its validation sampler), next
to the chance baseline (always the most frequent value of the training games). The
trainer's own validation runs at epoch ends only, so a run that ``max_steps`` ends
mid-epoch is validated here instead. Inference latency: ``Policy.step`` (id tables
+ the backbone's ``step``) and a full decision (``step`` + the sampled autoregressive
head) at batch 1 on CPU, one thread, over 200 consecutive frames of a validation game
after 20 warm-up frames (median and p99).

Writes ``OUT/architectures.json`` (per backbone: the config, the training loss of every
optimizer step, frames seen, validation loss and accuracies, the baseline, samples/s,
wall time, parameters, latencies) and ``OUT/architectures.html`` (self-contained: inline
SVG loss curves and the comparison table; no network). ``OUT`` defaults to
``benchmarks/`` in the repository.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import html
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exphil.nets import BACKBONE_KINDS, COMPONENTS, Policy  # noqa: E402
from exphil.train import TRAIN_BC, list_presets, resolve_config  # noqa: E402
from exphil.train._config import TrainConfig  # noqa: E402
from exphil.train._dataset import BatchLoader, Corpus, Sampler, build_corpus  # noqa: E402
from exphil.train._trainer import evaluate, resolve_device, train  # noqa: E402

LATENCY_FRAMES = 200
LATENCY_WARMUP = 20
COLORS = {
    "mlp": "#7f7f7f",
    "lstm": "#1f77b4",
    "gru": "#2ca02c",
    "mamba": "#d62728",
    "attention": "#9467bd",
    "jamba": "#ff7f0e",
}
ACC_KEYS = ("buttons", "buttons_exact", *COMPONENTS[1:])


def default_replays() -> str:
    return os.environ.get("EXPHIL_TEST_REPLAYS", str(ROOT.parent / "shared" / "replays"))


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- configs ----------------------------------------------------------------------------------
def make_config(kind: str, args: argparse.Namespace, steps: int, epochs: int) -> TrainConfig:
    """The kind's preset (when there is one) with the benchmark's shared settings on top."""
    temporal = kind != "mlp"
    cli: dict[str, tuple[Any, str]] = {
        "policy.backbone.kind": (kind, "--kinds"),
        "policy.backbone.hidden": (args.hidden, "--hidden"),
        "policy.backbone.layers": (args.layers, "--layers"),
        "data.replays": ([args.replays], "--replays"),
        "data.max_files": (args.max_files, "--max-files"),
        "data.batch_size": (args.batch if temporal else args.mlp_batch, "--batch"),
        "data.val_fraction": (args.val_fraction, "--val-fraction"),
        "data.workers": (args.workers, "--workers"),
        "epochs": (epochs, "(the budget)"),
        "max_steps": (steps, "--steps"),
        "seed": (args.seed, "--seed"),
        "device": (args.device, "--device"),
    }
    if temporal:
        cli["data.window"] = (args.window, "--window")
        cli["data.burnin"] = (0, "(no burn-in)")
    sets = ["optim.compile=off", "data.mirror=false", "data.delay=0", "data.delay_spread=0"]
    if kind in ("attention", "jamba"):
        sets.append(f"policy.backbone.window={args.window}")
    preset = kind if kind in list_presets(TRAIN_BC) else None
    resolved = resolve_config(TRAIN_BC, preset=preset, cli=cli, sets=sets, env={})
    return resolved.config


class Recorder:
    """The trainer's reporter: keeps every step's record, prints a line now and then."""

    def __init__(self, kind: str, total: int) -> None:
        self.kind, self.total = kind, total
        self.steps: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}

    def run_start(self, info: dict[str, Any]) -> None:
        self.info = info

    def epoch_start(self, epoch: int, batches: int, first_batch: int) -> None:
        pass

    def train_step(self, metrics: dict[str, float]) -> None:
        self.steps.append(dict(metrics))
        n = len(self.steps)
        if n == 1 or n == self.total or n % max(1, self.total // 4) == 0:
            log(f"  {self.kind}: step {n}/{self.total}, loss {metrics['loss']:.3f}")

    def validation(self, metrics: dict[str, float]) -> None:
        pass

    def epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        log(f"  {self.kind}: {text}")


# --- measuring --------------------------------------------------------------------------------
def validate(policy: Policy, corpus: Corpus, config: TrainConfig, val_ids: Any) -> dict[str, float]:
    """The trainer's validation (same sampler settings, every batch) at the final weights."""
    data = config.data
    window = data.window if config.policy.backbone.kind != "mlp" else 1
    sampler = Sampler(
        corpus,
        val_ids,
        window=window,
        burnin=data.burnin if window > 1 else 0,
        delay=data.delay,
        delay_spread=0,
        batch_size=data.batch_size,
        balance_characters=False,
        seed=int(config.seed or 0) + 1,
    )
    device = next(policy.parameters()).device
    with BatchLoader(
        corpus,
        sampler,
        epoch=0,
        mirror=False,
        workers=data.workers,
        prefetch=data.prefetch,
        pin_memory=device.type == "cuda",
    ) as loader:
        return evaluate(policy, iter(loader), config, device, None)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(policy: Policy, corpus: Corpus, val_ids: Any) -> dict[str, float]:
    """Batch-1 latency on CPU, one thread (pinned to one core while measuring), over
    consecutive frames of the longest validation perspective."""
    cpu_policy = copy.deepcopy(policy).cpu().eval()
    seg = max(val_ids, key=lambda i: corpus.lengths[i])
    n = min(int(corpus.lengths[seg]), LATENCY_FRAMES + LATENCY_WARMUP)
    off = int(corpus.offsets[seg])
    dense = torch.from_numpy(np.array(corpus.dense[off : off + n]))
    ids = torch.from_numpy(np.array(corpus.ids[off : off + n]).astype(np.int64))
    threads = torch.get_num_threads()
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    out: dict[str, float] = {"frames": float(max(0, n - LATENCY_WARMUP))}
    try:
        torch.set_num_threads(1)
        if affinity:
            os.sched_setaffinity(0, {min(affinity)})
        with torch.inference_mode():
            for name, act in (("step", False), ("decision", True)):
                state = cpu_policy.initial_state(1)
                times = []
                for t in range(n):
                    t0 = time.perf_counter()
                    state, trunk = cpu_policy.step(state, dense[t : t + 1], ids[t : t + 1])
                    if act:
                        cpu_policy.act(trunk)
                    if t >= LATENCY_WARMUP:
                        times.append(time.perf_counter() - t0)
                if times:
                    out[f"{name}_us_median"] = statistics.median(times) * 1e6
                    out[f"{name}_us_p99"] = percentile(times, 0.99) * 1e6
    finally:
        torch.set_num_threads(threads)
        if affinity:
            os.sched_setaffinity(0, affinity)
    return out


def run_one(
    kind: str,
    corpus: Corpus,
    args: argparse.Namespace,
    frames_budget: int,
    val_ids: Any,
    tmp: Path,
) -> dict[str, Any]:
    temporal = kind != "mlp"
    window = args.window if temporal else 1
    batch = args.batch if temporal else args.mlp_batch
    steps = math.ceil(frames_budget / (window * batch))
    # enough epochs that the step budget, not the epochs, ends the run
    probe = make_config(kind, args, steps, 1)
    train_ids, _ = corpus.split(probe.data.val_fraction, args.seed)
    per_epoch = Sampler(
        corpus,
        train_ids,
        window=window,
        burnin=0,
        delay=0,
        delay_spread=0,
        batch_size=batch,
        balance_characters=False,
        seed=args.seed,
    ).n_batches(0)
    if per_epoch == 0:
        raise SystemExit(f"{kind}: no training window of {window} frames in these games")
    epochs = steps // max(1, per_epoch - 1) + 2
    config = make_config(kind, args, steps, epochs)
    recorder = Recorder(kind, steps)
    log(f"{kind}: {steps} steps of {batch} x {window} frames ({per_epoch} batches per epoch)")
    t0 = time.perf_counter()
    result = train(config, corpus, seed=args.seed, reporter=recorder)
    wall = time.perf_counter() - t0
    assert result.policy is not None
    policy: Policy = result.policy
    t1 = time.perf_counter()
    val = validate(policy, corpus, config, val_ids)
    val_s = time.perf_counter() - t1
    lat = latency(policy, corpus, val_ids)
    train_s = sum(r["data_s"] + r["compute_s"] for r in recorder.steps)
    loss_frames = int(sum(r["frames"] for r in recorder.steps))
    samples = loss_frames // window
    log(
        f"  {kind}: val loss {val.get('val/loss', float('nan')):.3f}, {samples / train_s:,.1f} "
        f"samples/s, {wall:.0f} s"
    )
    return {
        "kind": kind,
        "config": msgspec.to_builtins(config),
        "window": window,
        "batch_size": batch,
        "steps": result.steps,
        "stopped": result.stopped,
        "frames_seen": loss_frames,
        "samples_seen": samples,
        "train_losses": result.train_losses,
        "frames_per_step": [int(r["frames"]) for r in recorder.steps],
        "val": val,
        "baseline": result.baseline,
        "params": sum(p.numel() for p in policy.parameters()),
        "backbone_params": sum(p.numel() for p in policy.backbone.parameters()),
        "train_seconds": train_s,
        "wall_seconds": wall,
        "val_seconds": val_s,
        "samples_per_s": samples / train_s,
        "frames_per_s": loss_frames / train_s,
        "device": str(next(policy.parameters()).device),
        "latency": lat,
    }


# --- the report -------------------------------------------------------------------------------
def moving_average(values: list[float], half: int) -> list[float]:
    """Centered mean over ``[i - half, i + half]`` (clipped at the ends)."""
    if not values or half < 1:
        return list(values)
    arr = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(arr)])
    idx = np.arange(len(arr))
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, len(arr))
    return [float(v) for v in (csum[hi] - csum[lo]) / (hi - lo)]


def curve(row: dict[str, Any]) -> tuple[list[float], list[float], list[float]]:
    """(frames seen after each step, loss per step, smoothed loss)."""
    xs: list[float] = []
    total = 0.0
    for f in row["frames_per_step"]:
        total += f
        xs.append(total)
    ys = list(row["train_losses"])
    return xs, ys, moving_average(ys, max(1, len(ys) // 40))


def nice(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def linear_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten apart)
    inside [lo, hi]."""
    raw = (hi - lo) / max(1, count - 1)
    if raw <= 0:
        return [lo]
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10)), key=lambda v: abs(math.log(v / raw)))
    first = math.ceil(lo / step) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2 and 5 times powers of ten inside [lo, hi] (lo > 0)."""
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        out = []
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
            out += [m * 10.0**e for m in mantissas if lo <= m * 10.0**e <= hi]
        if len(out) >= 4:
            break
    return out


def svg_chart(
    series: list[tuple[str, str, list[float], list[float], float]],
    *,
    width: int,
    height: int,
    title: str,
    xlabel: str,
    ylabel: str,
    y_range: tuple[float, float] | None = None,
    log_y: bool = False,
) -> str:
    """An inline SVG line chart: ``series`` of (label, colour, xs, ys, stroke opacity);
    values outside ``y_range`` are drawn at its edge."""
    left, right, top, bottom = 56, 28, 28, 40
    pw, ph = width - left - right, height - top - bottom
    xs_all = [x for _, _, xs, _, _ in series for x in xs]
    ys_all = [y for _, _, _, ys, _ in series for y in ys if math.isfinite(y)]
    if log_y:
        ys_all = [y for y in ys_all if y > 0]
    if not xs_all or not ys_all:
        return f'<svg width="{width}" height="{height}"><text x="10" y="20">no data</text></svg>'
    x0, x1 = 0.0, max(xs_all) or 1.0
    y0, y1 = y_range if y_range is not None else (min(ys_all), max(ys_all))
    if y1 <= y0:
        y1 = y0 + 1.0
    if log_y:
        y0, y1 = y0 / 1.1, y1 * 1.1
        ticks = log_ticks(y0, y1)

        def fy(y: float) -> float:
            return math.log(max(y, 1e-12))
    else:
        pad = (y1 - y0) * 0.05
        y0, y1 = y0 - pad, y1 + pad
        ticks = linear_ticks(y0, y1)

        def fy(y: float) -> float:
            return y

    f0, f1 = fy(y0), fy(y1)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        v = min(max(fy(y), f0), f1)
        return top + (1 - (v - f0) / (f1 - f0)) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>',
    ]
    for yv in ticks:
        yp = py(yv)
        parts.append(
            f'<line x1="{left}" y1="{yp:.1f}" x2="{left + pw}" y2="{yp:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{yp + 4:.1f}" font-size="10" text-anchor="end">'
            f"{nice(yv)}</text>"
        )
    for xv in linear_ticks(x0, x1):
        xp = px(xv)
        parts.append(
            f'<line x1="{xp:.1f}" y1="{top + ph}" x2="{xp:.1f}" y2="{top + ph + 4}" '
            f'stroke="#999"/><text x="{xp:.1f}" y="{top + ph + 15}" font-size="10" '
            f'text-anchor="middle">{nice(xv)}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
        f"{html.escape(xlabel)}</text>"
        f'<text x="12" y="{top + ph / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + ph / 2})">{html.escape(ylabel)}</text>'
    )
    for _label, colour, xs, ys, opacity in series:
        pts = " ".join(
            f"{px(x):.1f},{py(y):.1f}"
            for x, y in zip(xs, ys, strict=True)
            if math.isfinite(y) and (y > 0 or not log_y)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'stroke-opacity="{opacity}" points="{pts}"/>'
        )
    legend = [s for s in series if s[4] >= 1.0]
    for k, (label, colour, _xs, _ys, _o) in enumerate(legend):
        lx, ly = left + pw - 110, top + 14 + 14 * k
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="3"/><text x="{lx + 24}" y="{ly}" font-size="11">'
            f"{html.escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def acc_cell(row: dict[str, Any], key: str) -> str:
    v = row["val"].get(f"val/acc/{key}")
    b = row["baseline"].get(f"val/acc/{key}")
    if v is None:
        return "-"
    if b is None:
        return f"{v:.3f}"
    return f"{v:.3f} <small>({v - b:+.3f})</small>"


def write_html(path: Path, doc: dict[str, Any]) -> None:
    rows = doc["backbones"]
    curves = {r["kind"]: curve(r) for r in rows}
    smooth_all = [y for _, _, s in curves.values() for y in s if math.isfinite(y)]
    y_range = (min(smooth_all), max(smooth_all)) if smooth_all else None
    combined = svg_chart(
        [(k, COLORS.get(k, "#333"), xs, s, 1.0) for k, (xs, _, s) in curves.items()],
        width=860,
        height=360,
        title="Training loss (moving average, log scale) vs training frames seen",
        xlabel="training frames seen",
        ylabel="loss",
        y_range=y_range,
        log_y=True,
    )
    small = []
    for r in rows:
        xs, ys, s = curves[r["kind"]]
        colour = COLORS.get(r["kind"], "#333")
        finite = [y for y in ys if math.isfinite(y) and y > 0]
        small.append(
            svg_chart(
                [(f"{r['kind']} per step", colour, xs, ys, 0.3), (r["kind"], colour, xs, s, 1.0)],
                width=420,
                height=240,
                title=f"{r['kind']}: {r['steps']} steps of {r['batch_size']} x {r['window']}",
                xlabel="training frames seen",
                ylabel="loss (log scale)",
                y_range=(min(finite), max(finite)) if finite else None,
                log_y=True,
            )
        )
    b0 = rows[0]["baseline"] if rows else {}
    head = (
        "<tr><th>backbone</th><th>params</th><th>batch x window</th><th>steps</th>"
        "<th>frames seen</th><th>final train loss</th><th>val frames</th><th>val loss</th>"
        + "".join(
            f"<th>val acc {html.escape(k)}<br><small>(vs chance)</small></th>" for k in ACC_KEYS
        )
        + "<th>train samples/s</th><th>train frames/s</th><th>wall</th>"
        "<th>step b1 (med / p99)</th><th>decision b1 (med / p99)</th></tr>"
    )
    chance = (
        "<tr class='chance'><td>chance</td>"
        + "<td></td>" * 7
        + "".join(
            f"<td>{b0[f'val/acc/{k}']:.3f}</td>" if f"val/acc/{k}" in b0 else "<td>-</td>"
            for k in ACC_KEYS
        )
        + "<td></td>" * 5
        + "</tr>"
    )
    body = []
    for r in rows:
        lat = r["latency"]
        _, _, s = curves[r["kind"]]
        body.append(
            "<tr>"
            f"<td><span class='sw' style='background:{COLORS.get(r['kind'], '#333')}'></span>"
            f"{html.escape(r['kind'])}</td>"
            f"<td>{r['params'] / 1e6:.2f} M</td>"
            f"<td>{r['batch_size']} x {r['window']}</td>"
            f"<td>{r['steps']}</td>"
            f"<td>{r['frames_seen']:,}</td>"
            f"<td>{s[-1]:.3f}</td>"
            f"<td>{r['val'].get('val/frames', 0):,.0f}</td>"
            f"<td><b>{r['val'].get('val/loss', float('nan')):.3f}</b></td>"
            + "".join(f"<td>{acc_cell(r, k)}</td>" for k in ACC_KEYS)
            + f"<td>{r['samples_per_s']:,.1f}</td>"
            f"<td>{r['frames_per_s']:,.0f}</td>"
            f"<td>{r['wall_seconds']:.0f} s</td>"
            f"<td>{lat.get('step_us_median', float('nan')):,.0f} / "
            f"{lat.get('step_us_p99', float('nan')):,.0f} us</td>"
            f"<td>{lat.get('decision_us_median', float('nan')):,.0f} / "
            f"{lat.get('decision_us_p99', float('nan')):,.0f} us</td>"
            "</tr>"
        )
    d = doc["data"]
    b = doc["budget"]
    text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ExPhil backbones on one data budget</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th {{ background: #f4f4f4; }}
td:first-child, th:first-child {{ text-align: left; }}
tr.chance td {{ color: #777; font-style: italic; }}
.sw {{ display: inline-block; width: 10px; height: 10px; margin-right: 6px; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 12px; }}
small {{ color: #666; }}
</style></head><body>
<h1>Backbones on one data budget</h1>
<p>{html.escape(doc["created"])}; {html.escape(doc["machine"])}.</p>
<p>Data: {d["games"]} games from <code>{html.escape(d["replays"])}</code>
({d["rows"]:,} rows over both players' perspectives); {d["train_perspectives"]} training and
{d["val_perspectives"]} validation perspectives (validation games held out whole), seed
{doc["seed"]}. Budget: {b["frames"]:,} training frames per backbone (temporal:
{b["temporal_steps"]} steps of {b["batch"]} windows x {b["window"]} frames, no burn-in;
MLP: {b["mlp_steps"]} steps of {b["mlp_batch"]} frames). Hidden {b["hidden"]},
{b["layers"]} layers; AdamW lr 3e-4, cosine decay over the run. Equal frames means
unequal optimizer steps (the MLP takes {b["mlp_steps"] / max(1, b["temporal_steps"]):.2f}x
as many here), which weighs heavily on a short budget.</p>
<p>Validation: teacher-forced loss and accuracy on every window of the held-out games at the
final weights; in brackets each accuracy's margin over chance (always the most frequent value
in the training games). Latency: batch 1 on CPU, one thread, over
{LATENCY_FRAMES} consecutive frames of a validation game (<i>step</i>: id tables + the
backbone's <code>step</code>; <i>decision</i>: <i>step</i> + the sampled controller head).
Samples/s: samples (windows for temporal backbones, frames for the MLP) over the time of
the training steps (loader wait + compute).</p>
<h2>Comparison</h2>
<table>{head}{chance}{"".join(body)}</table>
<h2>Training loss</h2>
{combined}
<div class="charts">{"".join(small)}</div>
</body></html>
"""
    path.write_text(text)


def print_table(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Backbones on one data budget: {doc['budget']['frames']:,} training frames each"
    )
    cols = ["backbone", "params", "batch x window", "steps", "val loss"]
    cols += [f"acc {k} (chance)" for k in ("buttons", "main_x", "main_y", "c_x", "shoulder")]
    cols += ["samples/s", "frames/s", "wall", "step b1 med", "decision b1 med"]
    for c in cols:
        table.add_column(c, justify="right")
    for r in doc["backbones"]:
        lat = r["latency"]
        accs = []
        for k in ("buttons", "main_x", "main_y", "c_x", "shoulder"):
            v = r["val"].get(f"val/acc/{k}", float("nan"))
            base = r["baseline"].get(f"val/acc/{k}", float("nan"))
            accs.append(f"{v:.3f} ({base:.3f})")
        table.add_row(
            r["kind"],
            f"{r['params'] / 1e6:.2f} M",
            f"{r['batch_size']} x {r['window']}",
            str(r["steps"]),
            f"{r['val'].get('val/loss', float('nan')):.3f}",
            *accs,
            f"{r['samples_per_s']:,.1f}",
            f"{r['frames_per_s']:,.0f}",
            f"{r['wall_seconds']:.0f} s",
            f"{lat.get('step_us_median', float('nan')):,.0f} us",
            f"{lat.get('decision_us_median', float('nan')):,.0f} us",
        )
    Console(width=max(Console().width, 190)).print(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--replays", default=default_replays(), help="replay folder")
    ap.add_argument(
        "--max-files", type=int, default=None, help="at most this many games (default: all)"
    )
    ap.add_argument("--steps", type=int, default=400, help="optimizer steps (temporal)")
    ap.add_argument("--kinds", default=",".join(BACKBONE_KINDS), help="comma-separated")
    ap.add_argument("--out", default=str(ROOT / "benchmarks"), help="output folder")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--window", type=int, default=30, help="frames per window (temporal)")
    ap.add_argument("--batch", type=int, default=32, help="windows per batch (temporal)")
    ap.add_argument("--mlp-batch", type=int, default=256, help="frames per batch (MLP)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2, help="loader threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in BACKBONE_KINDS]
    if unknown:
        ap.error(f"unknown backbone kinds {unknown}; the kinds are {', '.join(BACKBONE_KINDS)}")
    resolve_device(args.device)  # fails early when cuda is asked for and absent
    started = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    frames_budget = args.steps * args.batch * args.window
    first = make_config(kinds[0], args, 1, 1)
    which = f"at most {args.max_files}" if args.max_files else "all"
    log(f"corpus: {args.replays}, {which} games...")
    t0 = time.perf_counter()
    corpus = build_corpus(first.data, first.policy.embed, first.policy.controller, seed=args.seed)
    summary = corpus.summary()
    train_ids, val_ids = corpus.split(args.val_fraction, args.seed)
    log(
        f"  {summary['games']} games, {corpus.n_frames:,} rows, {len(train_ids)} train / "
        f"{len(val_ids)} validation perspectives ({time.perf_counter() - t0:.1f} s)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            rows.append(run_one(kind, corpus, args, frames_budget, val_ids, Path(tmp)))
    doc = {
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}".replace("  ", " ")
        + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
        "seed": args.seed,
        "data": {
            "replays": args.replays,
            "max_files": args.max_files,
            "games": summary["games"],
            "rows": corpus.n_frames,
            "train_perspectives": len(train_ids),
            "val_perspectives": len(val_ids),
            "val_games": sorted({corpus.segments[i].key for i in val_ids}),
        },
        "budget": {
            "frames": frames_budget,
            "temporal_steps": args.steps,
            "batch": args.batch,
            "window": args.window,
            "mlp_steps": math.ceil(frames_budget / args.mlp_batch),
            "mlp_batch": args.mlp_batch,
            "hidden": args.hidden,
            "layers": args.layers,
        },
        "backbones": rows,
        "seconds": time.perf_counter() - started,
    }
    json_path = out_dir / "architectures.json"
    html_path = out_dir / "architectures.html"
    json_path.write_text(json.dumps(doc, indent=1))
    write_html(html_path, doc)
    print_table(doc)
    print(doc["machine"])
    print(f"wrote {json_path} and {html_path} (total {doc['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
