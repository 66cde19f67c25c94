"""Environments behind one interface, :class:`GameEnv`: the batched mock game
(:class:`MockEnv`), a scripted fake for tests (:class:`ScriptedEnv`) and real Melee on Dolphin
(:class:`DolphinEnv`, :mod:`exphil.envs.dolphin`).
``Controls`` (what every env takes) is :class:`exphil.game.Controls`, re-exported here."""

from exphil.envs._protocol import EnvStatistics, GameEnv, GameOutcome, StepResult
from exphil.envs.dolphin import DolphinConfig, DolphinEnv, PlayerConfig
from exphil.envs.mock import (
    MOCK_CHARACTERS,
    MOCK_STAGES,
    MockConfig,
    MockEnv,
    RewardConfig,
    compile_mock_kernel,
    platforms,
)
from exphil.envs.scripted import ScriptedEnv
from exphil.game.controls import Controls

__all__ = [
    "GameEnv",
    "StepResult",
    "GameOutcome",
    "EnvStatistics",
    "MockEnv",
    "MockConfig",
    "RewardConfig",
    "ScriptedEnv",
    "DolphinEnv",
    "DolphinConfig",
    "PlayerConfig",
    "Controls",
    "MOCK_STAGES",
    "MOCK_CHARACTERS",
    "platforms",
    "compile_mock_kernel",
]
