"""Frames invariants, and the peppi path on real replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exphil.game import Character
from exphil.game.frames import BUTTON_BITS, Frames, PlayerFrames
from exphil.game.peppi import ReplayError, read_game, read_info


def test_frames_reject_wrong_dtypes_and_lengths() -> None:
    frames = Frames.zeros(5)
    assert len(frames) == 5
    cols = frames.players[0].columns()
    with pytest.raises(TypeError, match=r"PlayerFrames\.x must be a numpy float32"):
        PlayerFrames(**{**cols, "x": np.zeros(5, dtype=np.float64)})
    with pytest.raises(ValueError, match=r"PlayerFrames\.y has 4 rows, expected 5"):
        PlayerFrames(**{**cols, "y": np.zeros(4, dtype=np.float32)})
    with pytest.raises(ValueError, match=r"Frames\.players\[1\] has 3 rows"):
        Frames(frames.frame, frames.stage, (frames.players[0], PlayerFrames.zeros(3)),
               frames.nana, frames.items)  # fmt: skip
    part = frames.take(slice(1, 3))
    assert len(part) == 2 and part.items.exists.shape == (2, 15)


def test_button_bits_follow_the_policy_order() -> None:
    p = PlayerFrames.zeros(2)
    p.buttons[:] = [BUTTON_BITS["A"] | BUTTON_BITS["D_UP"], 0]
    assert p.button("A").tolist() == [True, False]
    assert p.button("D_UP").tolist() == [True, False]
    assert p.button("B").tolist() == [False, False]


def test_v318_marth_vs_cpu_falcon(replays_dir: Path) -> None:
    info, frames = read_game(replays_dir / "hohav__peppi/tests__data__v3.18.slp")
    assert info.mode == "1v1" and info.slippi_version == (3, 18, 0)
    assert [p.character for p in info.players] == [Character.MARTH, Character.CAPTAIN_FALCON]
    assert [p.type for p in info.players] == ["human", "cpu"]
    assert len(frames) == 941 == info.frames
    assert frames.frame[0] == -123
    # per-frame data is in internal ids
    assert set(frames.players[0].character.tolist()) == {Character.MARTH.internal}
    assert set(frames.players[1].character.tolist()) == {Character.CAPTAIN_FALCON.internal}
    assert not frames.nana[0].exists.any() and not frames.items.exists.any()
    for p in frames.players:
        assert set(np.unique(p.facing).tolist()) <= {-1, 1}
        assert p.main_x.min() >= -1 and p.main_x.max() <= 1


def test_rollback_frames_are_unique_and_increasing(replays_dir: Path) -> None:
    info, frames = read_game(replays_dir / "hohav__peppi/tests__data__v3.16.slp")
    assert info.rollback_frames > 0
    assert np.all(np.diff(frames.frame) == 1)
    assert info.players[0].netplay_code == "CLWN#889"
    assert info.match_id is not None and info.match_id.startswith("mode.unranked")


def test_items_and_nana(replays_dir: Path) -> None:
    _, lasers = read_game(replays_dir / "hohav__peppi/tests__data__v3.16.slp")  # Fox vs Falco
    assert lasers.items.exists.any()
    owners = lasers.items.owner[lasers.items.exists]
    assert set(np.unique(owners).tolist()) <= {-1, 0, 1} and (owners >= 0).any()
    _, turnips = read_game(replays_dir / "hohav__peppi/tests__data__items.slp")
    assert turnips.items.exists.sum() > 0
    info, ics = read_game(replays_dir / "hohav__peppi/tests__data__ics2.slp")
    assert info.players[0].character is Character.ICE_CLIMBERS
    nana = ics.nana[0]
    assert nana.exists.any() and not ics.nana[1].exists.any()
    assert set(nana.character[nana.exists].tolist()) == {Character.NANA.internal}
    assert (nana.x[~nana.exists] == 0).all()  # absent rows are neutral, not NaN


def test_non_1v1_and_broken_files_are_specific_errors(replays_dir: Path) -> None:
    with pytest.raises(ReplayError) as info:
        read_game(replays_dir / "hohav__peppi/tests__data__crazy_name_tags.slp")
    assert info.value.cause == "mode" and "ffa" in info.value.detail
    with pytest.raises(ReplayError) as info:
        read_game(replays_dir / "hohav__peppi/tests__data__corrupt.slp")
    assert info.value.cause == "truncated"


def test_read_info_skips_frames(replays_dir: Path) -> None:
    info = read_info(replays_dir / "hohav__peppi/tests__data__v3.18.slp")
    assert [p.character for p in info.players] == [Character.MARTH, Character.CAPTAIN_FALCON]
    assert info.stage is not None and info.stage.display_name == "Fountain of Dreams"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hohav__peppi/tests__data__v3.16.slp", {"FOX_LASER"}),  # Fox vs Falco
        ("hohav__peppi/tests__data__items.slp", {"TURNIP"}),  # Peach
        ("hohav__py-slippi/test__replays__v3.14.0.slp", {"FALCO_LASER", "NEEDLE_THROWN"}),
    ],
)
def test_projectiles_by_type(replays_dir: Path, name: str, expected: set[str]) -> None:
    import melee

    _, frames = read_game(replays_dir / name)
    items = frames.items
    types = {melee.ProjectileType(int(t)).name for t in np.unique(items.type[items.exists])}
    assert expected <= types
    # an item keeps its slot: in each slot, a live item's type does not change between
    # consecutive frames unless the slot was empty in between
    live = items.exists[1:] & items.exists[:-1]
    same_item = live & (items.type[1:] == items.type[:-1])
    assert same_item.sum() > 0.9 * live.sum()
    # positions are real coordinates, owners are player indexes
    assert np.isfinite(items.x[items.exists]).all()
    assert set(np.unique(items.owner[items.exists]).tolist()) <= {-1, 0, 1}


def test_every_rollback_replay_has_unique_increasing_frames(replays_dir: Path) -> None:
    import json

    manifest = json.loads((replays_dir / "manifest.json").read_text())
    rollback = 0
    for entry in manifest:
        if entry["peppi_py_0_8_6"] != "ok" or entry["players"].count(",") != 1:
            continue
        try:
            info, frames = read_game(replays_dir / entry["file"])
        except ReplayError:
            continue
        assert np.all(np.diff(frames.frame) == 1), entry["file"]
        rollback += info.rollback_frames > 0
    assert rollback >= 5  # the corpus has many netplay (rollback) games
