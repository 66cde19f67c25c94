"""The mock's moves: :class:`MoveDef`, the move table (hitboxes, damage, knockback) and
the grab boxes, per character."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .states import NUM_STATES, STATES

__all__ = [
    "MoveDef",
    "MOVES",
    "GRAB_BOXES",
    "M",
    "NUM_MOVES",
    "CHARACTER_MOVES",
    "character_moves",
]


# --- moves --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MoveDef:
    """One hitbox: active on action frames ``first..last`` (0 is the state's first frame),
    centred ``(dx * facing, dy)`` from the attacker's position, launching at ``angle`` degrees
    (measured from the attacker's facing direction)."""

    name: str
    first: int
    last: int
    dx: float
    dy: float
    radius: float
    damage: float
    angle: float
    base: float
    growth: float
    every: int = 0  # a multi-hit move: out only every ``every`` frames from ``first``, each a hit
    air_angle: float = -1.0  # the angle for an airborne defender (-1: ``angle``)


MOVES: Final[tuple[MoveDef, ...]] = (
    # the first moves: damage and active frames measured since (scripts/measure_moves.py on
    # ../shared/corpus: the most frequent damage per hit, the clean one where a move has a
    # late hit too, and the action frames its hits land on, minus 1); one hitbox each, so the
    # aerials keep their clean hit (Melee's late hits, 9%, are left out) and Fox's forward air
    # its first hit; place, size, angle and knockback the mock's choice
    MoveDef("JAB", 1, 2, 8.0, 8.0, 5.0, 4.0, 70.0, 8.0, 50.0),
    MoveDef("FTILT", 4, 7, 11.0, 7.0, 5.5, 9.0, 30.0, 10.0, 100.0),
    MoveDef("FSMASH", 11, 14, 13.0, 7.0, 6.0, 15.0, 38.0, 30.0, 105.0),
    MoveDef("FSMASH_FALCO", 11, 14, 13.0, 7.0, 6.0, 17.0, 38.0, 30.0, 105.0),
    MoveDef("DASH_ATTACK", 3, 6, 8.0, 6.0, 6.0, 7.0, 72.0, 30.0, 60.0),
    MoveDef("DASH_ATTACK_FALCO", 3, 6, 8.0, 6.0, 6.0, 9.0, 72.0, 30.0, 60.0),
    MoveDef("NAIR", 3, 6, 0.0, 7.0, 7.0, 12.0, 45.0, 10.0, 100.0),
    MoveDef("FAIR", 5, 7, 10.0, 6.0, 5.5, 7.0, 40.0, 15.0, 100.0),
    MoveDef("FAIR_FALCO", 5, 7, 10.0, 6.0, 5.5, 9.0, 40.0, 15.0, 100.0),
    MoveDef("BAIR", 3, 6, -10.0, 7.0, 5.5, 15.0, 140.0, 15.0, 100.0),
    # their late hits: 9% on replay frames 8-31 (neutral air) and 8-19 (back air), Fox and
    # Falco alike (the corpus: every late hit within them, 8-29 and 8-19; Melee's frame data);
    # place, size, angle and knockback the clean hit's
    MoveDef("NAIR_LATE", 7, 30, 0.0, 7.0, 7.0, 9.0, 45.0, 10.0, 100.0),
    MoveDef("BAIR_LATE", 7, 18, -10.0, 7.0, 5.5, 9.0, 140.0, 15.0, 100.0),
    # the forward airs' second hit: Fox 5%, Falco 8% on replay frames 16-18 (the corpus: 7 of
    # Fox's 20 forward-air hits on frames 16-17, 5% fresh; 5 of Falco's 33, 8% fresh; Melee's
    # frame data). Melee's forward airs hit again after their first hit (3 of those 12 came
    # after one); here, as the late hits, only when the first missed (the state hits once);
    # the later hits (Falco's frames 24 and 43: 1 each) are left out
    MoveDef("FAIR_LATE", 15, 17, 10.0, 6.0, 5.5, 5.0, 40.0, 15.0, 100.0),
    MoveDef("FAIR_LATE_FALCO", 15, 17, 10.0, 6.0, 5.5, 8.0, 40.0, 15.0, 100.0),
    # issue 17's moves: damage and the first active frame are the corpus's (the most frequent
    # damage per hit and the action frame its hits land on, scripts/measure_moves.py, minus 1:
    # replays count from 1) and Melee's frame data; one hitbox per move (a move hits once:
    # Fox's and Falco's up-airs are their second, strong hit); place, size, angle and
    # knockback are the mock's choice (Falco's down-air spikes: 290 degrees, down and forward)
    MoveDef("UTILT", 4, 10, 2.0, 12.0, 6.0, 9.0, 95.0, 20.0, 100.0),
    # the down-tilts: damage and frame the corpus's (Fox 10%, Falco 13%, hits on action frame
    # 8), the angle its launches' median (Fox 68, Falco 75 degrees), base and growth a rough
    # least-squares fit on its 11 / 12 launches (Fox's base clipped at 0)
    MoveDef("DTILT", 7, 9, 8.0, 3.0, 6.0, 10.0, 68.0, 0.0, 145.0),
    MoveDef("DTILT_FALCO", 7, 9, 8.0, 3.0, 6.0, 13.0, 75.0, 26.0, 112.0),
    MoveDef("USMASH", 6, 16, 1.0, 13.0, 6.5, 18.0, 80.0, 30.0, 112.0),
    MoveDef("USMASH_FALCO", 6, 16, 1.0, 13.0, 6.5, 14.0, 80.0, 30.0, 112.0),
    MoveDef("DSMASH", 5, 8, 7.0, 3.0, 6.5, 15.0, 25.0, 20.0, 100.0),
    MoveDef("DSMASH_FALCO", 5, 8, 7.0, 3.0, 6.5, 16.0, 25.0, 20.0, 100.0),
    MoveDef("UAIR", 10, 13, 1.0, 14.0, 6.0, 13.0, 80.0, 20.0, 110.0),
    MoveDef("UAIR_FALCO", 10, 13, 1.0, 14.0, 6.0, 10.0, 80.0, 20.0, 110.0),
    MoveDef("DAIR_FALCO", 4, 18, 2.0, 1.0, 6.0, 12.0, 290.0, 20.0, 100.0),
    # Fox's drill: 7 hits of 3%, on replay frames 5, 8, ..., 23 (the corpus: 264 hits on
    # action frames 5-24, every 3 frames; 3% fresh, 2.73 staled the most frequent); the angle
    # and the small set knockback (so the hits chain) are the mock's choice
    MoveDef("DAIR_FOX", 4, 22, 0.0, 1.0, 6.0, 3.0, 290.0, 10.0, 0.0, every=3),
    # shine: a hit on its first frame only (the corpus: every hit lands on action frame 1),
    # centred on the body. Fox: 5%, set knockback (launch speed 2.4 = 80 x 0.03 at every
    # percent, horizontal on grounded targets: base 80, growth 0, angle 0); Falco: 8%, 84
    # degrees (straight up), knockback growing with percent (base and growth fitted to the
    # corpus's launches, scripts/measure_moves.py). The radius is the mock's choice
    MoveDef("SHINE", 0, 0, 0.0, 7.0, 7.0, 5.0, 0.0, 80.0, 0.0),
    MoveDef("SHINE_FALCO", 0, 0, 0.0, 7.0, 7.0, 8.0, 84.0, 99.0, 58.0),
    MoveDef("UPB", 0, 24, 0.0, 7.0, 6.0, 14.0, 60.0, 20.0, 70.0),
    # Fire Bird: Fox's travel with Falco's 16% (the corpus: 15 of Falco's 20 up-B hits)
    MoveDef("UPB_FALCO", 0, 24, 0.0, 7.0, 6.0, 16.0, 60.0, 20.0, 70.0),
    # side-B's dash: 7% (the corpus: 36 of 39 hits), on its three moving frames; the hitbox
    # covers the path since the frame before (centred half a frame's travel behind, Fox's
    # 18.72 and Falco's 16.5 u/frame). Angle, base and growth the corpus's: Fox's launches at
    # 80 degrees (8 of 11), Falco's grounded targets straight up (11 of 17; its airborne ones
    # are spiked: 5 of 6 straight down), least squares on 27 launches: growth 56, base 67
    MoveDef("SIDEB", 1, 3, -9.36, 6.0, 10.4, 7.0, 80.0, 67.0, 56.0),
    MoveDef("SIDEB_FALCO", 1, 3, -8.25, 6.0, 9.25, 7.0, 90.0, 67.0, 56.0, air_angle=270.0),
    # the lasers' hits (not hitboxes of a state: the shots, exphil.envs._items): 3% fresh
    # (the corpus: Falco's most frequent, 199 of 643; Fox's 3.0 the fresh one); Falco's is a
    # set knockback (every launch 0.62-0.66 u/frame = 21 x 0.03, horizontal on the ground;
    # hitlag 4 and 8 frames of hitstun: 12-14-frame flinches; airborne targets at 36-61
    # degrees, most often 45: its air angle), Fox's none at all (no hitlag,
    # no flinch: base and growth 0 mean damage only)
    MoveDef("LASER_FOX", 0, 0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0),
    MoveDef("LASER_FALCO", 0, 0, 0.0, 0.0, 0.0, 3.0, 0.0, 21.0, 0.0, air_angle=45.0),
    # the ledge attack: 8% on action frame 25 as replays count it (the corpus's hits); the
    # hitbox's place, size, angle and knockback are the mock's choice (not measured)
    MoveDef("LEDGE_ATTACK", 24, 26, 9.0, 7.0, 6.0, 8.0, 45.0, 20.0, 60.0),
    # the throws (not hitboxes: the grabbed player takes them when released, on the throw's
    # action frame ``first`` (0-based), placed ``dx`` in front of the thrower). Release frame,
    # damage and angle are the corpus's (scripts/measure_moves.py: the grabbed player's first
    # frame out of Thrown*, the percent risen by then, the launch's median angle); base and
    # growth a rough least-squares fit on its launches. Back and up throws deal 2% (their
    # blaster shots, which follow the release, are not modelled); the down throws' damage
    # includes the shots fired before the release (Fox 4.73, Falco 4.73 on 1 and 2 throws)
    MoveDef("THROW_F", 13, 13, 8.3, 0.0, 0.0, 7.0, 45.0, 45.0, 66.0),
    MoveDef("THROW_F_FALCO", 11, 11, 9.5, 0.0, 0.0, 7.0, 45.0, 45.0, 70.0),
    MoveDef("THROW_B", 7, 7, -8.3, 0.0, 0.0, 2.0, 124.0, 88.0, 33.0),
    MoveDef("THROW_HI", 6, 6, 0.0, 0.0, 0.0, 2.0, 90.0, 85.0, 48.0),
    MoveDef("THROW_HI_FALCO", 5, 5, 0.0, 0.0, 0.0, 2.0, 90.0, 88.0, 40.0),
    MoveDef("THROW_LW", 32, 32, 8.3, 0.0, 0.0, 4.73, 288.0, 100.0, 80.0),
    MoveDef("THROW_LW_FALCO", 38, 38, 9.5, 0.0, 0.0, 4.73, 252.0, 100.0, 80.0),
    # the pummel: 3% on its first frame (the corpus: 11 of 13 pummels), Fox and Falco alike
    MoveDef("PUMMEL", 0, 0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0),
)

# the grab boxes: state -> (first, last action frame (0-based), dx, dy, radius); the catch
# frames are the corpus's, place and size the mock's choice
GRAB_BOXES: Final[dict[str, tuple[int, int, float, float, float]]] = {
    "GRAB": (6, 7, 8.0, 7.0, 4.0),
    "DASH_GRAB": (11, 12, 9.0, 7.0, 5.0),
}
M: Final[dict[str, int]] = {m.name: i for i, m in enumerate(MOVES)}
NUM_MOVES: Final = len(MOVES)

# per-character hits of a shared state: the move a port's hitbox in that state uses instead
# (the state, its frames and its hitbox's active frames are the same: only what it deals
# differs)
CHARACTER_MOVES: Final[dict[str, dict[str, str]]] = {"FALCO": {"UPB": "UPB_FALCO"}}


def character_moves(character_name: str) -> list[int]:
    """``out[state]``: the move (a :data:`MOVES` index, -1 for none) a port of that character
    hits with in ``state``: the state's own but for :data:`CHARACTER_MOVES`."""
    swap = CHARACTER_MOVES.get(character_name.upper(), {})
    out = [-1] * NUM_STATES
    for i, s in enumerate(STATES):
        if s.move:
            name = swap.get(s.move, s.move)
            a, b = MOVES[M[s.move]], MOVES[M[name]]
            assert (a.first, a.last, a.every) == (b.first, b.last, b.every), (s.move, name)
            out[i] = M[name]
    return out
