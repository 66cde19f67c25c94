"""Measure Melee's physics from real replays, to check the mock game against them.

``exphil mock calibrate`` reads replays through the project's own path (``select_games``, the
parsed-game cache) and, per character, measures from the recorded ``Frames`` columns:

* ``gravity``: the per-frame decrease of the self vertical velocity (``vy_self``) in free fall
  (airborne, in a jump or fall state, no hitstun, hitlag or knockback, not fast-falling, not
  clamped at a terminal speed: the next frame keeps decreasing);
* ``terminal`` and ``fast_fall``: the plateaus of ``-vy_self`` in free fall (a fast fall starts
  with a sudden drop of more than :data:`FAST_FALL_DROP` and lasts until the velocity rises
  again: a double jump);
* ``jump_squat``: frames in ``KNEE_BEND`` before a ``JUMP_F``/``JUMP_B``;
* ``full_hop_vy``, ``short_hop_vy``: ``vy_self`` on the first airborne frame of a jump, split
  into the two values the corpus shows most often (the higher is the full hop);
  ``full_hop_apex``, ``short_hop_apex``: the highest point above the take-off point of a jump
  that reaches its apex undisturbed (jump or fall states or aerial attacks, no hitstun, no
  double jump, no landing before the apex);
* ``double_jump_vy``: ``vy_self`` on the first frame of ``JUMP_AERIAL_F``/``_B`` (the frame as
  recorded: one frame of gravity may already be applied);
* ``air_speed``: the plateau of ``|vx_air|`` in free fall with the stick held past 0.8;
* ``dash_initial``: ``|vx_ground|`` on the first frame of a ``DASH`` from a standstill;
  ``dash_speed``, ``run_speed``: the plateaus of ``|vx_ground|`` in ``DASH`` and ``RUN``;
* ``landing_lag``: frames in ``LANDING`` (a normal landing from a jump or fall state) before
  another action (players who act late make it longer: the mode is the lag itself);
* damage per action: each rise of the opponent's percent, attributed to the attacker's action
  on that frame.

Every estimate is a median with its interquartile range, the number of samples it rests on
and the most frequent value. :data:`PUBLISHED` holds Melee's published values with their
source; :func:`mock_values` the mock's own, measured on scripted mock games by the same
estimators.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from exphil.game import Frames, PlayerFrames
from exphil.game.ids import Character, action_name

__all__ = [
    "QUANTITIES",
    "PUBLISHED",
    "Published",
    "Estimate",
    "CharacterCalibration",
    "Calibration",
    "Collector",
    "player_samples",
    "mock_values",
    "estimate",
]

# --- Melee action-state ids (libmelee's melee.enums.Action) ---------------------------------
DASH: Final = 0x14
RUN: Final = 0x15
KNEE_BEND: Final = 0x18
JUMP_F: Final = 0x19
JUMP_B: Final = 0x1A
JUMP_AERIAL_F: Final = 0x1B
JUMP_AERIAL_B: Final = 0x1C
FALL_AERIAL_B: Final = 0x22  # the last of the jump/fall states 0x19..0x22
LANDING: Final = 0x2A
NAIR: Final = 0x41
DAIR: Final = 0x45
STANDING: Final = 0x0E
SQUAT: Final = 0x27
SQUAT_WAIT: Final = 0x28
#: grounded states that slide to a stop by the traction alone
SLIDES: Final = (STANDING, LANDING, SQUAT, SQUAT_WAIT)
DEADZONE: Final = 0.2875  # below this |main_x| the stick does not drift
MAX_FRICTION_STEP: Final = 0.2  # a larger one-frame slow-down is not friction

JUMPS: Final = (JUMP_F, JUMP_B)
AERIAL_JUMPS: Final = (JUMP_AERIAL_F, JUMP_AERIAL_B)
#: jumps and falls (JUMP_F .. FALL_AERIAL_B): the free-fall states
FREE_FALL: Final = tuple(range(JUMP_F, FALL_AERIAL_B + 1))
#: aerial attacks (NAIR .. DAIR): normal gravity, counted while a jump rises to its apex
AERIALS: Final = tuple(range(NAIR, DAIR + 1))

FAST_FALL_DROP: Final = 0.3  # a one-frame drop of vy_self larger than this starts a fast fall
MAX_GRAVITY_STEP: Final = 1.0  # a larger one-frame decrease is not gravity
PLATEAU_EPS: Final = 1e-4  # two velocities this close are one plateau
DRIFT_STICK: Final = 0.8  # |main_x| from which air drift counts as full
MIN_PLATEAU_SPEED: Final = 0.3
HOP_SPLIT: Final = 0.2  # two take-off velocities further apart than this are different hops

#: (key, label, unit), in the order the table prints them
QUANTITIES: Final[tuple[tuple[str, str, str], ...]] = (
    ("gravity", "gravity", "u/frame²"),
    ("terminal", "terminal fall speed", "u/frame"),
    ("fast_fall", "fast-fall speed", "u/frame"),
    ("jump_squat", "jump squat", "frames"),
    ("full_hop_vy", "full-hop initial vy", "u/frame"),
    ("short_hop_vy", "short-hop initial vy", "u/frame"),
    ("full_hop_apex", "full-hop apex height", "u"),
    ("short_hop_apex", "short-hop apex height", "u"),
    ("double_jump_vy", "double-jump initial vy", "u/frame"),
    ("air_speed", "air drift limit", "u/frame"),
    ("dash_initial", "initial dash speed", "u/frame"),
    ("dash_speed", "dash speed", "u/frame"),
    ("run_speed", "run speed", "u/frame"),
    ("dash_frames", "dash length (before a run)", "frames"),
    ("dash_length", "dash length (let go, then a stand)", "frames"),
    ("traction", "traction (ground friction)", "u/frame²"),
    ("air_friction", "air friction", "u/frame²"),
    ("landing_lag", "landing lag (normal)", "frames"),
)
QUANTITY_KEYS: Final = tuple(q[0] for q in QUANTITIES)


@dataclass(frozen=True, slots=True)
class Published:
    value: float
    source: str


_FALL_SPEED_SRC: Final = (
    "SmashWiki, Fast fall, Melee table (https://www.ssbwiki.com/Fast_fall"
    "#Super_Smash_Bros._Melee); same figures in SuperCombo Wiki, Super Smash Bros. Melee/"
    "Attributes, Fall Speed"
)
_GRAVITY_SRC: Final = (
    "SuperCombo Wiki, Super Smash Bros. Melee/Attributes, Gravity (from SmashWiki); "
    "exphil/envs/_characters.py"
)
_ATTR_SRC: Final = (
    "Melee's fighter attribute data (jump startup lag), as listed in exphil/envs/_characters.py"
)

#: Melee's published values (NTSC 1.02), per character (lower-case name) and quantity. Only
#: figures with a source are listed; the others print as "-".
PUBLISHED: Final[Mapping[str, Mapping[str, Published]]] = {
    "fox": {
        "terminal": Published(2.8, _FALL_SPEED_SRC),
        "fast_fall": Published(3.4, _FALL_SPEED_SRC),
        "gravity": Published(0.23, _GRAVITY_SRC),
        "jump_squat": Published(3, _ATTR_SRC),
    },
    "falco": {
        "terminal": Published(3.1, _FALL_SPEED_SRC),
        "fast_fall": Published(3.5, _FALL_SPEED_SRC),
        "gravity": Published(0.17, _GRAVITY_SRC),
        "jump_squat": Published(5, _ATTR_SRC),
    },
}


def _apex(v0: float, gravity: float) -> float:
    """Height gained by a jump launched at ``v0`` (the first frame moves by ``v0``, each next
    frame by ``gravity`` less), as the replays record it."""
    if v0 <= 0 or gravity <= 0:
        return 0.0
    steps = int(np.floor(v0 / gravity + 1e-9)) + 1
    return float(sum(max(v0 - k * gravity, 0.0) for k in range(steps)))


def mock_values(character: Character = Character.FOX) -> dict[str, float]:
    """The mock's own values for ``character``, measured the way replays are: the mock is
    stepped with scripted inputs (:func:`mock_drills`) and its frames go through the same
    estimators (:class:`Collector`); each value is the median. Cached per character."""
    return dict(_mock_values(character))


@functools.cache
def _mock_values(character: Character) -> tuple[tuple[str, float], ...]:
    from exphil.envs._characters import PHYSICS

    if character not in PHYSICS:  # the mock does not play it
        return tuple((k, math.nan) for k in QUANTITY_KEYS)
    col = Collector([character])
    for game in mock_drills(character):
        col.add(game)
    est = col.result().characters[0].estimates
    return tuple((k, math.nan if e is None else e.median) for k, e in est.items())


def mock_drills(character: Character) -> list[Frames]:
    """Mock games (Final Destination, ``character`` on port 0, Fox standing on port 1) of
    scripted inputs that show every quantity :data:`QUANTITIES` measures: a full hop, a
    short hop, a full hop with a double jump at its peak, a full hop fast-fallen after its
    peak, a full hop drifting at a full stick, a jump forward coasting with the stick
    released, a dash into a run that slides to a stop, and a dash let go, each until the
    player has landed and stood a while."""
    from exphil.envs.mock import MockConfig, MockEnv
    from exphil.game import Controls, concat_frames
    from exphil.game.frames import BUTTON_BITS

    jump = BUTTON_BITS["X"]

    def pad(main_x: float = 0.0, main_y: float = 0.0, buttons: int = 0) -> Controls:
        c = Controls.neutral(1)
        c.main_x[:] = main_x
        c.main_y[:] = main_y
        c.buttons[:] = buttons
        return c

    def drill(first: list[Controls], air: Controls, peak: Controls | None = None) -> Frames:
        """``first``, then ``air`` every frame (``peak`` once, on the first frame past the
        peak) until the player is back on the ground, then 20 frames of standing."""
        env = MockEnv(1, MockConfig(characters=(character.name.lower(), "fox")))
        idle = Controls.neutral(1)
        out = [env.reset()]
        out += [env.step(c, idle).frames for c in first]
        for _ in range(600):
            p = out[-1].players[0]
            if p.on_ground[0] and len(out) > len(first) + 1:
                break
            c = peak if peak is not None and p.vy_self[0] < 0 else air
            if c is peak:
                peak = None
            out.append(env.step(c, idle).frames)
        out += [env.step(idle, idle).frames for _ in range(20)]
        return concat_frames(out)

    squat = [pad(buttons=jump)] * 8  # held through any jump squat: a full hop
    neutral = pad()
    return [
        drill([pad(main_x=1.0, buttons=jump)] * 8, neutral),  # a jump forward, coasting
        drill(squat, neutral),
        drill([pad(buttons=jump)], neutral),  # released at once: a short hop
        drill(squat, neutral, peak=pad(buttons=jump)),
        drill(squat, neutral, peak=pad(main_y=-1.0)),
        drill(squat, pad(main_x=1.0)),
        drill([pad(main_x=1.0)] * 40, neutral),  # a dash, then a run
        drill([pad(main_x=1.0)] * 3, neutral),  # a dash let go: it plays out
    ]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A robust summary of samples: median, quartiles, count, and the most frequent value
    (to 3 decimals; for landing lag, the frame players act on most often)."""

    median: float
    q1: float
    q3: float
    n: int
    mode: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1


