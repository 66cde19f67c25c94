"""Evaluation: a player against an opponent on the mock, with honest statistics.

``evaluate(player, opponent, games=N)`` plays exactly ``N`` games (``batch`` at a time; each
game slot plays a fixed share, so short games are not over-counted) and reports the win
rate with a 95% Wilson confidence interval (draws count half), KOs dealt and taken,
self-destructs (a stock lost without taking damage in the 5 seconds before), damage dealt and
taken per minute, the fraction of frames on the stage, and the player's own controller
usage (each button's press rate, main stick and c-stick off neutral, shoulder). Everything is
seeded: the same arguments give the same report.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from exphil.envs import MockConfig, MockEnv
from exphil.game import BUTTONS, Character, Controls, Frames, concat_frames
from exphil.players import Player, PlayerSpec, make_player, parse_player

__all__ = [
    "ControlUsage",
    "EvalReport",
    "ReplayUsageReport",
    "evaluate",
    "replay_usage",
    "wilson_interval",
]

Array = np.ndarray[Any, Any]
SD_WINDOW = 300  # frames: a stock lost without damage in the last 5 s is a self-destruct
NEVER = -(10**12)
STICK_DEADZONE = 0.3


def wilson_interval(score: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a rate ``score / n`` (``score`` may be fractional:
    draws count half)."""
    if n == 0:
        return (0.0, 1.0)
    p = score / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, center - half), min(1.0, center + half)
    # at p = 0 or 1 the bound is exactly the rate (float rounding must not exclude it)
    return (0.0 if score <= 0 else lo, 1.0 if score >= n else hi)


@dataclass(frozen=True)
class EvalReport:
    player: str
    opponent: str
    games: int
    wins: int
    losses: int
    draws: int
    win_rate: float  # (wins + draws / 2) / games
    ci_low: float
    ci_high: float
    kos_dealt: int
    kos_taken: int
    self_destructs: int
    damage_dealt_per_min: float
    damage_taken_per_min: float
    time_on_stage: float  # fraction of frames
    minutes: float  # game time played
    frames: int
    buttons: dict[str, float] = field(default_factory=dict)  # held rate per button
    any_button: float = 0.0  # fraction of frames with a button held
    main_stick: float = 0.0  # fraction of frames off neutral
    c_stick: float = 0.0
    shoulder: float = 0.0
    seed: int = 0
    stage: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ControlUsage:
    """How often a controller is used over ``frames`` frames: each button's held rate, any
    button held, the main stick and c-stick off neutral (beyond 0.3), the shoulder past 0.3."""

    frames: int
    buttons: dict[str, float]
    any_button: float
    main_stick: float
    c_stick: float
    shoulder: float


class _UsageTally:
    """Counts behind a :class:`ControlUsage`, summed over the rows added."""

    def __init__(self) -> None:
        self.frames = self.any = self.main = self.c = self.shoulder = 0
        self.buttons = np.zeros(len(BUTTONS), dtype=np.int64)

    def add(self, controls: Controls, on: Array) -> None:
        """Count the rows of ``controls`` where ``on``."""
        raw = np.asarray(controls.buttons, dtype=np.uint8)
        bits = (raw[:, None] >> np.arange(len(BUTTONS))) & 1
        self.frames += int(on.sum())
        self.buttons += (bits.astype(np.int64) * on[:, None]).sum(axis=0)
        self.any += int((on & (raw != 0)).sum())
        self.main += int((on & (np.hypot(controls.main_x, controls.main_y) > STICK_DEADZONE)).sum())
        self.c += int((on & (np.hypot(controls.c_x, controls.c_y) > STICK_DEADZONE)).sum())
        self.shoulder += int((on & (np.asarray(controls.shoulder) > 0.3)).sum())

    def usage(self) -> ControlUsage:
        total = max(1, self.frames)
        return ControlUsage(
            frames=self.frames,
            buttons={b: float(self.buttons[i]) / total for i, b in enumerate(BUTTONS)},
            any_button=self.any / total,
            main_stick=self.main / total,
            c_stick=self.c / total,
            shoulder=self.shoulder / total,
        )


class _Tally:
    """Per-slot counters over the frames of the counted games."""

    def __init__(self, n: int) -> None:
        self.n = n

        def z() -> Array:
            return np.zeros(n, dtype=np.int64)

        self.kos_dealt, self.kos_taken, self.sds = z(), z(), z()
        self.frames, self.on_stage = z(), z()
        self.dealt = np.zeros(n)
        self.taken = np.zeros(n)
        # per-slot clock of the last damage taken (NEVER: not since the stock started)
        self.last_hit = np.full(n, NEVER, dtype=np.int64)
        self.clock = z()
        self.controls = _UsageTally()


