"""Pictures of a game, for people: one frame as terminal text or an image, strips, GIFs and a
live terminal view (with :class:`TerminalKeys` for its single-key commands).

Everything here reads :class:`~exphil.game.Frames` only, so a mock game, a replay and a live
Dolphin game look the same. The picture shows:

* the stage: the main platform as a solid block (its top at ``y = 0`` from ``-edge`` to
  ``+edge``, ``exphil.envs.mock.STAGE_DEPTH`` deep, as the mock game treats it), the
  pass-through platforms as lines (Battlefield, Dream Land, Yoshi's Story, Pokemon Stadium, and
  Fountain of Dreams' top one: its moving side platforms are not drawn);
* the two players in port colours (port 0 red, port 1 blue), facing shown, with a distinct look
  in shield, hitstun, hanging on a ledge (CLIFF_CATCH / CLIFF_WAIT: a green outline and an arm
  up to the ledge), while invulnerable and when dead; Nana (Ice Climbers) and items as small
  marks;
* a HUD: stage, frame and game time (``mm:ss`` from ``frame / 60``; negative during the
  countdown of a replay), and per player the percent, stocks, action name and action frame.

Views: ``"blast"`` (default) shows the whole blast-zone rectangle; ``"follow"`` shows the stage
and the living players with a margin (clipped to the blast zones), closer up. Stages without
known geometry are drawn without a stage, in a fixed rectangle that contains the players.

Text glyphs (plain text keeps them readable without colour): a player is its port number
(``1`` or ``2``) with a marker on its facing side: ``1>`` / ``<1`` normally, ``1*`` in hitstun,
``1|`` / ``|1`` hanging on a ledge (the bar on the ledge's side), ``1&`` / ``&1`` holding the
other player in a grab (pulling, holding, pummelling, throwing), ``1@`` held by a grab or being
thrown, ``1+`` while invulnerable, ``(1)`` in shield, ``{1}`` in Fox's or Falco's shine and ``1x``
when dead (kept inside the picture,
at its edge, when the position is outside the view). When the two glyphs would overlap, port
1's moves up a row. A player stands in the row just above the surface under its feet. Stage
block ``#``, platforms ``=``, items ``o`` (a moving one, a laser, ``-``), Nana ``n``.
"""

from __future__ import annotations

import math
import operator
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal

from PIL import Image, ImageDraw, ImageFont
from rich.console import Console
from rich.live import Live
from rich.text import Text

from exphil.envs import _rules as R
from exphil.envs.mock import STAGE_DEPTH, platforms
from exphil.game.frames import Frames, PlayerFrames
from exphil.game.ids import Character, Stage, StageGeometry, action_name, is_dead_action

__all__ = [
    "ViewMode",
    "MIN_TEXT_WIDTH",
    "MIN_TEXT_HEIGHT",
    "PORT_COLORS",
    "BACKGROUND",
    "render_text",
    "render_image",
    "save_strip",
    "save_gif",
    "LiveView",
    "TerminalKeys",
]

ViewMode = Literal["blast", "follow"]
_VIEWS: Final = ("blast", "follow")

MIN_TEXT_WIDTH: Final = 30
MIN_TEXT_HEIGHT: Final = 6  # a title line, two HUD lines and at least three stage rows
_HUD_LINES: Final = 3  # title + one line per player

PORT_COLORS: Final[tuple[tuple[int, int, int], tuple[int, int, int]]] = (
    (230, 60, 60),
    (70, 125, 240),
)
"""RGB colours of port 0 (red) and port 1 (blue) in images."""
BACKGROUND: Final = (22, 24, 32)
"""The image background (RGB)."""

_TEXT_PORT_STYLES: Final = ("bold red", "bold blue")
_STAGE_FILL: Final = (105, 108, 122)
_STAGE_TOP: Final = (175, 178, 192)
_PLATFORM: Final = (200, 200, 210)
_HUD_BG: Final = (12, 12, 16)
_HUD_FG: Final = (220, 220, 228)
_DEAD: Final = (130, 130, 138)
_HITSTUN: Final = (255, 215, 0)
_LEDGE: Final = (60, 200, 90)
_GRAB: Final = (235, 120, 40)
_HELD: Final = (170, 90, 220)
_SHINE: Final = (110, 220, 255)
_BLAST_LINE: Final = (120, 50, 50)

