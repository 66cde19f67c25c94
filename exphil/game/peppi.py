"""``.slp`` → ``GameInfo`` + ``Frames`` with peppi-py, vectorized over frames (no per-frame
Python loop, items included).

Normalisations (documented, and the only ones the parity tests allow):

* rollback: a frame id that occurs more than once keeps its **last** (finalized) occurrence;
  rows are in increasing frame-id order;
* fields a replay version does not record are filled with a neutral value (0, False; stocks
  and jumps as recorded where present) — see ``GameInfo.missing``;
* ``hitstun`` is ``misc_as`` while the hitstun state flag is set, else 0;
* items: at most ``ITEM_SLOTS`` per frame, slot = spawn id mod 15 (moved to the lowest free
  slot on a collision); extras are dropped and counted in ``GameInfo.items_dropped``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exphil.game.frames import BUTTON_BITS, ITEM_SLOTS, Frames, ItemFrames, PlayerFrames
from exphil.game.ids import Character, Stage

__all__ = [
    "PARSER_VERSION",
    "GameInfo",
    "PlayerInfo",
    "ReplayError",
    "read_game",
    "read_any",
    "read_info",
    "game_mode",
    "classify_error",
]

#: Bumped whenever ``read_game`` would produce different arrays for the same file; part of the
#: parsed-game cache key, so a new version never reads an old entry.
PARSER_VERSION = 1

# Slippi's processed-buttons bits (pre-frame "buttons") for the policy's eight buttons
_SLIPPI_BUTTONS = {
    "A": 0x0100,
    "B": 0x0200,
    "X": 0x0400,
    "Y": 0x0800,
    "Z": 0x0010,
    "L": 0x0040,
    "R": 0x0020,
    "D_UP": 0x0008,
}
_HITSTUN_FLAG = 0x02  # post-frame state flags, byte 4


# peppi-py's error messages → a short, stable cause (the summary groups by it)
_CAUSES: tuple[tuple[str, str], ...] = (
    ("expected: [123, 85, 3", "not_slp"),
    ("failed to fill whole buffer", "truncated"),
    ("Cannot skip to game end", "truncated"),
    ("unexpected end of file", "truncated"),
    ("invalid game end method", "unsupported"),
    ("Invalid player placement", "unsupported"),
    ("payload size", "corrupt"),
    ("unknown event", "corrupt"),
    ("invalid data", "corrupt"),
)


def classify_error(message: str, panic: bool = False) -> str:
    """The cause key for one of peppi-py's error messages (``panic`` for a Rust panic)."""
    if panic:
        return "panic"
    for needle, cause in _CAUSES:
        if needle in message:
            return cause
    return "parse"


class ReplayError(Exception):
    """A replay that cannot be used; ``cause`` is a short stable key for summaries:

    ``not_found``, ``unreadable``, ``empty``, ``not_slp`` (not a Slippi file), ``truncated``,
    ``corrupt``, ``unsupported`` (a game end method or placement peppi-py rejects, as in
    single-player modes), ``panic`` (peppi's Rust code panicked), ``parse`` (any other parser
    error), ``mode`` (not a 1v1 game where one is needed), ``timeout``, ``crash`` (the parser
    process died).
    """

    def __init__(self, path: str, cause: str, detail: str) -> None:
        super().__init__(f"{path}: {cause}: {detail}")
        self.path = path
        self.cause = cause
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PlayerInfo:
    port: int  # 0-based (P1 = 0)
    character: Character | None  # None: an id this table does not know
    character_id: int  # the external id as recorded
    type: str  # "human" | "cpu" | "demo"
    netplay_name: str | None
    netplay_code: str | None  # with an ASCII "#" (replays store a full-width U+FF03)
    name_tag: str | None
    cpu_level: int | None


@dataclass(frozen=True, slots=True)
class GameInfo:
    """A game's metadata. ``frames`` counts the game's frames (rollback duplicates removed);
    ``duration_s`` is that at 60 frames/s."""

    path: str
    slippi_version: tuple[int, int, int]
    stage: Stage | None
    stage_id: int
    players: tuple[PlayerInfo, ...]
    mode: str  # "1v1" | "doubles" | "ffa" | "single"
    start_time: str | None
    frames: int  # frames in the game (after rollback de-duplication), 0 if not read
    end_method: str | None
    winner_port: int | None
    match_id: str | None
    is_pal: bool | None
    match_game: int | None = None  # game number within the match (with ``match_id``)
    match_tiebreaker: int | None = None
    missing: tuple[str, ...] = field(default=())
    items_dropped: int = 0
    rollback_frames: int = 0

    @property
    def duration_s(self) -> float:
        return self.frames / 60.0


