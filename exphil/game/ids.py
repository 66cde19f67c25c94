"""Melee's id schemes, kept apart so they cannot be mixed up.

Two schemes collide in Melee data (see ``../shared/REFERENCE.md``):

* **external** ids: character-select and stage-select ids, as in a replay's game-start block
  (``peppi_py`` ``start.players[i].character``, ``start.stage``);
* **internal** ids: the per-frame ids (``post.character``) and libmelee's ``Character`` and
  ``Stage`` enums.

``Character`` and ``Stage`` are enums whose *value is the external id*; ``.internal`` gives the
internal one, and ``Character.from_internal`` / ``Stage.from_internal`` convert back. Plain ints
are never accepted where the scheme is ambiguous: convert at the boundary with the named
functions, and pass the enums around.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

__all__ = [
    "Character",
    "Stage",
    "StageGeometry",
    "character",
    "stage",
    "action_name",
    "is_dead_action",
    "LEGAL_STAGES",
    "NUM_INTERNAL_CHARACTERS",
    "NUM_ACTIONS",
]

NUM_INTERNAL_CHARACTERS: Final = 33
"""Internal character ids 0..32 (one-hot width)."""

NUM_ACTIONS: Final = 0x18F
"""Action-state classes (0..398), as slippi-ai embeds them."""


class Character(IntEnum):
    """A character; the value is the **external** (character-select) id."""

    CAPTAIN_FALCON = 0
    DONKEY_KONG = 1
    FOX = 2
    GAME_AND_WATCH = 3
    KIRBY = 4
    BOWSER = 5
    LINK = 6
    LUIGI = 7
    MARIO = 8
    MARTH = 9
    MEWTWO = 10
    NESS = 11
    PEACH = 12
    PIKACHU = 13
    ICE_CLIMBERS = 14
    JIGGLYPUFF = 15
    SAMUS = 16
    YOSHI = 17
    ZELDA = 18
    SHEIK = 19
    FALCO = 20
    YOUNG_LINK = 21
    DR_MARIO = 22
    ROY = 23
    PICHU = 24
    GANONDORF = 25
    MASTER_HAND = 26
    WIREFRAME_MALE = 27
    WIREFRAME_FEMALE = 28
    GIGA_BOWSER = 29
    CRAZY_HAND = 30
    SANDBAG = 31
    POPO = 32
    NANA = 33  # no external id of its own: the Ice Climbers' follower (internal 11)

    @property
    def internal(self) -> int:
        """The per-frame (internal) id; Ice Climbers are Popo (10) in frame data."""
        return _CHAR_EXTERNAL_TO_INTERNAL[self]

    @classmethod
    def from_internal(cls, internal_id: int) -> Character:
        try:
            return _CHAR_INTERNAL_TO_EXTERNAL[internal_id]
        except KeyError:
            raise ValueError(f"unknown internal character id {internal_id}") from None

    @classmethod
    def from_external(cls, external_id: int) -> Character:
        if external_id == cls.NANA:
            raise ValueError("33 is not an external character id (Nana has none)")
        try:
            return cls(external_id)
        except ValueError:
            raise ValueError(f"unknown external character id {external_id}") from None

    @property
    def display_name(self) -> str:
        return _CHAR_DISPLAY.get(self, self.name.replace("_", " ").title())


# internal ids (libmelee's Character enum, per-frame data)
_CHAR_EXTERNAL_TO_INTERNAL: Final[dict[Character, int]] = {
    Character.MARIO: 0,
    Character.FOX: 1,
    Character.CAPTAIN_FALCON: 2,
    Character.DONKEY_KONG: 3,
    Character.KIRBY: 4,
    Character.BOWSER: 5,
    Character.LINK: 6,
    Character.SHEIK: 7,
    Character.NESS: 8,
    Character.PEACH: 9,
    Character.ICE_CLIMBERS: 10,
    Character.POPO: 10,
    Character.NANA: 11,
    Character.PIKACHU: 12,
    Character.SAMUS: 13,
    Character.YOSHI: 14,
    Character.JIGGLYPUFF: 15,
    Character.MEWTWO: 16,
    Character.LUIGI: 17,
    Character.MARTH: 18,
    Character.ZELDA: 19,
    Character.YOUNG_LINK: 20,
    Character.DR_MARIO: 21,
    Character.FALCO: 22,
    Character.PICHU: 23,
    Character.GAME_AND_WATCH: 24,
    Character.GANONDORF: 25,
    Character.ROY: 26,
    Character.MASTER_HAND: 27,
    Character.CRAZY_HAND: 28,
    Character.WIREFRAME_MALE: 29,
    Character.WIREFRAME_FEMALE: 30,
    Character.GIGA_BOWSER: 31,
    Character.SANDBAG: 32,
}
_CHAR_INTERNAL_TO_EXTERNAL: Final[dict[int, Character]] = {
    internal: char
    for char, internal in _CHAR_EXTERNAL_TO_INTERNAL.items()
    if char is not Character.POPO  # internal 10 reads as Ice Climbers
}

_CHAR_DISPLAY: Final[dict[Character, str]] = {
    Character.GAME_AND_WATCH: "Mr. Game & Watch",
    Character.DR_MARIO: "Dr. Mario",
    Character.ICE_CLIMBERS: "Ice Climbers",
    Character.DONKEY_KONG: "Donkey Kong",
}

_CHAR_ALIASES: Final[dict[str, Character]] = {
    "falcon": Character.CAPTAIN_FALCON,
    "cf": Character.CAPTAIN_FALCON,
    "dk": Character.DONKEY_KONG,
    "gnw": Character.GAME_AND_WATCH,
    "gw": Character.GAME_AND_WATCH,
    "puff": Character.JIGGLYPUFF,
    "jiggs": Character.JIGGLYPUFF,
    "ics": Character.ICE_CLIMBERS,
    "ic": Character.ICE_CLIMBERS,
    "icies": Character.ICE_CLIMBERS,
    "ganon": Character.GANONDORF,
    "doc": Character.DR_MARIO,
    "yl": Character.YOUNG_LINK,
    "ylink": Character.YOUNG_LINK,
    "pika": Character.PIKACHU,
    "mew2": Character.MEWTWO,
    "m2": Character.MEWTWO,
}


@dataclass(frozen=True, slots=True)
class StageGeometry:
    """Ground edge (|x| of the main platform's edge) and blast zones, in game units."""

    edge: float
    blast_left: float
    blast_right: float
    blast_top: float
    blast_bottom: float


class Stage(IntEnum):
    """A stage; the value is the **external** (stage-select) id, as in a replay's start."""

    FOUNTAIN_OF_DREAMS = 2
    POKEMON_STADIUM = 3
    PRINCESS_PEACHS_CASTLE = 4
    KONGO_JUNGLE = 5
    BRINSTAR = 6
    CORNERIA = 7
    YOSHIS_STORY = 8
    ONETT = 9
    MUTE_CITY = 10
    RAINBOW_CRUISE = 11
    JUNGLE_JAPES = 12
    GREAT_BAY = 13
    HYRULE_TEMPLE = 14
    BRINSTAR_DEPTHS = 15
    YOSHIS_ISLAND = 16
    GREEN_GREENS = 17
    FOURSIDE = 18
    MUSHROOM_KINGDOM = 19
    MUSHROOM_KINGDOM_II = 20
    VENOM = 22
    POKE_FLOATS = 23
    BIG_BLUE = 24
    ICICLE_MOUNTAIN = 25
    ICETOP = 26
    FLAT_ZONE = 27
    DREAM_LAND = 28
    YOSHIS_ISLAND_N64 = 29
    KONGO_JUNGLE_N64 = 30
    BATTLEFIELD = 31
    FINAL_DESTINATION = 32

    @property
    def internal(self) -> int:
        """libmelee's internal stage id; known for the legal stages only."""
        try:
            return _STAGE_INTERNAL[self]
        except KeyError:
            raise ValueError(f"no internal id known for {self.display_name}") from None

    @classmethod
    def from_internal(cls, internal_id: int) -> Stage:
        for st, internal in _STAGE_INTERNAL.items():
            if internal == internal_id:
                return st
        raise ValueError(f"unknown internal stage id {internal_id}")

    @property
    def legal(self) -> bool:
        return self in _GEOMETRY

    @property
    def geometry(self) -> StageGeometry:
        try:
            return _GEOMETRY[self]
        except KeyError:
            raise ValueError(f"{self.display_name} is not a legal stage: no geometry") from None

    @property
    def display_name(self) -> str:
        return _STAGE_DISPLAY.get(self, self.name.replace("_", " ").title())


_STAGE_INTERNAL: Final[dict[Stage, int]] = {
    Stage.FINAL_DESTINATION: 25,
    Stage.BATTLEFIELD: 24,
    Stage.POKEMON_STADIUM: 18,
    Stage.DREAM_LAND: 26,
    Stage.FOUNTAIN_OF_DREAMS: 8,
    Stage.YOSHIS_STORY: 6,
}

# libmelee melee.stages (EDGE_GROUND_POSITION, BLASTZONES), via REFERENCE.md
_GEOMETRY: Final[dict[Stage, StageGeometry]] = {
    Stage.FINAL_DESTINATION: StageGeometry(85.5671, -246.0, 246.0, 188.0, -140.0),
    Stage.BATTLEFIELD: StageGeometry(68.4, -224.0, 224.0, 200.0, -108.8),
    Stage.DREAM_LAND: StageGeometry(77.2713, -255.0, 255.0, 250.0, -123.0),
    Stage.FOUNTAIN_OF_DREAMS: StageGeometry(63.3504, -198.75, 198.75, 202.5, -146.25),
    Stage.POKEMON_STADIUM: StageGeometry(87.75, -230.0, 230.0, 180.0, -111.0),
    Stage.YOSHIS_STORY: StageGeometry(56.0, -175.7, 173.6, 168.0, -91.0),
}
LEGAL_STAGES: Final = tuple(_GEOMETRY)

_STAGE_DISPLAY: Final[dict[Stage, str]] = {
    Stage.FOUNTAIN_OF_DREAMS: "Fountain of Dreams",
    Stage.POKEMON_STADIUM: "Pokémon Stadium",
    Stage.YOSHIS_STORY: "Yoshi's Story",
    Stage.DREAM_LAND: "Dream Land N64",
    Stage.PRINCESS_PEACHS_CASTLE: "Princess Peach's Castle",
    Stage.POKE_FLOATS: "Poké Floats",
    Stage.YOSHIS_ISLAND: "Yoshi's Island",
    Stage.YOSHIS_ISLAND_N64: "Yoshi's Island N64",
}

_STAGE_ALIASES: Final[dict[str, Stage]] = {
    "fd": Stage.FINAL_DESTINATION,
    "bf": Stage.BATTLEFIELD,
    "ys": Stage.YOSHIS_STORY,
    "dl": Stage.DREAM_LAND,
    "dreamland": Stage.DREAM_LAND,
    "fod": Stage.FOUNTAIN_OF_DREAMS,
    "ps": Stage.POKEMON_STADIUM,
    "stadium": Stage.POKEMON_STADIUM,
}


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _lookup(text: str, enum: type[Character] | type[Stage], aliases: dict[str, object]) -> object:
    key = _key(text)
    names: dict[str, object] = {}
    for member in enum:
        names[_key(member.name)] = member
        names[_key(member.display_name)] = member
    names.update({_key(a): m for a, m in aliases.items()})
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    kind = "character" if enum is Character else "stage"
    raise ValueError(f"unknown {kind} {text!r}{hint}")


def character(name: str) -> Character:
    """A character from a name or alias (``fox``, ``puff``, ``ics``, ``Captain Falcon``...)."""
    found = _lookup(name, Character, dict(_CHAR_ALIASES))
    assert isinstance(found, Character)
    return found


def stage(name: str) -> Stage:
    """A stage from a name or alias (``fd``, ``bf``, ``ys``, ``dl``, ``fod``, ``ps``...)."""
    found = _lookup(name, Stage, dict(_STAGE_ALIASES))
    assert isinstance(found, Stage)
    return found


@functools.cache
def _action_names() -> dict[int, str]:
    from melee.enums import Action  # libmelee's table (imported lazily: ~0.2 s)

    return {a.value: a.name for a in Action}


def action_name(action_id: int) -> str:
    """libmelee's name of an action state (``"STANDING"``), or ``"UNKNOWN_<id>"``."""
    return _action_names().get(int(action_id), f"UNKNOWN_{int(action_id)}")


def is_dead_action(action_id: int) -> bool:
    """Action ids 0x00..0x0A are the death states."""
    return 0 <= action_id <= 0x0A