# shield actions: GUARD_ON, GUARD, GUARD_SET_OFF (shield stun), GUARD_REFLECT
_SHIELD_ACTIONS: Final = frozenset({0xB2, 0xB3, 0xB5, 0xB6})
_LEDGE_ACTIONS: Final = frozenset({0xFC, 0xFD})  # CLIFF_CATCH, CLIFF_WAIT: hanging
# holding the other player: CatchPull, CatchDashPull, CatchWait, CatchAttack, the four throws
_GRABBING_ACTIONS: Final = frozenset({0xD5, 0xD7, 0xD8, 0xD9, 0xDB, 0xDC, 0xDD, 0xDE})
# held: CapturePulled/Wait/Damage (Hi and Lw), then Thrown F/B/Hi/Lw until the release
_HELD_ACTIONS: Final = frozenset({*range(0xDF, 0xE5), *range(0xEF, 0xF3)})
# Fox's and Falco's SpecialLw (the shine): start, loop, hit, end, turn on the ground; start,
# loop, hit, end in the air (ids from 0x155 up are the character's own)
_SHINE_ACTIONS: Final = frozenset(range(0x168, 0x171))
_SHINERS: Final = frozenset({Character.FOX, Character.FALCO})
_HURT_MID: Final = (R.HURT_LOW + R.HURT_HIGH) / 2

# Platforms (height, left, right) of the legal stages without moving ones (libmelee's
# melee.stages); Battlefield's come from the mock game so the two always agree.
_STATIC_PLATFORMS: Final[dict[Stage, tuple[tuple[float, float, float], ...]]] = {
    Stage.FINAL_DESTINATION: (),
    Stage.BATTLEFIELD: platforms(Stage.BATTLEFIELD),
    Stage.DREAM_LAND: (
        (51.42539978027344, -19.01810073852539, 19.017099380493164),
        (30.14219856262207, -61.39289855957031, -31.725400924682617),
        (30.242599487304688, 31.70359992980957, 63.074501037597656),
    ),
    Stage.YOSHIS_STORY: (
        (42.000099182128906, -15.75, 15.75),
        (23.450098037719727, -59.5, -28.0),
        (23.450098037719727, 28.0, 59.5),
    ),
    Stage.POKEMON_STADIUM: (
        (25.000099182128906, -55.0, -25.0),
        (25.000099182128906, 25.0, 55.0),
    ),
    Stage.FOUNTAIN_OF_DREAMS: ((42.750099182128906, -14.25, 14.25),),
}
# the view of a stage without known geometry (no stage is drawn there)
_FALLBACK_VIEW: Final = (-250.0, 250.0, -150.0, 200.0)


# --- stage and view ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _StageInfo:
    name: str
    geometry: StageGeometry | None
    platforms: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True, slots=True)
class _Bounds:
    """A view in game units: ``left < right``, ``bottom < top``."""

    left: float
    right: float
    bottom: float
    top: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.top - self.bottom

    def union(self, other: _Bounds) -> _Bounds:
        return _Bounds(
            min(self.left, other.left),
            max(self.right, other.right),
            min(self.bottom, other.bottom),
            max(self.top, other.top),
        )


def _stage_info(stage_id: int) -> _StageInfo:
    try:
        st = Stage(stage_id)
    except ValueError:
        return _StageInfo(f"stage {stage_id}", None, ())
    geometry = st.geometry if st.legal else None
    return _StageInfo(st.display_name, geometry, _STATIC_PLATFORMS.get(st, ()))


def _blast_bounds(info: _StageInfo) -> _Bounds:
    g = info.geometry
    if g is None:
        return _Bounds(*_FALLBACK_VIEW)
    return _Bounds(g.blast_left, g.blast_right, g.blast_bottom, g.blast_top)


def _alive(p: PlayerFrames, row: int) -> bool:
    return bool(p.exists[row]) and not is_dead_action(int(p.action[row]))


def _follow_bounds(frames: Frames, row: int, info: _StageInfo) -> _Bounds:
    edge = info.geometry.edge if info.geometry is not None else 60.0
    top = max((h for h, _, _ in info.platforms), default=0.0) + 35.0
    b = _Bounds(-edge - 20.0, edge + 20.0, -STAGE_DEPTH - 12.0, top)
    for p in (*frames.players, *frames.nana):
        if _alive(p, row):
            x, y = float(p.x[row]), float(p.y[row])
            if math.isfinite(x) and math.isfinite(y):
                b = b.union(_Bounds(x - 20.0, x + 20.0, y - 12.0, y + R.HURT_HIGH + 18.0))
    if info.geometry is None:
        return b
    blast = _blast_bounds(info)
    return _Bounds(
        max(b.left, blast.left),
        min(b.right, blast.right),
        max(b.bottom, blast.bottom),
        min(b.top, blast.top),
    )


def _bounds(frames: Frames, rows: Sequence[int], info: _StageInfo, view: str) -> _Bounds:
    """One view that fits every row of ``rows`` (all of a strip's or GIF's pictures share it)."""
    if view == "blast":
        b = _blast_bounds(info)
        if info.geometry is None:  # unknown stage: make sure the players are in the picture
            for row in rows:
                for p in frames.players:
                    if p.exists[row] and math.isfinite(p.x[row]) and math.isfinite(p.y[row]):
                        x, y = float(p.x[row]), float(p.y[row])
                        b = b.union(_Bounds(x - 20.0, x + 20.0, y - 12.0, y + 30.0))
        return b
    out: _Bounds | None = None
    for row in rows:
        one = _follow_bounds(frames, row, info)
        out = one if out is None else out.union(one)
    assert out is not None
    return out


