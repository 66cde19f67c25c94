"""The Jamba-style hybrid: Mamba blocks with a sliding-window attention layer every
``attention_every`` layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from exphil.nets._attention import attention_mixers
from exphil.nets._base import Mixer, StackBackbone
from exphil.nets._mamba import MambaMixer

if TYPE_CHECKING:
    from exphil.nets._registry import BackboneConfig

__all__ = ["JambaBackbone", "jamba_layer_kinds"]


def jamba_layer_kinds(layers: int, attention_every: int) -> list[str]:
    """``"attention"`` or ``"mamba"`` for each layer: layer ``i`` is attention when
    ``(i + 1) % attention_every == 0``."""
    return ["attention" if (i + 1) % attention_every == 0 else "mamba" for i in range(layers)]


class JambaBackbone(StackBackbone):
    """``kind="jamba"``: an input projection, ``layers`` pre-norm residual layers (Mamba
    blocks; every ``attention_every``-th is a transformer layer, attention + feed-forward,
    instead), a final LayerNorm. The state is the layers' states in order."""

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        mixers: list[Mixer] = []
        kinds = jamba_layer_kinds(config.layers, config.attention_every)
        for kind in kinds:
            if kind == "attention":
                mixers += attention_mixers(config)
            else:
                mixers.append(
                    MambaMixer(
                        config.hidden, state=config.state, conv=config.conv, expand=config.expand
                    )
                )
        super().__init__(config, input_dim, mixers)
        self.layer_kinds = kinds
