"""PPO's loss pieces, each a small function checked against hand-computed values.

* :func:`clipped_surrogate`: ``-mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))``;
* :func:`value_loss`: ``0.5 * mean((V - R)^2)``, optionally clipped around the old values;
* :func:`controller_kl`: the KL divergence between two controller distributions along the
  autoregressive chain, evaluated on the taken actions: each component's conditional KL
  (Bernoulli per button, categorical per axis and the shoulder) given the components taken
  before it, summed. Its expectation under the first policy is the exact KL of the joint;
  per sample it has far less variance than ``log p - log q``;
* :func:`approx_kl`: the ``(ratio - 1) - log ratio`` estimator of KL(old || new) that the
  update's early stop reads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["approx_kl", "clipped_surrogate", "controller_kl", "value_loss"]


def clipped_surrogate(
    new_logp: Tensor, old_logp: Tensor, advantages: Tensor, clip: float
) -> Tensor:
    ratio = torch.exp(new_logp - old_logp)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    return -torch.min(unclipped, clipped).mean()


def value_loss(
    new_values: Tensor, old_values: Tensor, returns: Tensor, clip: float | None
) -> Tensor:
    err = (new_values - returns) ** 2
    if clip is not None:
        v_clipped = old_values + (new_values - old_values).clamp(-clip, clip)
        err = torch.max(err, (v_clipped - returns) ** 2)
    return 0.5 * err.mean()


def controller_kl(p_logits: dict[str, Tensor], q_logits: dict[str, Tensor]) -> Tensor:
    """``[B]``: sum over components of KL(p || q) of each component's conditional
    distribution (the logits of both heads teacher-forced on the same actions)."""
    total: Tensor | None = None
    for name, lp in p_logits.items():
        lq = q_logits[name].to(lp.dtype)
        if name == "buttons":
            # Bernoulli per button: p log p/q + (1-p) log (1-p)/(1-q), from logits
            p = torch.sigmoid(lp)
            kl = (
                p * (F.logsigmoid(lp) - F.logsigmoid(lq))
                + (1 - p) * (F.logsigmoid(-lp) - F.logsigmoid(-lq))
            ).sum(-1)
        else:
            logp, logq = F.log_softmax(lp, -1), F.log_softmax(lq, -1)
            kl = (logp.exp() * (logp - logq)).sum(-1)
        total = kl if total is None else total + kl
    if total is None:
        raise ValueError("no components to compare")
    return total


def approx_kl(new_logp: Tensor, old_logp: Tensor) -> Tensor:
    log_ratio = new_logp - old_logp
    return ((log_ratio.exp() - 1) - log_ratio).mean()
