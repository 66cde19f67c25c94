"""PPO as a thin module on the shared training core: GAE, the loss pieces, rollout storage,
reward normalisation, the opponent pool and the synchronous self-play loop (the reference
the distributed self-play system is measured against).

``train_ppo(PPOConfig(...))`` runs it; ``exphil/rl/_loop.py`` reads top to bottom.
"""

from exphil.rl._config import TRAIN_PPO, EnvConfig, OpponentConfig, PPOConfig, PPOLossConfig
from exphil.rl._gae import gae
from exphil.rl._loop import PPOResult, SelfPlay, Teacher, build_policy, collect, train_ppo
from exphil.rl._losses import approx_kl, clipped_surrogate, controller_kl, value_loss
from exphil.rl._normalize import ReturnNormalizer, RunningMeanStd
from exphil.rl._pool import Member, OpponentPool
from exphil.rl._rollout import Rollout
from exphil.rl._update import UpdateStats, ppo_update

__all__ = [
    "PPOConfig",
    "TRAIN_PPO",
    "PPOLossConfig",
    "EnvConfig",
    "OpponentConfig",
    "gae",
    "clipped_surrogate",
    "value_loss",
    "controller_kl",
    "approx_kl",
    "Rollout",
    "ReturnNormalizer",
    "RunningMeanStd",
    "OpponentPool",
    "Member",
    "ppo_update",
    "UpdateStats",
    "train_ppo",
    "collect",
    "build_policy",
    "SelfPlay",
    "Teacher",
    "PPOResult",
]
