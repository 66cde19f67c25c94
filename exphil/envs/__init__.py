"""Environments that produce ``Frames``: the vectorized mock game (Dolphin and replay
playback come later)."""

from exphil.envs.mock import (
    MOCK_CHARACTERS,
    MOCK_STAGES,
    GameResult,
    MockConfig,
    MockEnv,
    MockStep,
    RewardConfig,
    platforms,
)
from exphil.game.controls import Controls  # the same class as exphil.game.Controls

__all__ = [
    "MockEnv",
    "MockConfig",
    "RewardConfig",
    "Controls",
    "MockStep",
    "GameResult",
    "MOCK_STAGES",
    "MOCK_CHARACTERS",
    "platforms",
]