def _fit_aspect(b: _Bounds, units_ratio: float) -> _Bounds:
    """Grow ``b`` around its centre so that ``width / height == units_ratio``."""
    w, h = b.width, b.height
    if w / h < units_ratio:
        w = h * units_ratio
    else:
        h = w / units_ratio
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    return _Bounds(cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)


# --- validation and HUD text -----------------------------------------------------------------
def _check_view(view: str) -> None:
    if view not in _VIEWS:
        raise ValueError(f"view must be one of {', '.join(_VIEWS)}, got {view!r}")


def _check_row(frames: Frames, row: int, what: str = "row") -> int:
    try:
        if isinstance(row, bool):
            raise TypeError
        r = operator.index(row)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {type(row).__name__}") from None
    n = len(frames)
    if not 0 <= r < n:
        raise ValueError(f"{what} {r} is out of range: the game has {n} frames (rows 0..{n - 1})")
    return r


def _check_rows(frames: Frames, rows: Sequence[int]) -> list[int]:
    out = [_check_row(frames, r, "rows entry") for r in rows]
    if not out:
        raise ValueError("rows is empty: give at least one frame index")
    return out


def _game_time(frame: int) -> str:
    secs = abs(frame) // 60
    sign = "-" if frame < 0 else ""
    return f"{sign}{secs // 60}:{secs % 60:02d}"


def _character_name(internal_id: int) -> str:
    try:
        return Character.from_internal(internal_id).display_name
    except ValueError:
        return f"char {internal_id}"


def _title(frames: Frames, row: int, info: _StageInfo) -> str:
    frame = int(frames.frame[row])
    return f"{info.name}  frame {frame}  {_game_time(frame)}"


def _player_hud(frames: Frames, row: int, port: int) -> str:
    p = frames.players[port]
    if not p.exists[row]:
        return f"P{port + 1} -"
    action = int(p.action[row])
    parts = [
        f"P{port + 1} {_character_name(int(p.character[row]))}",
        f"{float(p.percent[row]):.0f}%",
        f"stocks {int(p.stocks[row])}",
        f"{action_name(action)} f{int(p.action_frame[row])}",
    ]
    flags = []
    if is_dead_action(action):
        flags.append("DEAD")
    if action in _SHIELD_ACTIONS:
        flags.append(f"SHIELD {float(p.shield[row]):.0f}")
    if p.hitstun[row] > 0:
        flags.append(f"HITSTUN {float(p.hitstun[row]):.0f}")
    if action in _LEDGE_ACTIONS:
        flags.append("LEDGE")
    if p.invulnerable[row]:
        flags.append("INVULN")
    return "  ".join(parts + flags)


def _shining(p: PlayerFrames, row: int, action: int) -> bool:
    if action not in _SHINE_ACTIONS:
        return False
    try:
        return Character.from_internal(int(p.character[row])) in _SHINERS
    except ValueError:
        return False


def _state(p: PlayerFrames, row: int) -> str:
    action = int(p.action[row])
    if is_dead_action(action):
        return "dead"
    if action in _SHIELD_ACTIONS:
        return "shield"
    if _shining(p, row, action):
        return "shine"
    if action in _HELD_ACTIONS:
        return "held"
    if p.hitstun[row] > 0:
        return "hitstun"
    if action in _LEDGE_ACTIONS:
        return "ledge"
    if action in _GRABBING_ACTIONS:
        return "grabbing"
    if p.invulnerable[row]:
        return "invulnerable"
    return "normal"


