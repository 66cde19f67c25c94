"""Anchored Elo ratings for self-play: policy versions rated against fixed anchors.

Self-play produces policy versions (``"current"``, ``"v1"``, ``"v12"``, ...) that play one
another and a few fixed opponents: the scripted CPU levels (``"cpu:5"`` .. ``"cpu:9"``) and
the frozen starting policy (``"initial"``). Ratings computed among versions alone drift
(every version can climb against its own ancestors while the whole pool inflates), so the
fixed opponents are **anchors**: their ratings are set once and never move, and every game
against one moves only the other side. The anchors pin the scale: a version rated 1200 is
expected to score about as well as an anchor rated 1200 would.

The update is ordinary online Elo:

* expected score ``E_a = 1 / (1 + 10 ** ((R_b - R_a) / 400))`` (logistic, 400 scale);
* ``R_a' = R_a + K_a * (S_a - E_a)`` and ``R_b' = R_b + K_b * ((1 - S_a) - (1 - E_a))``,
  both computed from the ratings before the game, with ``S_a`` = 1 win, 0.5 draw, 0 loss
  (any score in [0, 1] is accepted: above 0.5 counts as a win, below as a loss);
* dynamic K (:func:`k_factor`): ``K(n) = k_min + (k_new - k_min) * max(0, 1 - n / new_games)``
  where ``n`` is the number of rated games the player has played before this one. A new
  version (``n = 0``) moves with ``k_new`` (64) so it finds its level quickly; K falls
  linearly to ``k_min`` (16) at ``new_games`` (30) games and stays there.

When both players are versions with the same K, the update is zero-sum: what one gains the
other loses, so games among versions cannot raise their mean rating; only games against
anchors move the pool against the fixed scale.

Other rules:

* ``record`` takes a ``result_id``; each id counts exactly once (a repeated id returns
  ``False`` and changes nothing). The ids are kept exactly, in one set of strings (and one
  sorted list in :meth:`Ratings.state_dict`): nothing else is stored per game, so the state is
  a few numbers per player plus the ids.
* Unknown names are added at the ``initial`` rating when they first play.
* A player against itself (``a == b``) is counted in ``games`` but is neither a win, a loss
  nor a draw, does not move the rating and does not count towards K's decay (it says nothing
  about strength).
* Anchors' games are counted too (wins/losses/draws from the anchor's side), for the
  leaderboard; two anchors playing each other is recorded and moves nothing.

Not thread-safe: one owner (the matchmaker/learner loop) calls it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "CPU_BASE",
    "CPU_STEP",
    "INITIAL_RATING",
    "Ratings",
    "Standing",
    "cpu_rating",
    "default_anchors",
    "expected_score",
    "k_factor",
]

INITIAL_RATING: Final = 1000.0
"""The rating a version without a parent starts at, and the default fixed rating of the
frozen starting policy (``"initial"``): the learner starts as that policy, so it starts
where that policy is pinned."""

CPU_BASE: Final = 800.0
CPU_STEP: Final = 50.0
"""CPU level ``k`` is pinned at ``CPU_BASE + CPU_STEP * k``: cpu:5 = 1050 .. cpu:9 = 1250."""

_STATE_VERSION: Final = 1


def cpu_rating(level: int, *, base: float = CPU_BASE, step: float = CPU_STEP) -> float:
    """The fixed rating of the scripted CPU at ``level`` (0..9): ``base + step * level``."""
    return base + step * _cpu_level(level)


def default_anchors(
    cpu_levels: Iterable[int] = (5, 6, 7, 8, 9),
    *,
    initial_rating: float | None = INITIAL_RATING,
    base: float = CPU_BASE,
    step: float = CPU_STEP,
) -> dict[str, float]:
    """Fixed ratings for the usual anchors.

    ``cpu:k`` gets ``base + step * k`` (by default 800 + 50k, so cpu:5 = 1050 and
    cpu:9 = 1250: each level is pinned 50 points, an expected score of about 0.57, above the
    one below), and ``"initial"`` (the frozen starting policy) gets ``initial_rating``
    (1000, the rating new versions start at); ``initial_rating=None`` leaves it out.
    """
    anchors = {f"cpu:{level}": cpu_rating(level, base=base, step=step) for level in cpu_levels}
    if initial_rating is not None:
        anchors["initial"] = float(initial_rating)
    for name, value in anchors.items():
        _check_finite(value, f"anchor {name!r}")
    return anchors


def expected_score(rating_a: float, rating_b: float) -> float:
    """A's expected score against B: ``1 / (1 + 10 ** ((rating_b - rating_a) / 400))``."""
    diff = (rating_b - rating_a) / 400.0
    if diff > 300.0:  # 10 ** 300 is near float's limit; the score is 0 to double precision
        return 0.0
    return 1.0 / (1.0 + math.pow(10.0, diff))


