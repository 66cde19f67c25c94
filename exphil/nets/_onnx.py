"""ONNX export of a :class:`~exphil.nets.Policy`, checked against PyTorch before it is written.

Two graphs, both ``(embedded frame, sampling noise) -> (controller, log-prob, value)`` with
a dynamic batch axis (one row per game):

* the **step-mode** graph (``kind="step"``) also takes the backbone state and returns the
  next one, so a player threads it from frame to frame exactly as ``Policy.step`` does;
* the **single-frame** graph (``kind="frame"``) takes no state: a frame evaluated with the
  initial state (the start of a game). For the MLP, which has no state, the two are the same
  computation and only the single-frame graph is written.

Inputs: ``dense [B, D]`` float32 and ``ids [B, K]`` int64 (``exphil.embed``), ``noise
[B, 13]`` uniforms in [0, 1) (the head's sampling, see ``ControllerHead``), ``temperature``
(float32 scalar) and ``deterministic`` (bool scalar: take the most likely value of each
component instead of sampling), then (step graph) ``state_0 ..``. Outputs: ``buttons
[B, 8]`` uint8, ``main_x main_y c_x c_y shoulder [B]`` int64 class indices (decode with
``exphil.embed.decode_controller``), ``log_prob [B]``, ``value [B]``, then (step graph)
``next_state_0 ..``. The model's full config is in the ONNX metadata (``exphil`` key), so a
consumer needs nothing but the file.

Before anything is written the graph runs in ONNX Runtime against PyTorch on random frames
(several batch sizes, a run of consecutive steps with each side threading its own state,
sampled and deterministic, two temperatures); any difference beyond the tolerance raises
:class:`ExportMismatch` and no file is left behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
import numpy as np
import torch
from torch import Tensor, nn

from exphil._atomic import fsync_dir, fsync_file
from exphil.nets._heads import COMPONENTS, NOISE_WIDTH, _most_likely, sample_component
from exphil.nets._policy import Policy

__all__ = [
    "ExportMismatch",
    "ExportReport",
    "GraphKind",
    "OnnxPolicy",
    "export_onnx",
    "onnx_paths",
]

ONNX_FORMAT: Final = "exphil-onnx/1"
GraphKind = Literal["step", "frame"]
_INPUTS: Final = ("dense", "ids", "noise", "temperature", "deterministic")
_OUTPUTS: Final = (*COMPONENTS, "log_prob", "value")


class ExportMismatch(RuntimeError):
    """ONNX Runtime's outputs differ from PyTorch's; nothing was written."""


class _PolicyGraph(nn.Module):
    """What is exported: one frame per game through ``Policy.step`` and the head."""

    def __init__(self, policy: Policy, kind: GraphKind) -> None:
        super().__init__()
        self.policy = policy
        self.kind = kind

    def forward(
        self,
        dense: Tensor,
        ids: Tensor,
        noise: Tensor,
        temperature: Tensor,
        deterministic: Tensor,
        *state: Tensor,
    ) -> tuple[Tensor, ...]:
        if self.kind == "frame":
            state = tuple(self.policy.initial_state(dense.shape[0], device=dense.device))
        next_state, trunk = self.policy.step(tuple(state), dense, ids)

        def pick(name: str, logits: Tensor, j: int) -> Tensor:
            sampled = sample_component(name, logits, noise, j, temperature)
            return torch.where(deterministic, _most_likely(name, logits), sampled)

        out = self.policy.controller_head.chain(trunk, pick, with_entropy=False)
        value = self.policy.value(trunk)
        actions = tuple(out.actions[c] for c in COMPONENTS)
        if self.kind == "frame":
            return (*actions, out.log_prob, value)
        return (*actions, out.log_prob, value, *next_state)


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how closely ONNX Runtime matched PyTorch."""

    paths: dict[str, Path]
    #: per graph, the largest absolute difference of any float output over the checks
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    #: per graph, how many (batch, step) evaluations were compared
    checks: dict[str, int] = field(default_factory=dict)


def onnx_paths(out: str | os.PathLike[str], policy_or_temporal: Policy | bool) -> dict[str, Path]:
    """Where :func:`export_onnx` writes: ``{"step": OUT, "frame": OUT.frame.onnx}`` for a
    temporal backbone, ``{"frame": OUT}`` for the MLP."""
    temporal = (
        policy_or_temporal.backbone.temporal
        if isinstance(policy_or_temporal, Policy)
        else policy_or_temporal
    )
    p = Path(out)
    if not temporal:
        return {"frame": p}
    stem = p.name[: -len(".onnx")] if p.name.endswith(".onnx") else p.name
    return {"step": p, "frame": p.with_name(f"{stem}.frame.onnx")}


