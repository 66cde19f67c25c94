"""The game-state model shared by replays, the live adapter and the mock environment, and
the one controller type (``Controls``) every env takes and every decoder returns."""

from exphil.game.controls import AXIS_COLUMNS, CONTROL_COLUMNS, Controls
from exphil.game.frames import (
    BUTTONS,
    ITEM_SLOTS,
    Frames,
    FramesError,
    ItemFrames,
    PlayerFrames,
    concat_frames,
    validate_frames,
)
from exphil.game.ids import (
    LEGAL_STAGES,
    NUM_ACTIONS,
    NUM_INTERNAL_CHARACTERS,
    Character,
    Stage,
    StageGeometry,
    action_name,
    character,
    is_dead_action,
    stage,
)
from exphil.game.live import (
    FrameRecorder,
    apply_action,
    frame_row,
    read_slp_with_libmelee,
)

__all__ = [
    "Controls",
    "CONTROL_COLUMNS",
    "AXIS_COLUMNS",
    "Frames",
    "PlayerFrames",
    "ItemFrames",
    "BUTTONS",
    "ITEM_SLOTS",
    "FramesError",
    "validate_frames",
    "concat_frames",
    "Character",
    "Stage",
    "StageGeometry",
    "character",
    "stage",
    "action_name",
    "is_dead_action",
    "LEGAL_STAGES",
    "NUM_ACTIONS",
    "NUM_INTERNAL_CHARACTERS",
    "FrameRecorder",
    "apply_action",
    "frame_row",
    "read_slp_with_libmelee",
]
