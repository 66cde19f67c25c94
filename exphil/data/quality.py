"""How useful a game is as training data: a score in [0, 100] from five documented rules.

Every rule looks only at game frames (frame id >= 0, after the 123 frames of the ready-go
countdown) and gives a component in [0, 1]; the score is their weighted mean times 100.

``length`` (weight 0.15)
    ``clip((frames - 600) / (3600 - 600), 0, 1)``: a game under 10 s scores 0, a minute or
    more scores 1. Short games are mostly handwarmers and quits.
``damage`` (weight 0.25)
    Damage exchanged: each player's damage *received* is the sum of the positive steps of its
    percent (a stock loss resets percent, which is not a negative hit). The component is
    ``clip(min(received_0, received_1) / 60, 0, 1)``: both players must have hit each other
    (60 % each way scores 1); a game where one side never connects scores 0.
``activity`` (weight 0.30)
    Real input activity, per player: the fraction of frames where the player *does* something
    — the main stick or the c-stick is deflected more than 0.3 from **neutral (0 in [-1, 1])**,
    the analog shoulder is pressed past 0.3, or a button is held — divided by 0.25 and
    clipped to 1 (an active player moves on a quarter of the frames or more). The component is
    the lower of the two players, so one idle controller makes the game score low. A game with
    no inputs scores 0. (The original ExPhil compared ``|stick| > 0.3`` on values in [0, 1]
    with neutral at 0.5, so every frame counted as active.)
``self_destructs`` (weight 0.15)
    ``1 - SDs / deaths`` over both players (1 with no deaths). A death is a stock loss; it is
    a self-destruct when the player received no damage in the 240 frames (4 s) before it.
``diversity`` (weight 0.15)
    Action diversity, per player: distinct action-state ids used, divided by 40 and clipped
    to 1; the component is the lower of the two.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from exphil.game.frames import Frames, PlayerFrames

__all__ = ["Quality", "quality", "WEIGHTS", "fingerprint"]

WEIGHTS: dict[str, float] = {
    "length": 0.15,
    "damage": 0.25,
    "activity": 0.30,
    "self_destructs": 0.15,
    "diversity": 0.15,
}

STICK_ACTIVE = 0.3
SHOULDER_ACTIVE = 0.3
ACTIVE_FRACTION = 0.25
DAMAGE_FULL = 60.0
DIVERSITY_FULL = 40
SD_WINDOW = 240
LENGTH_MIN, LENGTH_FULL = 600, 3600


class Quality(msgspec.Struct, frozen=True):
    """The score (0-100) and its components (each 0-1), plus the raw figures behind them."""

    score: float
    length: float
    damage: float
    activity: float
    self_destructs: float
    diversity: float
    damage_received: tuple[float, float]
    active_fraction: tuple[float, float]
    deaths: int
    sds: int
    distinct_actions: tuple[int, int]


def _clip01(v: float) -> float:
    return float(min(1.0, max(0.0, v)))


def active_frames(p: PlayerFrames) -> np.ndarray[Any, Any]:
    """Frames where the player does something (see the module doc)."""
    main = np.hypot(p.main_x, p.main_y) > STICK_ACTIVE
    cstick = np.hypot(p.c_x, p.c_y) > STICK_ACTIVE
    out: np.ndarray[Any, Any] = main | cstick | (p.shoulder > SHOULDER_ACTIVE) | (p.buttons != 0)
    return out


def _damage_received(p: PlayerFrames) -> tuple[float, np.ndarray[Any, Any]]:
    step = np.diff(p.percent.astype(np.float64), prepend=p.percent[:1].astype(np.float64))
    hits = np.where(step > 0, step, 0.0)
    return float(hits.sum()), hits > 0


def _sds(p: PlayerFrames, hit: np.ndarray[Any, Any]) -> tuple[int, int]:
    stocks = p.stocks.astype(np.int16)
    lost = np.flatnonzero(np.diff(stocks) < 0) + 1  # rows where a stock is gone
    # also the last stock: stocks may stay at 1 while the player dies at the end; peppi
    # records the drop to 0 on the game's last frames, which the diff above catches.
    deaths = len(lost)
    if deaths == 0:
        return 0, 0
    cum = np.concatenate([[0], np.cumsum(hit)])
    start = np.maximum(lost - SD_WINDOW, 0)
    hits_before = cum[lost] - cum[start]
    return deaths, int((hits_before == 0).sum())


def quality(frames: Frames) -> Quality:
    """Score one 1v1 game (see the module doc for the rules)."""
    game = frames.take(frames.frame >= 0)
    n = len(game)
    length = _clip01((n - LENGTH_MIN) / (LENGTH_FULL - LENGTH_MIN))
    received: list[float] = []
    active: list[float] = []
    distinct: list[int] = []
    deaths = sds = 0
    for p in game.players:
        p = p.take(p.exists)
        dmg, hit = _damage_received(p)
        received.append(dmg)
        active.append(float(active_frames(p).mean()) if len(p) else 0.0)
        distinct.append(len(np.unique(p.action)))
        d, s = _sds(p, hit)
        deaths += d
        sds += s
    comp = {
        "length": length,
        "damage": _clip01(min(received) / DAMAGE_FULL),
        "activity": _clip01(min(active) / ACTIVE_FRACTION),
        "self_destructs": 1.0 - sds / deaths if deaths else 1.0,
        "diversity": _clip01(min(distinct) / DIVERSITY_FULL),
    }
    score = 100.0 * sum(WEIGHTS[k] * v for k, v in comp.items())
    return Quality(
        score=round(score, 2),
        damage_received=(round(received[0], 2), round(received[1], 2)),
        active_fraction=(round(active[0], 4), round(active[1], 4)),
        deaths=deaths,
        sds=sds,
        distinct_actions=(distinct[0], distinct[1]),
        **{k: round(v, 4) for k, v in comp.items()},
    )


def fingerprint(frames: Frames) -> str:
    """A key for the game itself, independent of the file's bytes: BLAKE2b-128 over the frame
    ids and both players' positions, actions and percents. Two recordings of one game (the
    two netplay clients, a console and a spectator) have the same finalized frames."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(frames.frame).tobytes())
    for p in frames.players:
        for col in (p.x, p.y, p.action, p.percent):
            h.update(np.ascontiguousarray(col).tobytes())
    return h.hexdigest()
