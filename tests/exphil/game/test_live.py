"""The libmelee adapter: unit tests on hand-built gamestates and a fake controller, and
peppi-vs-libmelee parity on every shared 1v1 replay.

Parity (``test_parity``), one test per manifest entry; a file is skipped when peppi cannot read
it as a 1v1 game, or when it is a known libmelee failure (``LIBMELEE_UNREADABLE``); any other
libmelee failure fails. Tolerances, all from ``exphil.game.live``'s documented normalisations:

* sticks: ``atol = 2**-24`` (libmelee's float32 ``v / 2 + 0.5``), everything else exact;
* ``action_frame``, ``hitlag``, ``hitstun``, item ``timer``: libmelee's value equals
  ``trunc`` of peppi's float;
* stage: peppi's external id, or 0 where libmelee does not know the stage (not legal);
* Nana's controller columns: libmelee drops them (always neutral), so they are checked to be 0;
* columns peppi reports missing (``GameInfo.missing``, old replays) are not compared;
* ``facing`` where the replay's direction is exactly 0 reads -1 on both paths (pinned by
  ``test_direction_zero_facing``).

Runtime: libmelee steps ~7-10k frames/s, so the corpus (~350k frames after peppi's rollback
de-duplication) takes ~50 s on 2 cores; every file is therefore compared on its first
``PARITY_MAX_FRAMES`` frame ids (default 3,000: ~165k frames, ~25 s). Set
``EXPHIL_PARITY_MAX_FRAMES=0`` to compare whole games.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from melee import enums

from exphil.game import Character, Controls, Stage
from exphil.game.frames import BUTTON_BITS, BUTTONS, ITEM_SLOTS, Frames, PlayerFrames
from exphil.game.live import (
    HITSTUN_ACTIONS,
    FrameRecorder,
    apply_action,
    frame_row,
    read_slp_with_libmelee,
)
from exphil.game.peppi import ReplayError, read_game

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = (
    Path(os.environ.get("EXPHIL_TEST_REPLAYS", ROOT.parent / "shared" / "replays"))
    / "manifest.json"
)  # the replays_dir fixture's
PARITY_MAX_FRAMES = int(os.environ.get("EXPHIL_PARITY_MAX_FRAMES", "3000")) or None

LIBMELEE_UNREADABLE = {
    "hohav__peppi/tests__data__v0.1.slp": "Slippi 0.1: libmelee reads past its short events",
    "project-slippi__slippi-js/slp__sheik_vs_ics_yoshis.slp": "Slippi 0.1 (as v0.1.slp)",
    "project-slippi__slippi-js/slp__test.slp": "Slippi 0.1 (as v0.1.slp)",
    "hohav__py-slippi/test__replays__streaming_game.slp": (
        "an unfinished (streamed) file: libmelee's ubjson cannot decode it"
    ),
    # only past frame 5208: read fine under the default frame cap
    "hohav__peppi/tests__data__unknown_event.slp": "libmelee rejects event type 0xFF",
}

_STICKS = ("main_x", "main_y", "c_x", "c_y")
_CONTROLLER = (*_STICKS, "shoulder", "buttons")
_TRUNCATED = ("action_frame", "hitlag", "hitstun")
# peppi's GameInfo.missing names (per port) -> the columns they fill
_MISSING_COLUMNS = {
    "airborne": ("on_ground",),
    "hurtbox_state": ("invulnerable",),
    "jumps": ("jumps_left",),
    "misc_as": ("hitstun",),
    "state_flags": ("hitstun",),
    "direction": ("facing",),
}


# --- hand-built gamestates ---------------------------------------------------------------


def _controller(
    main: tuple[float, float] = (0.5, 0.5),
    c: tuple[float, float] = (0.5, 0.5),
    shoulder: float = 0.0,
    processed: tuple[str, ...] = (),
    physical: tuple[str, ...] = (),
) -> SimpleNamespace:
    names = [b for b in enums.Button if b not in (enums.Button.BUTTON_MAIN, enums.Button.BUTTON_C)]
    return SimpleNamespace(
        main_stick=(np.float32(main[0]), np.float32(main[1])),
        c_stick=(np.float32(c[0]), np.float32(c[1])),
        l_shoulder=np.float32(shoulder),
        r_shoulder=np.float32(shoulder),
        processed_button={b: b.name[len("BUTTON_") :] in processed for b in names},
        button={b: b.name[len("BUTTON_") :] in physical for b in names},
    )


def _player(
    character: enums.Character = enums.Character.FOX,
    action: int = enums.Action.STANDING.value,
    x: float = 0.0,
    nana: SimpleNamespace | None = None,
    **overrides: Any,
) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "character": character,
        "action": enums.Action(action),
        "action_frame": 5,
        "position": SimpleNamespace(x=np.float32(x), y=np.float32(1.5)),
        "speed_air_x_self": np.float32(0.25),
        "speed_y_self": np.float32(-0.5),
        "speed_x_attack": np.float32(1.0),
        "speed_y_attack": np.float32(-1.0),
        "speed_ground_x_self": np.float32(0.75),
        "percent": np.float32(42.0),
        "stock": np.uint8(3),
        "facing": True,
        "jumps_left": np.uint8(2),
        "shield_strength": np.float32(60.0),
        "on_ground": True,
        "invulnerable": False,
        "hitlag_left": 0,
        "hitstun_frames_left": 0,
        "controller_state": _controller(),
        "nana": nana,
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def _gamestate(
    players: dict[int, SimpleNamespace],
    frame: int = 0,
    stage: enums.Stage = enums.Stage.BATTLEFIELD,
    projectiles: list[SimpleNamespace] | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(
        frame=frame,
        stage=stage,
        players=players,
        projectiles=projectiles or [],
        menu_state=enums.Menu.IN_GAME,
    )


def _projectile(spawn_id: int, x: float = 0.0, owner: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        spawn_id=np.uint32(spawn_id),
        type=enums.ProjectileType.FOX_LASER,
        owner=owner,
        position=SimpleNamespace(x=np.float32(x), y=np.float32(2.0)),
        speed=SimpleNamespace(x=np.float32(3.0), y=np.float32(0.0)),
        expiration_frames=7,
    )


def _zero_indexed_pair() -> tuple[enums.Character, int]:
    path = Path(enums.__file__).with_name("actiondata.csv")
    for line in path.read_text().splitlines()[1:]:
        char, action, zero = (f.strip('"') for f in line.split(","))
        if zero == "True" and int(action) not in HITSTUN_ACTIONS:
            try:
                return enums.Character(int(char)), int(action)
            except ValueError:
                continue
    raise AssertionError("no zero-indexed action in libmelee's actiondata.csv")


def test_module_imports_without_melee() -> None:
    code = "import sys, exphil.game.live; assert 'melee' not in sys.modules, 'melee imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_frame_row_orders_ports_and_converts_ids() -> None:
    gs = _gamestate(
        {
            3: _player(enums.Character.MARTH, x=30.0),
            1: _player(enums.Character.FOX, x=-10.0, facing=False),
        },
        frame=-123,
        stage=enums.Stage.FINAL_DESTINATION,
    )
    row = frame_row(gs)
    assert isinstance(row, Frames) and len(row) == 1
    assert row.frame.tolist() == [-123]
    assert row.stage.tolist() == [Stage.FINAL_DESTINATION.value] == [32]
    p0, p1 = row.players
    assert p0.character.tolist() == [Character.FOX.internal]  # port 1 first
    assert p1.character.tolist() == [Character.MARTH.internal]
    assert p0.x.tolist() == [-10.0] and p1.x.tolist() == [30.0]
    assert p0.facing.tolist() == [-1] and p1.facing.tolist() == [1]
    assert p0.exists.all() and not row.nana[0].exists.any() and not row.items.exists.any()
    assert (p0.vx_air[0], p0.vy_self[0], p0.vx_knockback[0], p0.vy_knockback[0]) == (
        0.25,
        -0.5,
        1.0,
        -1.0,
    )
    assert p0.vx_ground[0] == 0.75 and p0.percent[0] == 42 and p0.stocks[0] == 3
    # the caller can fix the ports (and their order)
    flipped = frame_row(gs, ports=(3, 1))
    assert flipped.players[0].character.tolist() == [Character.MARTH.internal]


def test_frame_row_stage_ids() -> None:
    players = {1: _player(), 2: _player()}
    for st in (Stage.BATTLEFIELD, Stage.POKEMON_STADIUM, Stage.YOSHIS_STORY, Stage.DREAM_LAND):
        melee_stage = enums.Stage(st.internal)
        assert frame_row(_gamestate(players, stage=melee_stage)).stage[0] == st.value
    # libmelee reads every non-legal stage as NO_STAGE: 0 ("unknown")
    assert frame_row(_gamestate(players, stage=enums.Stage.NO_STAGE)).stage[0] == 0


def test_frame_row_controller_conversion() -> None:
    cs = _controller(
        main=(1.0, 0.0),
        c=(0.5, 0.75),
        shoulder=0.35,
        processed=("A", "Z", "D_UP", "START"),
        physical=("B",),
    )
    row = frame_row(_gamestate({1: _player(controller_state=cs), 2: _player()}))
    p = row.players[0]
    assert (p.main_x[0], p.main_y[0], p.c_x[0], p.c_y[0]) == (1.0, -1.0, 0.0, 0.5)
    assert p.shoulder[0] == np.float32(0.35)
    # processed buttons (as peppi's pre.buttons), in BUTTONS order; START is not a policy button
    assert p.buttons[0] == BUTTON_BITS["A"] | BUTTON_BITS["Z"] | BUTTON_BITS["D_UP"]
    neutral = row.players[1]
    assert (neutral.main_x[0], neutral.c_y[0], neutral.buttons[0]) == (0.0, 0.0, 0)


def test_frame_row_action_frame_and_hitstun() -> None:
    char, action = _zero_indexed_pair()
    zero = _player(char, action, action_frame=4, hitstun_frames_left=9)
    # Fox's DASHING is not in libmelee's zero-indexed list
    plain = _player(action=enums.Action.DASHING.value, action_frame=4, hitstun_frames_left=9)
    hit = _player(action=enums.Action.DAMAGE_FLY_HIGH.value, hitstun_frames_left=12, hitlag_left=3)
    row = frame_row(_gamestate({1: zero, 2: plain}))
    # libmelee added 1 to the zero-indexed action: undone; the others are taken as they are
    assert row.players[0].action_frame[0] == 3 and row.players[1].action_frame[0] == 4
    assert row.players[0].action[0] == action
    # misc_as outside the hitstun actions is not hitstun
    assert row.players[0].hitstun[0] == 0 and row.players[1].hitstun[0] == 0
    row = frame_row(_gamestate({1: hit, 2: plain}))
    assert row.players[0].hitstun[0] == 12 and row.players[0].hitlag[0] == 3


def test_frame_row_nana() -> None:
    char, action = _zero_indexed_pair()
    nana = _player(enums.Character.NANA, x=5.0)
    nana_zero = _player(char, action, action_frame=4)
    popo = _player(enums.Character.POPO, nana=nana)
    row = frame_row(_gamestate({1: popo, 4: _player(nana=nana_zero)}))
    assert row.nana[0].exists[0] and row.nana[0].x[0] == 5.0
    assert row.nana[0].character[0] == Character.NANA.internal
    # libmelee does not re-index Nana's action frame: nothing to undo
    assert row.nana[1].action_frame[0] == 4


def test_recorder_rollback_keeps_last_and_sorts() -> None:
    rec = FrameRecorder()
    for frame, x in [(0, 1.0), (1, 2.0), (2, 3.0), (1, 20.0), (2, 30.0), (3, 40.0)]:
        rec.append(_gamestate({1: _player(x=x), 2: _player()}, frame=frame))
    assert rec.ports == (1, 2) and len(rec) == 4
    frames = rec.frames()
    assert frames.frame.tolist() == [0, 1, 2, 3]
    assert frames.players[0].x.tolist() == [1.0, 20.0, 30.0, 40.0]
    assert frames.frame.dtype == np.int32 and frames.stage.dtype == np.uint8


def test_recorder_ports() -> None:
    three = _gamestate({1: _player(), 2: _player(), 3: _player()})
    with pytest.raises(ValueError, match="3-player"):
        frame_row(three)
    assert frame_row(three, ports=(1, 3)).players[1].exists.all()
    with pytest.raises(ValueError, match="distinct"):
        FrameRecorder(ports=(2, 2))
    with pytest.raises(ValueError, match=r"1\.\.4"):
        FrameRecorder(ports=(0, 1))
    # a fixed port absent from a gamestate: a non-existent, zero row
    row = frame_row(_gamestate({1: _player()}), ports=(1, 2))
    assert not row.players[1].exists[0] and row.players[1].x[0] == 0
    assert FrameRecorder().frames().frame.shape == (0,)


def test_items_slots_follow_spawn_ids() -> None:
    # 16 and 31 both want slot 1: 16 (the lower spawn id) keeps it, 31 takes the lowest free (0)
    items = [_projectile(31, x=31.0, owner=2), _projectile(16, x=16.0, owner=0), _projectile(5)]
    row = frame_row(_gamestate({1: _player(), 2: _player()}, projectiles=items)).items
    assert np.flatnonzero(row.exists[0]).tolist() == [0, 1, 5]
    assert (row.x[0, 0], row.x[0, 1]) == (31.0, 16.0)
    assert (row.owner[0, 0], row.owner[0, 1]) == (1, -1)  # libmelee's 1-based -> 0-based
    assert row.type[0, 5] == enums.ProjectileType.FOX_LASER.value
    assert (row.vx[0, 5], row.vy[0, 5], row.timer[0, 5]) == (3.0, 0.0, 7.0)
    rec = FrameRecorder()
    rec.append(
        _gamestate({1: _player(), 2: _player()}, projectiles=[_projectile(i) for i in range(17)])
    )
    assert rec.frames().items.exists.sum() == ITEM_SLOTS and rec.items_dropped == 2


# --- controller output --------------------------------------------------------------------


class FakeController:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def press_button(self, button: Any) -> None:
        self.calls.append(("press", button))

    def release_button(self, button: Any) -> None:
        self.calls.append(("release", button))

    def tilt_analog(self, button: Any, x: float, y: float) -> None:
        self.calls.append(("tilt", button, x, y))

    def press_shoulder(self, button: Any, amount: float) -> None:
        self.calls.append(("shoulder", button, amount))


def test_apply_action_clamps_and_refuses_bad_values() -> None:
    ctl = FakeController()
    c = Controls.full(2, shoulder=0.25)
    c.main_x[1], c.main_y[1], c.c_x[1], c.shoulder[1] = 1.5, -3.0, math.inf, 2.0
    apply_action(ctl, c, row=1)
    assert ("tilt", enums.Button.BUTTON_MAIN, 1.0, 0.0) in ctl.calls
    assert ("tilt", enums.Button.BUTTON_C, 1.0, 0.5) in ctl.calls
    assert ("shoulder", enums.Button.BUTTON_L, 1.0) in ctl.calls
    ctl.calls.clear()
    c.shoulder[0] = -0.5
    apply_action(ctl, c, row=0)
    assert ("shoulder", enums.Button.BUTTON_L, 0.0) in ctl.calls
    # NaN, buttons outside a uint8 bitmask, a bad row: refused before anything is sent
    ctl.calls.clear()
    c.main_y[0] = math.nan
    with pytest.raises(ValueError, match="main_y is NaN"):
        apply_action(ctl, c, row=0)
    ok = Controls.full(1)
    with pytest.raises(ValueError, match=r"previous\.shoulder is NaN"):
        apply_action(ctl, ok, previous=Controls.full(1, shoulder=math.nan))
    z = np.zeros(1, np.float32)
    for bad in (np.array([256]), np.array([-1]), np.array([1.0]), np.array([True])):
        wide = Controls(z, z, z, z, z, bad)
        with pytest.raises(ValueError, match="uint8 bitmask"):
            apply_action(ctl, wide)
    assert ctl.calls == []
    with pytest.raises(IndexError, match="row 2"):
        apply_action(ctl, ok, row=2)
    with pytest.raises(TypeError, match="Controls"):
        apply_action(ctl, (0.0, 0.0))  # type: ignore[arg-type]
    # any integer dtype holding a bitmask is fine
    wide = Controls(z, z, z, z, z, np.array([3], np.int64))
    apply_action(ctl, wide)
    assert {c[1].name for c in ctl.calls if c[0] == "press"} == {"BUTTON_A", "BUTTON_B"}


def test_apply_action_writes_a_players_controller_row() -> None:
    p = PlayerFrames.zeros(2)
    p.main_x[1], p.c_y[1], p.shoulder[1] = 0.5, -1.0, 0.25
    p.buttons[1] = BUTTON_BITS["B"] | BUTTON_BITS["R"]
    c = Controls.from_player(p)
    assert c.pressed(1) == ("B", "R") and c.pressed(0) == ()
    ctl = FakeController()
    apply_action(ctl, c, row=1)
    assert ("tilt", enums.Button.BUTTON_MAIN, 0.75, 0.5) in ctl.calls
    assert ("tilt", enums.Button.BUTTON_C, 0.5, 0.0) in ctl.calls
    assert ("shoulder", enums.Button.BUTTON_L, 0.25) in ctl.calls
    # row 0 after row 1 of the same columns: only the differences
    ctl.calls.clear()
    apply_action(ctl, c, row=0, previous=c, previous_row=1)
    assert ctl.calls == [
        ("release", enums.Button.BUTTON_B),
        ("release", enums.Button.BUTTON_R),
        ("tilt", enums.Button.BUTTON_MAIN, 0.5, 0.5),
        ("tilt", enums.Button.BUTTON_C, 0.5, 0.5),
        ("shoulder", enums.Button.BUTTON_L, 0.0),
    ]


def test_apply_action_sets_everything_then_only_changes() -> None:
    ctl = FakeController()
    first = Controls.full(1, buttons=("A", "L"), main_x=-1.0, main_y=1.0, shoulder=0.5)
    apply_action(ctl, first)
    pressed = {c[1].name for c in ctl.calls if c[0] == "press"}
    released = {c[1].name for c in ctl.calls if c[0] == "release"}
    assert pressed == {"BUTTON_A", "BUTTON_L"}
    assert released == {f"BUTTON_{n}" for n in BUTTONS} - pressed
    assert ("tilt", enums.Button.BUTTON_MAIN, 0.0, 1.0) in ctl.calls
    assert ("tilt", enums.Button.BUTTON_C, 0.5, 0.5) in ctl.calls
    assert ("shoulder", enums.Button.BUTTON_L, 0.5) in ctl.calls
    assert ("shoulder", enums.Button.BUTTON_R, 0.0) in ctl.calls
    assert len(ctl.calls) == len(BUTTONS) + 4

    ctl.calls.clear()
    second = Controls.full(1, buttons=("A", "B"), main_x=-1.0, main_y=1.0, c_x=1.0)
    apply_action(ctl, second, previous=first)
    assert ctl.calls == [
        ("press", enums.Button.BUTTON_B),
        ("release", enums.Button.BUTTON_L),
        ("tilt", enums.Button.BUTTON_C, 1.0, 0.5),
        ("shoulder", enums.Button.BUTTON_L, 0.0),
    ]
    ctl.calls.clear()
    apply_action(ctl, second, previous=second)
    assert ctl.calls == []
    # a change that clamps to the same value sends nothing
    beyond = Controls.full(1, buttons=("A", "B"), main_x=-7.0, main_y=1.0, c_x=3.0)
    apply_action(ctl, beyond, previous=second)
    assert ctl.calls == []


# --- parity with peppi on the shared replays ----------------------------------------------


def _manifest_files() -> list[str]:
    if not MANIFEST.is_file():
        return ["(no manifest)"]
    return [entry["file"] for entry in json.loads(MANIFEST.read_text())]


def _raw_direction_zero(path: Path, frame_ids: np.ndarray[Any, Any], port: int) -> Any:
    """Rows (of ``frame_ids``) where the replay's facing direction is exactly 0."""
    import peppi_py

    game = peppi_py.read_slippi(str(path))
    ids = np.asarray(game.frames.id.to_numpy(zero_copy_only=False))
    last = {int(f): i for i, f in enumerate(ids)}
    rows = np.asarray([last[int(f)] for f in frame_ids])
    direction = game.frames.ports[port].leader.post.direction
    return np.asarray(direction.to_numpy(zero_copy_only=False))[rows] == 0


