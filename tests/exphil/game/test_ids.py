"""The id maps, pinned against the values in ../shared/REFERENCE.md and libmelee."""

from __future__ import annotations

import pytest
from melee import enums

from exphil.game import (
    LEGAL_STAGES,
    Character,
    Stage,
    action_name,
    character,
    is_dead_action,
    stage,
)

# REFERENCE.md: internal character ids
INTERNAL = {
    Character.MARIO: 0,
    Character.FOX: 1,
    Character.CAPTAIN_FALCON: 2,
    Character.SHEIK: 7,
    Character.ICE_CLIMBERS: 10,
    Character.NANA: 11,
    Character.MARTH: 18,
    Character.ZELDA: 19,
    Character.FALCO: 22,
    Character.GANONDORF: 25,
    Character.ROY: 26,
}


@pytest.mark.parametrize(("char", "internal"), INTERNAL.items())
def test_internal_character_ids_match_reference(char: Character, internal: int) -> None:
    assert char.internal == internal
    assert Character.from_internal(internal) is char


def test_internal_ids_agree_with_libmelee() -> None:
    for member in enums.Character:
        if member is enums.Character.UNKNOWN_CHARACTER:
            continue
        ours = Character.from_internal(member.value)
        assert ours.internal == member.value
    assert {c.internal for c in Character} == set(range(33))


def test_external_ids_from_real_replays() -> None:
    # peppi start.players[i].character on hohav/peppi v3.18 (Marth vs Falcon) and ics2 (ICs
    # vs Falco), checked on the shared replays
    assert Character.from_external(9) is Character.MARTH
    assert Character.from_external(0) is Character.CAPTAIN_FALCON
    assert Character.from_external(14) is Character.ICE_CLIMBERS
    assert Character.from_external(20) is Character.FALCO
    with pytest.raises(ValueError, match="Nana"):
        Character.from_external(33)
    with pytest.raises(ValueError, match="unknown external"):
        Character.from_external(99)


def test_external_and_internal_schemes_collide_but_never_mix() -> None:
    # external 2 is Fox, internal 2 is Captain Falcon: the two lookups must differ
    assert Character.from_external(2) is Character.FOX
    assert Character.from_internal(2) is Character.CAPTAIN_FALCON


STAGES = {
    # REFERENCE.md: external (start.stage) and libmelee internal ids
    Stage.FOUNTAIN_OF_DREAMS: (2, 8),
    Stage.POKEMON_STADIUM: (3, 18),
    Stage.YOSHIS_STORY: (8, 6),
    Stage.DREAM_LAND: (28, 26),
    Stage.BATTLEFIELD: (31, 24),
    Stage.FINAL_DESTINATION: (32, 25),
}


@pytest.mark.parametrize(("st", "ids"), STAGES.items())
def test_stage_ids_match_reference_and_libmelee(st: Stage, ids: tuple[int, int]) -> None:
    external, internal = ids
    assert st.value == external
    assert st.internal == internal
    assert Stage.from_internal(internal) is st
    assert enums.to_internal_stage(external).value == internal


def test_geometry_of_legal_stages() -> None:
    assert set(LEGAL_STAGES) == set(STAGES)
    fd = Stage.FINAL_DESTINATION.geometry
    assert fd.edge == pytest.approx(85.57, abs=0.01)
    assert (fd.blast_left, fd.blast_right, fd.blast_top, fd.blast_bottom) == (-246, 246, 188, -140)
    ys = Stage.YOSHIS_STORY.geometry
    assert (ys.edge, ys.blast_left, ys.blast_right) == (56.0, -175.7, 173.6)
    assert Stage.BATTLEFIELD.geometry.blast_bottom == -108.8
    with pytest.raises(ValueError, match="not a legal stage"):
        _ = Stage.CORNERIA.geometry
    with pytest.raises(ValueError, match="no internal id"):
        _ = Stage.CORNERIA.internal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fox", Character.FOX),
        ("Falco", Character.FALCO),
        ("puff", Character.JIGGLYPUFF),
        ("ics", Character.ICE_CLIMBERS),
        ("gnw", Character.GAME_AND_WATCH),
        ("ganon", Character.GANONDORF),
        ("doc", Character.DR_MARIO),
        ("yl", Character.YOUNG_LINK),
        ("Captain Falcon", Character.CAPTAIN_FALCON),
        ("captain_falcon", Character.CAPTAIN_FALCON),
        ("Mr. Game & Watch", Character.GAME_AND_WATCH),
    ],
)
def test_character_aliases(text: str, expected: Character) -> None:
    assert character(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fd", Stage.FINAL_DESTINATION),
        ("bf", Stage.BATTLEFIELD),
        ("ys", Stage.YOSHIS_STORY),
        ("dl", Stage.DREAM_LAND),
        ("fod", Stage.FOUNTAIN_OF_DREAMS),
        ("ps", Stage.POKEMON_STADIUM),
        ("Pokémon Stadium", Stage.POKEMON_STADIUM),
        ("final destination", Stage.FINAL_DESTINATION),
    ],
)
def test_stage_aliases(text: str, expected: Stage) -> None:
    assert stage(text) is expected


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown character 'marht'.*marth"):
        character("marht")
    with pytest.raises(ValueError, match=r"unknown stage 'battlefeld'.*battlefield"):
        stage("battlefeld")
    with pytest.raises(ValueError, match=r"unknown character 'zzzz'$"):
        character("zzzz")


def test_action_names_and_death_states() -> None:
    assert action_name(enums.Action.STANDING.value) == "STANDING"
    assert action_name(0) == "DEAD_DOWN"
    assert action_name(9999) == "UNKNOWN_9999"
    assert is_dead_action(0x0A) and not is_dead_action(0x0B)