# --- text --------------------------------------------------------------------------------------
def render_text(
    frames: Frames,
    row: int,
    *,
    width: int = 100,
    height: int = 30,
    color: bool = True,
    view: ViewMode = "blast",
) -> Text:
    """One frame as ``height`` lines of exactly ``width`` characters (joined by newlines): a
    title line (stage, frame, game time), the stage and players, and one HUD line per player.

    With ``color=False`` the result carries no style at all, so printing it emits no ANSI
    codes. See the module docstring for the glyphs. Raises ``ValueError`` for a row out of
    range, an unknown view or a size below ``MIN_TEXT_WIDTH`` x ``MIN_TEXT_HEIGHT``.
    """
    row = _check_row(frames, row)
    _check_view(view)
    if width < MIN_TEXT_WIDTH or height < MIN_TEXT_HEIGHT:
        raise ValueError(
            f"text size must be at least {MIN_TEXT_WIDTH}x{MIN_TEXT_HEIGHT}, got {width}x{height}"
        )
    info = _stage_info(int(frames.stage[row]))
    n_rows = height - _HUD_LINES
    b = _bounds(frames, [row], info, view)
    if view == "follow":
        b = _fit_aspect(b, width / (2.0 * n_rows))  # a terminal cell is about twice as tall
    upc = b.width / width
    upr = b.height / n_rows
    chars = [[" "] * width for _ in range(n_rows)]
    styles: list[list[str | None]] = [[None] * width for _ in range(n_rows)]

    def col(x: float) -> int:
        c = math.floor((x - b.left) / upc) if math.isfinite(x) else 0
        return min(max(c, 0), width - 1)

    def line(y: float) -> int:
        """The row boundary nearest ``y``: a surface at ``y`` fills the row below it."""
        return round((b.top - y) / upr) if math.isfinite(y) else n_rows

    def put(r: int, c: int, ch: str, style: str | None) -> None:
        if 0 <= r < n_rows and 0 <= c < width:
            chars[r][c] = ch
            styles[r][c] = style

    if info.geometry is not None:
        edge = info.geometry.edge
        first = line(0.0)
        last = max(line(-STAGE_DEPTH), first + 1)
        for r in range(first, last):
            for c in range(col(-edge), col(edge) + 1):
                put(r, c, "#", "grey50 on grey23")
    for h, lft, rgt in info.platforms:
        r = line(h)
        if b.bottom <= h <= b.top:
            for c in range(col(lft), col(rgt) + 1):
                put(r, c, "=", "bold white")

    items = frames.items
    for s in range(items.exists.shape[1]):
        ix, iy = float(items.x[row, s]), float(items.y[row, s])
        if items.exists[row, s] and b.left <= ix < b.right and b.bottom < iy <= b.top:
            owner = int(items.owner[row, s])
            style = _TEXT_PORT_STYLES[owner] if owner in (0, 1) else "yellow"
            glyph = "-" if float(items.vx[row, s]) != 0.0 else "o"  # a laser flies
            put(min(line(iy), n_rows - 1), col(ix), glyph, style)

    def feet_row(y: float) -> int:
        return min(max(line(y) - 1, 0), n_rows - 1)

    for port in (0, 1):
        nana = frames.nana[port]
        if nana.exists[row] and not is_dead_action(int(nana.action[row])):
            put(feet_row(float(nana.y[row])), col(float(nana.x[row])), "n", _TEXT_PORT_STYLES[port])
    taken: set[tuple[int, int]] = set()
    for port in (0, 1):
        p = frames.players[port]
        if not p.exists[row]:
            continue
        glyph = _text_glyph(port, _state(p, row), bool(p.facing[row] >= 0))
        r, c = feet_row(float(p.y[row])), col(float(p.x[row]))
        # keep the whole glyph on screen, and both players visible when they overlap: the
        # later one moves up a row (down at the top edge)
        lo, hi = min(dc for dc, _, _ in glyph), max(dc for dc, _, _ in glyph)
        c = min(max(c, -lo), width - 1 - hi)
        if any((r, c + dc) in taken for dc, _, _ in glyph):
            r = r - 1 if r > 0 else r + 1
        for dc, ch, style in glyph:
            put(r, c + dc, ch, style)
            taken.add((r, c + dc))

    out = Text(no_wrap=True, overflow="crop", end="")
    out.append(_hud_line(_title(frames, row, info), width, "bold" if color else None))
    for r in range(n_rows):
        out.append("\n")
        if not color:
            out.append("".join(chars[r]))
            continue
        start = 0
        for c in range(1, width + 1):
            if c == width or styles[r][c] != styles[r][start]:
                out.append("".join(chars[r][start:c]), styles[r][start])
                start = c
    for port in (0, 1):
        out.append("\n")
        hud_style = _TEXT_PORT_STYLES[port] if color else None
        out.append(_hud_line(_player_hud(frames, row, port), width, hud_style))
    return out


def _text_glyph(port: int, state: str, right: bool) -> list[tuple[int, str, str]]:
    """A player's text glyph as ``(column offset from the digit, character, style)``."""
    digit = str(port + 1)
    base = _TEXT_PORT_STYLES[port]
    color_name = base.split()[-1]
    if state == "shield":
        return [(-1, "(", "bold cyan"), (0, digit, base), (1, ")", "bold cyan")]
    if state == "shine":
        return [(-1, "{", "bold bright_cyan"), (0, digit, base), (1, "}", "bold bright_cyan")]
    marker, style = {
        "dead": ("x", f"dim {color_name}"),
        "hitstun": ("*", f"bold {color_name} on yellow"),
        "invulnerable": ("+", f"bold {color_name} on white"),
        "ledge": ("|", f"bold {color_name} on green"),
        "grabbing": ("&", f"bold {color_name} on dark_orange"),
        "held": ("@", f"bold {color_name} on magenta"),
        "normal": (">" if right else "<", base),
    }[state]
    return [(0, digit, style), (1 if right else -1, marker, style)]


