"""``EmbedConfig``: which features the embedding emits, and how."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from exphil.game.frames import ITEM_SLOTS

__all__ = ["EmbedConfig"]

_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "action": ("one_hot", "learned"),
    "character": ("one_hot", "learned"),
    "nana": ("off", "compact", "full"),
    "stage": ("one_hot", "compact", "learned"),
    "stocks": ("scaled", "one_hot"),
    "projectile_type": ("bucket", "scaled", "learned"),
}
_FLAGS: Final = ("speeds", "frame_info", "ledge_distance", "spatial", "controller")


class EmbedConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What :func:`exphil.embed.embed` puts in a model's input.

    Player feature groups (each player, agent first):

    * always: percent, facing, x, y, shield, jumps left (one-hot 7), on ground, invulnerable;
    * ``speeds``: the five velocities (air x, self y, knockback x and y, ground x);
    * ``frame_info``: hitstun, hitlag and action frame;
    * ``stocks``: ``"scaled"`` (stocks / 4, one column) or ``"one_hot"`` (0..4+, 5 columns);
    * ``ledge_distance``: distance to the stage's ledge, ``edge - |x|`` (0 on stages
      without known geometry).

    Modes:

    * ``action``: ``"one_hot"`` (``NUM_ACTIONS`` classes + one "other" class, 400 columns)
      or ``"learned"`` (an integer id column per player in ``Embedded.ids``, table
      ``"action"``);
    * ``character``: ``"one_hot"`` (33 internal ids) or ``"learned"`` (table
      ``"character"``);
    * ``nana``: ``"off"``, ``"compact"`` (11 continuous columns per Nana, plus an action id
      when ``action`` is learned; nothing of her action with one-hot actions) or ``"full"``
      (an ``exists`` column plus the same block as a player);
    * ``stage``: ``"one_hot"`` (64 external ids), ``"compact"`` (7: the six legal stages
      and "other") or ``"learned"`` (table ``"stage"``);
    * ``projectiles``: how many items are embedded (0..15), nearest to the agent first;
      ``projectile_type``: ``"bucket"`` (a one-hot of 9 coarse kinds), ``"scaled"``
      (type / 256, one column) or ``"learned"`` (table ``"item_type"``);
    * ``spatial``: distance between the players, the opponent's position relative to the
      agent, and game time;
    * ``controller``: the agent's own previous controller (8 buttons, 2 sticks, shoulder).
      The opponent's controller is never embedded.
    """

    speeds: bool = True
    frame_info: bool = True
    stocks: Literal["scaled", "one_hot"] = "scaled"
    ledge_distance: bool = True
    action: Literal["one_hot", "learned"] = "learned"
    character: Literal["one_hot", "learned"] = "learned"
    nana: Literal["off", "compact", "full"] = "compact"
    stage: Literal["one_hot", "compact", "learned"] = "compact"
    projectiles: int = 5
    projectile_type: Literal["bucket", "scaled", "learned"] = "bucket"
    spatial: bool = True
    controller: bool = True

    def __post_init__(self) -> None:
        for name in _FLAGS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"EmbedConfig.{name} must be true or false, got {value!r}")
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                allowed = ", ".join(repr(c) for c in choices)
                raise ValueError(f"EmbedConfig.{name} must be one of {allowed}, got {value!r}")
        n = self.projectiles
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= ITEM_SLOTS:
            raise ValueError(
                f"EmbedConfig.projectiles must be an integer in 0..{ITEM_SLOTS}, got {n!r}"
            )
