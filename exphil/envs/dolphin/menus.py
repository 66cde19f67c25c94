"""Menu navigation: from wherever Melee is (title screen, main menu, character select,
stage select, the postgame scores) into the configured game, with libmelee's ``MenuHelper``.

Each port the env presses (bots and CPUs) has its own ``MenuHelper``. A bot picks its
character; a CPU port picks its character, switches its slot to CPU and sets the level; the
first bot port picks the stage and starts the game (``autostart``). A human port is left to
the human. In game, or on screens the helper does not know, every pipe controller is released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from exphil.envs.dolphin.config import PlayerConfig
from exphil.envs.dolphin.link import FlushingController
from exphil.game.ids import Stage

__all__ = ["IN_GAME_MENUS", "MenuNavigator", "in_game"]

IN_GAME_MENUS: Final = ("IN_GAME", "SUDDEN_DEATH")


def in_game(gamestate: Any) -> bool:
    """``gamestate`` is a frame of a game (not a menu)."""
    menu = gamestate.menu_state
    return getattr(menu, "name", str(menu)) in IN_GAME_MENUS


class MenuNavigator:
    """Presses menu buttons on the pipe controllers, one call per menu gamestate."""

    def __init__(self, players: tuple[PlayerConfig, PlayerConfig], stage: Stage) -> None:
        from melee import MenuHelper  # type: ignore[import-untyped]
        from melee.enums import Character as MCharacter  # type: ignore[import-untyped]
        from melee.enums import Stage as MStage

        self.players = players
        self.stage = MStage(stage.internal)
        self._characters = {p.port: MCharacter(p.char.internal) for p in players}
        self._helpers = {p.port: MenuHelper() for p in players if p.kind != "human"}
        bots = [p.port for p in players if p.kind == "bot"]
        self.starter = bots[0]
        self.menu_frames = 0

    def reset(self) -> None:
        """Forget what the helpers remember (e.g. that the stage was already picked)."""
        from melee import MenuHelper

        self._helpers = {port: MenuHelper() for port in self._helpers}
        self.menu_frames = 0

    def act(self, gamestate: Any, controllers: Mapping[int, FlushingController]) -> None:
        """Press what each port needs on this menu frame (release all in game)."""
        if in_game(gamestate):
            for c in controllers.values():
                c.release_all()
            return
        self.menu_frames += 1
        if getattr(gamestate.menu_state, "name", "") == "PRESS_START":
            # the title screen: menu_helper_simple has no case for it (libmelee 0.47)
            self._helpers[self.starter].choose_versus_mode(gamestate, controllers[self.starter])
            return
        for p in self.players:
            if p.kind == "human":
                continue
            controller = controllers[p.port]
            self._helpers[p.port].menu_helper_simple(
                gamestate,
                controller,
                self._characters[p.port],
                self.stage,
                cpu_level=p.cpu_level if p.kind == "cpu" else 0,
                costume=p.costume,
                autostart=p.port == self.starter,
            )
