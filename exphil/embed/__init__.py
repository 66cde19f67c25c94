"""The embedding: ``Frames`` -> model inputs (numpy float32, so game workers need no torch).

``embed(frames, config, port)`` returns an :class:`Embedded`: ``dense`` ``[T, D]`` and
``ids`` ``[T, K]`` (integer columns for the learned tables, named by ``id_specs``). The
layout is ego-centric (the agent first) and is listed by :func:`describe` and
:func:`dimension_table`.

Scales (each clipped to a generous range): x, y, dx, dy, ledge distance * 0.05; percent,
shield * 0.01; velocities * 0.5; hitstun * 0.01; hitlag * 0.05; action frame / 60;
stocks / 4; game time = frame / 28800 in [0, 2]; sticks and shoulder as in ``Frames``.
One-hots: jumps left 7, action 400 (399 + "other"), character 33, stocks 5, stage 64 or 7.
"""

from exphil.embed._config import EmbedConfig
from exphil.embed._controller import (
    AXES,
    ControllerConfig,
    DiscreteController,
    decode_controller,
    encode_controller,
    fit_stick_centers,
    load_stick_centers,
    save_stick_centers,
)
from exphil.embed._delay import delay_pairs, sample_delays
from exphil.embed._embed import (
    ControllerColumns,
    Embedded,
    IdSpec,
    describe,
    dimension_table,
    embed,
    embed_dim,
    embed_games,
    id_specs,
)
from exphil.embed._tables import (
    ACTION_NONE,
    ACTION_ONE_HOT,
    ACTION_OTHER,
    ACTION_TABLE,
    CHARACTER_NONE,
    CHARACTER_TABLE,
    COMPACT_STAGES,
    ITEM_BUCKETS,
    ITEM_TYPE_NONE,
    ITEM_TYPE_OTHER,
    ITEM_TYPE_TABLE,
    NUM_STAGE_IDS,
)

__all__ = [
    "delay_pairs",
    "sample_delays",
    "AXES",
    "ControllerConfig",
    "DiscreteController",
    "decode_controller",
    "encode_controller",
    "fit_stick_centers",
    "save_stick_centers",
    "load_stick_centers",
    "EmbedConfig",
    "Embedded",
    "IdSpec",
    "ControllerColumns",
    "embed",
    "embed_games",
    "describe",
    "id_specs",
    "embed_dim",
    "dimension_table",
    "ACTION_OTHER",
    "ACTION_NONE",
    "ACTION_ONE_HOT",
    "ACTION_TABLE",
    "CHARACTER_NONE",
    "CHARACTER_TABLE",
    "NUM_STAGE_IDS",
    "COMPACT_STAGES",
    "ITEM_BUCKETS",
    "ITEM_TYPE_OTHER",
    "ITEM_TYPE_NONE",
    "ITEM_TYPE_TABLE",
]