def evaluate(
    player: str | os.PathLike[str] | PlayerSpec,
    opponent: str | os.PathLike[str] | PlayerSpec,
    *,
    games: int = 100,
    config: MockConfig | None = None,
    seed: int = 0,
    batch: int = 64,
    port: int = 0,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    players: tuple[Player, Player] | None = None,
) -> EvalReport:
    """Play ``games`` games of ``player`` (on ``port``) against ``opponent`` on the mock.

    Specs are ``cpu:N``, ``random``, ``noop`` or a policy file (see
    :func:`exphil.players.parse_player`); ``players`` passes ready-made players instead
    (for ``batch`` games each). ``progress(done, games)`` is called as games finish."""
    if games < 1:
        raise ValueError(f"games must be at least 1, got {games}")
    cfg = config or MockConfig()
    b = min(batch, games)
    env = MockEnv(b, cfg)
    me_spec = player if isinstance(player, PlayerSpec) else parse_player(os.fspath(player))
    opp_spec = opponent if isinstance(opponent, PlayerSpec) else parse_player(os.fspath(opponent))
    chars = cfg.character_ids
    if players is None:
        st = cfg.stage_id
        me = make_player(
            me_spec, b, port, seed=seed, character=chars[port], stage=st, device=device
        )
        them = make_player(
            opp_spec, b, 1 - port, seed=seed + 1_000_003, character=chars[1 - port], stage=st,
            device=device,
        )  # fmt: skip
    else:
        me, them = players
    quota = np.full(b, games // b, dtype=np.int64)
    quota[: games % b] += 1
    played = np.zeros(b, dtype=np.int64)
    wins = losses = draws = 0
    tally = _Tally(b)
    edge = env.stage.geometry.edge
    frames = env.reset()
    prev = frames
    done_games = 0
    while done_games < games:
        counting = played < quota
        c_me = me.act(frames)
        c_them = them.act(frames)
        controls = (c_me, c_them) if port == 0 else (c_them, c_me)
        step = env.step(*controls)
        ended = step.terminated | step.truncated
        # the frame each game reached: a finished game's last frame, not the next game's first
        now = step.frames
        if ended.any() and step.final_frames is not None:
            now = _merge_rows(step.frames, step.final_frames, np.flatnonzero(ended))
        _count(tally, prev, now, c_me, port, edge, counting)
        for r in step.results:
            if not counting[r.game]:
                continue
            played[r.game] += 1
            done_games += 1
            if r.winner == port:
                wins += 1
            elif r.winner < 0:
                draws += 1
            else:
                losses += 1
        if progress is not None and step.results:
            progress(done_games, games)
        tally.last_hit[ended] = NEVER
        me.end_games(ended)
        them.end_games(ended)
        frames = prev = step.frames
    minutes = float(tally.frames.sum()) / 3600.0
    total = max(1, int(tally.frames.sum()))
    usage = tally.controls.usage()
    score = wins + 0.5 * draws
    lo, hi = wilson_interval(score, games)
    return EvalReport(
        player=me_spec.label,
        opponent=opp_spec.label,
        games=games,
        wins=wins,
        losses=losses,
        draws=draws,
        win_rate=score / games,
        ci_low=lo,
        ci_high=hi,
        kos_dealt=int(tally.kos_dealt.sum()),
        kos_taken=int(tally.kos_taken.sum()),
        self_destructs=int(tally.sds.sum()),
        damage_dealt_per_min=float(tally.dealt.sum()) / max(minutes, 1e-9),
        damage_taken_per_min=float(tally.taken.sum()) / max(minutes, 1e-9),
        time_on_stage=float(tally.on_stage.sum()) / total,
        minutes=minutes,
        frames=int(tally.frames.sum()),
        buttons=usage.buttons,
        any_button=usage.any_button,
        main_stick=usage.main_stick,
        c_stick=usage.c_stick,
        shoulder=usage.shoulder,
        seed=seed,
        stage=env.stage.display_name,
    )


def _merge_rows(frames: Frames, final: Frames, rows: Array) -> Frames:
    """``frames`` with ``rows`` replaced by ``final``'s rows (in order)."""
    take = np.arange(len(frames))
    take[rows] = len(frames) + np.arange(len(rows))
    return concat_frames([frames, final]).take(take)


def _count(
    t: _Tally, prev: Frames, now: Frames, controls: Any, port: int, edge: float, on: Array
) -> None:
    me_p, me_n = prev.players[port], now.players[port]
    op_p, op_n = prev.players[1 - port], now.players[1 - port]
    t.clock += 1
    lost_me = (me_n.stocks < me_p.stocks) & on
    lost_op = (op_n.stocks < op_p.stocks) & on
    hit_me = np.maximum(me_n.percent - me_p.percent, 0) * ~(me_n.stocks < me_p.stocks)
    hit_op = np.maximum(op_n.percent - op_p.percent, 0) * ~(op_n.stocks < op_p.stocks)
    t.taken += np.where(on, hit_me, 0)
    t.dealt += np.where(on, hit_op, 0)
    t.last_hit = np.where(hit_me > 0, t.clock, t.last_hit)
    t.kos_taken += lost_me
    t.kos_dealt += lost_op
    t.sds += lost_me & (t.clock - t.last_hit > SD_WINDOW)
    t.last_hit = np.where(lost_me, NEVER, t.last_hit)  # a new stock has taken no damage yet
    t.frames += on
    t.on_stage += on & (np.abs(me_n.x) <= edge) & (me_n.y > -10)
    t.controls.add(controls, on)


@dataclass(frozen=True)
class ReplayUsageReport:
    """A policy fed the states of real games (open loop: its own choices change nothing),
    next to the players' own controllers on the same frames.

    ``perspectives``: the (game, port) pairs played, one per player whose character the
    policy was trained on; ``skipped``: players left out, by reason. Frames are counted from
    the game's start (frame 0, after the countdown) once the policy's reaction-delay FIFO
    holds its own choices (``delay`` frames in)."""

    player: str
    games: int
    perspectives: int
    skipped: dict[str, int]
    delay: int
    policy: ControlUsage
    players: ControlUsage
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def ratios(self) -> dict[str, float]:
        """The policy's rate over the players' for each summary figure (``nan`` where the
        players never did it)."""
        out = {}
        for k in ("any_button", "main_stick", "c_stick", "shoulder"):
            theirs = float(getattr(self.players, k))
            out[k] = float(getattr(self.policy, k)) / theirs if theirs > 0 else math.nan
        return out


def replay_usage(
    policy: str | os.PathLike[str],
    games: Sequence[Frames],
    *,
    seed: int = 0,
    batch: int = 64,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> ReplayUsageReport:
    """Feed ``policy`` every frame of ``games`` (whole replays' ``Frames``), from each port
    whose character it was trained on, ``batch`` players at a time, sampling as it plays;
    count its controllers and the players' own. ``progress(done, total)`` counts
    perspectives."""
    from exphil.agent import PolicyIncompatible, check_compatible, load_agent_policy

    spec = parse_player(os.fspath(policy))  # a run folder names its best policy
    if spec.path is None:
        raise ValueError(f"{spec.label} is not a policy file or run folder")
    net, meta = load_agent_policy(spec.path, device=device)
    delay = int(meta.get("delay", 0))
    skipped: dict[str, int] = {}
    todo: list[tuple[int, int]] = []  # (game, port)
    for g, frames in enumerate(games):
        for port in (0, 1):
            player = frames.players[port]
            if len(frames) == 0 or not bool(np.asarray(player.exists).any()):
                skipped["no player"] = skipped.get("no player", 0) + 1
                continue
            try:
                char = Character.from_internal(int(np.asarray(player.character)[-1]))
                check_compatible(meta, port=port, character=char)
            except (PolicyIncompatible, ValueError):
                skipped["character not trained"] = skipped.get("character not trained", 0) + 1
                continue
            todo.append((g, port))
    mine, theirs = _UsageTally(), _UsageTally()
    done = 0
    for port in (0, 1):
        pairs = [g for g, p in todo if p == port]
        for start in range(0, len(pairs), batch):
            chunk = [games[g] for g in pairs[start : start + batch]]
            _replay_chunk(net, chunk, port, delay, seed + 7919 * start + port, device, mine, theirs)
            done += len(chunk)
            if progress is not None:
                progress(done, len(todo))
    return ReplayUsageReport(
        player=spec.label,
        games=len(games),
        perspectives=len(todo),
        skipped=skipped,
        delay=delay,
        policy=mine.usage(),
        players=theirs.usage(),
        seed=seed,
    )


def _replay_chunk(
    net: Any,
    chunk: list[Frames],
    port: int,
    delay: int,
    seed: int,
    device: str,
    mine: _UsageTally,
    theirs: _UsageTally,
) -> None:
    from exphil.agent import Agent

    lengths = np.array([len(f) for f in chunk], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rows_all = concat_frames(chunk)
    agent = Agent(net, len(chunk), port, delay=delay, seed=seed, device=device)
    for t in range(int(lengths.max())):
        rows = np.flatnonzero(lengths > t)
        frames = rows_all.take(offsets[rows] + t)
        chosen = agent.act(frames, rows)
        on = (np.asarray(frames.frame) >= 0) & (t >= delay)
        mine.add(chosen, on)
        theirs.add(Controls.from_player(frames.players[port]), on)
