"""Synthetic training data: batches with the shapes and dtypes of
:class:`~exphil.train._dataset.Batch`, and whole corpora with the arrays of an embedded
store, holding random values in each field's valid range. For measuring the speed of a
training step, or of the whole ``train-bc`` loop, where no replays are at hand
(``scripts/bench_train.py``, ``scripts/gpu_check.sh``, ``exphil train-bc --dry-run``'s
frames/s estimate) and for tests of the step's machinery (bf16 autocast on every backbone).

What a step costs depends on the shapes, not on the values, so a synthetic batch times a
step exactly as a real one of the same shape would; the loss it gives means nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from exphil.embed import ControllerConfig, EmbedConfig, embed_dim, id_specs
from exphil.nets import PolicyConfig
from exphil.train._config import ValueConfig
from exphil.train._dataset import (
    _ARRAYS,
    CLASS_COMPONENTS,
    Batch,
    Corpus,
    Segment,
    _Report,
    _specs,
)

__all__ = ["synthetic_batch", "synthetic_corpus"]

NUM_BUTTONS = 8


def synthetic_batch(
    config: PolicyConfig,
    batch: int,
    window: int,
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Batch:
    """A :class:`Batch` of ``batch`` samples of ``window`` frames for a policy of ``config``:
    dense inputs ``N(0, 1)``, ids uniform in each table, buttons pressed 10% of the time,
    classes uniform, value targets ``N(0, 1)``; a function of ``seed`` alone."""
    if batch < 1 or window < 1:
        raise ValueError(f"batch and window must be >= 1, got {batch} and {window}")
    g = torch.Generator().manual_seed(seed)
    shape = (batch, window)
    dense = torch.randn(*shape, embed_dim(config.embed), generator=g)
    specs = id_specs(config.embed)
    ids = torch.stack(
        [torch.randint(0, s.size, shape, generator=g) for s in specs], dim=-1
    ) if specs else torch.zeros(*shape, 0, dtype=torch.int64)  # fmt: skip
    ctrl = config.controller
    targets = {
        "buttons": (torch.rand(*shape, NUM_BUTTONS, generator=g) < 0.1).to(torch.uint8),
        "main_x": torch.randint(0, ctrl.axis_classes, shape, generator=g),
        "main_y": torch.randint(0, ctrl.axis_classes, shape, generator=g),
        "c_x": torch.randint(0, ctrl.axis_classes, shape, generator=g),
        "c_y": torch.randint(0, ctrl.axis_classes, shape, generator=g),
        "shoulder": torch.randint(0, ctrl.shoulder_classes, shape, generator=g),
        "value": torch.randn(*shape, generator=g),
    }
    out = Batch(
        dense=dense,
        ids=ids,
        targets=targets,
        descriptors=np.zeros((batch, 4), dtype=np.int64),
        mirrored=np.zeros(batch, dtype=bool),
    )
    return out if device is None else out.to(device)


#: external ids of the synthetic games' players and stage (Fox, Falco; Final Destination)
_FOX, _FALCO, _FD = 2, 20, 32


def synthetic_corpus(
    games: int,
    frames: int,
    *,
    embed: EmbedConfig | None = None,
    controller: ControllerConfig | None = None,
    value: ValueConfig | None = None,
    seed: int = 0,
) -> Corpus:
    """A :class:`Corpus` of ``games`` games of ``frames`` frames, both perspectives, held in
    memory (no store on disk): the arrays :func:`~exphil.train._dataset.build_corpus`
    would embed, with random values (dense ``N(0, 1)``, ids uniform in each table, classes
    uniform, buttons pressed 10% of the time, no rewards). ``train`` runs on it exactly as
    on replays: the loader, the sampler, validation and checkpoints included."""
    if games < 1 or frames < 2:
        raise ValueError(f"games must be >= 1 and frames >= 2, got {games} and {frames}")
    emb = embed or EmbedConfig()
    ctrl = controller or ControllerConfig()
    rng = np.random.default_rng(seed)
    n = 2 * games * frames
    specs = {s.name: s for s in _specs(emb)}
    arrays: dict[str, np.ndarray] = {}
    for name in _ARRAYS:
        spec = specs[name]
        shape = (n, spec.width)
        if name == "dense":
            arrays[name] = rng.standard_normal(shape, dtype=np.float32)
        elif name == "ids":
            cols = [rng.integers(0, s.size, n) for s in id_specs(emb)]
            arrays[name] = np.stack(cols, axis=1).astype(spec.dtype) if cols else np.zeros(
                shape, dtype=spec.dtype
            )  # fmt: skip
        elif name == "buttons":
            arrays[name] = (rng.random(shape) < 0.1).astype(np.uint8)
        elif name == "classes":
            sizes = {"shoulder": ctrl.shoulder_classes}
            arrays[name] = np.stack(
                [rng.integers(0, sizes.get(c, ctrl.axis_classes), n) for c in CLASS_COMPONENTS],
                axis=1,
            ).astype(np.uint8)
        elif name == "ctrl":
            arrays[name] = rng.random(shape, dtype=np.float32)
        else:  # reward_terms: a game with no stocks lost, no damage, no winner
            arrays[name] = np.zeros(shape, dtype=np.float32)
    segments = tuple(
        Segment(
            offset=(2 * g + port) * frames,
            length=frames,
            key=f"synthetic-{g:05d}",
            port=port,
            character=(_FOX, _FALCO)[port],
            opponent=(_FALCO, _FOX)[port],
            stage=_FD,
            path=f"synthetic-{g:05d}.slp",
        )
        for g in range(games)
        for port in (0, 1)
    )
    report = _Report(
        files=games, skipped={}, filtered={}, duplicates=0, not_selected=0, reused=False
    )
    return Corpus(Path("synthetic"), arrays, segments, emb, ctrl, report, value)
