"""Menu navigation on synthetic menu gamestates (no replay records menus): a small model of
the character select screen moves the cursors the way the sticks push them, until the bot's
and the CPU's characters are picked; then the stage select, and the env's reset into a game."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import melee
import pytest
from melee import enums

from exphil.envs.dolphin import (
    DolphinConfig,
    DolphinEnv,
    GameSetupError,
    MenuNavigator,
    PlayerConfig,
    RecordedLink,
)
from exphil.game import Stage
from tests.exphil.envs.dolphin.conftest import capture_controllers

CONFIG = DolphinConfig(
    players=(
        PlayerConfig(port=1, character="fox"),
        PlayerConfig(port=2, character="falco", kind="cpu", cpu_level=7),
    ),
    stage="fd",
)


def css(
    frame: int,
    cursors: dict[int, tuple[float, float]],
    chars: dict[int, Any],
    coins: dict[int, bool],
) -> Any:
    gs = melee.GameState(frame=frame, menu_state=enums.Menu.CHARACTER_SELECT)
    for port in range(1, 5):
        ps = melee.PlayerState()
        ps.cursor.x, ps.cursor.y = cursors.get(port, (0.0, -30.0))
        ps.character = chars.get(port, enums.Character.UNKNOWN_CHARACTER)
        ps.coin_down = coins.get(port, False)
        gs.players[port] = ps
    return gs


class CssModel:
    """The character select screen, roughly: a cursor moves 0.7 per frame where its stick
    points; A over a portrait picks that character and puts the coin down; B lifts it."""

    def __init__(self) -> None:
        self.cursors = {1: (0.0, -20.0), 2: (10.0, -20.0)}
        self.chars: dict[int, Any] = {}
        self.coins: dict[int, bool] = {}
        self.last_a: dict[int, bool] = {}

    @staticmethod
    def portrait(x: float, y: float) -> Any:
        row = 2 - round((y - 4.5) / 7.0)
        column = round((x + 29.0) / 7.0)
        if row == 2:
            column -= 1
        ext = row * 9 + column
        return enums.Character(enums.to_internal(ext)) if 0 <= ext < 26 and y > 0 else None

    def apply(self, port: int, c: Any) -> None:
        x, y = self.cursors[port]
        sx, sy = c.current.main_stick
        x += 0.7 if sx > 0.6 else -0.7 if sx < 0.4 else 0.0
        y += 0.7 if sy > 0.6 else -0.7 if sy < 0.4 else 0.0
        self.cursors[port] = (x, y)
        a = c.current.button[enums.Button.BUTTON_A]
        # a press is A down now and up on the last frame (libmelee's controller.prev shares
        # its button dict with .current, so the model remembers A itself)
        pressed, self.last_a[port] = a and not self.last_a.get(port, False), a
        if pressed:
            picked = self.portrait(x, y)
            if picked is not None:
                self.chars[port], self.coins[port] = picked, True
        if c.current.button[enums.Button.BUTTON_B]:
            self.coins[port] = False

    def state(self, frame: int) -> Any:
        return css(frame, self.cursors, self.chars, self.coins)


def test_bot_and_cpu_pick_their_characters(tmp_path: Path) -> None:
    controllers, _readers, _console = capture_controllers(tmp_path, (1, 2))
    nav = MenuNavigator(CONFIG.players, Stage.FINAL_DESTINATION)
    model = CssModel()
    for frame in range(400):
        nav.act(model.state(frame), controllers)
        for port, c in controllers.items():
            model.apply(port, c)
            c.flush()
        if (
            model.chars.get(1) == enums.Character.FOX
            and model.chars.get(2) == enums.Character.FALCO
        ):
            break
    assert model.chars == {1: enums.Character.FOX, 2: enums.Character.FALCO}
    assert model.coins == {1: True, 2: True}
    assert nav.menu_frames == frame + 1 and frame < 200
    # with the coins down the CPU port heads for its HMN/CPU toggle (libmelee's next move)
    gs = model.state(frame + 1)
    nav.act(gs, controllers)
    assert (
        controllers[2].current.main_stick != (0.5, 0.5)
        or controllers[2].current.button[enums.Button.BUTTON_A]
    )


def test_main_menu_stage_select_and_postgame(tmp_path: Path) -> None:
    controllers, _readers, _console = capture_controllers(tmp_path, (1, 2))
    nav = MenuNavigator(CONFIG.players, Stage.FINAL_DESTINATION)
    press_start = melee.GameState(frame=1, menu_state=enums.Menu.PRESS_START)  # odd: press
    nav.act(press_start, controllers)
    assert controllers[1].current.button[enums.Button.BUTTON_START]
    post = melee.GameState(frame=3, menu_state=enums.Menu.POSTGAME_SCORES)
    start = []
    for _ in range(4):  # the postgame screen: START pressed and released, frame after frame
        controllers[1].flush()
        nav.act(post, controllers)
        start.append(controllers[1].current.button[enums.Button.BUTTON_START])
    assert start == [False, True, False, True]
    # stage select: the starter (port 1) moves its cursor toward Final Destination (6.7, -9)
    sss = melee.GameState(frame=30, menu_state=enums.Menu.STAGE_SELECT)
    for port in (1, 2):
        sss.players[port] = melee.PlayerState()
        sss.players[port].cursor.x, sss.players[port].cursor.y = -10.0, -9.0
    nav.act(sss, controllers)
    assert controllers[1].current.main_stick[0] > 0.5  # right, toward FD
    assert controllers[2].current.main_stick == (0.5, 0.5)  # only the starter picks
    sss.players[1].cursor.x = 6.7
    pressed = []
    for _ in range(70):  # on FD: libmelee toggles Frozen Stadium (Z), then picks it (A)
        controllers[1].flush()
        nav.act(sss, controllers)
        b = controllers[1].current.button
        pressed.append(
            ("Z" if b[enums.Button.BUTTON_Z] else "") + ("A" if b[enums.Button.BUTTON_A] else "")
        )
    assert "Z" in pressed and "A" in pressed and pressed.index("Z") < pressed.index("A")
    assert set(pressed[pressed.index("A") + 1 :]) == {""}  # picked once, then let go


def test_reset_goes_through_menus_or_gives_up(game_path: Path, tmp_path: Path) -> None:
    from tests.exphil.envs.dolphin.test_env_stream import recorded

    controllers, _readers, _console = capture_controllers(tmp_path, (1, 3))
    players = (
        PlayerConfig(port=1, character="fox"),
        PlayerConfig(port=3, character="pichu", kind="cpu"),
    )
    menus = [css(k, {}, {}, {}) for k in range(30)]
    env = DolphinEnv(
        DolphinConfig(players=players, stage="fd"),
        link=RecordedLink(menus + recorded(game_path), controllers),
    )
    first = env.reset()
    assert int(first.frame[0]) == -123 and env._menus.menu_frames == 30
    env = DolphinEnv(
        DolphinConfig(players=players, stage="fd", menu_frames=20),
        link=RecordedLink(menus + recorded(game_path), controllers),
    )
    with pytest.raises(
        GameSetupError,
        match=r"no game started after 20 frames of menus \(stuck at CHARACTER_SELECT",
    ):
        env.reset()
