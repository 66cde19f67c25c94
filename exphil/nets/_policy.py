"""``Policy`` = embedding config + backbone + heads, built from one ``PolicyConfig``, saved as
safetensors with the full config in the header.

Loading rebuilds the model from the file alone (no code from the file is ever executed:
safetensors holds tensors and a JSON header) and refuses a file whose architecture differs
from what the caller expects, naming each difference.
"""

from __future__ import annotations

import json
import os
from typing import Any, Final

import msgspec
import torch
from torch import Tensor, nn

from exphil._atomic import atomic_write
from exphil.embed import ControllerConfig, EmbedConfig, embed_dim, id_specs
from exphil.nets._heads import ControllerHead, HeadOutput, ValueHead
from exphil.nets._registry import BackboneConfig, build_backbone

__all__ = [
    "PolicyConfig",
    "Policy",
    "PolicyMismatch",
    "save_policy",
    "load_policy",
    "read_policy_config",
    "FORMAT",
]

FORMAT: Final = "exphil-policy/1"
_HEADER_KEY: Final = "exphil"


class PolicyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything that shapes a policy's weights."""

    embed: EmbedConfig = EmbedConfig()
    backbone: BackboneConfig = BackboneConfig()
    controller: ControllerConfig = ControllerConfig()
    id_embed_dim: int = 32  # width of each learned id table (actions, characters, ...)
    head_hidden: int = 128

    def __post_init__(self) -> None:
        if not 1 <= self.id_embed_dim <= 1024:
            raise ValueError(f"id_embed_dim must be in 1..1024, got {self.id_embed_dim}")
        if not 1 <= self.head_hidden <= 8192:
            raise ValueError(f"head_hidden must be in 1..8192, got {self.head_hidden}")


class PolicyMismatch(ValueError):
    """A checkpoint's architecture is not the one expected; ``differences`` lists each
    differing field as ``(path, expected, found)``."""

    def __init__(self, path: str, differences: list[tuple[str, Any, Any]]) -> None:
        self.differences = differences
        lines = "; ".join(f"{k}: expected {a!r}, the file has {b!r}" for k, a, b in differences)
        super().__init__(f"{path} has a different architecture: {lines}")


