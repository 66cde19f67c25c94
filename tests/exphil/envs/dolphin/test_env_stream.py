"""DolphinEnv on real games without Dolphin: libmelee reading ``.slp`` files as a live stream
(ReplayLink) and recorded gamestates (RecordedLink): the env loop, Frames conversion, game
end, restart, rewards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exphil.envs import GameEnv
from exphil.envs.dolphin import (
    DolphinConfig,
    DolphinEnv,
    GameSetupError,
    PlayerConfig,
    RecordedLink,
    ReplayLink,
    StreamEnded,
    winner_of,
)
from exphil.game import Controls
from exphil.game.live import read_slp_with_libmelee

FOX_PICHU = DolphinConfig(
    players=(
        PlayerConfig(port=1, character="fox"),
        PlayerConfig(port=3, character="pichu", kind="cpu"),
    ),
    stage="fd",
)


class NullController:
    """Counts flushes; the pipe tests use real libmelee controllers."""

    def __init__(self) -> None:
        from melee.controller import ControllerState

        self.flushes = 0
        self.prev = ControllerState()

    def flush(self) -> None:
        self.flushes += 1

    def release_all(self) -> None: ...
    def press_button(self, button: Any) -> None: ...
    def release_button(self, button: Any) -> None: ...
    def tilt_analog(self, button: Any, x: float, y: float) -> None: ...
    def press_shoulder(self, button: Any, amount: float) -> None: ...


def play(env: DolphinEnv, steps: int) -> list[Any]:
    out = []
    for _ in range(steps):
        out.append(env.step(Controls.neutral(1), Controls.neutral(1)))
    return out


def recorded(path: Path) -> list[Any]:
    import melee

    console = melee.Console(path=str(path), is_dolphin=False)
    assert console.connect()
    states = []
    while (gs := console.step()) is not None:
        states.append(gs)
    return states


def menu_state(frame: int) -> Any:
    import melee

    return melee.GameState(frame=frame, menu_state=melee.Menu.POSTGAME_SCORES)


def test_replay_stream_games_end_and_restart(game_path: Path) -> None:
    controllers = {1: NullController(), 3: NullController()}
    env = DolphinEnv(FOX_PICHU, link=ReplayLink([game_path, game_path], controllers))
    assert isinstance(env, GameEnv) and env.n == 1
    first = env.reset()
    expected = read_slp_with_libmelee(game_path)
    assert int(first.frame[0]) == int(expected.frame[0]) == -123
    rows, results = [first], []
    for _ in range(len(expected)):
        r = env.step(Controls.neutral(1), Controls.neutral(1))
        results.append(r)
        rows.append(r.final_frames if r.results else r.frames)
        if r.results:
            break
    last = results[-1]
    # the game ends on its last frame, by stocks: port 0 (Fox, port 1) lost its only stock
    assert len(results) == len(expected) - 1
    (outcome,) = last.results
    assert (outcome.winner, outcome.reason, outcome.stocks) == (1, "stocks", (0, 1))
    assert outcome.frames == len(expected) - 1
    assert last.terminated.tolist() == [True] and last.truncated.tolist() == [False]
    # auto-reset: the step that ended the game returns the next game's first frame
    assert int(last.frames.frame[0]) == -123 and env.games_started == 2
    # Frames conversion: every row equals the libmelee replay path's (the parity-tested one)
    for col in ("x", "y", "percent", "stocks", "action", "main_x", "buttons"):
        for p in (0, 1):
            got = np.concatenate([getattr(r.players[p], col) for r in rows])
            np.testing.assert_array_equal(got, getattr(expected.players[p], col), err_msg=col)
    # zero-sum reward: port 0 lost a stock and the game: -(1 + 5) over the game
    reward = np.stack([r.reward[0] for r in results])
    np.testing.assert_allclose(reward.sum(0), [-6.0, 6.0], atol=1e-5)
    np.testing.assert_array_equal(reward[:, 0], -reward[:, 1])
    # libmelee's Console.step flushes once per call: reset's, the 147 steps', the one that met
    # the end of file 1, the one that read game 2's first frame; plus GAME_START's release x2
    assert controllers[1].flushes == 1 + (len(expected) - 1) + 1 + 1 + 2
    stats = env.statistics()
    assert (stats.steps, stats.games_finished, stats.games_terminated, stats.port1_wins) == (
        len(expected) - 1,
        1,
        1,
        1,
    )
    play(env, len(expected) - 2)
    with pytest.raises(StreamEnded):  # the second game ends: no third game to reset into
        play(env, 1)
    env.close()
    env.close()


def test_recorded_states_menus_quit_and_timeout(game_path: Path) -> None:
    states = recorded(game_path)
    cut = [s for s in states if int(s.frame) <= 0]  # a game left at frame 0: no winner by stocks
    stream = cut + [menu_state(k) for k in range(5)] + states
    env = DolphinEnv(
        FOX_PICHU, link=RecordedLink(stream, {1: NullController(), 3: NullController()})
    )
    env.reset()
    rs = play(env, len(cut))
    (outcome,) = rs[-1].results
    assert (outcome.reason, outcome.winner, outcome.frames) == ("quit", -1, len(cut) - 1)
    assert rs[-1].truncated.tolist() == [True]
    assert int(rs[-1].frames.frame[0]) == -123  # after the menus, the next game
    assert env.statistics().draws == 1
    # the time limit truncates: 50 frames after frame 0
    env = DolphinEnv(
        DolphinConfig(players=FOX_PICHU.players, stage="fd", time_limit=10),
        link=RecordedLink(states + states, {1: NullController(), 3: NullController()}),
    )
    env.reset()
    rs = play(env, 123 + 10)
    (outcome,) = rs[-1].results
    assert (outcome.reason, outcome.frames) == ("timeout", 133)
    assert int(rs[-1].final_frames.frame[0]) == 10


def test_wrong_game_is_refused(game_path: Path) -> None:
    config = DolphinConfig(
        players=(
            PlayerConfig(port=1, character="marth"),
            PlayerConfig(port=3, character="pichu", kind="cpu"),
        ),
        stage="fd",
    )
    env = DolphinEnv(
        config, link=RecordedLink(recorded(game_path), {1: NullController(), 3: NullController()})
    )
    with pytest.raises(GameSetupError, match="port 1 plays Fox, not Marth"):
        env.reset()


def test_config_and_winner_rules() -> None:
    assert winner_of((0, 2), (10.0, 50.0)) == 1
    assert winner_of((3, 2), (90.0, 10.0)) == 0
    assert winner_of((2, 2), (30.0, 10.0)) == 1
    assert winner_of((0, 0), (10.0, 10.0)) == -1
    with pytest.raises(ValueError, match="two controller ports"):
        DolphinConfig(players=(PlayerConfig(port=1), PlayerConfig(port=1)))
    with pytest.raises(ValueError, match="at least one player must be a bot"):
        DolphinConfig(
            players=(PlayerConfig(port=1, kind="cpu"), PlayerConfig(port=2, kind="human"))
        )
    with pytest.raises(ValueError, match="kind must be"):
        PlayerConfig(port=2, kind="robot")
    with pytest.raises(ValueError, match="not a stage the menus can pick"):
        DolphinConfig(stage="hyrule temple")
    with pytest.raises(ValueError, match="no controller on port"):
        DolphinEnv(FOX_PICHU, link=RecordedLink([], {1: NullController()}))


def test_reset_mid_game_quits_it(game_path: Path) -> None:
    states = recorded(game_path)
    pressed: list[str] = []

    class Recording(NullController):
        def press_button(self, button: Any) -> None:
            pressed.append(button.name)

    stream = states[:40] + [menu_state(k) for k in range(3)] + states
    env = DolphinEnv(FOX_PICHU, link=RecordedLink(stream, {1: Recording(), 3: NullController()}))
    env.reset()
    play(env, 10)
    first = env.reset()  # pause, then L+R+A+Start, until the stream leaves the game
    assert int(first.frame[0]) == -123 and env.games_quit == 1 and env.games_started == 2
    assert pressed[0] == "BUTTON_START" and {"BUTTON_L", "BUTTON_R", "BUTTON_A"} <= set(pressed)
    assert env.statistics().games_finished == 0  # a quit game is not counted


def test_no_auto_reset_reads_to_the_game_end_and_stops(game_path: Path) -> None:
    """``auto_reset = False`` (exphil play's last game): the ending step reads on until the
    stream leaves the game (Slippi then finishes the replay file), starts nothing, and the
    next game needs reset()."""
    states = recorded(game_path)
    tail = [menu_state(k) for k in range(3)]
    stream = states + tail + states
    link = RecordedLink(stream, {1: NullController(), 3: NullController()})
    env = DolphinEnv(FOX_PICHU, link=link)
    env.auto_reset = False
    env.reset()
    rs = play(env, len(states) - 1)  # reset read the first frame
    last = rs[-1]
    assert len(last.results) == 1 and last.final_frames is not None
    assert last.frames is last.final_frames and not env.in_game and env.games_started == 1
    # it read the game's frames, then the first menu frame: nothing of the next game
    assert link.steps == len(states) + 1
    with pytest.raises(RuntimeError, match="before reset"):
        play(env, 1)
    assert int(env.reset().frame[0]) == -123 and env.games_started == 2
