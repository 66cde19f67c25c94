"""Synthetic training batches: the shapes and dtypes of :class:`~exphil.train._dataset.Batch`
with random values in each field's valid range, for measuring the speed of a training step
where no replays are at hand (``scripts/bench_train.py``, ``scripts/gpu_check.sh``,
``exphil train-bc --dry-run``'s frames/s estimate) and for tests of the step's machinery
(bf16 autocast on every backbone).

What a step costs depends on the shapes, not on the values, so a synthetic batch times a
step exactly as a real one of the same shape would; the loss it gives means nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from exphil.embed import embed_dim, id_specs
from exphil.nets import PolicyConfig
from exphil.train._dataset import Batch

__all__ = ["synthetic_batch"]

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