class Policy(nn.Module):
    """``embed -> backbone -> heads``. ``forward`` takes windows ``[B, T, ...]`` (training),
    ``step`` one frame per game with a carried state (play), ``unroll`` a chunk continuing
    from a state across game boundaries (PPO); all give the trunk features the heads
    read."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        super().__init__()
        cfg = config or PolicyConfig()
        self.config = cfg
        self.dense_dim = embed_dim(cfg.embed)
        self.id_specs = id_specs(cfg.embed)
        tables: dict[str, int] = {}
        for spec in self.id_specs:
            tables[spec.table] = max(tables.get(spec.table, 0), spec.size)
        self.tables = nn.ModuleDict(
            {t: nn.Embedding(n, cfg.id_embed_dim) for t, n in tables.items()}
        )
        self._table_of = [spec.table for spec in self.id_specs]
        input_dim = self.dense_dim + len(self.id_specs) * cfg.id_embed_dim
        self.backbone = build_backbone(cfg.backbone, input_dim)
        trunk = self.backbone.output_dim
        self.controller_head = ControllerHead(trunk, cfg.controller, hidden=cfg.head_hidden)
        self.value_head = ValueHead(trunk, hidden=cfg.head_hidden)

    def _inputs(self, dense: Tensor, ids: Tensor) -> Tensor:
        if dense.shape[-1] != self.dense_dim:
            raise ValueError(
                f"dense inputs have width {dense.shape[-1]}, expected {self.dense_dim}"
            )
        if ids.shape[-1] != len(self.id_specs):
            raise ValueError(f"ids have {ids.shape[-1]} columns, expected {len(self.id_specs)}")
        parts = [dense]
        for j, table in enumerate(self._table_of):
            parts.append(self.tables[table](ids[..., j].long()))
        return torch.cat(parts, dim=-1)

    def forward(self, dense: Tensor, ids: Tensor) -> Tensor:
        """Trunk features ``[B, T, H]`` for windows of ``dense [B, T, D]`` and ``ids [B, T, K]``."""
        out: Tensor = self.backbone(self._inputs(dense, ids))
        return out

    def initial_state(self, batch: int, device: torch.device | None = None) -> Any:
        return self.backbone.initial_state(batch, device=device)

    def reset_state(self, state: Any, mask: Tensor) -> Any:
        return self.backbone.reset_state(state, mask)

    def step(self, state: Any, dense: Tensor, ids: Tensor) -> tuple[Any, Tensor]:
        """One frame per game: ``dense [B, D]``, ``ids [B, K]`` -> (state, trunk ``[B, H]``)."""
        new_state, y = self.backbone.step(state, self._inputs(dense, ids))
        return new_state, y

    def unroll(
        self,
        dense: Tensor,
        ids: Tensor,
        state: Any = None,
        resets: Tensor | None = None,
    ) -> tuple[Tensor, Any]:
        """A chunk ``dense [B, T, D]``, ``ids [B, T, K]`` continuing from ``state`` (``None``:
        the initial state), a new game starting in row ``b`` at frame ``t`` where ``resets
        [B, T]`` is true -> (trunk ``[B, T, H]``, the state after the last frame). Equal to
        ``step`` frame by frame with ``reset_state`` at the resets (see
        ``Backbone.unroll``); differentiable, and ``state`` is not modified."""
        out, new_state = self.backbone.unroll(self._inputs(dense, ids), state, resets)
        return out, new_state

    def act(self, trunk: Tensor, **sampling: Any) -> HeadOutput:
        """Sample (or with ``deterministic=True`` pick) a controller from trunk features."""
        out: HeadOutput = self.controller_head(trunk, **sampling)
        return out

    def value(self, trunk: Tensor) -> Tensor:
        out: Tensor = self.value_head(trunk)
        return out


def _config_json(config: PolicyConfig) -> str:
    return msgspec.json.encode(config).decode()


def save_policy(
    policy: Policy, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None
) -> None:
    """Write the weights as safetensors (atomically: temp file, fsync, rename) with the full
    config (and ``metadata``, JSON-able) in the header."""
    from safetensors.torch import save_file

    header = {
        _HEADER_KEY: json.dumps(
            {
                "format": FORMAT,
                "config": json.loads(_config_json(policy.config)),
                "metadata": metadata or {},
            }
        )
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in policy.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def read_policy_config(path: str | os.PathLike[str]) -> tuple[PolicyConfig, dict[str, Any]]:
    """The config and metadata stored in a policy file's header (reads no weights)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise
    except Exception as exc:  # safetensors raises its own error types for bad files
        raise ValueError(f"{path}: not a safetensors file ({exc})") from None
    if _HEADER_KEY not in meta:
        raise ValueError(f"{path}: not an ExPhil policy (no '{_HEADER_KEY}' header)")
    try:
        data = json.loads(meta[_HEADER_KEY])
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this version reads {FORMAT!r}")
        config = msgspec.convert(data["config"], PolicyConfig)
    except (ValueError, KeyError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: bad policy header ({exc})") from None
    return config, dict(data.get("metadata", {}))


def _differences(a: Any, b: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, msgspec.Struct) and type(a) is type(b):
        out: list[tuple[str, Any, Any]] = []
        for field in a.__struct_fields__:
            out += _differences(getattr(a, field), getattr(b, field), f"{prefix}{field}.")
        return out
    return [] if a == b else [(prefix.rstrip("."), a, b)]


def load_policy(
    path: str | os.PathLike[str],
    *,
    expect: PolicyConfig | None = None,
    map_location: str | torch.device = "cpu",
) -> Policy:
    """Rebuild a policy from its file. With ``expect``, a file whose config differs raises
    :class:`PolicyMismatch` naming every differing field."""
    from safetensors.torch import load_file

    config, _meta = read_policy_config(path)
    if expect is not None:
        diffs = _differences(expect, config)
        if diffs:
            raise PolicyMismatch(str(path), diffs)
    policy = Policy(config)
    tensors = load_file(str(path), device=str(map_location))
    try:
        missing, unexpected = policy.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:  # a tensor whose shape the config does not give
        raise ValueError(f"{path}: weights do not match its own config ({exc})") from None
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match its own config (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )
    return policy