def game_mode(n_players: int, is_teams: bool) -> str:
    if n_players < 2:
        return "single"
    if is_teams:
        return "doubles"
    return "1v1" if n_players == 2 else "ffa"


def _read(path: str, skip_frames: bool) -> tuple[Any, Any]:
    """``(peppi_py Game without frames, raw Arrow frames struct)`` from one parse.

    ``peppi_py.read_slippi`` is the same Rust parse followed by a conversion of the frames
    into nested Python dataclasses; the columns are read here straight from the Arrow struct
    (which also holds the items that conversion drops)."""
    from peppi_py import _peppi
    from peppi_py.game import End, Game, Start
    from peppi_py.parse import dc_from_json

    try:
        raw = _peppi.read_slippi(os.fspath(path), skip_frames)
        end = raw.end and dc_from_json(End, raw.end)
        return Game(dc_from_json(Start, raw.start), end, raw.metadata, None), raw.frames
    except BaseException as exc:  # peppi panics with pyo3's PanicException (a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if isinstance(exc, FileNotFoundError):
            cause = "not_found"
        elif isinstance(exc, PermissionError | IsADirectoryError):
            cause = "unreadable"
        else:
            cause = classify_error(message, panic=type(exc).__name__ == "PanicException")
        raise ReplayError(os.fspath(path), cause, message) from exc


def _info(path: str, game: Any, n_frames: int, **extra: Any) -> GameInfo:
    start = game.start
    players = []
    for p in start.players:
        try:
            char: Character | None = Character.from_external(int(p.character))
        except ValueError:
            char = None
        netplay = p.netplay
        players.append(
            PlayerInfo(
                port=int(p.port.value),
                character=char,
                character_id=int(p.character),
                type=p.type.name.lower(),
                netplay_name=(netplay.name or None) if netplay else None,
                netplay_code=(
                    netplay.code.replace("\uff03", "#") if netplay and netplay.code else None
                ),
                name_tag=p.name_tag or None,
                cpu_level=p.cpu_level,
            )
        )
    try:
        st: Stage | None = Stage(int(start.stage))
    except ValueError:
        st = None
    end = game.end
    winner = None
    if end is not None and end.players and end.method is not None and end.method.name == "GAME":
        firsts = [pe.port.value for pe in end.players if pe.placement == 0]
        winner = int(firsts[0]) if len(firsts) == 1 else None
    metadata = game.metadata or {}
    match = getattr(start, "match", None)
    return GameInfo(
        path=os.fspath(path),
        slippi_version=tuple(start.slippi.version),
        stage=st,
        stage_id=int(start.stage),
        players=tuple(players),
        mode=game_mode(len(players), bool(start.is_teams)),
        start_time=metadata.get("startAt"),
        frames=n_frames,
        end_method=end.method.name.lower() if end is not None and end.method else None,
        winner_port=winner,
        match_id=match.id if match is not None and match.id else None,
        is_pal=start.is_pal,
        match_game=int(match.game) if match is not None and match.id else None,
        match_tiebreaker=int(match.tiebreaker or 0) if match is not None and match.id else None,
        **extra,
    )


def read_info(path: str | os.PathLike[str]) -> GameInfo:
    """Metadata only (``skip_frames=True``: about half a millisecond). A replay whose length
    field was never written (saved while streaming) cannot be skipped through: it is parsed
    fully instead, which also tells a streamed file from a truncated one."""
    p = os.fspath(path)
    try:
        game, _ = _read(p, skip_frames=True)
    except ReplayError as exc:
        if "Cannot skip to game end" not in exc.detail:
            raise
        game, _ = _read(p, skip_frames=False)
    last = (game.metadata or {}).get("lastFrame")
    return _info(p, game, int(last) + 124 if isinstance(last, int) else 0)


def _field(struct: Any, *names: str) -> Any:
    """A nested field of an Arrow struct array, or None where the replay does not have it."""
    for name in names:
        if struct is None or struct.type.get_field_index(name) < 0:
            return None
        struct = struct.field(name)
    return struct


def _numpy(arr: Any, dtype: str) -> np.ndarray[Any, Any]:
    if arr.null_count:  # Nana's rows while she does not exist
        arr = arr.fill_null(0)
    return np.asarray(arr.to_numpy(zero_copy_only=False)).astype(dtype, copy=False)


