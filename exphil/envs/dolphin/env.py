"""``DolphinEnv``: one game of real Melee on one Dolphin, behind the ``GameEnv`` protocol.

``n == 1``. ``Frames.players[0]`` / ``[1]`` are ``config.players[0]`` / ``[1]`` (each on
its controller port); ``step(p0, p1)`` sends a player's controls only where that player is a
bot (a CPU's or a human's row is ignored), through :func:`exphil.game.live.apply_action`
(every button, both sticks and both shoulders each frame: libmelee resets a controller
behind our back at a game's start, so nothing is sent as a diff), then waits for the next
frame of the game.

Games
-----
* ``reset()`` drives the menus (:class:`~exphil.envs.dolphin.menus.MenuNavigator`) until a
  new game starts and returns its first frame. Called mid-game, it first quits that game
  (pause, then L+R+A+Start on a bot's controller); the quit game is not counted.
* A game ends on the first frame where a player has no stock left (**terminated**,
  ``reason="stocks"``), when ``config.time_limit`` frames have passed since its frame 0
  (**truncated**, ``"timeout"``), or when the stream leaves the game without either (the
  game's own timer, a pause-quit, a disconnect of the other side: **truncated**, ``"quit"``).
  The winner is the mock's rule: the player with stocks left, else more stocks, else lower
  percent, else a draw.
* **Auto-reset** as ``GameEnv`` says: the step that ends a game returns the next game's first
  frame in ``frames`` (the env plays the rest of the old game's frames and the menus in
  between, pressing nothing but menu buttons), the last frame in ``final_frames``. With
  ``auto_reset = False`` (``exphil play``'s last game) it does not start another: it reads on
  until the stream leaves the game (so Slippi finishes the game's replay file; at most
  :data:`DRAIN_FRAMES` frames), returns the last frame in both, and the next game needs
  ``reset()``.
* **Reward**: the BC value head's zero-sum reward from frames
  (:func:`exphil.train._returns.reward_terms` on the two frames of the step, weighted by
  ``config.rewards``; the win term with the outcome's winner on the last step).

A new game is recognised by an in-game gamestate after a menu, or by a frame id lower than
the last one (two replays back to back in a :class:`ReplayLink`). The characters and stage
of every new game are checked against the config (:class:`GameSetupError` otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import structlog

from exphil.envs._protocol import Counters, EnvStatistics, GameOutcome, StepResult, check_controls
from exphil.envs.dolphin.config import DolphinConfig
from exphil.envs.dolphin.errors import GameSetupError
from exphil.envs.dolphin.link import Link
from exphil.envs.dolphin.menus import MenuNavigator, in_game
from exphil.game.controls import Controls
from exphil.game.frames import Frames, concat_frames
from exphil.game.ids import Character, Stage
from exphil.game.live import apply_action, frame_row

__all__ = ["DRAIN_FRAMES", "DolphinEnv", "winner_of"]

log = structlog.get_logger("exphil.dolphin")

Array = np.ndarray[Any, Any]

DRAIN_FRAMES = 600
"""Frames read after a game's end without an auto-reset, at most, waiting for the stream to
leave the game (the GAME! screen lasts about two seconds)."""


def winner_of(stocks: tuple[int, int], percent: tuple[float, float]) -> int:
    """0 or 1 (that port won) or -1 (a draw): the one with stocks left, else more stocks,
    else lower percent (the mock's rule)."""
    z0, z1 = stocks[0] <= 0, stocks[1] <= 0
    if z1 and not z0:
        return 0
    if z0 and not z1:
        return 1
    if stocks[0] != stocks[1]:
        return 0 if stocks[0] > stocks[1] else 1
    if percent[0] != percent[1]:
        return 0 if percent[0] < percent[1] else 1
    return -1


class DolphinEnv:
    """One Melee game on one Dolphin (or a replay / recorded stream): see the module
    docstring. ``link`` defaults to :func:`~exphil.envs.dolphin.launch` ``(config)``."""

    def __init__(self, config: DolphinConfig | None = None, *, link: Link | None = None) -> None:
        from exphil.train import reward_terms, rewards_from_terms

        self.config = config or DolphinConfig()
        self._reward_terms = reward_terms
        self._weigh = rewards_from_terms
        rewards_from_terms(np.zeros((1, 3), np.float32), self.config.rewards)  # shaping off?
        if link is None:
            from exphil.envs.dolphin.launch import launch

            link = launch(self.config)
        self.link = link
        self._ports = self.config.ports
        self._bots = tuple(i for i, p in enumerate(self.config.players) if p.kind == "bot")
        missing = [
            p.port
            for p in self.config.players
            if p.kind != "human" and p.port not in link.controllers
        ]
        if missing:
            link.close()
            raise ValueError(f"the link has no controller on port(s) {missing}")
        self._menus = MenuNavigator(self.config.players, self.config.stage_id)
        self._counters = Counters(1)
        self._closed = False
        self._row: Frames | None = None  # the current frame of the current game
        self._last_id: int | None = None  # its frame id
        self._game_frames = 0  # steps since the game's first frame
        self._zero_frame: int | None = None  # frame id of the current game's frame 0
        self.games_started = 0
        self.games_quit = 0
        self.auto_reset = True
        """Whether the step that ends a game goes on into the next (see the module docstring)."""

    # --- GameEnv ----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return 1

    @property
    def stage(self) -> Stage:
        return self.config.stage_id

    @property
    def characters(self) -> tuple[Character, Character]:
        return self.config.characters

    @property
    def in_game(self) -> bool:
        return self._row is not None

    def reset(self) -> Frames:
        """Quit the game in progress (if any), go through the menus, and return the first
        frame of a new game."""
        self._check_open()
        if self._row is not None:
            self._quit_game()
        return self._next_game(None)

    def step(self, p0: Controls, p1: Controls) -> StepResult:
        self._check_open()
        check_controls(p0, p1, 1)
        if self._row is None:
            raise RuntimeError("DolphinEnv.step before reset()")
        self.send(p0, p1)
        return self.receive()

    def statistics(self) -> EnvStatistics:
        return self._counters.snapshot()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._row = None
        self.link.close()

    def __enter__(self) -> DolphinEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    # --- the two halves of step (the real-time runner sends as soon as it can) --------------
    def send(self, p0: Controls, p1: Controls) -> None:
        """Press port 0's and port 1's controls (row 0) on the bots' controllers; they reach
        Dolphin at the next ``receive`` (libmelee flushes in ``Console.step``)."""
        controls = (p0, p1)
        for i in self._bots:
            apply_action(self.link.controllers[self._ports[i]], controls[i], 0)

    def receive(self) -> StepResult:
        """Wait for the next frame of the game; end it and auto-reset when it is over."""
        assert self._row is not None
        prev = self._row
        gs = self.link.step()
        self._counters.steps += 1
        new_game = not in_game(gs) or (self._last_id is not None and int(gs.frame) < self._last_id)
        if new_game or not self._players_present(gs):
            assert self._last_id is not None and self._zero_frame is not None
            ran_out = self._last_id - self._zero_frame >= self.config.time_limit - 1
            reason = "timeout" if ran_out else "quit"
            return self._finish(prev, prev, reason, terminated=False, pending=gs)
        if int(gs.frame) == self._last_id:  # a repeated frame: nothing new (should not happen)
            row = prev
        else:
            row = frame_row(gs, self._ports)
            self._game_frames += 1
        self._row, self._last_id = row, int(gs.frame)
        stocks = (int(row.players[0].stocks[0]), int(row.players[1].stocks[0]))
        if min(stocks) <= 0:
            return self._finish(prev, row, "stocks", terminated=True, pending=None)
        if (
            self._zero_frame is not None
            and self._last_id - self._zero_frame >= self.config.time_limit
        ):
            return self._finish(prev, row, "timeout", terminated=False, pending=None)
        reward = self._reward(prev, row, -1)
        return StepResult(
            frames=row,
            reward=reward,
            terminated=np.zeros(1, dtype=bool),
            truncated=np.zeros(1, dtype=bool),
            final_frames=None,
            results=(),
        )

    # --- internals --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("DolphinEnv is closed")

    def _players_present(self, gs: Any) -> bool:
        return all(p in gs.players for p in self._ports)

    def _reward(self, prev: Frames, row: Frames, winner: int) -> Array:
        pair = concat_frames([prev, row])
        out = np.empty((1, 2), dtype=np.float32)
        for port in (0, 1):
            terms = self._reward_terms(pair, port, winner=winner)
            out[0, port] = self._weigh(terms, self.config.rewards)[1]
        return out

    def _finish(
        self, prev: Frames, last: Frames, reason: str, *, terminated: bool, pending: Any
    ) -> StepResult:
        stocks = (int(last.players[0].stocks[0]), int(last.players[1].stocks[0]))
        percent = (float(last.players[0].percent[0]), float(last.players[1].percent[0]))
        winner = winner_of(stocks, percent)
        outcome = GameOutcome(
            game=0,
            winner=winner,
            reason=reason,
            frames=self._game_frames,
            stocks=stocks,
            percent=percent,
        )
        self._counters.count(outcome, terminated=terminated)
        log.info("game over", winner=winner, reason=reason, frames=self._game_frames, stocks=stocks)
        reward = self._reward(prev, last, winner)
        self._row = None
        if self.auto_reset:
            frames = self._next_game(pending)
        else:
            if pending is None:
                self._drain()
            frames = last
        return StepResult(
            frames=frames,
            reward=reward,
            terminated=np.array([terminated]),
            truncated=np.array([not terminated]),
            final_frames=last,
            results=(outcome,),
        )

    def _next_game(self, pending: Any) -> Frames:
        """Step (pressing menu buttons) until a new game's first frame; ``pending`` is a
        gamestate already read that may be it."""
        self._menus.reset()
        last_id = self._last_id
        seen_menu = pending is not None and not in_game(pending)
        gs = pending
        while True:
            if gs is not None:
                if in_game(gs) and self._players_present(gs):
                    frame = int(gs.frame)
                    if seen_menu or last_id is None or frame < last_id:
                        return self._start_game(gs)
                    last_id = frame  # the tail of the game that just ended
                else:
                    seen_menu = True
                self._menus.act(gs, self.link.controllers)
                if self._menus.menu_frames > self.config.menu_frames:
                    menu = getattr(gs.menu_state, "name", str(gs.menu_state))
                    raise GameSetupError(
                        f"no game started after {self.config.menu_frames} frames of menus "
                        f"(stuck at {menu}); check the characters, stage and ports"
                    )
            gs = self.link.step()

    def _drain(self) -> None:
        """Read on, pressing nothing, until the stream leaves the game that just ended (or a
        new one starts), at most :data:`DRAIN_FRAMES` frames."""
        for i in self._bots:
            self.link.controllers[self._ports[i]].release_all()
        last_id = self._last_id
        for _ in range(DRAIN_FRAMES):
            gs = self.link.step()
            if not in_game(gs) or (last_id is not None and int(gs.frame) < last_id):
                return
            last_id = int(gs.frame)

    def _start_game(self, gs: Any) -> Frames:
        from melee.enums import Character as MCharacter  # type: ignore[import-untyped]

        row = frame_row(gs, self._ports)
        for i, p in enumerate(self.config.players):
            got = int(row.players[i].character[0])
            want = p.char.internal
            # Zelda/Sheik transform in game: either is the configured one
            pair = {MCharacter.ZELDA.value, MCharacter.SHEIK.value}
            if got != want and not ({got, want} <= pair):
                name = _character_name(got)
                raise GameSetupError(
                    f"port {p.port} plays {name}, not {p.char.display_name} as configured"
                )
        stage = int(row.stage[0])
        if stage != int(self.config.stage_id):
            shown = Stage(stage).display_name if stage in Stage._value2member_map_ else str(stage)
            raise GameSetupError(f"the game is on {shown}, not {self.config.stage_id.display_name}")
        self._row, self._last_id = row, int(gs.frame)
        self._zero_frame = 0 if int(gs.frame) <= 0 else int(gs.frame)
        self._game_frames = 0
        self.games_started += 1
        log.info("game started", frame=int(gs.frame), games=self.games_started)
        return row

    def _quit_game(self) -> None:
        """Pause and L+R+A+Start on the first bot's controller until the game is left."""
        from melee.enums import Button

        c = self.link.controllers[self._ports[self._bots[0]]]
        for k in range(self.config.menu_frames):
            c.release_all()
            if k % 40 == 0:
                c.press_button(Button.BUTTON_START)
            elif k % 40 > 5:
                for b in (Button.BUTTON_L, Button.BUTTON_R, Button.BUTTON_A, Button.BUTTON_START):
                    c.press_button(b)
            gs = self.link.step()
            if not in_game(gs):
                self._row = None
                self.games_quit += 1
                return
        raise GameSetupError(
            f"could not quit the game in progress in {self.config.menu_frames} frames "
            "(is pause off in the rules?)"
        )


def _character_name(internal: int) -> str:
    try:
        return Character.from_internal(internal).display_name
    except ValueError:
        return f"character {internal}"