def _legal(external_stage: int) -> bool:
    try:
        return Stage(external_stage).legal
    except ValueError:
        return False


def _compare(path: Path, missing: tuple[str, ...], want: Frames, got: Frames) -> list[str]:
    """Every column, under the documented normalisations; returns the mismatches."""
    bad: list[str] = []
    if not np.array_equal(want.frame, got.frame):
        return [f"frame ids: peppi {len(want)} rows, libmelee {len(got)}"]

    def check(
        name: str,
        a: np.ndarray[Any, Any],
        b: np.ndarray[Any, Any],
        at: np.ndarray[Any, Any],
        atol: float = 0.0,
    ) -> None:
        """``a`` (peppi) against ``b`` (libmelee), rows at frame ids ``at``."""
        a = a.astype(np.float64) if atol else a
        diff = np.abs(a - b) > atol if atol else a != b
        if diff.any():
            rows = np.flatnonzero(diff.reshape(len(a), -1).any(axis=1))
            bad.append(
                f"{name}: {len(rows)} rows differ, first at frame {int(at[rows[0]])} "
                f"(peppi {a[rows[0]]!r}, libmelee {b[rows[0]]!r})"
            )

    frame = want.frame
    legal = np.asarray([_legal(int(s)) for s in want.stage], dtype=bool)
    check("stage", np.where(legal, want.stage, 0).astype(np.uint8), got.stage, frame)
    for i in range(2):
        skip = {
            col
            for m in missing
            if m.startswith(f"p{i}.")
            for col in _MISSING_COLUMNS.get(m[3:], (m[3:],))
        }
        for who, a, b in (
            ("players", want.players[i], got.players[i]),
            ("nana", want.nana[i], got.nana[i]),
        ):
            check(f"{who}[{i}].exists", a.exists, b.exists, frame)
            rows = a.exists & b.exists
            at = frame[rows]
            for col in PlayerFrames.DTYPES:
                if col in skip or col == "exists":
                    continue
                x, y = getattr(a, col)[rows], getattr(b, col)[rows]
                if who == "nana" and col in _CONTROLLER:
                    check(f"nana[{i}].{col} (neutral)", np.zeros_like(y), y, at)
                    continue
                if col in _TRUNCATED:
                    x = np.trunc(x)
                check(f"{who}[{i}].{col}", x, y, at, 2.0**-24 if col in _STICKS else 0.0)
    for col in ("exists", "type", "owner", "x", "y", "vx", "vy", "timer"):
        x, y = getattr(want.items, col), getattr(got.items, col)
        check(f"items.{col}", np.trunc(x) if col == "timer" else x, y, frame)
    return bad