def estimate(samples: Sequence[float] | np.ndarray[Any, Any]) -> Estimate | None:
    """Median and quartiles of ``samples`` (None for none)."""
    a = np.asarray(samples, dtype=np.float64)
    if a.size == 0:
        return None
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    values, counts = np.unique(np.round(a, 3), return_counts=True)
    mode = float(values[int(np.argmax(counts))])
    return Estimate(float(med), float(q1), float(q3), int(a.size), mode)


# --- per-player sample extraction ---------------------------------------------------------
def _runs(mask: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """``[start, end)`` of each run of True in ``mask``."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _disturbed(p: PlayerFrames) -> np.ndarray[Any, Any]:
    """Frames where something other than the player moves the character."""
    out: np.ndarray[Any, Any] = (
        (p.hitstun > 0) | (p.hitlag > 0) | (p.vx_knockback != 0) | (p.vy_knockback != 0)
    )
    return out


def player_samples(p: PlayerFrames, opponent: PlayerFrames | None = None) -> dict[str, Any]:
    """The samples of one player's frames: ``{quantity: [values]}`` for :data:`QUANTITY_KEYS`,
    plus ``"damage"``: ``[(action id, damage dealt)]`` when ``opponent`` is given."""
    out: dict[str, Any] = {k: [] for k in QUANTITY_KEYS}
    n = len(p)
    if n < 3:
        out["damage"] = []
        return out
    action = p.action.astype(np.int64)
    vy = p.vy_self.astype(np.float64)
    y = p.y.astype(np.float64)
    air = p.exists & ~p.on_ground & ~_disturbed(p)
    free = air & np.isin(action, FREE_FALL)

    # gravity, terminal and fast-fall plateaus: per run of free-fall frames
    for s, e in _runs(free):
        fast = False
        for t in range(s + 1, e):
            d = vy[t - 1] - vy[t]
            if d < -PLATEAU_EPS:  # rising again: a double jump ends a fast fall
                fast = False
            elif d > FAST_FALL_DROP:
                fast = True
            flat = abs(d) <= PLATEAU_EPS
            if flat and vy[t] < -MIN_PLATEAU_SPEED:
                out["fast_fall" if fast else "terminal"].append(-vy[t])
            elif (
                not fast
                and PLATEAU_EPS < d <= MAX_GRAVITY_STEP
                and t + 1 < e
                and vy[t] - vy[t + 1] > PLATEAU_EPS  # not clamped at a terminal speed
                and vy[t] - vy[t + 1] <= FAST_FALL_DROP  # nor the last frame before a fast fall
            ):
                out["gravity"].append(d)

    # jump squat, take-off velocities and apex heights
    for s, e in _runs(action == KNEE_BEND):
        if s == 0 or e >= n or action[e] not in JUMPS or not p.exists[s:e].all():
            continue
        out["jump_squat"].append(float(e - s))
        if p.on_ground[e] or _disturbed(p)[e]:
            continue
        out.setdefault("_takeoff", []).append(vy[e])
        y0 = y[e - 1]
        apex = None
        for t in range(e, n):
            a = int(action[t])
            ok = air[t] and ((a in FREE_FALL and a not in AERIAL_JUMPS) or a in AERIALS)
            if not ok:
                break
            if t > e and vy[t] <= 0:
                apex = float(y[t - 1 : t + 1].max() - y0)
                break
        if apex is not None:
            out.setdefault("_apex", []).append((vy[e], apex))

    # double jumps
    starts = np.flatnonzero(np.isin(action[1:], AERIAL_JUMPS) & ~np.isin(action[:-1], AERIAL_JUMPS))
    for u in (starts + 1).tolist():
        if air[u]:
            out["double_jump_vy"].append(float(vy[u]))

    # air drift limit
    vx = np.abs(p.vx_air.astype(np.float64))
    drift = (
        free[1:]
        & free[:-1]
        & (np.abs(vx[1:] - vx[:-1]) <= PLATEAU_EPS)
        & (vx[1:] > MIN_PLATEAU_SPEED)
        & (np.abs(p.main_x[1:]) >= DRIFT_STICK)
    )
    out["air_speed"].extend(vx[1:][drift].tolist())

    # dash and run plateaus
    vg = np.abs(p.vx_ground.astype(np.float64))
    same = (action[1:] == action[:-1]) & (np.abs(vg[1:] - vg[:-1]) <= PLATEAU_EPS)
    fast_enough = vg[1:] > MIN_PLATEAU_SPEED
    ground = p.on_ground[1:] & p.exists[1:]
    for key, act in (("dash_speed", DASH), ("run_speed", RUN)):
        sel = same & fast_enough & ground & (action[1:] == act)
        out[key].extend(vg[1:][sel].tolist())

    # dash length: DASH runs that become a RUN
    for s, e in _runs(action == DASH):
        if s > 0 and e < n and action[e] == RUN:
            out["dash_frames"].append(float(e - s))
        elif s > 0 and e < n and action[e] == STANDING:  # let go: it plays out
            out["dash_length"].append(float(e - s))

    # traction: one-frame slow-downs of a ground slide; air friction: of a free fall with the
    # stick in its dead zone
    calm = ~_disturbed(p)[1:]
    kept = action[1:] == action[:-1]
    dg = np.abs(vg[:-1]) - np.abs(vg[1:])
    slide = kept & ground & calm & np.isin(action[1:], SLIDES) & (np.abs(vg[1:]) > 0.05)
    slide &= (dg > PLATEAU_EPS) & (dg <= MAX_FRICTION_STEP)
    out["traction"].extend(dg[slide].tolist())
    da = vx[:-1] - vx[1:]
    coast = free[1:] & free[:-1] & (np.abs(p.main_x[1:]) < DEADZONE) & (vx[1:] > 0.05)
    coast &= (da > PLATEAU_EPS) & (da <= MAX_FRICTION_STEP)
    out["air_friction"].extend(da[coast].tolist())

    still = vg[:-1] <= PLATEAU_EPS  # from a standstill: no momentum carried in
    first = np.flatnonzero((action[1:] == DASH) & (action[:-1] != DASH) & ground & still) + 1
    out["dash_initial"].extend(vg[first][vg[first] > MIN_PLATEAU_SPEED].tolist())

    # landing lag of a normal landing from a jump or fall
    for s, e in _runs(action == LANDING):
        if s == 0 or e >= n or action[s - 1] not in FREE_FALL:
            continue
        out["landing_lag"].append(float(e - s))

    # damage dealt, by the attacker's action on the frame the opponent's percent rises
    damage: list[tuple[int, float]] = []
    if opponent is not None:
        pct = opponent.percent.astype(np.float64)
        rise = np.flatnonzero(
            (pct[1:] > pct[:-1] + 1e-3)
            & (opponent.stocks[1:] == opponent.stocks[:-1])
            & opponent.exists[1:]
            & p.exists[1:]
        )
        damage = [(int(action[t + 1]), float(pct[t + 1] - pct[t])) for t in rise]
    out["damage"] = damage
    return out


def _split_hops(
    takeoffs: Sequence[float], apexes: Sequence[tuple[float, float]]
) -> dict[str, list[float]]:
    """Split take-off velocities (and the apexes of those jumps) into full and short hops: the
    most frequent value and the most frequent one at least :data:`HOP_SPLIT` away from it."""
    out: dict[str, list[float]] = {
        "full_hop_vy": [],
        "short_hop_vy": [],
        "full_hop_apex": [],
        "short_hop_apex": [],
    }
    if not takeoffs:
        return out
    rounded = np.round(np.asarray(takeoffs, dtype=np.float64), 3)
    values, counts = np.unique(rounded, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    first = float(values[order[0]])
    second = next((float(values[i]) for i in order if abs(values[i] - first) > HOP_SPLIT), None)
    modes = sorted([first] if second is None else [first, second], reverse=True)
    names = ("full_hop", "short_hop")

    def which(v: float) -> str:
        return names[int(np.argmin([abs(v - m) for m in modes]))]

    for v in takeoffs:
        out[which(v) + "_vy"].append(float(v))
    for v, h in apexes:
        out[which(v) + "_apex"].append(h)
    return out


# --- aggregation --------------------------------------------------------------------------
@dataclass
class CharacterCalibration:
    """The estimates of one character."""

    character: Character
    games: int
    frames: int
    estimates: dict[str, Estimate | None]
    damage: list[tuple[int, str, int, float]]  # (action id, name, hits, median damage)
    # action id -> the two most frequent damages per hit, most frequent first (a move with two
    # hits, or a clean and a late hitbox, shows both)
    damage_modes: dict[int, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        name = self.character.name.lower()
        mock = mock_values(self.character)
        published = PUBLISHED.get(name, {})
        rows: dict[str, Any] = {}
        for key, label, unit in QUANTITIES:
            est = self.estimates.get(key)
            pub = published.get(key)
            rows[key] = {
                "label": label,
                "unit": unit,
                "median": None if est is None else est.median,
                "q1": None if est is None else est.q1,
                "q3": None if est is None else est.q3,
                "iqr": None if est is None else est.iqr,
                "mode": None if est is None else est.mode,
                "samples": 0 if est is None else est.n,
                "published": None if pub is None else pub.value,
                "published_source": None if pub is None else pub.source,
                "mock": None if math.isnan(mock[key]) else mock[key],
                "mock_over_measured": None if math.isnan(mock[key]) else ratio(mock[key], est),
                "measured_over_published": None
                if pub is None or est is None or pub.value == 0
                else est.median / pub.value,
            }
        return {
            "character": name,
            "games": self.games,
            "frames": self.frames,
            "quantities": rows,
            "damage": [
                {
                    "action": a,
                    "name": nm,
                    "hits": h,
                    "median_damage": d,
                    "damage_modes": self.damage_modes.get(a, []),
                }
                for a, nm, h, d in self.damage
            ],
        }


def ratio(mock: float, est: Estimate | None) -> float | None:
    """mock / measured (None without a measurement or when it is 0)."""
    if est is None or est.median == 0:
        return None
    return mock / est.median


@dataclass
class Calibration:
    games: int
    characters: list[CharacterCalibration]

    def to_json(self) -> dict[str, Any]:
        return {"games": self.games, "characters": [c.to_json() for c in self.characters]}


@dataclass
class _Acc:
    games: int = 0
    frames: int = 0
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    takeoffs: list[float] = field(default_factory=list)
    apexes: list[tuple[float, float]] = field(default_factory=list)
    damage: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))


class Collector:
    """Accumulates samples game by game for the ``characters`` asked for (every character
    when None)."""

    def __init__(self, characters: Iterable[Character] | None = None, top_actions: int = 12):
        self.characters = None if characters is None else list(characters)
        self.top_actions = top_actions
        self.games = 0
        self._acc: dict[Character, _Acc] = {}

    def add(self, frames: Frames) -> None:
        self.games += 1
        players = frames.players
        for i, p in enumerate(players):
            if len(p) == 0 or not p.exists.any():
                continue
            ch = Character.from_internal(int(np.bincount(p.character[p.exists]).argmax()))
            if self.characters is not None and ch not in self.characters:
                continue
            opp = players[1 - i] if len(players) == 2 else None
            s = player_samples(p, opp)
            acc = self._acc.setdefault(ch, _Acc())
            acc.games += 1
            acc.frames += int(p.exists.sum())
            for k in QUANTITY_KEYS:
                acc.samples[k].extend(s[k])
            acc.takeoffs.extend(s.get("_takeoff", []))
            acc.apexes.extend(s.get("_apex", []))
            for a, d in s["damage"]:
                acc.damage[a].append(d)

    def result(self) -> Calibration:
        chars = self.characters if self.characters is not None else sorted(self._acc)
        out: list[CharacterCalibration] = []
        for ch in chars:
            acc = self._acc.get(ch)
            if acc is None:
                continue
            samples = dict(acc.samples)
            samples.update(_split_hops(acc.takeoffs, acc.apexes))
            estimates = {k: estimate(samples.get(k, [])) for k in QUANTITY_KEYS}
            top = sorted(acc.damage.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            damage = [
                (a, action_name(a), len(d), float(np.median(d))) for a, d in top[: self.top_actions]
            ]
            modes = {
                a: [v for v, _ in Counter(round(x, 2) for x in d).most_common(2)]
                for a, d in top[: self.top_actions]
            }
            out.append(CharacterCalibration(ch, acc.games, acc.frames, estimates, damage, modes))
        return Calibration(self.games, out)
