"""The autoregressive controller head, the value head and the controller losses.

The controller is sampled as a chain: buttons (8 Bernoullis), then main stick x, main stick y,
c-stick x, c-stick y, shoulder (categoricals over the classes of ``ControllerConfig``). Each
component is conditioned on the trunk and on every component before it (sampled in play,
teacher-forced from the target in training), so ``log_prob`` of a whole controller is the
exact chain-rule sum, not a product of independent heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exphil.embed import ControllerConfig

__all__ = [
    "COMPONENTS",
    "ControllerHead",
    "HeadOutput",
    "ValueHead",
    "controller_loss",
]

COMPONENTS: Final = ("buttons", "main_x", "main_y", "c_x", "c_y", "shoulder")
NUM_BUTTONS: Final = 8


@dataclass
class HeadOutput:
    """``actions``: per component, ``[B, 8]`` 0/1 buttons or ``[B]`` class indices;
    ``log_prob`` ``[B]`` of the whole controller; ``entropy`` ``[B]``: the sum of each
    component's conditional entropy along the chain; ``logits`` per component."""

    actions: dict[str, Tensor]
    log_prob: Tensor
    entropy: Tensor
    logits: dict[str, Tensor]


class ControllerHead(nn.Module):
    def __init__(
        self,
        trunk_dim: int,
        controller: ControllerConfig | None = None,
        *,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        cfg = controller or ControllerConfig()
        self.controller = cfg
        sizes = {
            "buttons": NUM_BUTTONS,
            "main_x": cfg.axis_classes,
            "main_y": cfg.axis_classes,
            "c_x": cfg.axis_classes,
            "c_y": cfg.axis_classes,
            "shoulder": cfg.shoulder_classes,
        }
        self.sizes = sizes
        self.project = nn.Linear(trunk_dim, hidden)
        self.heads = nn.ModuleDict(
            {k: nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n))
             for k, n in sizes.items()}
        )  # fmt: skip
        # what a chosen component adds to the context of the ones after it
        self.feed = nn.ModuleDict(
            {"buttons": nn.Linear(NUM_BUTTONS, hidden, bias=False)}
            | {k: nn.Embedding(n, hidden) for k, n in sizes.items() if k != "buttons"}
        )

    def forward(
        self,
        trunk: Tensor,
        targets: dict[str, Tensor] | None = None,
        *,
        temperature: float = 1.0,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> HeadOutput:
        """Teacher-forced on ``targets`` (training, PPO's log-probs of taken actions) or
        sampled (play): at ``temperature``, or the most likely value of each component in
        turn with ``deterministic``."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        ctx = self.project(trunk)
        actions: dict[str, Tensor] = {}
        logits_out: dict[str, Tensor] = {}
        log_prob = trunk.new_zeros(trunk.shape[0])
        entropy = trunk.new_zeros(trunk.shape[0])
        for name in COMPONENTS:
            logits = self.heads[name](ctx)
            logits_out[name] = logits
            if name == "buttons":
                if targets is not None:
                    choice = targets[name].to(logits.dtype)
                elif deterministic:
                    choice = (logits > 0).to(logits.dtype)
                else:
                    p = torch.sigmoid(logits / temperature)
                    choice = torch.bernoulli(p, generator=generator)
                log_prob = log_prob - F.binary_cross_entropy_with_logits(
                    logits, choice, reduction="none"
                ).sum(-1)
                p = torch.sigmoid(logits)
                entropy = entropy + F.binary_cross_entropy_with_logits(
                    logits, p, reduction="none"
                ).sum(-1)
                actions[name] = choice.to(torch.uint8)
                ctx = ctx + self.feed[name](choice)
            else:
                logp = F.log_softmax(logits, dim=-1)
                if targets is not None:
                    idx = targets[name].long()
                elif deterministic:
                    idx = logits.argmax(-1)
                else:
                    probs = F.softmax(logits / temperature, dim=-1)
                    idx = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
                log_prob = log_prob + logp.gather(-1, idx[:, None]).squeeze(-1)
                entropy = entropy - (logp.exp() * logp).sum(-1)
                actions[name] = idx
                ctx = ctx + self.feed[name](idx)
        return HeadOutput(actions, log_prob, entropy, logits_out)


class ValueHead(nn.Module):
    """A state value from the shared trunk (PPO's critic)."""

    def __init__(self, trunk_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(trunk_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, trunk: Tensor) -> Tensor:
        out: Tensor = self.net(trunk).squeeze(-1)
        return out


def controller_loss(
    logits: dict[str, Tensor],
    targets: dict[str, Tensor],
    *,
    weights: dict[str, float] | None = None,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
) -> dict[str, Tensor]:
    """Per-component losses (mean over the batch) and their weighted ``total``.

    Categorical components use cross-entropy with ``label_smoothing``; buttons use binary
    cross-entropy, never smoothed (a smoothed "pressed" would teach half-presses). With
    ``focal_gamma`` > 0 each term is scaled by ``(1 - p_target) ** gamma`` (focal loss).
    """
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if focal_gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
    w = {k: 1.0 for k in COMPONENTS} | (weights or {})
    unknown = set(w) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown loss weights {sorted(unknown)}; components are {COMPONENTS}")
    out: dict[str, Tensor] = {}
    total = None
    for name in COMPONENTS:
        lg = logits[name]
        if name == "buttons":
            y = targets[name].to(lg.dtype)
            term = F.binary_cross_entropy_with_logits(lg, y, reduction="none")
            if focal_gamma:
                p_t = torch.exp(-term)
                term = term * (1 - p_t) ** focal_gamma
            loss = term.sum(-1).mean()
        else:
            y = targets[name].long()
            term = F.cross_entropy(lg, y, reduction="none", label_smoothing=label_smoothing)
            if focal_gamma:
                p_t = F.softmax(lg, -1).gather(-1, y[:, None]).squeeze(-1)
                term = term * (1 - p_t) ** focal_gamma
            loss = term.mean()
        out[name] = loss
        total = loss * w[name] if total is None else total + loss * w[name]
    assert total is not None
    out["total"] = total
    return out
