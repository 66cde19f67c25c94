"""Policy networks: ``Policy`` (embedding -> backbone -> autoregressive controller head and
value head, saved as safetensors with its config) and the backbones:
``build_backbone(BackboneConfig(kind=...), input_dim)``.

Every backbone maps ``[B, T, D] -> [B, T, H]`` causally (``forward``, training on windows
that start a game) and has a per-game ``step(state, x [B, D]) -> (state, [B, H])`` for
play, equal to ``forward`` frame by frame. ``unroll(x [B, T, D], state=None, resets=None)
-> ([B, T, H], state)`` runs a chunk that continues from a state and may cross game
boundaries (``resets [B, T]``: a new game starts at that frame of that row), equal to
``step`` frame by frame with ``reset_state`` at the resets but sequence-parallel and
differentiable (self-play PPO's update). States are tuples of batch-first tensors whose
initial value is all zeros; ``reset_state`` starts a new game in chosen rows.
"""

from exphil.nets._attention import AttentionBackbone, FeedForward, SlidingWindowAttention
from exphil.nets._base import (
    Backbone,
    BackboneState,
    Mixer,
    PreNormResidual,
    StackBackbone,
    clone_state,
    reset_state,
    select_state,
)
from exphil.nets._heads import (
    COMPONENTS,
    NOISE_WIDTH,
    ControllerHead,
    HeadOutput,
    ValueHead,
    controller_loss,
    fused_controller_loss,
)
from exphil.nets._jamba import JambaBackbone, jamba_layer_kinds
from exphil.nets._mamba import (
    MambaBackbone,
    MambaMixer,
    ScanMethod,
    mamba_ssm_available,
    selective_scan,
)
from exphil.nets._mlp import MLPBackbone
from exphil.nets._onnx import ExportMismatch, export_onnx, onnx_paths
from exphil.nets._policy import (
    Policy,
    PolicyConfig,
    PolicyMismatch,
    load_policy,
    read_policy_config,
    save_policy,
)
from exphil.nets._recurrent import GRUMixer, LSTMMixer, RecurrentBackbone
from exphil.nets._registry import BACKBONE_KINDS, BackboneConfig, build_backbone

__all__ = [
    "ExportMismatch",
    "export_onnx",
    "onnx_paths",
    "fused_controller_loss",
    "Policy",
    "PolicyConfig",
    "PolicyMismatch",
    "save_policy",
    "load_policy",
    "read_policy_config",
    "ControllerHead",
    "ValueHead",
    "HeadOutput",
    "COMPONENTS",
    "NOISE_WIDTH",
    "controller_loss",
    "BACKBONE_KINDS",
    "BackboneConfig",
    "build_backbone",
    "Backbone",
    "BackboneState",
    "reset_state",
    "select_state",
    "clone_state",
    "Mixer",
    "PreNormResidual",
    "StackBackbone",
    "MLPBackbone",
    "RecurrentBackbone",
    "LSTMMixer",
    "GRUMixer",
    "MambaBackbone",
    "MambaMixer",
    "ScanMethod",
    "selective_scan",
    "mamba_ssm_available",
    "AttentionBackbone",
    "SlidingWindowAttention",
    "FeedForward",
    "JambaBackbone",
    "jamba_layer_kinds",
]