def _metadata(policy: Policy, kind: GraphKind, n_state: int) -> str:
    return json.dumps(
        {
            "format": ONNX_FORMAT,
            "graph": kind,
            "config": json.loads(msgspec.json.encode(policy.config)),
            "inputs": [*_INPUTS, *(f"state_{i}" for i in range(n_state))],
            "outputs": [*_OUTPUTS, *(f"next_state_{i}" for i in range(n_state))],
            "noise_width": NOISE_WIDTH,
            "dense_dim": policy.dense_dim,
            "ids": [spec.name for spec in policy.id_specs],
        }
    )


def _example_inputs(
    policy: Policy, batch: int, gen: torch.Generator, *, temperature: float, deterministic: bool
) -> tuple[Tensor, ...]:
    dense = torch.randn(batch, policy.dense_dim, generator=gen)
    ids = torch.stack(
        [torch.randint(0, spec.size, (batch,), generator=gen) for spec in policy.id_specs],
        dim=1,
    ) if policy.id_specs else torch.zeros(batch, 0, dtype=torch.int64)  # fmt: skip
    noise = torch.rand(batch, NOISE_WIDTH, generator=gen)
    return (
        dense,
        ids,
        noise,
        torch.tensor(temperature, dtype=torch.float32),
        torch.tensor(deterministic),
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx prints progress and warns about axis names; keep the user's terminal
    for what matters."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export_graph(policy: Policy, kind: GraphKind, path: Path) -> None:
    graph = _PolicyGraph(policy, kind).eval()
    gen = torch.Generator().manual_seed(0)
    args = _example_inputs(policy, 2, gen, temperature=1.0, deterministic=False)
    state = tuple(policy.initial_state(2)) if kind == "step" else ()
    n_state = len(state)
    batch = torch.export.Dim("batch", min=1)
    dynamic: list[Any] = [{0: batch}, {0: batch}, {0: batch}, None, None]
    if n_state:
        dynamic.append(tuple({0: batch} for _ in state))
    input_names = [*_INPUTS, *(f"state_{i}" for i in range(n_state))]
    output_names = [*_OUTPUTS, *(f"next_state_{i}" for i in range(n_state))]
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            graph,
            (*args, *state),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=input_names,
            output_names=output_names,
            optimize=True,
            verbose=False,
        )
    if program is None:  # pragma: no cover - dynamo=True always returns a program
        raise RuntimeError("torch.onnx.export returned no program")
    model = program.model_proto
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = "exphil", _metadata(policy, kind, n_state)
    import onnx

    onnx.save_model(model, str(path))


