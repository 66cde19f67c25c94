"""``BackboneConfig`` and ``build_backbone``: one config, one registry for every backbone."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

import msgspec

if TYPE_CHECKING:
    from exphil.nets._base import Backbone

__all__ = ["BACKBONE_KINDS", "BackboneConfig", "build_backbone"]

BACKBONE_KINDS: Final = ("mlp", "lstm", "gru", "mamba", "attention", "jamba")

# (field, smallest allowed value, largest allowed value)
_INT_FIELDS: Final = (
    ("hidden", 1, 16384),
    ("layers", 1, 256),
    ("state", 1, 1024),
    ("conv", 1, 64),
    ("expand", 1, 64),
    ("heads", 1, 256),
    ("window", 1, 100_000),
    ("attention_every", 1, 256),
)
_BOOL_FIELDS: Final = ("residual", "layer_norm")


class BackboneConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The shape of a policy's trunk.

    Every kind maps ``[B, T, input_dim]`` to ``[B, T, hidden]``.

    * ``kind``: ``"mlp"`` (per frame, no memory), ``"lstm"`` / ``"gru"`` (stacked pre-norm
      residual recurrent layers), ``"mamba"`` (Mamba-1 selective state-space blocks),
      ``"attention"`` (causal sliding-window multi-head attention, a transformer stack) or
      ``"jamba"`` (Mamba blocks with an attention block every ``attention_every`` layers).
    * ``hidden``: width of the trunk (and of its output); ``layers``: number of blocks;
      ``dropout``: on each block's residual branch (MLP: after each layer).
    * mlp: ``residual`` (skip connection around each layer, projected when the width
      changes) and ``layer_norm`` (after each linear layer).
    * mamba / jamba: ``state`` (SSM state size N), ``conv`` (causal depthwise conv width),
      ``expand`` (inner width = ``expand * hidden``).
    * attention / jamba: ``heads`` (must divide ``hidden``), ``window`` (frames each frame
      attends to, itself included; 60 frames = 1 s).
    * jamba: layer ``i`` (from 0) is attention when ``(i + 1) % attention_every == 0``,
      else Mamba.
    """

    kind: Literal["mlp", "lstm", "gru", "mamba", "attention", "jamba"] = "mamba"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.0
    residual: bool = True
    layer_norm: bool = True
    state: int = 16
    conv: int = 4
    expand: int = 2
    heads: int = 4
    window: int = 60
    attention_every: int = 2

    def __post_init__(self) -> None:
        if self.kind not in BACKBONE_KINDS:
            allowed = ", ".join(repr(k) for k in BACKBONE_KINDS)
            raise ValueError(f"BackboneConfig.kind must be one of {allowed}, got {self.kind!r}")
        for name, lo, hi in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(
                    f"BackboneConfig.{name} must be an integer in {lo}..{hi}, got {value!r}"
                )
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"BackboneConfig.{name} must be true or false, got {value!r}")
        p = self.dropout
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise ValueError(f"BackboneConfig.dropout must be a number in [0, 1), got {p!r}")
        if self.kind in ("attention", "jamba") and self.hidden % self.heads != 0:
            raise ValueError(
                f"BackboneConfig.heads ({self.heads}) must divide hidden ({self.hidden}) "
                f"for kind {self.kind!r}"
            )


def _builders() -> dict[str, Callable[[BackboneConfig, int], Backbone]]:
    from exphil.nets._attention import AttentionBackbone
    from exphil.nets._jamba import JambaBackbone
    from exphil.nets._mamba import MambaBackbone
    from exphil.nets._mlp import MLPBackbone
    from exphil.nets._recurrent import RecurrentBackbone

    return {
        "mlp": MLPBackbone,
        "lstm": RecurrentBackbone,
        "gru": RecurrentBackbone,
        "mamba": MambaBackbone,
        "attention": AttentionBackbone,
        "jamba": JambaBackbone,
    }


def build_backbone(config: BackboneConfig, input_dim: int) -> Backbone:
    """The backbone ``config`` describes, reading ``input_dim`` features per frame."""
    if not isinstance(config, BackboneConfig):
        raise TypeError(f"config must be a BackboneConfig, got {type(config).__name__}")
    if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
        raise ValueError(f"input_dim must be a positive integer, got {input_dim!r}")
    return _builders()[config.kind](config, input_dim)
