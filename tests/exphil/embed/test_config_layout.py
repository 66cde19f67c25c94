"""EmbedConfig validation and the layout (describe, dimension_table, embed_dim)."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from exphil.embed import (
    ACTION_TABLE,
    CHARACTER_TABLE,
    ITEM_TYPE_TABLE,
    NUM_STAGE_IDS,
    EmbedConfig,
    describe,
    dimension_table,
    embed,
    embed_dim,
    id_specs,
)
from exphil.game.frames import Frames

# Per player, by hand: percent, facing, x, y (4) + speeds (5) + shield (1) + jumps one-hot (7)
# + on_ground, invulnerable (2) + hitstun, hitlag, action_frame (3) + stocks scaled (1)
# + ledge distance (1) = 24 without action and character.
PLAYER_BASE = 4 + 5 + 1 + 7 + 2 + 3 + 1 + 1
ONE_HOT_EXTRA = 400 + 33  # action (399 + other), character (33 internal ids)
NANA_COMPACT = 11
CONTROLLER = 8 + 4 + 1
SPATIAL = 4
BUCKET_SLOT = 6 + 9  # exists, own, dx, dy, vx, vy + 9 type buckets

ALL_ONE_HOT = EmbedConfig(
    action="one_hot", character="one_hot", stage="one_hot", nana="full", stocks="one_hot"
)


def test_default_dimensions() -> None:
    assert PLAYER_BASE == 24
    total = 2 * PLAYER_BASE + 2 * NANA_COMPACT + 7 + 5 * BUCKET_SLOT + SPATIAL + CONTROLLER
    assert total == 169
    assert embed_dim() == embed_dim(EmbedConfig()) == 169
    specs = id_specs()
    assert [s.name for s in specs] == [
        "self.action",
        "self.character",
        "opp.action",
        "opp.character",
        "self_nana.action",
        "opp_nana.action",
    ]
    assert {s.table: s.size for s in specs} == {
        "action": ACTION_TABLE,
        "character": CHARACTER_TABLE,
    }
    assert ACTION_TABLE == 401 and CHARACTER_TABLE == 34


def test_all_one_hot_dimensions() -> None:
    # stocks one-hot (5) instead of scaled (1)
    player = PLAYER_BASE - 1 + 5 + ONE_HOT_EXTRA
    assert player == 461
    nana_full = 1 + player
    total = 2 * player + 2 * nana_full + 64 + 5 * BUCKET_SLOT + SPATIAL + CONTROLLER
    assert total == 2002
    assert embed_dim(ALL_ONE_HOT) == 2002
    assert id_specs(ALL_ONE_HOT) == ()
    learned_items = msgspec.structs.replace(ALL_ONE_HOT, projectile_type="learned")
    assert embed_dim(learned_items) == 2002 - 5 * 9 == 1957
    specs = id_specs(learned_items)
    assert [s.name for s in specs] == [f"proj[{j}].type" for j in range(5)]
    assert {s.size for s in specs} == {ITEM_TYPE_TABLE}


def test_one_hot_actions_with_compact_nana() -> None:
    cfg = EmbedConfig(action="one_hot", character="one_hot")
    # compact Nana carries no action block with one-hot actions
    total = 2 * (PLAYER_BASE + ONE_HOT_EXTRA) + 2 * NANA_COMPACT + 7 + 75 + 4 + 13
    assert total == 1035 == embed_dim(cfg)
    assert id_specs(cfg) == ()


def test_minimal_and_other_modes() -> None:
    minimal = EmbedConfig(
        speeds=False,
        frame_info=False,
        ledge_distance=False,
        nana="off",
        projectiles=0,
        spatial=False,
        controller=False,
    )
    assert embed_dim(minimal) == 2 * (4 + 1 + 7 + 2 + 1) + 7 == 37
    assert len(id_specs(minimal)) == 4
    learned_stage = msgspec.structs.replace(minimal, stage="learned")
    assert embed_dim(learned_stage) == 30
    assert id_specs(learned_stage)[-1].name == "stage"
    assert id_specs(learned_stage)[-1].size == NUM_STAGE_IDS
    scaled = EmbedConfig(projectile_type="scaled", projectiles=3)
    assert embed_dim(scaled) == 169 - 5 * BUCKET_SLOT + 3 * 7
    full_nana = EmbedConfig(nana="full")
    assert embed_dim(full_nana) == 169 - 2 * NANA_COMPACT + 2 * (1 + PLAYER_BASE)
    names = [s.name for s in id_specs(full_nana)]
    assert names[-4:] == [
        "self_nana.action",
        "self_nana.character",
        "opp_nana.action",
        "opp_nana.character",
    ]


@pytest.mark.parametrize(
    "cfg",
    [
        EmbedConfig(),
        ALL_ONE_HOT,
        EmbedConfig(nana="full", stage="learned", projectile_type="learned"),
        EmbedConfig(nana="off", projectiles=0, spatial=False, controller=False),
    ],
)
def test_describe_matches_the_output(cfg: EmbedConfig) -> None:
    rows = describe(cfg)
    names = [n for n, _ in rows]
    assert len(set(names)) == len(names)
    assert sum(w for _, w in rows) == embed_dim(cfg)
    out = embed(Frames.zeros(4), cfg, 0)
    assert out.dense.shape == (4, embed_dim(cfg)) and out.dense.dtype == np.float32
    assert out.ids.shape == (4, len(id_specs(cfg))) and out.ids.dtype == np.int64
    assert out.id_specs == id_specs(cfg)
    table = dimension_table(cfg)
    assert "total" in table and str(embed_dim(cfg)) in table.splitlines()[len(rows) + 1]
    for spec in id_specs(cfg):
        assert spec.name in table
    assert table.isascii()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"action": "embedding"}, "action"),
        ({"character": "learnt"}, "character"),
        ({"nana": "on"}, "nana"),
        ({"stage": "full"}, "stage"),
        ({"stocks": "binary"}, "stocks"),
        ({"projectile_type": "one_hot"}, "projectile_type"),
        ({"projectiles": 16}, "projectiles"),
        ({"projectiles": -1}, "projectiles"),
        ({"projectiles": True}, "projectiles"),
        ({"projectiles": 2.0}, "projectiles"),
        ({"speeds": "yes"}, "speeds"),
        ({"spatial": 1}, "spatial"),
        ({"controller": None}, "controller"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"EmbedConfig\.{field}\b"):
        EmbedConfig(**kwargs)  # type: ignore[arg-type]


def test_config_decoding() -> None:
    cfg = msgspec.convert({"action": "one_hot", "projectiles": 3}, EmbedConfig)
    assert cfg == EmbedConfig(action="one_hot", projectiles=3)
    with pytest.raises(msgspec.ValidationError, match="bogus"):
        msgspec.convert({"bogus": 1}, EmbedConfig)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.stage"):
        msgspec.convert({"stage": "huge"}, EmbedConfig)
    with pytest.raises(msgspec.ValidationError, match=r"EmbedConfig\.projectiles"):
        msgspec.convert({"projectiles": 99}, EmbedConfig)
    with pytest.raises(TypeError):
        EmbedConfig(bogus=1)  # type: ignore[call-arg]
    assert hash(cfg) == hash(EmbedConfig(action="one_hot", projectiles=3))
    assert msgspec.json.decode(msgspec.json.encode(cfg), type=EmbedConfig) == cfg