def _player(data: Any, keep: np.ndarray[Any, Any], missing: list[str], who: str) -> PlayerFrames:
    """One character's columns from its Arrow struct (``{pre, post}``), rows ``keep``."""
    n = len(keep)
    if data is None:
        return PlayerFrames.zeros(n)
    pre, post = data.field("pre"), data.field("post")

    def col(parent: Any, path: tuple[str, ...], dtype: str, name: str) -> np.ndarray[Any, Any]:
        arr = _field(parent, *path)
        if arr is None:
            missing.append(f"{who}.{name}")
            return np.zeros(n, dtype=dtype)
        out: np.ndarray[Any, Any] = _numpy(arr, dtype)[keep]
        return out

    def v(name: str) -> np.ndarray[Any, Any]:  # velocities: Slippi 3.5+
        return col(post, ("velocities", name), "float32", name)

    misc_as = col(post, ("misc_as",), "float32", "misc_as")
    flags = _field(post, "state_flags", "3")
    if flags is not None:
        in_hitstun = (_numpy(flags, "uint8")[keep] & _HITSTUN_FLAG) != 0
    else:  # older replays: no flags recorded
        missing.append(f"{who}.state_flags")
        in_hitstun = misc_as > 0
    raw_buttons = col(pre, ("buttons",), "uint32", "buttons")
    buttons = np.zeros(n, dtype=np.uint8)
    for name, bit in _SLIPPI_BUTTONS.items():
        buttons |= np.where((raw_buttons & bit) != 0, BUTTON_BITS[name], 0).astype(np.uint8)
    state = post.field("state")
    exists = np.asarray(state.is_valid().to_numpy(zero_copy_only=False))[keep]
    return PlayerFrames(
        exists=exists,
        x=col(post, ("position", "x"), "float32", "x"),
        y=col(post, ("position", "y"), "float32", "y"),
        vx_air=v("self_x_air"),
        vy_self=v("self_y"),
        vx_knockback=v("knockback_x"),
        vy_knockback=v("knockback_y"),
        vx_ground=v("self_x_ground"),
        percent=col(post, ("percent",), "float32", "percent"),
        stocks=col(post, ("stocks",), "uint8", "stocks"),
        # +1 right, -1 left; a direction of exactly 0 (a few special actions) reads as -1, as
        # in libmelee (``facing = direction > 0``)
        facing=np.where(col(post, ("direction",), "float32", "direction") > 0, 1, -1).astype(
            np.int8
        ),
        action=col(post, ("state",), "uint16", "action"),
        action_frame=col(post, ("state_age",), "float32", "action_frame"),
        character=col(post, ("character",), "uint8", "character"),
        jumps_left=col(post, ("jumps",), "uint8", "jumps"),
        shield=col(post, ("shield",), "float32", "shield"),
        on_ground=col(post, ("airborne",), "uint8", "airborne") == 0,
        invulnerable=col(post, ("hurtbox_state",), "uint8", "hurtbox_state") != 0,
        hitlag=col(post, ("hitlag",), "float32", "hitlag"),
        hitstun=np.where(in_hitstun, misc_as, 0).astype(np.float32),
        main_x=col(pre, ("joystick", "x"), "float32", "main_x"),
        main_y=col(pre, ("joystick", "y"), "float32", "main_y"),
        c_x=col(pre, ("cstick", "x"), "float32", "c_x"),
        c_y=col(pre, ("cstick", "y"), "float32", "c_y"),
        shoulder=col(pre, ("triggers",), "float32", "shoulder"),
        buttons=buttons,
    )