def _hud_line(text: str, width: int, style: str | None) -> Text:
    t = Text(text[:width].ljust(width))
    if style:
        t.stylize(style, 0, min(len(text), width))
    return t


# --- images ------------------------------------------------------------------------------------
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def _hud_metrics(scale: float) -> tuple[int, int]:
    """(font size, line height) in pixels of the image HUD at ``scale``."""
    size = max(10, round(8 * scale))
    return size, size + 4


def _number(value: object, name: str, low: float, high: float, what: str) -> float:
    """``value`` as a float in ``[low, high]`` (``low`` excluded when it is 0)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not (math.isfinite(v) and low <= v <= high) or v == 0:
        raise ValueError(f"{name} must be a number in {what}, got {value!r}")
    return v


def _check_scale(scale: float) -> float:
    return _number(scale, "scale", 0.1, 20.0, "0.1..20 (pixels per game unit)")


def render_image(
    frames: Frames,
    row: int,
    *,
    scale: float = 1.5,
    view: ViewMode = "blast",
    hud: bool = True,
) -> Image.Image:
    """One frame as an RGB image, ``scale`` pixels per game unit.

    The picture is ``round(view width * scale)`` by ``round(view height * scale)`` pixels (the
    view is the blast-zone rectangle for ``view="blast"``), plus a HUD band of three text lines
    below it when ``hud`` is true. Players are capsules matching the mock game's hurtbox (from
    ``y + 2`` to ``y + 12``, radius 4.5) in port colours, with a facing triangle, a translucent
    shield bubble sized by shield health, a yellow outline in hitstun, a pale fill while
    invulnerable and a grey crossed outline when dead.
    """
    row = _check_row(frames, row)
    _check_view(view)
    scale = _check_scale(scale)
    info = _stage_info(int(frames.stage[row]))
    return _render_image(frames, row, info, _bounds(frames, [row], info, view), scale, hud)


def _render_image(
    frames: Frames, row: int, info: _StageInfo, b: _Bounds, scale: float, hud: bool
) -> Image.Image:
    w = max(1, round(b.width * scale))
    h = max(1, round(b.height * scale))
    font_px, line_px = _hud_metrics(scale)
    hud_h = _HUD_LINES * line_px + 4 if hud else 0
    img = Image.new("RGB", (w, h + hud_h), BACKGROUND)
    draw = ImageDraw.Draw(img, "RGBA")

    def px(x: float) -> float:
        return (x - b.left) * scale

    def py(y: float) -> float:
        return (b.top - y) * scale

    def u(v: float) -> float:
        return v * scale

    g = info.geometry
    if g is not None:
        # the blast zones, where they are inside a close-up view
        blast = _blast_bounds(info)
        for x in (blast.left, blast.right):
            if b.left < x < b.right:
                draw.line([(px(x), 0), (px(x), h)], fill=_BLAST_LINE, width=1)
        for y in (blast.bottom, blast.top):
            if b.bottom < y < b.top:
                draw.line([(0, py(y)), (w, py(y))], fill=_BLAST_LINE, width=1)
        poly = [(-g.edge, 0.0), (g.edge, 0.0), (g.edge, -STAGE_DEPTH), (-g.edge, -STAGE_DEPTH)]
        draw.polygon([(px(x), py(y)) for x, y in poly], fill=_STAGE_FILL)
        draw.line(
            [(px(-g.edge), py(0.0)), (px(g.edge), py(0.0))],
            fill=_STAGE_TOP,
            width=max(1, round(u(1.2))),
        )
    for height, lft, rgt in info.platforms:
        draw.line(
            [(px(lft), py(height)), (px(rgt), py(height))],
            fill=_PLATFORM,
            width=max(1, round(u(1.5))),
        )

    items = frames.items
    for s in range(items.exists.shape[1]):
        if items.exists[row, s]:
            x, y = float(items.x[row, s]), float(items.y[row, s])
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            owner = int(items.owner[row, s])
            rgb = PORT_COLORS[owner] if owner in (0, 1) else (240, 220, 80)
            r = u(2.0)
            draw.ellipse([px(x) - r, py(y) - r, px(x) + r, py(y) + r], fill=(*rgb, 230))

    label_font = _font(max(8, round(6 * scale)))

    def clamp_pos(x: float, y: float) -> tuple[float, float]:
        rad = R.HURT_RADIUS
        x = min(max(x, b.left + rad), b.right - rad) if math.isfinite(x) else 0.0
        y = min(max(y, b.bottom + rad), b.top - R.HURT_HIGH - rad) if math.isfinite(y) else 0.0
        return x, y

    for port in (0, 1):
        nana = frames.nana[port]
        if nana.exists[row] and not is_dead_action(int(nana.action[row])):
            x, y = clamp_pos(float(nana.x[row]), float(nana.y[row]))
            _capsule(draw, px(x), py(y), scale, fill=(*PORT_COLORS[port], 150), outline=None)
    for port in (0, 1):
        p = frames.players[port]
        if not p.exists[row]:
            continue
        x, y = clamp_pos(float(p.x[row]), float(p.y[row]))
        cx, cy = px(x), py(y)
        state = _state(p, row)
        base = PORT_COLORS[port]
        facing = 1.0 if p.facing[row] >= 0 else -1.0
        if state == "dead":
            _capsule(draw, cx, cy, scale, fill=None, outline=(*_DEAD, 255))
            top, bottom = cy - u(R.HURT_HIGH + R.HURT_RADIUS), cy - u(R.HURT_LOW - R.HURT_RADIUS)
            rad = u(R.HURT_RADIUS)
            draw.line([(cx - rad, top), (cx + rad, bottom)], fill=_DEAD, width=1)
            draw.line([(cx + rad, top), (cx - rad, bottom)], fill=_DEAD, width=1)
        else:
            fill: tuple[int, ...] = (*base, 255)
            outline: tuple[int, ...] | None = (*(min(255, c + 60) for c in base), 255)
            if state == "invulnerable":
                fill = (*(round(c + (255 - c) * 0.55) for c in base), 255)
                outline = (255, 255, 255, 255)
            elif state == "hitstun":
                outline = (*_HITSTUN, 255)
            elif state == "ledge":
                outline = (*_LEDGE, 255)
            elif state == "grabbing":
                outline = (*_GRAB, 255)
            elif state == "held":
                outline = (*_HELD, 255)
            _capsule(draw, cx, cy, scale, fill=fill, outline=outline)
            if state == "shine":  # the reflector: a hexagon around the body
                rad = u(R.HURT_RADIUS + 4.0)
                sy = cy - u(_HURT_MID)
                corners = [
                    (cx + rad * math.cos(math.pi / 3 * k), sy + rad * math.sin(math.pi / 3 * k))
                    for k in range(6)
                ]
                draw.polygon(corners, fill=(*_SHINE, 70), outline=(*_SHINE, 255))
            if state == "ledge":  # an arm up to the ledge's corner, on the facing side
                arm_x = cx + facing * u(2.0)
                draw.line(
                    [(arm_x, cy - u(R.HURT_HIGH)), (arm_x, cy - u(14.5))],
                    fill=(*_LEDGE, 255),
                    width=max(1, round(u(1.2))),
                )
            # facing: a triangle on the facing side at eye height
            ex, tip = cx + facing * u(R.HURT_RADIUS), cx + facing * u(R.HURT_RADIUS + 4.0)
            draw.polygon(
                [(ex, cy - u(11.5)), (tip, cy - u(10.0)), (ex, cy - u(8.5))],
                fill=(245, 245, 250, 255),
            )
            if state == "shield":
                health = min(max(float(p.shield[row]) / R.SHIELD_MAX, 0.0), 1.0)
                rad = u(R.HURT_RADIUS + 1.0 + 6.0 * health)
                sy = cy - u(_HURT_MID)
                draw.ellipse(
                    [cx - rad, sy - rad, cx + rad, sy + rad],
                    fill=(*base, 90),
                    outline=(*base, 220),
                    width=max(1, round(u(0.8))),
                )
        label = f"P{port + 1}"
        ly = cy - u(R.HURT_HIGH + R.HURT_RADIUS + 1.0)
        draw.text((cx, ly), label, fill=(*base, 255), font=label_font, anchor="ms")

    if hud:
        draw.rectangle([0, h, w, h + hud_h], fill=_HUD_BG)
        font = _font(font_px)
        lines = [
            (_title(frames, row, info), _HUD_FG),
            (_player_hud(frames, row, 0), PORT_COLORS[0]),
            (_player_hud(frames, row, 1), PORT_COLORS[1]),
        ]
        for i, (text, fill_rgb) in enumerate(lines):
            draw.text((4, h + 2 + i * line_px), text, fill=fill_rgb, font=font)
    return img


def _capsule(
    draw: ImageDraw.ImageDraw,
    cx: float,
    cy: float,
    scale: float,
    *,
    fill: tuple[int, ...] | None,
    outline: tuple[int, ...] | None,
) -> None:
    """The hurtbox capsule of a player whose feet are at pixel ``(cx, cy)``."""
    rad = R.HURT_RADIUS * scale
    box = [
        cx - rad,
        cy - (R.HURT_HIGH + R.HURT_RADIUS) * scale,
        cx + rad,
        cy - (R.HURT_LOW - R.HURT_RADIUS) * scale,
    ]
    draw.rounded_rectangle(
        box, radius=rad, fill=fill, outline=outline, width=max(1, round(0.8 * scale))
    )


# --- files -------------------------------------------------------------------------------------
def _check_path(path: str | os.PathLike[str], suffix: str) -> Path:
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise ValueError(f"{p}: unknown extension {p.suffix!r}; this writes {suffix} files")
    if not p.parent.is_dir():
        raise ValueError(f"{p}: the folder {p.parent} does not exist")
    return p


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``; on
    any error the temporary file is removed and ``path`` is left as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _render_rows(
    frames: Frames, rows: Sequence[int], scale: float, view: str, hud: bool
) -> list[Image.Image]:
    checked = _check_rows(frames, rows)
    _check_view(view)
    scale = _check_scale(scale)
    infos = {int(frames.stage[r]) for r in checked}
    info = _stage_info(int(frames.stage[checked[0]]))
    if len(infos) > 1:
        raise ValueError("the rows are on different stages; render them separately")
    b = _bounds(frames, checked, info, view)  # one view for all: equal sizes, no jumps
    return [_render_image(frames, r, info, b, scale, hud) for r in checked]


def save_strip(
    frames: Frames,
    rows: Sequence[int],
    path: str | os.PathLike[str],
    *,
    scale: float = 1.0,
    view: ViewMode = "blast",
    columns: int | None = None,
    hud: bool = True,
    gap: int = 4,
) -> Path:
    """Write the frames ``rows`` side by side as one PNG, or as a grid of ``columns`` per line
    (default: all in one line up to 6 frames, else about a square grid), in the order given.

    All pictures share one view (for ``view="follow"``, one that contains every row's
    players). The file is written atomically. Returns the path. Raises ``ValueError`` for empty
    rows, a row out of range, a path not ending in ``.png``, a missing folder or bad sizes.
    """
    p = _check_path(path, ".png")
    if columns is not None and columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    images = _render_rows(frames, rows, scale, view, hud)
    n = len(images)
    cols = columns or (n if n <= 6 else math.ceil(math.sqrt(n)))
    cols = min(cols, n)
    lines = math.ceil(n / cols)
    w, h = images[0].size
    sheet = Image.new("RGB", (cols * w + (cols - 1) * gap, lines * h + (lines - 1) * gap))
    for i, im in enumerate(images):
        sheet.paste(im, ((i % cols) * (w + gap), (i // cols) * (h + gap)))
    _write_atomic(p, lambda f: sheet.save(f, format="PNG"))
    return p


def save_gif(
    frames: Frames,
    rows: Sequence[int],
    path: str | os.PathLike[str],
    *,
    fps: float = 30.0,
    scale: float = 1.0,
    view: ViewMode = "blast",
    hud: bool = True,
    loop: int = 0,
) -> Path:
    """Write the frames ``rows`` as an animated GIF at ``fps`` pictures per second (``loop=0``
    repeats forever). GIF delays are in hundredths of a second, so ``fps`` is rounded to a delay
    of at least 10 ms (and many viewers slow down delays under 20 ms, so keep ``fps <= 50``).
    Pillow merges identical consecutive pictures into one longer one.

    Written atomically; returns the path. Raises ``ValueError`` for empty rows, a row out of
    range, a path not ending in ``.gif``, a missing folder or ``fps`` outside (0, 100].
    """
    p = _check_path(path, ".gif")
    fps = _number(fps, "fps", 0.0, 100.0, "(0, 100]")
    if loop < 0:
        raise ValueError(f"loop must be >= 0 (0 = forever), got {loop}")
    images = _render_rows(frames, rows, scale, view, hud)
    delay = max(10, round(1000 / fps / 10) * 10)
    first, *rest = images

    def write(f: Any) -> None:
        first.save(
            f,
            format="GIF",
            save_all=True,
            append_images=rest,
            duration=delay,
            loop=loop,
            disposal=1,
        )

    _write_atomic(p, write)
    return p


# --- live terminal view ---------------------------------------------------------------------------
class LiveView:
    """A terminal view that redraws ``render_text`` of the latest frame at most ``fps`` times a
    second, through a ``rich.live.Live``.

    Call :meth:`update` as often as you like (every game frame): it only renders when a redraw
    is due (or with ``force=True``). Use it as a context manager, or call :meth:`start` and
    :meth:`stop`. On a console that is not an interactive terminal (a pipe, a file, a dumb
    terminal) nothing is drawn while running, and :meth:`stop` prints the last frame once
    (unless ``final_frame=False``). ``width`` and ``height`` default to the console's size at
    each redraw. ``screen`` uses the terminal's alternate screen; ``redirect_output`` shows
    what the program prints to stdout and stderr above the view (rich's redirection; off by
    default, so such output garbles the view). ``clock`` is for tests.
    """

    def __init__(
        self,
        *,
        fps: float = 15.0,
        width: int | None = None,
        height: int | None = None,
        view: ViewMode = "blast",
        console: Console | None = None,
        final_frame: bool = True,
        screen: bool = False,
        redirect_output: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        fps = _number(fps, "fps", 0.0, 1000.0, "(0, 1000]")
        for name, value, low in (
            ("width", width, MIN_TEXT_WIDTH),
            ("height", height, MIN_TEXT_HEIGHT),
        ):
            if value is not None and value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        _check_view(view)
        self.console = console if console is not None else Console()
        self.fps = float(fps)
        self.width = width
        self.height = height
        self.view: ViewMode = view
        self.final_frame = final_frame
        self.screen = screen
        self.redirect_output = redirect_output
        self.frames_drawn = 0
        self._clock = clock
        self._live: Live | None = None
        self._started = False
        self._latest: tuple[Frames, int] | None = None
        self._drawn_latest = False
        self._last_draw = -math.inf

    @property
    def interactive(self) -> bool:
        """Whether the console is a terminal that can be redrawn in place."""
        return bool(self.console.is_terminal and not self.console.is_dumb_terminal)

    @property
    def running(self) -> bool:
        return self._started

    def render(self, frames: Frames, row: int = 0) -> Text:
        """``render_text`` at this view's size and colour settings."""
        width = self.width or max(MIN_TEXT_WIDTH, self.console.width)
        height = self.height or max(MIN_TEXT_HEIGHT, self.console.height - 1)
        color = self.console.color_system is not None and not self.console.no_color
        return render_text(frames, row, width=width, height=height, color=color, view=self.view)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.interactive:
            self._live = Live(
                Text(""),
                console=self.console,
                auto_refresh=False,
                screen=self.screen,
                redirect_stdout=self.redirect_output,
                redirect_stderr=self.redirect_output,
            )
            self._live.start()

    def update(self, frames: Frames, row: int = 0, *, force: bool = False) -> bool:
        """Note the frame ``frames[row]`` as the latest; redraw if one is due (or ``force``).
        Returns whether it redrew. Starts the view if it is not running."""
        row = _check_row(frames, row)
        self._latest = (frames, row)
        self._drawn_latest = False
        if not self._started:
            self.start()
        if self._live is None:
            return False
        now = self._clock()
        if not force and now - self._last_draw < 1.0 / self.fps:
            return False
        self._draw()
        self._last_draw = now
        return True

    def _draw(self) -> None:
        assert self._live is not None and self._latest is not None
        self._live.update(self.render(*self._latest), refresh=True)
        self._drawn_latest = True
        self.frames_drawn += 1

    def stop(self) -> None:
        """Draw the latest frame if it was not drawn yet and end the view (printing the last
        frame once on a non-interactive console, if ``final_frame``)."""
        if not self._started:
            return
        try:
            if self._live is not None:
                if self._latest is not None and not self._drawn_latest:
                    self._draw()
                self._live.stop()
            elif self.final_frame and self._latest is not None:
                self.console.print(self.render(*self._latest))
                self.frames_drawn += 1
        finally:
            self._live = None
            self._started = False

    def __enter__(self) -> LiveView:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class TerminalKeys:
    """Keys pressed on a terminal, read without waiting, for a live view's single-key commands
    (``mock watch``: ``q`` quits).

    While open (a context manager) the terminal behind ``stream`` (default ``sys.stdin``) is in
    cbreak mode: each key arrives as it is pressed and is not echoed, and Ctrl-C still
    interrupts; closing restores the terminal's previous settings, also when the block ends in
    an exception. On a stream that is not a terminal (a pipe, a file, CliRunner) or without
    termios (Windows) it is inactive: :attr:`active` is False and :meth:`read` returns "".
    """

    def __init__(self, stream: IO[Any] | None = None) -> None:
        self._stream = stream
        self._fd: int | None = None
        self._saved: list[Any] | None = None

    @property
    def active(self) -> bool:
        """Whether keys are being read (the stream is a terminal in cbreak mode)."""
        return self._fd is not None

    def __enter__(self) -> TerminalKeys:
        stream = self._stream if self._stream is not None else sys.stdin
        try:
            import termios
            import tty

            fd = stream.fileno()
            if not os.isatty(fd):
                return self
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)  # no echo, no line buffering; ISIG stays: Ctrl-C still works
        except (ImportError, AttributeError, ValueError, OSError):
            return self  # no terminal to read keys from (termios.error is an OSError)
        self._fd = fd
        return self

    def read(self) -> str:
        """The keys pressed since the last call, "" when none; never waits."""
        if self._fd is None:
            return ""
        import select

        chunks: list[bytes] = []
        while select.select([self._fd], [], [], 0)[0]:
            data = os.read(self._fd, 64)
            if not data:  # the terminal went away
                break
            chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fd, saved = self._fd, self._saved
        self._fd = self._saved = None
        if fd is not None and saved is not None:
            import termios

            try:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass  # the terminal is gone: nothing to restore
