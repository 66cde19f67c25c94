"""The GPU batch and its learning rate (effective_config), and the step timing the dry run
quotes (measure_step): what they compute, never how fast."""

from __future__ import annotations

import math

import msgspec
import pytest
import torch

from exphil.nets import BackboneConfig, PolicyConfig
from exphil.train import BCOptimConfig, DataConfig, TrainConfig
from exphil.train._layers import load_preset
from exphil.train._speed import effective_config, measure_step

CUDA = torch.device("cuda")  # a device object only: nothing runs on it
CPU = torch.device("cpu")


@pytest.mark.parametrize(("rule", "factor"), [("sqrt", 4.0), ("linear", 16.0), ("none", 1.0)])
def test_on_cuda_the_cuda_batch_and_a_scaled_lr(rule: str, factor: float) -> None:
    cfg = TrainConfig(
        data=DataConfig(batch_size=64, cuda_batch_size=1024),
        optim=BCOptimConfig(lr=3e-4, lr_scaling=rule),  # type: ignore[arg-type]
    )
    run = effective_config(cfg, CUDA)
    assert run.data.batch_size == 1024 and run.optim.lr == pytest.approx(3e-4 * factor)
    assert effective_config(cfg, CPU) is cfg  # the CPU keeps the batch and the lr
    plain = TrainConfig(data=DataConfig(batch_size=64))
    assert effective_config(plain, CUDA) is plain  # no cuda_batch_size: nothing changes


def test_the_temporal_presets_take_a_larger_batch_on_cuda() -> None:
    for name in ("lstm", "gru", "attention", "mamba", "jamba"):
        cfg = msgspec.convert(load_preset("train-bc", name), TrainConfig)
        run = effective_config(cfg, CUDA)
        assert run.data.batch_size == 1024 and cfg.data.batch_size == 64, name
        assert run.optim.lr == pytest.approx(cfg.optim.lr * math.sqrt(1024 / 64)), name


def test_measure_step_times_the_trainers_step_on_synthetic_batches() -> None:
    backbone = BackboneConfig(kind="gru", hidden=16, layers=1)
    cfg = TrainConfig(
        policy=PolicyConfig(backbone=backbone, id_embed_dim=4, head_hidden=16),
        data=DataConfig(window=6, burnin=2, batch_size=4),
        optim=BCOptimConfig(bf16="off", compile="off"),
    )
    speed = measure_step(cfg, CPU, steps=3, warmup=1, max_seconds=1e9)
    assert (speed.batch, speed.window, speed.frames) == (4, 6, 4 * (6 - 2))
    assert speed.steps == 3 and speed.seconds > 0  # no time cap: every asked step timed
    assert speed.frames_per_s == pytest.approx(speed.frames / speed.seconds)
    wide = measure_step(cfg, CPU, batch=8, steps=1, warmup=1)
    assert wide.batch == 8 and wide.frames == 8 * 4 and wide.as_dict()["step_ms"] > 0
