"""Behavioral cloning: the config (``TrainConfig``), the dataset over the replay cache, the
trainer, checkpoints."""

from exphil.train._config import (
    CheckpointConfig,
    DataConfig,
    OptimConfig,
    OutputConfig,
    TrainConfig,
)

__all__ = [
    "TrainConfig",
    "DataConfig",
    "OptimConfig",
    "CheckpointConfig",
    "OutputConfig",
]
