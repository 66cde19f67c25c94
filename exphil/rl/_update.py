"""One PPO update on a rollout: epochs of minibatches of whole game slots.

Each minibatch replays its slots' chunks through ``Policy.unroll`` from the recurrent state
they started with (``Rollout.state0``) with the game starts inside the chunk as resets, so a
recurrent policy computes exactly the log-probabilities it acted with (before the first
gradient step). The loss is PPO's clipped surrogate, the value loss, the entropy bonus of
the autoregressive chain and the KL to the frozen teacher; during value warm-up only the
value head learns (on a detached trunk, so the policy does not move). The approximate KL is
checked after every epoch and ends the update early past ``target_kl``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from exphil.nets import Policy
from exphil.rl._config import PPOConfig
from exphil.rl._losses import approx_kl, clipped_surrogate, controller_kl, value_loss
from exphil.rl._rollout import Rollout

_STAT_NAMES = (
    "policy_loss", "value_loss", "entropy", "teacher_kl", "approx_kl", "clip_fraction",
)  # fmt: skip

__all__ = ["UpdateStats", "ppo_update", "unroll"]


@dataclass(frozen=True)
class UpdateStats:
    policy_loss: float
    value_loss: float
    entropy: float
    teacher_kl: float
    approx_kl: float
    clip_fraction: float
    explained_variance: float
    epochs: int  # epochs actually run (fewer when the KL guard stopped the update)
    stopped_early: bool
    value_only: bool
    grad_norm: float
    samples: int


def unroll(
    policy: Policy, dense: Tensor, ids: Tensor, state0: tuple[Tensor, ...], resets: Tensor
) -> Tensor:
    """Trunk features ``[B, T, H]`` of chunks that continue from ``state0``."""
    trunk, _ = policy.unroll(dense, ids, state0, resets)
    return trunk


def _rows(state: tuple[Tensor, ...] | None, rows: Tensor) -> tuple[Tensor, ...]:
    return tuple(t.index_select(0, rows) for t in state or ())


def ppo_update(
    policy: Policy,
    optim: Any,
    rollout: Rollout,
    advantages: np.ndarray,
    returns: np.ndarray,
    config: PPOConfig,
    *,
    teacher: Policy | None,
    value_only: bool,
    rng: np.random.Generator,
    device: torch.device,
) -> UpdateStats:
    """Update ``policy`` in place with ``optim`` (an ``exphil.train.Optimization``)."""
    cfg = config.loss
    n = rollout.games

    def slots(a: np.ndarray, dtype: torch.dtype | None = None) -> Tensor:
        t = torch.from_numpy(np.ascontiguousarray(np.swapaxes(a, 0, 1))).to(device)
        return t if dtype is None else t.to(dtype)

    dense, ids = slots(rollout.dense), slots(rollout.ids)
    actions = {k: slots(v) for k, v in rollout.actions.items()}
    old_logp, old_v = slots(rollout.log_prob), slots(rollout.values)
    adv_all, ret_all = slots(advantages), slots(returns)
    resets = slots(rollout.resets)
    state0 = tuple(t.to(device) for t in rollout.state0)
    tstate0 = tuple(t.to(device) for t in rollout.teacher_state0 or ())

    # One host read per minibatch: the loss (a non-finite loss must stop before the optimizer
    # steps) and the statistics travel together as one device vector; the gradient norm stays
    # on the device until the update ends.
    names = ("value_loss",) if value_only else _STAT_NAMES
    sums = [0.0] * len(names)
    count = 0
    epochs_run, stopped = 0, False
    norm: Tensor | None = None
    per_mb = max(1, n // config.minibatches)
    policy.train()
    for _epoch in range(config.epochs):
        perm = rng.permutation(n)
        kls: list[float] = []
        for start in range(0, n - per_mb + 1, per_mb):
            rows = torch.from_numpy(perm[start : start + per_mb]).to(device)
            with optim.autocast():
                trunk = unroll(policy, dense[rows], ids[rows], _rows(state0, rows), resets[rows])
            h = trunk.reshape(-1, trunk.shape[-1]).float()
            targets = {k: v[rows].reshape(-1, *v.shape[2:]) for k, v in actions.items()}
            new_v = policy.value(h.detach() if value_only else h)
            ret = ret_all[rows].reshape(-1)
            v_loss = value_loss(new_v, old_v[rows].reshape(-1), ret, cfg.value_clip)
            if value_only:
                loss = cfg.value_weight * v_loss
                stats = [v_loss]
            else:
                out = policy.controller_head(h, targets=targets, with_entropy=True)
                old = old_logp[rows].reshape(-1)
                adv = adv_all[rows].reshape(-1)
                if cfg.normalize_advantages and adv.numel() > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg = clipped_surrogate(out.log_prob, old, adv, cfg.clip)
                assert out.entropy is not None
                entropy = out.entropy.mean()
                loss = pg + cfg.value_weight * v_loss - cfg.entropy * entropy
                t_kl = torch.zeros((), device=device)
                if teacher is not None and cfg.teacher_kl > 0:
                    with torch.no_grad():
                        t_trunk = unroll(
                            teacher, dense[rows], ids[rows], _rows(tstate0, rows), resets[rows]
                        )
                        t_out = teacher.controller_head(
                            t_trunk.reshape(-1, t_trunk.shape[-1]).float(),
                            targets=targets,
                            with_entropy=False,
                        )
                    t_kl = controller_kl(out.logits, t_out.logits).mean()
                    loss = loss + cfg.teacher_kl * t_kl
                with torch.no_grad():
                    kl = approx_kl(out.log_prob, old)
                    ratio = torch.exp(out.log_prob - old)
                    clipfrac = ((ratio - 1).abs() > cfg.clip).float().mean()
                stats = [pg, v_loss, entropy, t_kl, kl, clipfrac]
            # same order as names; float64 on the host (float32 on the device, as before)
            read = torch.stack([loss.detach().float(), *(t.detach().float() for t in stats)])
            values = read.tolist()
            if not math.isfinite(values[0]):
                raise FloatingPointError(
                    "the PPO loss is not finite; the update was stopped and the last good "
                    "weights kept"
                )
            optim.backward(loss)
            norm = optim.step().norm
            for i, v in enumerate(values[1:]):
                sums[i] += v
            if not value_only:
                kls.append(values[1 + names.index("approx_kl")])
            count += 1
        epochs_run += 1
        if (
            not value_only
            and cfg.target_kl is not None
            and kls
            and float(np.mean(kls)) > cfg.target_kl
        ):
            stopped = True
            break
    grad_norm = float("nan") if norm is None else float(norm)
    policy.eval()
    mean = {k: v / max(1, count) for k, v in zip(names, sums, strict=True)}
    y, pred = returns.ravel(), rollout.values.ravel()
    var_y = float(np.var(y))
    explained = float("nan") if var_y == 0 else 1.0 - float(np.var(y - pred)) / var_y
    return UpdateStats(
        policy_loss=mean.get("policy_loss", float("nan")),
        value_loss=mean.get("value_loss", float("nan")),
        entropy=mean.get("entropy", float("nan")),
        teacher_kl=mean.get("teacher_kl", float("nan")),
        approx_kl=mean.get("approx_kl", float("nan")),
        clip_fraction=mean.get("clip_fraction", float("nan")),
        explained_variance=explained,
        epochs=epochs_run,
        stopped_early=stopped,
        value_only=value_only,
        grad_norm=grad_norm,
        samples=rollout.steps * n * epochs_run,
    )
