"""Issue 17's calibration acceptance: the mock's physics tables (exphil/envs/_characters.py)
and the mock itself, stepped with scripted inputs, against what ``exphil mock calibrate``
measures on real Fox and Falco replays.

Runs on 14 games of ``../shared/corpus`` (``$EXPHIL_TEST_CORPUS`` overrides the folder), parsed
cold into a private cache; skips with the reason when the corpus is absent.
"""

from __future__ import annotations

from typing import Any

import pytest

from exphil.envs._characters import CharacterPhysics, physics
from exphil.game.ids import character

TOLERANCE = 0.10


def _table(ph: CharacterPhysics) -> dict[str, float]:
    """The table's value of each quantity calibrate measures, as a replay records it."""
    return {
        "gravity": ph.gravity,
        "terminal": ph.terminal,
        "fast_fall": ph.fast_fall,
        "jump_squat": ph.jump_squat,
        "full_hop_vy": ph.full_hop,
        "short_hop_vy": ph.short_hop,
        # recorded on its first frame after that frame's gravity
        "double_jump_vy": ph.full_hop * ph.double_jump_mult - ph.gravity,
        "air_speed": ph.air_speed,
        "dash_initial": ph.dash_initial,
        "dash_speed": ph.run_speed,
        "run_speed": ph.run_speed,
        "dash_frames": ph.dash_frames,
        "dash_length": ph.dash_length,
        "traction": ph.traction,
        "air_friction": ph.air_friction,
        "landing_lag": ph.landing_lag,
    }


def _measured(row: dict[str, Any], key: str) -> float:
    # a late player lengthens a landing: the lag itself is the most frequent value
    value = row["mode"] if key == "landing_lag" else row["median"]
    assert value is not None, key
    return float(value)


@pytest.fixture(scope="module")
def corpus_doc(corpus_calibration: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    doc = {c["character"]: c for c in corpus_calibration}
    assert set(doc) == {"fox", "falco"}
    return doc


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fox", "falco"])
def test_table_constants_match_the_replays(corpus_doc: dict[str, Any], name: str) -> None:
    """Every constant of the character's table that calibrate measures is within 10% of the
    replays' value."""
    rows = corpus_doc[name]["quantities"]
    table = _table(physics(character(name)))
    off = {}
    for key, value in table.items():
        row = rows[key]
        # a dash let go to its end is rare in these games (Fox: 5 samples)
        assert row["samples"] >= (5 if key == "dash_length" else 10), (name, key, row["samples"])
        measured = _measured(row, key)
        if abs(value / measured - 1) > TOLERANCE:
            off[key] = (value, measured)
    assert not off, f"{name}: table vs replays more than 10% apart: {off}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fox", "falco"])
def test_the_mock_moves_like_the_replays(corpus_doc: dict[str, Any], name: str) -> None:
    """The mock itself, stepped with scripted jumps, dashes and falls and measured by the same
    estimators (the report's ``mock`` column): apex heights, fall speeds, dash and run speeds
    and every other quantity within 10% of the replays'."""
    rows = corpus_doc[name]["quantities"]
    off = {}
    for key, row in rows.items():
        mock = row["mock"]
        assert mock is not None, (name, key)
        measured = _measured(row, key)
        if abs(mock / measured - 1) > TOLERANCE:
            off[key] = (mock, measured)
    assert not off, f"{name}: the mock vs replays more than 10% apart: {off}"
    for key in ("full_hop_apex", "short_hop_apex", "dash_speed", "run_speed", "terminal"):
        assert rows[key]["samples"] >= 10, (name, key)