class OnnxPolicy:
    """An exported graph in ONNX Runtime, with the ``Policy`` calling convention (numpy in,
    numpy out): ``initial_state(batch)`` and ``step(state, dense, ids, noise=...)``."""

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(
                str(self.path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise ValueError(f"{path}: not a loadable ONNX model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if "exphil" not in meta:
            raise ValueError(f"{path}: not an ExPhil policy graph (no 'exphil' metadata)")
        self.meta: dict[str, Any] = json.loads(meta["exphil"])
        if self.meta.get("format") != ONNX_FORMAT:
            raise ValueError(
                f"{path}: format {self.meta.get('format')!r}, this version reads {ONNX_FORMAT!r}"
            )
        self.kind: GraphKind = self.meta["graph"]
        inputs = self.session.get_inputs()
        self._state_inputs = [i for i in inputs if i.name.startswith("state_")]
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def n_state(self) -> int:
        return len(self._state_inputs)

    def initial_state(self, batch: int) -> tuple[np.ndarray[Any, Any], ...]:
        out = []
        for spec in self._state_inputs:
            shape = [batch, *spec.shape[1:]]
            dtype = np.int64 if spec.type == "tensor(int64)" else np.float32
            out.append(np.zeros(shape, dtype=dtype))
        return tuple(out)

    def run(
        self,
        dense: np.ndarray[Any, Any],
        ids: np.ndarray[Any, Any],
        noise: np.ndarray[Any, Any],
        *,
        temperature: float = 1.0,
        deterministic: bool = False,
        state: Sequence[np.ndarray[Any, Any]] = (),
    ) -> dict[str, np.ndarray[Any, Any]]:
        """Every output by name (``next_state_i`` included for the step graph)."""
        if len(state) != self.n_state:
            raise ValueError(f"this graph takes {self.n_state} state tensors, got {len(state)}")
        feeds: dict[str, Any] = {
            "dense": np.asarray(dense, dtype=np.float32),
            "ids": np.asarray(ids, dtype=np.int64),
            "noise": np.asarray(noise, dtype=np.float32),
            "temperature": np.array(temperature, dtype=np.float32),
            "deterministic": np.array(deterministic, dtype=np.bool_),
        }
        for i, s in enumerate(state):
            feeds[f"state_{i}"] = s
        return dict(zip(self.output_names, self.session.run(None, feeds), strict=True))


def _compare(name: str, ours: np.ndarray[Any, Any], ref: Tensor, atol: float, rtol: float) -> float:
    expected = ref.detach().cpu().numpy()
    if ours.shape != expected.shape:
        raise ExportMismatch(f"{name}: ONNX shape {ours.shape}, PyTorch {expected.shape}")
    if not np.issubdtype(expected.dtype, np.floating):
        bad = np.flatnonzero(ours.reshape(-1) != expected.reshape(-1))
        if bad.size:
            raise ExportMismatch(
                f"{name}: {bad.size} of {expected.size} values differ between ONNX Runtime "
                f"and PyTorch (first at flat index {bad[0]}: {ours.reshape(-1)[bad[0]]} vs "
                f"{expected.reshape(-1)[bad[0]]})"
            )
        return 0.0
    diff = np.abs(ours.astype(np.float64) - expected.astype(np.float64))
    limit = atol + rtol * np.abs(expected.astype(np.float64))
    if not np.isfinite(ours).all() or (diff > limit).any():
        worst = float(np.nanmax(diff)) if diff.size else 0.0
        raise ExportMismatch(
            f"{name}: ONNX Runtime differs from PyTorch by up to {worst:.3g} "
            f"(allowed {atol:g} + {rtol:g} x |value|)"
        )
    return float(diff.max()) if diff.size else 0.0


def _check_graph(
    policy: Policy,
    kind: GraphKind,
    path: Path,
    *,
    steps: int,
    batches: Sequence[int],
    atol: float,
    rtol: float,
    seed: int,
) -> tuple[float, int]:
    runner = OnnxPolicy(path)
    graph = _PolicyGraph(policy, kind).eval()
    gen = torch.Generator().manual_seed(seed)
    worst, checks = 0.0, 0
    for batch in batches:
        for temperature, deterministic in ((1.0, False), (0.7, False), (1.0, True)):
            torch_state = tuple(policy.initial_state(batch)) if kind == "step" else ()
            onnx_state: tuple[np.ndarray[Any, Any], ...] = runner.initial_state(batch)
            for _ in range(steps if kind == "step" else 1):
                args = _example_inputs(
                    policy, batch, gen, temperature=temperature, deterministic=deterministic
                )
                with torch.no_grad():
                    ref = graph(*args, *torch_state)
                got = runner.run(
                    *(a.numpy() for a in args[:3]),
                    temperature=temperature,
                    deterministic=deterministic,
                    state=onnx_state,
                )
                names = runner.output_names
                for name, expected in zip(names, ref, strict=True):
                    where = f"{path.name}: {name} (batch {batch}, step {checks})"
                    worst = max(worst, _compare(where, got[name], expected, atol, rtol))
                n_out = len(_OUTPUTS)
                torch_state = tuple(ref[n_out:])
                onnx_state = tuple(got[n] for n in names[n_out:])
                checks += 1
    return worst, checks


def export_onnx(
    policy: Policy,
    out: str | os.PathLike[str],
    *,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    steps: int = 12,
    batches: Sequence[int] = (1, 5),
    seed: int = 0,
    graphs: Collection[GraphKind] = ("step", "frame"),
) -> ExportReport:
    """Export ``policy``'s graphs (see the module docstring) to ``out`` (and, for a
    temporal backbone, ``out``'s ``.frame.onnx`` sibling), after checking each in ONNX
    Runtime against PyTorch: ``steps`` consecutive frames at each batch size in
    ``batches``, sampled at temperatures 1 and 0.7 and deterministic, with random frames
    and noise. Raises :class:`ExportMismatch` (writing nothing) when an action differs or
    a float output differs by more than ``atol + rtol * |value|``. Files are written
    atomically (temp file, fsync, rename). ``graphs`` picks which of a temporal policy's
    two graphs to write (the MLP has only the single-frame graph)."""
    unknown = set(graphs) - {"step", "frame"}
    if unknown or not graphs:
        raise ValueError(f"graphs must be a non-empty subset of ('step', 'frame'), got {graphs}")
    paths = {k: p for k, p in onnx_paths(out, policy).items() if k in graphs}
    if not paths:  # the MLP asked for its step graph only: it is the single-frame graph
        paths = onnx_paths(out, policy)
    was_training = policy.training
    policy.eval()
    report = ExportReport(paths=paths)
    tmps: dict[str, Path] = {}
    try:
        for kind, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmps[kind] = tmp
            _export_graph(policy, kind, tmp)  # type: ignore[arg-type]
            worst, checks = _check_graph(
                policy,
                kind,  # type: ignore[arg-type]
                tmp,
                steps=steps,
                batches=batches,
                atol=atol,
                rtol=rtol,
                seed=seed,
            )
            report.max_abs_diff[kind] = worst
            report.checks[kind] = checks
        for kind, path in paths.items():  # every graph passed: publish them
            fsync_file(tmps[kind])
            os.replace(tmps[kind], path)
            fsync_dir(path.parent)
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        policy.train(was_training)
    return report
