"""The autoregressive controller head, the value head and the controller losses.

The controller is sampled as a chain: buttons (8 Bernoullis), then main stick x, main stick y,
c-stick x, c-stick y, shoulder (categoricals over the classes of ``ControllerConfig``). Each
component is conditioned on the trunk and on every component before it (sampled in play,
teacher-forced from the target in training), so ``log_prob`` of a whole controller is the
exact chain-rule sum, not a product of independent heads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exphil.embed import ControllerConfig

__all__ = [
    "COMPONENTS",
    "ControllerHead",
    "HeadOutput",
    "NOISE_WIDTH",
    "PAD_LOGIT",
    "ValueHead",
    "controller_loss",
    "fused_controller_loss",
]

COMPONENTS: Final = ("buttons", "main_x", "main_y", "c_x", "c_y", "shoulder")
NUM_BUTTONS: Final = 8
#: uniforms one sampled controller reads: one per button, one per categorical component
NOISE_WIDTH: Final = NUM_BUTTONS + len(COMPONENTS) - 1
#: initial output biases (see ``ControllerHead._calm_prior``)
PRIOR_BUTTON_LOGIT: Final = -3.0
PRIOR_REST_LOGIT: Final = 3.0
#: the padded columns of :meth:`ControllerHead.teacher_forced`'s logits: exp() of it is 0 in
#: fp32 and bf16, so a softmax over the padded row is the component's own (finite, so sums
#: and autocast stay finite)
PAD_LOGIT: Final = -1.0e4


@dataclass
class HeadOutput:
    """``actions``: per component, ``[B, 8]`` 0/1 buttons or ``[B]`` class indices;
    ``log_prob`` ``[B]`` of the whole controller; ``entropy`` ``[B]``: the sum of each
    component's conditional entropy along the chain (None when not asked for);
    ``logits`` per component; ``padded``: teacher-forced only, every component's logits in
    one ``[6, B, C]`` tensor (see :meth:`ControllerHead.teacher_forced`), else None."""

    actions: dict[str, Tensor]
    log_prob: Tensor
    entropy: Tensor | None
    logits: dict[str, Tensor]
    padded: Tensor | None = None


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
        #: the padded width of :meth:`teacher_forced`'s logits
        self.width = max(sizes.values())
        self._pads: dict[tuple[Any, ...], tuple[Tensor, Tensor]] = {}
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
        self._calm_prior()

    def _calm_prior(self) -> None:
        """Start as a calm player, not a button masher: the output biases make a fresh
        head press each button about 5% of frames (``PRIOR_BUTTON_LOGIT``), keep the
        c-stick and the shoulder mostly at rest and lean the main stick toward neutral
        (near the marginals of real play). Training moves them freely; a policy trained by
        PPO from scratch starts from sensible, not chaotic, play."""
        neutral = int(np.argmin(np.abs(self.controller.axis_values)))
        with torch.no_grad():
            for name, layer in ((k, self.heads[k][3]) for k in COMPONENTS):
                bias = cast(nn.Linear, layer).bias
                bias.zero_()
                if name == "buttons":
                    bias.fill_(PRIOR_BUTTON_LOGIT)
                elif name == "shoulder":
                    bias[0] = PRIOR_REST_LOGIT
                else:
                    bias[neutral] = PRIOR_REST_LOGIT if name.startswith("c_") else 1.0

    def forward(
        self,
        trunk: Tensor,
        targets: dict[str, Tensor] | None = None,
        *,
        temperature: float = 1.0,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
        with_entropy: bool = True,
    ) -> HeadOutput:
        """Teacher-forced on ``targets`` (training, PPO's log-probs of taken actions) or
        sampled (play): at ``temperature``, or the most likely value of each component in
        turn with ``deterministic``.

        Sampling reads ``noise``, uniforms in [0, 1) ``[B, NOISE_WIDTH]`` (drawn with
        ``generator`` when not given): button ``i`` is pressed when ``noise[:, i]`` is below
        its probability, categorical component ``j`` takes the class where ``noise[:, 8 + j]``
        falls in its cumulative distribution. The exported ONNX graphs sample the same way,
        so equal noise gives equal controllers. ``with_entropy=False`` skips the entropy
        (``HeadOutput.entropy`` is None), which play does not need."""
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if targets is not None:
            return self.teacher_forced(trunk, targets, with_entropy=with_entropy)
        if deterministic:
            return self.chain(
                trunk, lambda name, logits, j: _most_likely(name, logits), with_entropy
            )
        if noise is None:
            noise = torch.rand(
                trunk.shape[0], NOISE_WIDTH, generator=generator, device=trunk.device
            ).to(trunk.dtype)
        elif noise.shape != (trunk.shape[0], NOISE_WIDTH):
            raise ValueError(
                f"noise must have shape [{trunk.shape[0]}, {NOISE_WIDTH}], got {list(noise.shape)}"
            )
        u = noise
        return self.chain(
            trunk,
            lambda name, logits, j: sample_component(name, logits, u, j, temperature),
            with_entropy,
        )

    def padded_logits(
        self, trunk: Tensor, targets: dict[str, Tensor], *, batched: bool | None = None
    ) -> Tensor:
        """Every component's teacher-forced logits in one tensor ``[6, B, width]`` (rows in
        ``COMPONENTS`` order; component ``j``'s classes in columns ``:sizes[j]``, the rest
        ``PAD_LOGIT``).

        With the targets known, component ``j``'s context (the projected trunk plus what
        each earlier target adds) does not depend on any logits, so the six heads can run
        at once: with ``batched`` (default: on CUDA) the contexts as a cumulative sum, then
        two batched matrix products over the stacked layers (a handful of kernels instead
        of a chain of six small heads, each a few launches). On the CPU, where a launch
        costs nothing and its batched matrix products are slower than six plain ones, the
        heads run one after the other. Either way equal to :meth:`chain` on the targets up
        to float rounding."""
        if not (trunk.is_cuda if batched is None else batched):
            return self._padded_logits_loop(trunk, targets)
        ctx = F.linear(trunk, self.project.weight, self.project.bias)
        feeds = [ctx, F.linear(targets["buttons"].to(ctx.dtype), self.feed["buttons"].weight)]
        feeds += [F.embedding(targets[k].long(), self.feed[k].weight) for k in COMPONENTS[1:-1]]
        contexts = torch.stack(feeds).cumsum(0)  # [6, B, H]: context of each component
        firsts = [cast(nn.Linear, self.heads[k][1]) for k in COMPONENTS]
        lasts = [cast(nn.Linear, self.heads[k][3]) for k in COMPONENTS]
        w1 = torch.stack([x.weight for x in firsts])  # [6, H, H]
        b1 = torch.stack([x.bias for x in firsts]).unsqueeze(1)  # [6, 1, H]
        hid = torch.baddbmm(b1, F.relu(contexts), w1.transpose(1, 2))
        w_pad, b_pad = self._pad_rows(trunk.device, w1.dtype)
        w2_parts: list[Tensor] = []
        b2_parts: list[Tensor] = []
        for name, layer in zip(COMPONENTS, lasts, strict=True):
            w2_parts.append(layer.weight)
            b2_parts.append(layer.bias)
            short = self.width - self.sizes[name]
            if short:
                w2_parts.append(w_pad[:short])
                b2_parts.append(b_pad[:short])
        hidden = w1.shape[1]
        w2 = torch.cat(w2_parts).view(len(COMPONENTS), self.width, hidden)
        b2 = torch.cat(b2_parts).view(len(COMPONENTS), 1, self.width)
        return torch.baddbmm(b2, F.relu(hid), w2.transpose(1, 2))

    def _padded_logits_loop(self, trunk: Tensor, targets: dict[str, Tensor]) -> Tensor:
        ctx = F.linear(trunk, self.project.weight, self.project.bias)
        rows: list[Tensor] = []
        for name in COMPONENTS:
            _, l1, _, l2 = self.heads[name]
            hid = F.linear(F.relu(ctx), l1.weight, l1.bias)
            logits = F.linear(F.relu(hid), l2.weight, l2.bias)
            rows.append(F.pad(logits, (0, self.width - self.sizes[name]), value=PAD_LOGIT))
            if name == "buttons":
                ctx = ctx + F.linear(targets[name].to(logits.dtype), self.feed[name].weight)
            elif name != COMPONENTS[-1]:
                ctx = ctx + F.embedding(targets[name].long(), self.feed[name].weight)
        return torch.stack(rows)

    def _pad_rows(self, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """Zero weight rows and ``PAD_LOGIT`` biases for the padded columns (constants,
        made once per device and dtype)."""
        key = (device, dtype)
        if key not in self._pads:
            hidden = self.project.out_features
            self._pads[key] = (
                torch.zeros(self.width, hidden, device=device, dtype=dtype),
                torch.full((self.width,), PAD_LOGIT, device=device, dtype=dtype),
            )
        return self._pads[key]

    def teacher_forced(
        self, trunk: Tensor, targets: dict[str, Tensor], *, with_entropy: bool = True
    ) -> HeadOutput:
        """:meth:`forward` on ``targets``: the logits of every component at once
        (:meth:`padded_logits`), the chain-rule log-probability of the targets and the sum
        of the conditional entropies, as :meth:`chain` gives them (up to float rounding)."""
        padded = self.padded_logits(trunk, targets)
        logits = {k: padded[j, :, : self.sizes[k]] for j, k in enumerate(COMPONENTS)}
        buttons = targets["buttons"].to(padded.dtype)
        bce = F.binary_cross_entropy_with_logits(logits["buttons"], buttons, reduction="none")
        cat = padded[1:]
        logp = cat - cat.logsumexp(-1, keepdim=True)  # [5, B, C]; the padding's p is 0
        ys = torch.stack([targets[k].long() for k in COMPONENTS[1:]])  # [5, B]
        log_prob = logp.gather(-1, ys.unsqueeze(-1)).squeeze(-1).sum(0) - bce.sum(-1)
        entropy = None
        if with_entropy:
            p = torch.sigmoid(logits["buttons"])
            ent_b = F.binary_cross_entropy_with_logits(logits["buttons"], p, reduction="none")
            entropy = ent_b.sum(-1) - (logp.exp() * logp).sum(-1).sum(0)
        actions: dict[str, Tensor] = {
            k: (targets[k].to(torch.uint8) if k == "buttons" else targets[k].long())
            for k in COMPONENTS
        }
        return HeadOutput(actions, log_prob, entropy, logits, padded)

    def chain(self, trunk: Tensor, pick: Picker, with_entropy: bool = True) -> HeadOutput:
        """Walk the components in order; ``pick(name, logits, j)`` chooses component ``j``
        (buttons: ``[B, 8]`` 0/1 in the logits' dtype; the others ``[B]`` class indices)
        given its logits, which are conditioned on every earlier choice."""
        # functional calls instead of module calls: the chain is six small heads in a row,
        # where nn.Module's call machinery would cost as much as the math at batch 1
        ctx = F.linear(trunk, self.project.weight, self.project.bias)
        actions: dict[str, Tensor] = {}
        logits_out: dict[str, Tensor] = {}
        log_prob = trunk.new_zeros(trunk.shape[0])
        entropy = trunk.new_zeros(trunk.shape[0]) if with_entropy else None
        for j, name in enumerate(COMPONENTS):
            _, l1, _, l2 = self.heads[name]
            hid = F.linear(F.relu(ctx), l1.weight, l1.bias)
            logits = F.linear(F.relu(hid), l2.weight, l2.bias)
            logits_out[name] = logits
            choice = pick(name, logits, j)
            if name == "buttons":
                log_prob = log_prob - F.binary_cross_entropy_with_logits(
                    logits, choice, reduction="none"
                ).sum(-1)
                if entropy is not None:
                    p = torch.sigmoid(logits)
                    entropy = entropy + F.binary_cross_entropy_with_logits(
                        logits, p, reduction="none"
                    ).sum(-1)
                actions[name] = choice.to(torch.uint8)
                ctx = ctx + F.linear(choice, self.feed[name].weight)
            else:
                logp = F.log_softmax(logits, dim=-1)
                log_prob = log_prob + logp.gather(-1, choice[:, None]).squeeze(-1)
                if entropy is not None:
                    entropy = entropy - (logp.exp() * logp).sum(-1)
                actions[name] = choice
                ctx = ctx + F.embedding(choice, self.feed[name].weight)
        return HeadOutput(actions, log_prob, entropy, logits_out)


Picker: TypeAlias = Callable[[str, Tensor, int], Tensor]


def _target(targets: dict[str, Tensor], name: str, logits: Tensor) -> Tensor:
    if name == "buttons":
        return targets[name].to(logits.dtype)
    return targets[name].long()


def _most_likely(name: str, logits: Tensor) -> Tensor:
    if name == "buttons":
        return (logits > 0).to(logits.dtype)
    return logits.argmax(-1)


def sample_component(
    name: str, logits: Tensor, noise: Tensor, j: int, temperature: float | Tensor
) -> Tensor:
    """Component ``j`` sampled at ``temperature`` from the uniforms ``noise [B, 13]``:
    buttons by thresholding, categoricals by inverting the cumulative distribution."""
    if name == "buttons":
        p = torch.sigmoid(logits / temperature)
        return (noise[:, :NUM_BUTTONS] < p).to(logits.dtype)
    probs = F.softmax(logits / temperature, dim=-1)
    u = noise[:, NUM_BUTTONS + j - 1].unsqueeze(-1)
    below = (probs.cumsum(-1) <= u).sum(-1)
    return below.clamp(max=logits.shape[-1] - 1)


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


def fused_controller_loss(
    padded: Tensor,
    targets: dict[str, Tensor],
    sizes: dict[str, int],
    *,
    weights: dict[str, float] | None = None,
    label_smoothing: float = 0.0,
    focal_gamma: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """:func:`controller_loss` on :meth:`ControllerHead.padded_logits`' ``[6, B, C]``
    logits, the five categorical components in one pass (one log-sum-exp, one gather):
    returns (the weighted total, the six components' losses ``[6]`` in ``COMPONENTS``
    order), equal to :func:`controller_loss`'s up to float rounding. The loss is computed
    in fp32 whatever the logits' dtype (as autocast does for ``cross_entropy``)."""
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if focal_gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
    w = {k: 1.0 for k in COMPONENTS} | (weights or {})
    unknown = set(w) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown loss weights {sorted(unknown)}; components are {COMPONENTS}")
    logits = padded.float()
    lg_b = logits[0, :, : sizes["buttons"]]
    term_b = F.binary_cross_entropy_with_logits(
        lg_b, targets["buttons"].to(lg_b.dtype), reduction="none"
    )
    if focal_gamma:
        term_b = term_b * (1 - torch.exp(-term_b)) ** focal_gamma
    cat = logits[1:]  # [5, B, C]
    lse = cat.logsumexp(-1)  # [5, B]
    ys = torch.stack([targets[k].long() for k in COMPONENTS[1:]])  # [5, B]
    nll = lse - cat.gather(-1, ys.unsqueeze(-1)).squeeze(-1)
    term = nll
    if label_smoothing:
        # the uniform part of a smoothed target: lse - the mean logit over the valid classes
        classes = tuple(sizes[k] for k in COMPONENTS[1:])
        valid = _constant(("valid", classes, cat.shape[-1], cat.device), lambda: (
            (torch.arange(cat.shape[-1]) < torch.tensor(classes)[:, None])[:, None, :]
            / torch.tensor(classes, dtype=torch.float32)[:, None, None]
        ))  # fmt: skip
        mean = (cat * valid).sum(-1)  # [5, B]
        term = (1 - label_smoothing) * nll + label_smoothing * (lse - mean)
    if focal_gamma:
        term = term * (1 - torch.exp(-nll)) ** focal_gamma
    losses = torch.cat([term_b.sum(-1).mean().unsqueeze(0), term.mean(-1)])  # [6]
    order = tuple(float(w[k]) for k in COMPONENTS)
    weight = _constant(("weights", order, losses.device), lambda: torch.tensor(order))
    return (losses * weight).sum(), losses


_CONSTANTS: dict[tuple[Any, ...], Tensor] = {}


def _constant(key: tuple[Any, ...], make: Callable[[], Tensor]) -> Tensor:
    """A constant tensor made on the CPU once and kept on its device (key's last item):
    building it on every call would copy from the host each step, a synchronisation on
    CUDA."""
    if key not in _CONSTANTS:
        if len(_CONSTANTS) > 256:
            _CONSTANTS.clear()
        _CONSTANTS[key] = make().to(key[-1])
    return _CONSTANTS[key]
