"""``exphil play``: a policy plays real Melee on Slippi Dolphin (docs/dolphin.md).

``exphil play POLICY --vs OPPONENT`` launches Dolphin (``exphil.envs.dolphin``), goes
through the menus and plays ``--games`` games: the policy on ``--port`` against Melee's CPU
(``cpu:N``), a human on a GameCube controller (``human``), another policy, or an idle
controller (``noop``). Real time by default (Dolphin runs at 60 fps; the policy's reaction
delay is its inference slack, late frames are counted); ``--lockstep`` makes Dolphin wait
for the policy each frame (not against a human). A live status (FPS, late frames, score,
stocks and percent) on a terminal, plain lines every ``--status-every`` seconds otherwise;
the ``.slp`` replay Slippi recorded is named after each game.

Exit status: 0 when the games were played; 2 for a user error (a missing or wrong Dolphin
path, not a Slippi build, a wrong ISO, the Slippi port in use, an unknown ``--vs``, a policy
trained for another character or stage); 130 on Ctrl-C (the emulator is stopped first); 1
when Dolphin crashes or hangs mid-game.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import click
import structlog

from exphil.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

    from exphil.envs import StepResult
    from exphil.envs.dolphin import ReplayFinder, RunnerStatistics
    from exphil.game import Frames
    from exphil.players import PlayerSpec

__all__ = ["DEFAULT_REPLAY_DIR", "play_cmd"]

log = structlog.get_logger("exphil.play")

#: where Slippi's replays of ``exphil play`` go unless ``--replay-dir`` says otherwise
#: (relative to the working folder; kept out of the replay folder training reads)
DEFAULT_REPLAY_DIR = Path("runs") / "play"

#: printed under a refused policy
POLICY_HINT = (
    "`exphil info POLICY` shows what a policy was trained on; --character, "
    "--opponent-character and --stage pick the game"
)


def _opponent_label(opponent: PlayerSpec) -> str:
    """How the status names the opponent: ``CPU N`` (Melee's CPU), a policy's short name
    (:func:`~exphil.players.policy_label`), ``human`` or ``noop``."""
    from exphil.players import policy_label

    if opponent.kind == "cpu":
        return f"CPU {opponent.level}"
    if opponent.kind == "policy":
        assert opponent.path is not None
        return policy_label(opponent.path)
    return opponent.kind


def _other_port(port: int) -> int:
    return next(p for p in (1, 2, 3, 4) if p != port)


def _policy_delay(path: Path) -> int:
    from exphil.nets import read_policy_config

    _config, meta = read_policy_config(path)
    return int(meta.get("delay", 0))


@click.command("play")
@click.argument("policy")
@click.option(
    "--vs",
    "vs",
    default="cpu:9",
    show_default=True,
    help="cpu:1..cpu:9 (Melee's CPU), human (a GameCube controller on the adapter), noop, "
    "or another policy file / run folder.",
)
@click.option("--character", default="fox", show_default=True, help="The policy's character.")
@click.option(
    "--opponent-character", default=None, help="The opponent's character [default: --character]."
)
@click.option("--stage", default="fd", show_default=True, help="A legal stage (fd, bf, ...).")
@click.option(
    "--dolphin",
    default=None,
    help="Slippi Dolphin (executable or install folder) [default: $EXPHIL_DOLPHIN_PATH, "
    "else the settings file of `exphil setup`].",
)
@click.option(
    "--iso",
    default=None,
    help="The Melee NTSC 1.02 ISO [default: $EXPHIL_ISO_PATH, else the settings file].",
)
@click.option(
    "--realtime/--lockstep",
    default=True,
    show_default=True,
    help="Real time: Dolphin at 60 fps, the reaction delay as inference slack. Lockstep: "
    "Dolphin waits for the policy each frame (not against a human).",
)
@click.option(
    "--games",
    default=1,
    show_default=True,
    type=click.IntRange(0),
    help="Games to play (0: until Ctrl-C).",
)
@click.option(
    "--port", default=1, show_default=True, type=click.IntRange(1, 4), help="The policy's port."
)
@click.option(
    "--opponent-port",
    default=None,
    type=click.IntRange(1, 4),
    help="The opponent's controller port [default: the first other one].",
)
@click.option(
    "--slippi-port",
    default=51441,
    show_default=True,
    type=click.IntRange(1024, 65535),
    help="Dolphin's Slippi spectator port (UDP): one per Dolphin.",
)
@click.option(
    "--replay-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Where Slippi saves the games' replays [default: {DEFAULT_REPLAY_DIR}].",
)
@click.option("--no-replays", is_flag=True, help="Do not save replays.")
@click.option("--headless", is_flag=True, help="No window (mainline/ExiAI builds; not vs human).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds the policies' sampling."
)
@click.option(
    "--connect-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds for Dolphin to boot and open its Slippi port.",
)
@click.option(
    "--status-every",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.01, 3600),
    help="Seconds between status lines when not on a terminal.",
)
@click.option(
    "--live/--no-live",
    default=None,
    help="A live status panel [default: when stdout is a terminal].",
)
def play_cmd(
    policy: str,
    vs: str,
    character: str,
    opponent_character: str | None,
    stage: str,
    dolphin: str | None,
    iso: str | None,
    realtime: bool,
    games: int,
    port: int,
    opponent_port: int | None,
    slippi_port: int,
    replay_dir: Path | None,
    no_replays: bool,
    headless: bool,
    device: str,
    seed: int,
    connect_timeout: float,
    status_every: float,
    live: bool | None,
) -> None:
    """POLICY (a policy file or run folder) plays real Melee on Slippi Dolphin.

    \b
    Examples:
      exphil play checkpoints/RUN --vs cpu:9                      # one game against CPU 9
      exphil play checkpoints/RUN --vs human --opponent-character falco --games 5
      exphil play a.safetensors --vs b.safetensors --lockstep --games 10
    Dolphin and the ISO come from --dolphin/--iso, $EXPHIL_DOLPHIN_PATH/$EXPHIL_ISO_PATH or
    the settings file (`exphil setup`). Ctrl-C stops (the emulator too).
    """
    from rich.console import Console
    from rich.markup import escape

    from exphil.envs.dolphin import (
        DolphinConfig,
        DolphinEnv,
        DolphinFailure,
        LockstepRunner,
        PlayerConfig,
        RealtimeRunner,
        ReplayFinder,
        resolve_paths,
    )
    from exphil.players import PlayerSpec, make_player, parse_player, policy_label

    # --- what to play: every user mistake is found before Dolphin starts --------------------
    opponent = parse_player(vs, dolphin=True)  # Melee's CPU, human, noop or a policy
    if opponent.kind == "human" and not realtime:
        raise UserError("--lockstep cannot play a human: a human plays in real time (--realtime)")
    if opponent.kind == "human" and headless:
        raise UserError("--headless cannot play a human: the human needs Dolphin's window")
    if not Path(policy.strip()).expanduser().exists():
        raise UserError(
            f"POLICY {policy}: no such policy file or run folder (exphil play plays a "
            "policy; Melee's CPU is --vs cpu:N)"
        )
    me = parse_player(policy)  # a run folder's best/last; an unreadable file is refused
    assert me.path is not None
    opp_port = opponent_port if opponent_port is not None else _other_port(port)
    kind = {"cpu": "cpu", "human": "human"}.get(opponent.kind, "bot")
    human = opponent.kind == "human"
    replays = None if no_replays else (replay_dir or DEFAULT_REPLAY_DIR).expanduser().resolve()
    paths = resolve_paths(dolphin, iso)
    try:
        config = DolphinConfig(
            dolphin_path=str(paths.dolphin),
            iso_path=str(paths.iso),
            players=(
                PlayerConfig(port=port, kind="bot", character=character),
                PlayerConfig(
                    port=opp_port,
                    kind=kind,
                    character=opponent_character or character,
                    cpu_level=opponent.level if opponent.kind == "cpu" else 9,
                ),
            ),
            stage=stage,
            slippi_port=slippi_port,
            headless=headless,
            blocking_input=not realtime,
            save_replays=replays is not None,
            replay_dir=str(replays) if replays is not None else None,
            connect_timeout=connect_timeout,
            # a human may pause the game (no frames) and takes time in the menus
            step_timeout=60.0 if human else 5.0,
            menu_frames=60 * 600 if human else 60 * 120,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None

    # --- the policies (refused when trained for another character or stage) ----------------
    bots: list[tuple[int, Path]] = [(0, me.path)]
    if opponent.kind == "policy":
        assert opponent.path is not None
        bots.append((1, opponent.path))
    try:
        trained = {i: _policy_delay(p) for i, p in bots}
    except (ValueError, OSError) as exc:
        raise UserError(f"cannot read the policy: {exc}") from None
    # real time: the smallest trained delay is the runner's slack, each agent keeps the rest
    slack = min(trained.values()) if realtime else 0
    actors: list[Any] = [None, None]
    for i, path in bots:
        try:
            actors[i] = make_player(
                PlayerSpec("policy", path=path),
                1,
                i,
                seed=seed + i,
                character=config.characters[i],
                stage=config.stage_id,
                device=device,
                delay=trained[i] - slack,
            )
        except UserError as exc:
            exc.hint = exc.hint or POLICY_HINT
            raise

    names = (
        f"{config.characters[0].display_name} ({policy_label(me.path)})",
        f"{config.characters[1].display_name} ({_opponent_label(opponent)})",
    )
    out = Console(highlight=False, soft_wrap=True)
    mode = (
        f"real time, {slack} frames of delay as slack"
        if realtime
        else "lockstep (Dolphin waits for the policy)"
    )
    out.print(
        f"{escape(names[0])} on port {port} vs {escape(names[1])} on port {opp_port}, "
        f"{escape(config.stage_id.display_name)}; {mode}; "
        + (f"{games} game{'s' if games != 1 else ''}" if games else "until Ctrl-C")
    )
    out.print(f"Dolphin: {escape(str(paths.dolphin))}")
    out.print(f"replays: {escape(str(replays))}" if replays is not None else "replays: not saved")
    if human:
        out.print(
            f"human: plug a GameCube controller into port {opp_port} of the adapter and pick "
            f"{escape(config.characters[1].display_name)}; the policy starts the game"
        )
    finder: ReplayFinder | None = None
    if replays is not None:
        try:
            replays.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"--replay-dir {replays}: cannot make the folder ({exc.strerror or exc})"
            ) from None
        finder = ReplayFinder(replays)  # before Dolphin starts: its files are the new ones

    # --- play --------------------------------------------------------------------------------
    status = _Status(
        out,
        names=names,
        live=sys.stdout.isatty() if live is None else live,
        every=status_every,
        finder=finder,
    )
    started = time.monotonic()
    try:
        env = DolphinEnv(config)  # launches Dolphin: stopped again on any error
    except DolphinFailure as exc:  # crashed or hung before it connected
        _failed(exc)
    runner: LockstepRunner | RealtimeRunner
    with env:
        log.info("play", policy=str(me.path), vs=opponent.label, games=games, realtime=realtime)
        out.print(f"Dolphin connected in {time.monotonic() - started:.1f} s; Ctrl-C stops")
        env.auto_reset = games != 1  # the last game does not start another
        if realtime:
            runner = RealtimeRunner(env, actors, delay=slack)
        else:
            runner = LockstepRunner(env, actors)

        def on_step(result: StepResult, stats: RunnerStatistics) -> None:
            if result.results and games and stats.games + 1 >= games:
                env.auto_reset = False
            status.step(result, stats)

        try:
            with status:
                stats = runner.run(games=games or None, on_step=on_step)
        except KeyboardInterrupt:
            env.close()  # the emulator first, then the report
            status.stopped(runner.statistics())
            raise
        except DolphinFailure as exc:
            env.close()
            status.stopped(runner.statistics())
            _failed(exc)
    status.summary(stats)


def _failed(exc: Exception) -> NoReturn:
    """Dolphin crashed or hung: its message (with the end of Dolphin's log), exit 1."""
    click.echo(click.style("error: ", fg="red") + str(exc), err=True)
    raise click.exceptions.Exit(1)


class _Status:
    """The live status (a rich ``Live`` panel) or plain lines, the game results and replays."""

    def __init__(
        self,
        console: Console,
        *,
        names: tuple[str, str],
        live: bool,
        every: float,
        finder: ReplayFinder | None,
    ) -> None:
        self.console = console
        self.names = names
        self.live = live
        self.every = every
        self.finder = finder
        self.game = 1
        self.game_frames = 0
        self._frames: Frames | None = None
        self._stats: RunnerStatistics | None = None
        self._shown = time.monotonic()
        self._live: Live | None = None

    def __enter__(self) -> _Status:
        if self.live:
            from rich.live import Live

            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.start()
            self._logs_through_live(True)
        return self

    def _logs_through_live(self, on: bool) -> None:
        """While the panel is up the logs go through Live's stderr proxy (printed above it);
        then back to stderr as the command line configured them."""
        from exphil._logging import configure_logging

        ctx = click.get_current_context(silent=True)
        obj = ctx.find_root().obj if ctx is not None else None
        obj = obj if isinstance(obj, dict) else {}
        level = str(obj.get("log_level", "info"))
        if on:
            configure_logging(json=bool(obj.get("log_json")), level=level, stream=sys.stderr)
        else:
            configure_logging(json=True if obj.get("log_json") else None, level=level)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop_live()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            self._logs_through_live(False)

    def _parts(self) -> tuple[list[str], list[str]]:
        """(game, time, FPS, late frames, score), (each player's stocks and percent); markup."""
        from rich.markup import escape

        s = self._stats
        run = [f"game {self.game}", f"{self.game_frames / 60:5.1f} s"]
        if s is not None:
            run.append(f"{s.fps:5.1f} fps")
            run.append(
                f"late {s.late_frames} ({s.late_fraction:.1%}, worst {s.worst_late_ms:.1f} ms)"
            )
            run.append(
                f"score {s.score[0]}-{s.score[1]}" + (f"-{s.score[2]}" if s.score[2] else "")
            )
        players = []
        f = self._frames
        if f is not None:
            for i in (0, 1):
                p = f.players[i]
                players.append(
                    f"{escape(self.names[i])} {int(p.stocks[0])} stocks {float(p.percent[0]):.0f}%"
                )
        return run, players

    def line(self) -> str:
        """One line: game, time, FPS, late frames, score, each player's stocks and percent."""
        run, players = self._parts()
        return " | ".join(run + players)

    def _render(self) -> Any:
        """The live panel: the run on one line, the players on the next, how to stop."""
        from rich.text import Text

        run, players = self._parts()
        return Text.from_markup(
            " | ".join(run) + "\n" + "   ".join(players) + "\n[dim]Ctrl-C stops[/dim]"
        )

    def step(self, result: StepResult, stats: RunnerStatistics) -> None:
        self._stats = stats
        if result.results:
            assert result.final_frames is not None
            self._frames = result.final_frames
            for outcome in result.results:
                self._game_over(outcome.winner, outcome.reason, outcome.frames, stats)
            self._frames = result.frames
            self.game_frames = 0
            return
        self._frames = result.frames
        self.game_frames += 1
        now = time.monotonic()
        if self._live is not None:
            if now - self._shown >= 0.1:
                self._shown = now
                self._live.update(self._render())
        elif now - self._shown >= self.every:
            self._shown = now
            self.console.print(self.line())

    def _game_over(self, winner: int, reason: str, frames: int, stats: RunnerStatistics) -> None:
        from rich.markup import escape

        f = self._frames
        assert f is not None
        who = "a draw" if winner < 0 else f"{escape(self.names[winner])} wins"
        p0, p1 = f.players[0], f.players[1]
        self.console.print(
            f"game {self.game}: {who} ({reason}) after {frames / 60:.1f} s: stocks "
            f"{int(p0.stocks[0])}-{int(p1.stocks[0])}, percent {float(p0.percent[0]):.0f}%"
            f"-{float(p1.percent[0]):.0f}%; score {stats.score[0]}-{stats.score[1]}"
            + (f" ({stats.score[2]} draws)" if stats.score[2] else "")
        )
        if self.finder is not None:
            path = self.finder.next_replay(timeout=1.0)
            if path is not None:
                self.console.print(f"  replay: {escape(str(path))}")
            else:
                self.console.print(
                    f"  replay: none found in {escape(str(self.finder.folder))} "
                    "(did Dolphin save it? Slippi's replay option)"
                )
        self.game += 1

    def stopped(self, stats: RunnerStatistics) -> None:
        """Ctrl-C or a failure: where the game stood, and its replay so far."""
        from rich.markup import escape

        self._stop_live()
        self._stats = stats
        self.console.print(f"stopped: {self.line()}")
        if self.finder is not None:
            path = self.finder.unfinished()
            if path is not None:
                self.console.print(f"  replay of the unfinished game: {escape(str(path))}")

    def summary(self, stats: RunnerStatistics) -> None:
        from rich.markup import escape

        self.console.print(
            f"played {stats.games} game{'s' if stats.games != 1 else ''} in "
            f"{stats.seconds:.0f} s: {escape(self.names[0])} {stats.score[0]}, "
            f"{escape(self.names[1])} {stats.score[1]}, draws {stats.score[2]}; "
            f"{stats.mean_fps:.1f} fps, late frames {stats.late_frames} "
            f"({stats.late_fraction:.1%}, worst {stats.worst_late_ms:.1f} ms), "
            f"waited {stats.waited_frames}, behind {stats.behind_frames}"
        )
