"""The game-state model shared by replays, the live adapter and the mock environment."""

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
    ControllerAction,
    FrameRecorder,
    apply_action,
    frame_row,
    read_slp_with_libmelee,
)

__all__ = [
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
    "ControllerAction",
    "FrameRecorder",
    "apply_action",
    "frame_row",
    "read_slp_with_libmelee",
]
