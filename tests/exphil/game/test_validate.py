"""``validate_frames``: the contract every Frames source meets (replays here; the mock
environment in tests/exphil/envs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exphil.game import FramesError, concat_frames, validate_frames
from exphil.game.peppi import ReplayError, read_game


def _games(replays_dir: Path, limit: int) -> list[object]:
    games = []
    for path in sorted(replays_dir.rglob("*.slp")):
        try:
            _info, frames = read_game(path)
        except (ReplayError, ValueError):
            continue
        games.append(frames)
        if len(games) == limit:
            break
    return games


def test_real_replays_pass(replays_dir: Path) -> None:
    games = _games(replays_dir, 25)
    assert games, "no readable 1v1 replay"
    for frames in games:
        validate_frames(frames)  # type: ignore[arg-type]


def test_each_impossible_value_is_named(replays_dir: Path) -> None:
    (frames,) = _games(replays_dir, 1)
    game = concat_frames([frames])  # type: ignore[list-item]
    game.players[0].facing[3] = 0
    game.players[1].main_x[5] = 1.5
    game.players[1].x[7] = np.nan
    game.players[0].character[9] = 40
    with pytest.raises(FramesError) as err:
        validate_frames(game)
    text = str(err.value)
    for name in ("players[0].facing", "players[1].main_x", "players[1].x is finite", "character"):
        assert name in text
    assert len(err.value.problems) == 4