def k_factor(games: int, *, k_new: float = 64.0, k_min: float = 16.0, new_games: int = 30) -> float:
    """K after ``games`` rated games: ``k_min + (k_new - k_min) * max(0, 1 - games / new_games)``
    (``k_new`` for a new player, falling linearly to ``k_min`` at ``new_games`` games)."""
    if new_games <= 0:
        return k_min
    return k_min + (k_new - k_min) * max(0.0, 1.0 - games / new_games)


@dataclass(frozen=True, slots=True)
class Standing:
    """One leaderboard row. ``games`` includes games against itself; ``wins``, ``losses`` and
    ``draws`` count only games against others, and ``win_rate`` is
    ``(wins + draws / 2) / (wins + losses + draws)`` (NaN before any such game)."""

    name: str
    rating: float
    games: int
    wins: int
    losses: int
    draws: int
    win_rate: float
    anchor: bool


class _Player:
    __slots__ = ("draws", "games", "losses", "rating", "wins")

    def __init__(self, rating: float) -> None:
        self.rating = rating
        self.games = 0
        self.wins = 0
        self.losses = 0
        self.draws = 0

    @property
    def rated(self) -> int:
        """Games against other players (what K decays with)."""
        return self.wins + self.losses + self.draws

    def count(self, score: float) -> None:
        self.games += 1
        if score > 0.5:
            self.wins += 1
        elif score < 0.5:
            self.losses += 1
        else:
            self.draws += 1


