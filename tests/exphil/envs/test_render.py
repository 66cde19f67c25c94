"""Pictures of games: terminal text, images, strips, GIFs and the live view."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from exphil.envs import Controls, MockConfig, MockEnv
from exphil.envs.render import (
    BACKGROUND,
    LiveView,
    render_image,
    render_text,
    save_gif,
    save_strip,
)
from exphil.game.frames import BUTTON_BITS, Frames, ItemFrames, PlayerFrames
from exphil.game.ids import Stage, action_name, is_dead_action

STEPS = 300


def _stack(parts: list[Frames]) -> Frames:
    def player(get: object) -> PlayerFrames:
        cols = [get(f).columns() for f in parts]  # type: ignore[operator]
        return PlayerFrames(**{k: np.concatenate([c[k] for c in cols]) for k in cols[0]})

    items = [f.items.columns() for f in parts]
    return Frames(
        frame=np.concatenate([f.frame for f in parts]),
        stage=np.concatenate([f.stage for f in parts]),
        players=(player(lambda f: f.players[0]), player(lambda f: f.players[1])),
        nana=(player(lambda f: f.nana[0]), player(lambda f: f.nana[1])),
        items=ItemFrames(**{k: np.concatenate([c[k] for c in items]) for k in items[0]}),
    )


def _play(stage: str) -> Frames:
    """Port 0 walks right, hopping and attacking, and falls off the far edge; port 1 stands
    and shields for a while. One row per frame."""
    env = MockEnv(1, MockConfig(stage=stage))
    parts = [env.reset()]
    zero = np.zeros(1, dtype=np.float32)
    for t in range(STEPS):
        # short hops, and one full hop (jump held through the jump squat) from t = 160
        jump = t % 50 == 10 or 160 <= t < 165
        attack = t % 50 == 40 and t != 140  # (an f-tilt at 140 would still be on at 160)
        press = BUTTON_BITS["X"] if jump else BUTTON_BITS["A"] if attack else 0
        c0 = Controls(
            np.full(1, 0.6 if t < 260 else 0.0, dtype=np.float32),
            zero,
            zero,
            zero,
            zero,
            np.full(1, press, dtype=np.uint8),
        )
        shield = np.full(1, 1.0 if 100 <= t < 140 else 0.0, dtype=np.float32)
        c1 = Controls(zero, zero, zero, zero, shield, np.zeros(1, dtype=np.uint8))
        parts.append(env.step(c0, c1).frames)
    return _stack(parts)


@pytest.fixture(scope="module", params=["fd", "bf"])
def game(request: pytest.FixtureRequest) -> Frames:
    return _play(request.param)


def _stage_lines(frames: Frames, row: int, **kw: object) -> list[str]:
    lines = render_text(frames, row, color=False, **kw).plain.split("\n")  # type: ignore[arg-type]
    return lines[1:-2]  # without the title and the two HUD lines


def _find(lines: list[str], ch: str) -> list[tuple[int, int]]:
    return [(r, c) for r, line in enumerate(lines) for c, x in enumerate(line) if x == ch]


def _rows_where(frames: Frames, mask: np.ndarray) -> list[int]:
    return np.flatnonzero(mask).tolist()


# --- text ---------------------------------------------------------------------------------------
def test_text_has_the_requested_size_and_no_ansi_without_color(game: Frames) -> None:
    for row in (0, 102, 120, 250, len(game) - 1):
        for width, height in ((100, 30), (57, 11)):
            text = render_text(game, row, width=width, height=height, color=False)
            lines = text.plain.split("\n")
            assert len(lines) == height
            assert all(len(line) == width for line in lines)
            assert not text.spans and not text.style
            out = io.StringIO()
            Console(file=out, force_terminal=True, color_system="truecolor", width=200).print(text)
            assert "\x1b" not in out.getvalue()
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="truecolor", width=200).print(
        render_text(game, 0)
    )
    assert "\x1b[" in out.getvalue()  # with colour it is coloured
    colored = render_text(game, 120)
    assert colored.plain == render_text(game, 120, color=False).plain


def test_text_players_are_where_their_x_and_y_say(game: Frames) -> None:
    p0, p1 = game.players
    alive = np.array([not is_dead_action(a) for a in p0.action])
    apart = alive & (np.abs(p0.x - p1.x) > 15.0)
    checked = 0
    for row in _rows_where(game, apart)[::7]:
        lines = _stage_lines(game, row)
        ones, twos = _find(lines, "1"), _find(lines, "2")
        assert len(ones) == 1 and len(twos) == 1, (row, lines)
        assert (ones[0][1] < twos[0][1]) == (p0.x[row] < p1.x[row])
        checked += 1
    assert checked > 10
    assert (p0.x[apart] > p1.x[apart]).any() and (p0.x[apart] < p1.x[apart]).any()

    # frame 0: port 0 on the left facing right, port 1 on the right facing left, both on the
    # ground, and the stage block right under them
    lines = _stage_lines(game, 0)
    (r1, c1), (r2, c2) = _find(lines, "1")[0], _find(lines, "2")[0]
    assert lines[r1][c1 : c1 + 2] == "1>" and lines[r2][c2 - 1 : c2 + 1] == "<2"
    assert r1 == r2 and lines[r1 + 1][c1] == "#" and lines[r2 + 1][c2] == "#"
    # the top of port 0's full hop is drawn above port 1 standing
    top = 160 + int(np.argmax(p0.y[160:230]))
    assert p0.y[top] > 25  # Fox: 31.28 above the ground
    lines = _stage_lines(game, top)
    assert _find(lines, "1")[0][0] < _find(lines, "2")[0][0]


def test_text_states_have_their_own_glyphs(game: Frames) -> None:
    p0, p1 = game.players
    shield_row = 120
    assert action_name(int(p1.action[shield_row])) == "SHIELD"
    assert "(2)" in "\n".join(_stage_lines(game, shield_row))
    hit_row = _rows_where(game, p1.hitstun > 0)[0]
    hit = "\n".join(_stage_lines(game, hit_row))
    assert "2*" in hit or "*2" in hit
    dead_row = _rows_where(game, np.array([is_dead_action(a) for a in p0.action]))[0]
    dead = "\n".join(_stage_lines(game, dead_row))
    assert "1x" in dead or "x1" in dead
    platforms = "=" in "\n".join(_stage_lines(game, 0))
    assert platforms == (int(game.stage[0]) == Stage.BATTLEFIELD)


def test_text_hud_shows_percent_stocks_action_and_time(game: Frames) -> None:
    row = 120
    lines = render_text(game, row, color=False).plain.split("\n")
    assert Stage(int(game.stage[row])).display_name in lines[0]
    assert f"frame {int(game.frame[row])}" in lines[0] and "0:02" in lines[0]
    for port, line in zip((0, 1), lines[-2:], strict=True):
        p = game.players[port]
        assert line.startswith(f"P{port + 1} Fox")
        assert f" {float(p.percent[row]):.0f}% " in line
        assert f"stocks {int(p.stocks[row])}" in line
        assert f"{action_name(int(p.action[row]))} f{int(p.action_frame[row])}" in line
    assert "9%" in lines[-1] and "SHIELD f" in lines[-1]  # port 1 was hit once, then shields
    last = render_text(game, len(game) - 1, color=False).plain.split("\n")
    assert "0:05" in last[0] and "stocks 3" in last[-2]
    assert "DEAD" in last[-2] or "ON_HALO" in last[-2]  # off Battlefield's nearer edge earlier


def test_text_follow_view_and_bad_arguments(game: Frames) -> None:
    lines = render_text(game, 60, color=False, view="follow", width=80, height=20).plain
    rows = lines.split("\n")
    assert len(rows) == 20 and all(len(r) == 80 for r in rows)
    assert len(_find(rows[1:-2], "1")) == 1 and len(_find(rows[1:-2], "2")) == 1
    for bad_row in (-1, len(game), True, 1.5):
        with pytest.raises(ValueError, match="row"):
            render_text(game, bad_row)  # type: ignore[arg-type]
    assert render_text(game, np.int64(3), color=False).plain  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="view"):
        render_text(game, 0, view="zoom")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least"):
        render_text(game, 0, width=10)
    with pytest.raises(ValueError, match="at least"):
        render_text(game, 0, height=3)


def test_unknown_stage_is_drawn_without_a_stage() -> None:
    frames = Frames.zeros(3)  # stage id 0: no such stage
    frames.players[0].exists[:] = True
    frames.players[1].exists[:] = True
    frames.players[0].x[:] = -50.0
    frames.players[1].x[:] = 300.0  # outside the default view: the view grows
    frames.players[0].action[:] = 0x0E
    frames.players[1].action[:] = 0x0E
    frames.players[0].facing[:] = 1
    frames.players[1].facing[:] = -1
    text = render_text(frames, 1, color=False).plain
    assert "#" not in text and "stage 0" in text
    lines = text.split("\n")[1:-2]
    assert _find(lines, "1")[0][1] < _find(lines, "2")[0][1]
    assert render_image(frames, 1).size[0] > 500


# --- images -------------------------------------------------------------------------------------
def _pixel_at(
    img: Image.Image, frames: Frames, row: int, x: float, y: float, scale: float
) -> tuple[int, int, int]:
    g = Stage(int(frames.stage[row])).geometry
    px = round((x - g.blast_left) * scale)
    py = round((g.blast_top - y) * scale)
    pixel = img.getpixel((px, py))
    assert isinstance(pixel, tuple)
    return (pixel[0], pixel[1], pixel[2])


def test_image_size_and_players(game: Frames) -> None:
    g = Stage(int(game.stage[0])).geometry
    scale = 2.0
    bare = render_image(game, 0, scale=scale, hud=False)
    assert bare.mode == "RGB"
    assert bare.size == (
        round((g.blast_right - g.blast_left) * scale),
        round((g.blast_top - g.blast_bottom) * scale),
    )
    with_hud = render_image(game, 0, scale=scale)
    assert with_hud.size[0] == bare.size[0] and with_hud.size[1] > bare.size[1] + 30
    assert bare.getpixel((0, 0)) == BACKGROUND
    assert bare.getpixel((bare.size[0] - 1, 0)) == BACKGROUND

    p0, p1 = game.players
    for row in (0, 60):
        img = render_image(game, row, scale=scale, hud=False)
        red = _pixel_at(img, game, row, float(p0.x[row]), float(p0.y[row]) + 7.0, scale)
        blue = _pixel_at(img, game, row, float(p1.x[row]), float(p1.y[row]) + 7.0, scale)
        assert red != BACKGROUND and red[0] > 150 > red[2]
        assert blue != BACKGROUND and blue[2] > 150 > blue[0]
        # the stage is drawn under the players, the sky above them is empty
        assert _pixel_at(img, game, row, 0.0, -10.0, scale) != BACKGROUND
        assert _pixel_at(img, game, row, float(p1.x[row]), 150.0, scale) == BACKGROUND
    # the shield bubble reaches beyond the hurtbox
    img = render_image(game, 120, scale=scale, hud=False)
    side = _pixel_at(img, game, 120, float(p1.x[120]) + 7.5, float(p1.y[120]) + 7.0, scale)
    assert side != BACKGROUND and side[2] > side[0]
    plain = render_image(game, 0, scale=scale, hud=False)
    side0 = _pixel_at(plain, game, 0, float(p1.x[0]) + 7.5, float(p1.y[0]) + 7.0, scale)
    assert side0 == BACKGROUND
    # a close-up is smaller than the whole blast zone, at the same scale
    close = render_image(game, 0, scale=scale, view="follow", hud=False)
    assert close.size[0] < bare.size[0] and close.size[1] < bare.size[1]


def test_a_player_hanging_on_a_ledge_is_drawn_distinctly() -> None:
    env = MockEnv(1)
    edge = Stage.FINAL_DESTINATION.geometry.edge
    env.place(0, 0, x=edge + 6.0, y=-6.0, facing=-1)  # falls into the right ledge's box
    zero = Controls.neutral(1)
    parts = [env.step(zero, zero).frames for _ in range(50)]  # 7 catch frames, then hanging
    frames = _stack(parts)
    row = 45  # hanging, its intangibility over
    assert action_name(int(frames.players[0].action[row])) == "EDGE_HANGING"
    assert not frames.players[0].invulnerable[row]
    text = render_text(frames, row, color=False).plain
    assert "|1" in "\n".join(_stage_lines(frames, row))  # the bar on the ledge's side
    assert "LEDGE" in text.split("\n")[-2]
    scale = 3.0
    img = render_image(frames, row, scale=scale, hud=False)
    x, y = float(frames.players[0].x[row]), float(frames.players[0].y[row])
    arm = _pixel_at(img, frames, row, x - 2.0, y + 13.5, scale)  # the arm up to the ledge
    assert arm[1] > 150 > arm[2]


def _pad(main_y: float = 0.0, buttons: tuple[str, ...] = ()) -> Controls:
    bits = 0
    for name in buttons:
        bits |= BUTTON_BITS[name]
    f = np.float32
    z = np.zeros(1, f)
    return Controls(z, np.full(1, main_y, f), z, z, z, np.full(1, bits, np.uint8))


def test_a_shine_and_a_grab_are_drawn_distinctly() -> None:
    """mock watch shows the newer moves: ``{1}`` and a hexagon while shining, ``1&`` and an
    orange outline while holding a grab, ``@2`` (facing left) and a purple outline while
    held."""
    env = MockEnv(1, MockConfig(characters=("fox", "falco")))
    env.place(0, 0, x=-30.0, y=0.0, facing=1)
    env.place(0, 1, x=60.0, y=0.0, facing=-1)
    shine = _stack([env.step(_pad(-1.0, ("B",)), _pad()).frames for _ in range(6)])
    row = 4  # the loop
    assert action_name(int(shine.players[0].action[row])) != "STANDING"
    lines = _stage_lines(shine, row)
    assert _find(lines, "{") and _find(lines, "}") and not _find(lines, "(")
    scale = 3.0
    img = render_image(shine, row, scale=scale, hud=False)
    x, y = float(shine.players[0].x[row]), float(shine.players[0].y[row])
    # inside the hexagon (radius 8.5 around the body's middle), outside the body (4.5)
    glow = _pixel_at(img, shine, row, x + 6.5, y + 7.0, scale)
    assert glow != BACKGROUND and glow[2] > glow[1] > glow[0], glow
    standing = MockEnv(1, MockConfig(characters=("fox", "falco")))
    standing.place(0, 0, x=x, y=y, facing=1)
    still = standing.step(_pad(), _pad()).frames
    img = render_image(still, 0, scale=scale, hud=False)
    assert _pixel_at(img, still, 0, x + 6.5, y + 7.0, scale) == BACKGROUND

    env = MockEnv(1, MockConfig(characters=("fox", "falco")))
    env.place(0, 0, x=0.0, y=0.0, facing=1)
    env.place(0, 1, x=10.0, y=0.0, facing=-1)
    z = [env.step(_pad(buttons=("Z",)), _pad()).frames]
    grab = _stack(z + [env.step(_pad(), _pad()).frames for _ in range(12)])
    row = 10  # holding, held
    assert int(grab.players[0].action[row]) == 0xD8 and int(grab.players[1].action[row]) == 0xE3
    lines = "\n".join(_stage_lines(grab, row))
    assert "1&" in lines and "@2" in lines, lines  # each marker on its facing side
    img = render_image(grab, row, scale=scale, hud=False)
    x, y = float(grab.players[0].x[row]), float(grab.players[0].y[row])
    back = _pixel_at(img, grab, row, x - 4.3, y + 7.0, scale)  # the outline, away from P2
    assert back[0] > 200 and 90 < back[1] < 160 and back[2] < 80, back
    x1 = float(grab.players[1].x[row])
    held = _pixel_at(img, grab, row, x1 + 4.3, y + 7.0, scale)  # P2's far side
    assert held[2] > 200 and held[0] > 150 and held[1] < 120, held


# --- files --------------------------------------------------------------------------------------
def test_strip_and_gif_are_written_and_readable(game: Frames, tmp_path: Path) -> None:
    single = render_image(game, 0, scale=0.5)
    w, h = single.size
    path = save_strip(game, [0, 50, 100, 150], tmp_path / "strip.png", scale=0.5, gap=4)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (4 * w + 3 * 4, h)
    # many frames: a grid (10 frames: 4 columns, 3 lines)
    path = save_strip(game, list(range(0, 300, 30)), tmp_path / "grid.PNG", scale=0.5, gap=0)
    with Image.open(path) as im:
        assert im.size == (4 * w, 3 * h)
    rows = list(range(0, 240, 20))
    path = save_gif(game, rows, tmp_path / "anim.gif", fps=20, scale=0.5)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.size == (w, h)
        assert getattr(im, "n_frames", 1) == len(rows)
        assert im.info["duration"] == 50
    # a close-up strip shares one view that holds every frame's players
    path = save_strip(game, [0, 250], tmp_path / "follow.png", view="follow", scale=0.5)
    with Image.open(path) as im:
        assert im.size[0] > 2 * 80
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "anim.gif",
        "follow.png",
        "grid.PNG",
        "strip.png",
    ]


def test_bad_arguments_are_clear_errors(game: Frames, tmp_path: Path) -> None:
    png, gif = tmp_path / "a.png", tmp_path / "a.gif"
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: save_strip(game, [], png), "empty"),
        (lambda: save_gif(game, [], gif), "empty"),
        (lambda: save_strip(game, [0, len(game)], png), "out of range"),
        (lambda: save_gif(game, [-1], gif), "out of range"),
        (lambda: save_strip(game, [0], tmp_path / "a.jpg"), "extension"),
        (lambda: save_strip(game, [0], tmp_path / "a"), "extension"),
        (lambda: save_gif(game, [0], png), "extension"),
        (lambda: save_gif(game, [0], tmp_path / "nope" / "a.gif"), "does not exist"),
        (lambda: save_gif(game, [0], gif, fps=0), "fps"),
        (lambda: save_strip(game, [0], png, scale=0), "scale"),
        (lambda: save_strip(game, [0], png, columns=0), "columns"),
        (lambda: render_image(game, 0, view="near"), "view"),  # type: ignore[arg-type]
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_write_leaves_no_partial_file(
    game: Frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old.png"
    old.write_bytes(b"previous picture")

    def broken_save(self: Image.Image, fp: io.BufferedWriter, *args: object, **kw: object) -> None:
        fp.write(b"\x89PNG half of it")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_strip(game, [0, 1], old)
    with pytest.raises(OSError, match="disk full"):
        save_gif(game, [0, 1], tmp_path / "new.gif")
    assert old.read_bytes() == b"previous picture"
    assert [p.name for p in tmp_path.iterdir()] == ["old.png"]


# --- live view ----------------------------------------------------------------------------------
def test_live_view_on_a_pipe_prints_only_the_last_frame(game: Frames) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=90, height=25)
    with LiveView(console=console, fps=1000) as view:
        assert not view.interactive
        for row in range(0, 60, 3):
            assert view.update(game, row) is False
        assert out.getvalue() == ""
    text = out.getvalue()
    assert "\x1b" not in text and view.frames_drawn == 1
    assert "frame 57" in text and text.count("P1 Fox") == 1
    assert len(text.rstrip("\n").split("\n")) == 24

    quiet = io.StringIO()
    with LiveView(console=Console(file=quiet, force_terminal=False), final_frame=False) as view:
        view.update(game, 0)
    assert quiet.getvalue() == ""


def test_live_view_on_a_terminal_redraws_at_its_rate(game: Frames) -> None:
    now = [0.0]
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=100, height=31)
    view = LiveView(console=console, fps=10, clock=lambda: now[0])
    assert view.interactive
    assert view.update(game, 0) is True
    now[0] = 0.05
    assert view.update(game, 1) is False  # too soon
    assert view.update(game, 2, force=True) is True
    now[0] = 0.2
    assert view.update(game, 3) is True
    now[0] = 0.21
    assert view.update(game, 120) is False
    view.stop()  # draws the pending frame 120
    assert view.frames_drawn == 4
    assert not view.running
    text = out.getvalue()
    assert "\x1b[" in text and "SHIELD" in text and "P2 Fox" in text
    view.stop()  # stopping twice is harmless
    with pytest.raises(ValueError, match="fps"):
        LiveView(fps=0)
    with pytest.raises(ValueError, match="width"):
        LiveView(width=5)


# --- a real replay ------------------------------------------------------------------------------
def test_renders_a_real_replay_frame(replays_dir: Path, tmp_path: Path) -> None:
    from exphil.game.peppi import read_game

    manifest = json.loads((replays_dir / "manifest.json").read_text())
    names = [e["file"] for e in manifest if e.get("peppi_py_0_8_6") == "ok"]
    for name in names:
        try:
            info, frames = read_game(replays_dir / name)
        except Exception:
            continue
        break
    else:
        pytest.skip("no readable 1v1 replay")
    row = len(frames) // 2
    lines = render_text(frames, row, color=False).plain.split("\n")
    assert len(lines) == 30 and all(len(line) == 100 for line in lines)
    for port, line in zip((0, 1), lines[-2:], strict=True):
        assert line.startswith(f"P{port + 1} ")
        assert f"{float(frames.players[port].percent[row]):.0f}%" in line
    stage_area = "\n".join(lines[1:-2])
    assert "1" in stage_area and "2" in stage_area
    if info.stage is not None and info.stage.legal:
        assert "#" in stage_area
    img = render_image(frames, row, scale=1.0)
    assert img.size[0] > 300 and img.getbbox() is not None
    save_gif(frames, [row, row + 1, row + 2], tmp_path / "replay.gif", scale=0.5)
    with Image.open(tmp_path / "replay.gif") as im:
        assert getattr(im, "n_frames", 1) >= 1


def test_a_laser_in_flight_and_the_blaster_show() -> None:
    """A mock game's laser (a moving item) draws as ``-``, the blaster Falco holds as ``o``."""
    env = MockEnv(1, MockConfig(characters=("falco", "fox")))
    z = np.zeros(1)
    press = Controls(z, z, z, z, z, np.array([BUTTON_BITS["B"]], dtype=np.uint8))
    idle = Controls(z, z, z, z, z, np.zeros(1, dtype=np.uint8))
    env.step(press, idle)
    frames = env.frames
    for _ in range(6 + 16 + 3):  # Falco's ground laser: start 6, the shot on loop frame 16
        frames = env.step(idle, idle).frames
    assert frames.items.exists.sum() == 2
    empty = ItemFrames.zeros(1)
    empty.owner[:] = -1
    bare = dataclasses.replace(frames, items=empty)
    with_items = render_text(frames, 0, width=120, height=30, color=False, view="follow").plain
    without = render_text(bare, 0, width=120, height=30, color=False, view="follow").plain
    added = sorted(c for c, d in zip(with_items, without, strict=True) if c != d)
    assert added == ["-", "o"], added