def _read_both(replays_dir: Path, name: str) -> tuple[Any, Frames, Frames]:
    path = replays_dir / name
    try:
        info, want = read_game(path)
    except ReplayError as exc:
        pytest.skip(f"peppi: {exc.cause}: {exc.detail[:120]}")
    try:
        got = read_slp_with_libmelee(path, max_frames=PARITY_MAX_FRAMES)
    except Exception as exc:
        if name in LIBMELEE_UNREADABLE:
            pytest.skip(f"libmelee: {LIBMELEE_UNREADABLE[name]} ({type(exc).__name__}: {exc})")
        raise
    if PARITY_MAX_FRAMES is not None:
        want = want.take(want.frame < want.frame[0] + PARITY_MAX_FRAMES)
    return info, want, got


@pytest.mark.slow
@pytest.mark.parametrize("name", _manifest_files())
def test_parity(replays_dir: Path, name: str) -> None:
    info, want, got = _read_both(replays_dir, name)
    assert len(got) > 0
    mismatches = _compare(replays_dir / name, info.missing, want, got)
    assert mismatches == []


def test_direction_zero_facing(replays_dir: Path) -> None:
    name = "project-slippi__slippi-js/slp__gameModeTest__Lightning.slp"
    _, want, got = _read_both(replays_dir, name)
    zero = _raw_direction_zero(replays_dir / name, want.frame, 0)
    assert zero.any()  # the case exists in this replay (action 0x131, frames 489..)
    np.testing.assert_array_equal(want.players[0].facing, got.players[0].facing)
