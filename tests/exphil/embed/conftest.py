"""Fixtures for the embedding tests: real replays (read once per session) and helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exphil.game.frames import Frames, ItemFrames
from exphil.game.peppi import read_game


def _readable(replays_dir: Path, want: Any) -> Frames | None:
    """The first manifest replay that ``want(entry)`` accepts and that reads."""
    entries = json.loads((replays_dir / "manifest.json").read_text())
    for entry in entries:
        if entry.get("peppi_py_0_8_6", "ok") != "ok" or not want(entry):
            continue
        try:
            _, frames = read_game(replays_dir / entry["file"])
        except Exception:
            continue
        return frames
    return None


@pytest.fixture(scope="session")
def replay_frames(replays_dir: Path) -> Frames:
    """A real 1v1 game, preferring one with items (projectile slots get exercised)."""
    frames = _readable(replays_dir, lambda e: e.get("item_rows", 0) > 0)
    if frames is None:
        frames = _readable(replays_dir, lambda e: True)
    if frames is None:
        pytest.skip("no replay in the manifest reads")
    return frames


@pytest.fixture(scope="session")
def ics_frames(replays_dir: Path) -> Frames:
    """A real game with Ice Climbers (a Nana), when the shared replays have one."""
    frames = _readable(replays_dir, lambda e: "ICs" in e.get("players", ""))
    if frames is None or not (frames.nana[0].exists.any() or frames.nana[1].exists.any()):
        pytest.skip("no readable Ice Climbers replay")
    return frames


def swap_players(frames: Frames) -> Frames:
    """The same game with ports 0 and 1 exchanged (players, Nanas, item owners)."""
    owner = frames.items.owner
    swapped = np.where(owner >= 0, 1 - owner, owner).astype(np.int8)
    items = ItemFrames(**{**frames.items.columns(), "owner": swapped})
    return Frames(
        frame=frames.frame,
        stage=frames.stage,
        players=(frames.players[1], frames.players[0]),
        nana=(frames.nana[1], frames.nana[0]),
        items=items,
    )