def _items(
    raw: Any, ids: np.ndarray[Any, Any], keep: np.ndarray[Any, Any], ports: tuple[int, int]
) -> tuple[ItemFrames, int]:
    """Items from the raw Arrow struct (they are not in peppi-py's Frame dataclass)."""
    n = len(keep)
    out = ItemFrames.zeros(n)
    if raw is None or raw.type.get_field_index("item") < 0:
        return out, 0
    lists = raw.field("item")
    offsets = np.asarray(lists.offsets.to_numpy(zero_copy_only=False))
    values = lists.values
    if len(values) == 0:
        return out, 0
    # map each original frame row to its kept row (or -1 for rollback duplicates)
    row_of = np.full(len(ids), -1, dtype=np.int64)
    row_of[keep] = np.arange(n)
    counts = np.diff(offsets)
    item_row = np.repeat(row_of, counts)
    live = item_row >= 0
    spawn = np.asarray(values.field("id").to_numpy(zero_copy_only=False))[live]
    item_row = item_row[live]

    def vcol(name: str, sub: str | None = None) -> np.ndarray[Any, Any]:
        arr = values.field(name)
        if sub is not None:
            arr = arr.field(sub)
        return np.asarray(arr.to_numpy(zero_copy_only=False))[live]

    slot = (spawn % ITEM_SLOTS).astype(np.int64)
    # collisions: two live items of one frame in one slot -> move the later to a free slot
    taken = np.zeros((n, ITEM_SLOTS), dtype=bool)
    dropped = 0
    order = np.lexsort((spawn, item_row))
    slot_final = np.full(len(slot), -1, dtype=np.int64)
    first_try = np.ones(len(slot), dtype=bool)
    key = item_row * ITEM_SLOTS + slot
    _, first_index = np.unique(key[order], return_index=True)
    winners = order[first_index]
    slot_final[winners] = slot[winners]
    taken[item_row[winners], slot[winners]] = True
    first_try[winners] = False
    for i in np.flatnonzero(first_try):  # rare: only colliding items loop
        free = np.flatnonzero(~taken[item_row[i]])
        if len(free) == 0:
            dropped += 1
            continue
        slot_final[i] = free[0]
        taken[item_row[i], free[0]] = True
    ok = slot_final >= 0
    r, s = item_row[ok], slot_final[ok]
    out.exists[r, s] = True
    out.type[r, s] = vcol("type")[ok]
    # owner: the recorded 0-based port (null before Slippi 3.6) -> index into Frames.players
    owner_col = values.field("owner")
    if owner_col.null_count:
        owner_col = owner_col.fill_null(-1)
    owner_port = np.asarray(owner_col.to_numpy(zero_copy_only=False))[live][ok].astype(np.int16)
    out.owner[r, s] = np.select(
        [owner_port == ports[0], owner_port == ports[1]], [0, 1], default=-1
    ).astype(np.int8)
    out.x[r, s] = vcol("position", "x")[ok]
    out.y[r, s] = vcol("position", "y")[ok]
    out.vx[r, s] = vcol("velocity", "x")[ok]
    out.vy[r, s] = vcol("velocity", "y")[ok]
    out.timer[r, s] = vcol("timer")[ok]
    return out, dropped


def read_game(path: str | os.PathLike[str]) -> tuple[GameInfo, Frames]:
    """Parse a 1v1 replay. Raises ``ReplayError`` (``parse``, ``panic``, ``mode``...)."""
    info, frames = read_any(path)
    if frames is None:
        n = len(info.players)
        raise ReplayError(info.path, "mode", f"{info.mode} game ({n} players); training uses 1v1")
    return info, frames


def read_any(path: str | os.PathLike[str]) -> tuple[GameInfo, Frames | None]:
    """Parse any replay fully: ``(info, Frames)`` for a 1v1 game, ``(info, None)`` for
    doubles, free-for-all or single-player games (their frames are parsed, so the file is
    known to be readable, but ``Frames`` holds two players only)."""
    p = os.fspath(path)
    game, raw_frames = _read(p, skip_frames=False)
    n_players = len(game.start.players)
    ids = np.asarray(raw_frames.field("id").to_numpy(zero_copy_only=False)).astype(np.int32)
    if n_players != 2 or game.start.is_teams:
        return _info(
            p, game, len(np.unique(ids)), rollback_frames=len(ids) - len(np.unique(ids))
        ), None
    # keep the last occurrence of every frame id (rollback), in frame-id order
    _, rev_index = np.unique(ids[::-1], return_index=True)
    keep = np.sort(len(ids) - 1 - rev_index)
    keep = keep[np.argsort(ids[keep], kind="stable")]
    missing: list[str] = []
    port_arrays = raw_frames.field("ports")  # the present ports, P1..P4 order
    ports = [port_arrays.field(i) for i in range(port_arrays.type.num_fields)]
    players = (
        _player(ports[0].field("leader"), keep, missing, "p0"),
        _player(ports[1].field("leader"), keep, missing, "p1"),
    )
    nana = (
        _player(_field(ports[0], "follower"), keep, [], "n0"),
        _player(_field(ports[1], "follower"), keep, [], "n1"),
    )
    item_ports = (int(game.start.players[0].port.value), int(game.start.players[1].port.value))
    items, dropped = _items(raw_frames, ids, keep, item_ports)
    n = len(keep)
    frames = Frames(
        frame=ids[keep],
        stage=np.full(n, game.start.stage, dtype=np.uint8),
        players=players,
        nana=nana,
        items=items,
    )
    info = _info(
        p,
        game,
        n,
        missing=tuple(sorted(set(missing))),
        items_dropped=dropped,
        rollback_frames=len(ids) - n,
    )
    return info, frames