class Ratings:
    """Online Elo ratings with fixed anchors (see the module docstring for the rules).

    ``anchors`` maps names to ratings that never move; ``initial`` is where a version without
    a parent starts; ``k_new``, ``k_min`` and ``new_games`` shape the dynamic K
    (:func:`k_factor`).
    """

    def __init__(
        self,
        anchors: Mapping[str, float] | None = None,
        *,
        initial: float = INITIAL_RATING,
        k_new: float = 64.0,
        k_min: float = 16.0,
        new_games: int = 30,
    ) -> None:
        _check_finite(initial, "initial")
        _check_finite(k_new, "k_new")
        _check_finite(k_min, "k_min")
        if not 0.0 < k_min <= k_new:
            raise ValueError(f"need 0 < k_min <= k_new, got k_min={k_min}, k_new={k_new}")
        if isinstance(new_games, bool) or not isinstance(new_games, int) or new_games < 0:
            raise ValueError(f"new_games must be an int >= 0, not {new_games!r}")
        self.initial = float(initial)
        self.k_new = float(k_new)
        self.k_min = float(k_min)
        self.new_games = new_games
        self._anchors: dict[str, float] = {}
        self._players: dict[str, _Player] = {}
        self._seen: set[str] = set()
        for name, value in (anchors or {}).items():
            _check_name(name)
            _check_finite(value, f"anchor {name!r}")
            self._anchors[name] = float(value)
            self._players[name] = _Player(float(value))

    # -- players ---------------------------------------------------------------------------

    def add(self, name: str, *, rating: float | None = None, parent: str | None = None) -> float:
        """Add a version and return its starting rating: ``rating`` if given, else its
        ``parent``'s current rating (a snapshot of the learner starts where the learner is),
        else ``initial``. A name already present (anchor or not) is a ``ValueError``; an
        unknown parent is a ``KeyError``."""
        _check_name(name)
        if name in self._players:
            raise ValueError(f"{name!r} is already rated")
        if rating is not None and parent is not None:
            raise ValueError("give a starting rating or a parent, not both")
        if rating is not None:
            _check_finite(rating, f"rating of {name!r}")
            start = float(rating)
        elif parent is not None:
            start = self.rating(parent)
        else:
            start = self.initial
        self._players[name] = _Player(start)
        return start

    def is_anchor(self, name: str) -> bool:
        return name in self._anchors

    @property
    def anchors(self) -> dict[str, float]:
        """A copy of the anchors and their fixed ratings."""
        return dict(self._anchors)

    @property
    def names(self) -> list[str]:
        """Every rated name, anchors included, in the order they were added."""
        return list(self._players)

    def __contains__(self, name: object) -> bool:
        return name in self._players

    def __len__(self) -> int:
        return len(self._players)

    def rating(self, name: str) -> float:
        """``name``'s rating (``KeyError`` if unknown)."""
        return self._get(name).rating

    def games(self, name: str) -> int:
        """How many games ``name`` has played, games against itself included."""
        return self._get(name).games

    def k(self, name: str) -> float:
        """The K ``name``'s next game against another player would use (0 for an anchor)."""
        if name in self._anchors:
            return 0.0
        return self._k(self._get(name))

    def expected(self, a: str, b: str) -> float:
        """``a``'s expected score against ``b`` at their current ratings."""
        return expected_score(self.rating(a), self.rating(b))

    # -- results ---------------------------------------------------------------------------

    def seen(self, result_id: str) -> bool:
        """Whether ``result_id`` has been recorded."""
        return result_id in self._seen

    @property
    def results(self) -> int:
        """How many distinct results have been recorded."""
        return len(self._seen)

    def record(self, result_id: str, a: str, b: str, score_a: float) -> bool:
        """Record one game: ``a`` scored ``score_a`` (1 win, 0.5 draw, 0 loss) against ``b``.

        Returns ``False`` and changes nothing when ``result_id`` was already recorded.
        Unknown players are added at ``initial``. Both non-anchor sides move by their own K
        (from the ratings before the game); anchors never move; ``a == b`` counts a game and
        moves nothing.
        """
        if not isinstance(result_id, str):
            raise TypeError(f"result_id must be a str, not {type(result_id).__name__}")
        _check_name(a)
        _check_name(b)
        score = _real(score_a, "score_a")
        if not 0.0 <= score <= 1.0:  # also rejects NaN
            raise ValueError(f"score_a must be in [0, 1], not {score_a!r}")
        if result_id in self._seen:
            return False
        self._seen.add(result_id)
        pa = self._players.get(a) or self._new(a)
        if a == b:
            pa.games += 1
            return True
        pb = self._players.get(b) or self._new(b)
        ea = expected_score(pa.rating, pb.rating)
        da = 0.0 if a in self._anchors else self._k(pa) * (score - ea)
        db = 0.0 if b in self._anchors else self._k(pb) * (ea - score)
        pa.rating += da
        pb.rating += db
        pa.count(score)
        pb.count(1.0 - score)
        return True

    # -- views -----------------------------------------------------------------------------

    def standing(self, name: str) -> Standing:
        p = self._get(name)
        rated = p.rated
        return Standing(
            name=name,
            rating=p.rating,
            games=p.games,
            wins=p.wins,
            losses=p.losses,
            draws=p.draws,
            win_rate=(p.wins + 0.5 * p.draws) / rated if rated else math.nan,
            anchor=name in self._anchors,
        )

    def leaderboard(self) -> list[Standing]:
        """Everyone, anchors included, by rating (highest first; ties by name)."""
        order = sorted(self._players.items(), key=lambda item: (-item[1].rating, item[0]))
        return [self.standing(name) for name, _ in order]

    # -- persistence -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable state (floats, ints, strings, lists, dicts); the seen
        result ids as one sorted list. :meth:`from_state` restores it exactly."""
        return {
            "version": _STATE_VERSION,
            "initial": self.initial,
            "k_new": self.k_new,
            "k_min": self.k_min,
            "new_games": self.new_games,
            "anchors": dict(self._anchors),
            "players": {
                name: {
                    "rating": p.rating,
                    "games": p.games,
                    "wins": p.wins,
                    "losses": p.losses,
                    "draws": p.draws,
                }
                for name, p in self._players.items()
            },
            "seen": sorted(self._seen),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Ratings:
        """Rebuild from :meth:`state_dict`'s output (or its JSON round trip); a malformed
        state is a ``ValueError``."""
        try:
            version = state["version"]
            if version != _STATE_VERSION:
                raise ValueError(f"unsupported ratings state version {version!r}")
            anchors = state["anchors"]
            if not isinstance(anchors, Mapping):
                raise ValueError("'anchors' must be a mapping")
            out = cls(
                anchors,
                initial=state["initial"],
                k_new=state["k_new"],
                k_min=state["k_min"],
                new_games=state["new_games"],
            )
            players = state["players"]
            if not isinstance(players, Mapping):
                raise ValueError("'players' must be a mapping")
            out._players = {}
            for name, row in players.items():
                _check_name(name)
                player = _Player(0.0)
                rating = row["rating"]
                _check_finite(rating, f"rating of {name!r}")
                player.rating = float(rating)
                for field in ("games", "wins", "losses", "draws"):
                    value = row[field]
                    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                        raise ValueError(f"{field} of {name!r} must be an int >= 0")
                    setattr(player, field, value)
                if player.rated > player.games:
                    raise ValueError(f"{name!r} has more wins, losses and draws than games")
                out._players[name] = player
            for name, value in out._anchors.items():
                if name not in out._players or out._players[name].rating != value:
                    raise ValueError(f"anchor {name!r} is missing or has moved in 'players'")
            seen = state["seen"]
            if not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
                raise ValueError("'seen' must be a list of strings")
            out._seen = set(seen)
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"malformed ratings state: {e!r}") from e
        return out

    # -- internals -------------------------------------------------------------------------

    def _get(self, name: str) -> _Player:
        try:
            return self._players[name]
        except KeyError:
            raise KeyError(f"{name!r} is not rated") from None

    def _new(self, name: str) -> _Player:
        player = _Player(self.initial)
        self._players[name] = player
        return player

    def _k(self, player: _Player) -> float:
        return k_factor(player.rated, k_new=self.k_new, k_min=self.k_min, new_games=self.new_games)

    def __repr__(self) -> str:
        return (
            f"Ratings({len(self._players)} players, {len(self._anchors)} anchors, "
            f"{len(self._seen)} results)"
        )


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a player name must be a non-empty str, not {name!r}")


def _cpu_level(level: object) -> int:
    if (
        isinstance(level, bool)
        or not isinstance(level, numbers.Integral)
        or not 0 <= int(level) <= 9
    ):
        raise ValueError(f"CPU levels are 0..9, not {level!r}")
    return int(level)


def _real(value: object, what: str) -> float:
    """``value`` as a float; a ``TypeError`` unless it is a real number (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    return float(value)


def _check_finite(value: object, what: str) -> None:
    try:
        finite = math.isfinite(_real(value, what))
    except TypeError:
        finite = False
    if not finite:
        raise ValueError(f"{what} must be a finite number, not {value!r}")
