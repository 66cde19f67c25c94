"""Damage share and duration per action of Fox and Falco on a replay corpus (issue 17's moves).

Usage: ``python scripts/measure_moves.py [CORPUS]`` (default ``../shared/corpus``). For each
character: every action that raised the opponent's percent, with its hits, total damage (and
share of the character's damage), the most frequent damage per hit, and the most frequent
length of the action's whole runs (frames in that action id, entered from another one,
without hitlag, ending in WAIT, FALL or a crouch: the move's total duration).

Then the shine (down-B, Melee's SpecialLw states 0x168-0x171): the lengths of its start, loop
and end states, the loop's length against the frame B was first let go, the earliest jump
cancel, the air shine's vertical speed frame by frame and its horizontal speed on the first
frame, and the knockback of Fox's and Falco's shines (launch speed and angle on the first
frame after hitlag; for Falco a least-squares fit of base and growth in Melee's formula).

Then the grabs (Melee's Catch* states 0xD4-0xDE; the grabbed player's Capture* and Thrown*):
each state's run lengths without hitlag, whiffs (a grab run ending standing), the frames before
the pull of a catch, the grabbed player's ids under each grabber state, where the grabbed
player is held, the pummel's damage and length, and per throw its damage by the release and in
all, its whole runs, its release frame (the thrown player's first frame out of Thrown*), and
its launches (knockback, angle from the thrower's facing, a rough base/growth fit), and how
long grabs are held before a release by the grabbed player's percent.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from exphil.data import GameCache, ReplayFilter, select_games
from exphil.envs._rules import KB_SPEED
from exphil.envs.calibrate import action_name, player_samples
from exphil.game.frames import BUTTON_BITS
from exphil.game.ids import Character

TOP = 30
# WAIT, FALL, or the crouch a down-tilt ends in (SQUAT_WAIT, SQUAT_RV): where a move ends
# when nothing interrupts it
NATURAL_END = (0x0E, 0x1D, 0x28, 0x29)
SHINE_START = (0x168, 0x16D)  # ground, air
SHINE_LOOP = (0x169, 0x16C, 0x16E, 0x171)  # the loops and their turns
SHINE_END = (0x16B, 0x170)
SHINE = set(range(0x168, 0x172))
JUMPS = (0x18, 0x1B, 0x1C)  # KNEE_BEND, JUMP_AERIAL_F/B
WEIGHT = {"fox": 75.0, "falco": 80.0}


class Shine:
    """The shine's figures over a corpus (see the module docstring)."""

    def __init__(self) -> None:
        self.lengths: dict[int, Counter[int]] = defaultdict(Counter)
        self.loop_vs_release: Counter[tuple[int, int | None]] = Counter()
        self.jump_cancel: Counter[int] = Counter()  # shine frames before the jump
        self.air_vy: Counter[tuple[float, ...]] = Counter()
        self.air_vx_ratio: Counter[float] = Counter()
        self.launch: list[tuple[float, float, float, float]] = []  # pct, dmg, speed, angle

    def add(self, p: Any, opp: Any, hits: np.ndarray[Any, Any]) -> None:
        act = p.action.astype(np.int64)
        n = len(act)
        b_held = (p.buttons.astype(np.int64) & BUTTON_BITS["B"]) != 0
        change = np.flatnonzero(np.diff(act) != 0) + 1
        bounds = np.concatenate(([0], change, [n]))
        for s, e in itertools.pairwise(bounds):
            if s > 0 and e < n and act[s] in SHINE and p.hitlag[s:e].max() <= 0:
                self.lengths[int(act[s])][int(e - s)] += 1
        for t in np.flatnonzero(np.isin(act, SHINE_START)):
            if t == 0 or act[t - 1] in SHINE or t + 45 >= n or p.hitlag[t : t + 45].max() > 0:
                continue
            e = t
            while e < n and act[e] in SHINE and act[e] not in SHINE_END:
                e += 1
            if act[e] in JUMPS:
                self.jump_cancel[int(e - t)] += 1
            elif act[e] in SHINE_END and e - t > 3:
                held = b_held[t:e]
                first_up = int(np.argmin(held)) - 3 if not held.all() else None
                self.loop_vs_release[(int(e - t - 3), first_up)] += 1
            if act[t] == 0x16D:
                self.air_vy[tuple(round(float(v), 4) for v in p.vy_self[t : t + 7])] += 1
                if abs(p.vx_air[t - 1]) > 0.3:
                    r = (abs(p.vx_air[t]) + 0.02) / abs(p.vx_air[t - 1])  # + one air friction
                    self.air_vx_ratio[round(float(r), 2)] += 1
        for t in hits:
            if act[t + 1] not in SHINE_START:
                continue
            for k in range(t + 2, min(t + 30, n)):
                if opp.hitlag[k] <= 0 and (opp.vx_knockback[k] != 0 or opp.vy_knockback[k] != 0):
                    vx, vy = float(opp.vx_knockback[k]), float(opp.vy_knockback[k])
                    self.launch.append(
                        (
                            float(opp.percent[t + 1]),
                            float(opp.percent[t + 1] - opp.percent[t]),
                            math.hypot(vx, vy),
                            math.degrees(math.atan2(vy, abs(vx))),
                        )
                    )
                    break

    def report(self, name: str, opp_weights: list[float]) -> None:
        print(f"-- {name}'s shine")
        for a in sorted(self.lengths):
            print(f"   {a:#06x} {action_name(a):24s} lengths {self.lengths[a].most_common(4)}")
        print(
            f"   loop length vs first B release (loop frame) {self.loop_vs_release.most_common(12)}"
        )
        print(
            f"   jump cancel: shine frames before the jump {sorted(self.jump_cancel.items())[:8]}"
        )
        print(f"   air shine vy, first 7 frames {self.air_vy.most_common(2)}")
        print(f"   air shine |vx| / |vx before| {self.air_vx_ratio.most_common(3)}")
        if not self.launch:
            return
        v = np.array(self.launch)
        kb = v[:, 2] / KB_SPEED
        print(
            f"   launches {len(v)}: knockback median {np.median(kb):.1f} (IQR"
            f" {np.subtract(*np.percentile(kb, [75, 25])):.1f}), angle median"
            f" {np.median(v[:, 3]):.1f}"
        )
        w = np.array(opp_weights)
        ok = ~np.isnan(w)  # Fox and Falco targets (their weights are known)
        pct, dmg = v[ok, 0], v[ok, 1]
        x = (pct / 10 + pct * dmg / 20) * 200 / (w[ok] + 100) * 1.4 + 18
        sol, *_ = np.linalg.lstsq(np.c_[x / 100, np.ones_like(x)], kb[ok], rcond=None)
        print(
            f"   fit on {int(ok.sum())} Fox/Falco targets: growth {sol[0]:.1f}, base {sol[1]:.1f}"
        )


GRABBER = set(range(0xD4, 0xDF))  # Catch .. ThrowLw
CATCHES = (0xD4, 0xD6)  # standing, dash
THROWS = (0xDB, 0xDC, 0xDD, 0xDE)
CATCH_WAIT = 0xD8
PUMMEL = 0xD9


class Grab:
    """The grabs' figures over a corpus: whiffs, catches, the grabbed player's states, pummel,
    throws (damage, release frame, knockback), grab lengths against percent."""

    def __init__(self) -> None:
        self.whiff: dict[int, Counter[int]] = defaultdict(Counter)  # grab -> run lengths
        self.catch_af: dict[int, Counter[int]] = defaultdict(Counter)  # frames before pull
        self.lengths: dict[int, Counter[int]] = defaultdict(Counter)
        self.victim: dict[int, Counter[int]] = defaultdict(Counter)  # grabber -> victim's
        self.pummel: Counter[float] = Counter()
        self.throw_dmg: dict[int, Counter[float]] = defaultdict(Counter)
        self.release: dict[int, Counter[int]] = defaultdict(Counter)  # throw frame leaving
        self.launch: dict[int, list[tuple[float, float, float, float]]] = defaultdict(list)
        self.gap: Counter[tuple[float, float]] = Counter()  # victim - grabber (x*facing, y)
        self.hold: list[tuple[float, int]] = []  # percent at the catch, frames held (cut)
        self.at_release: dict[int, Counter[float]] = defaultdict(Counter)  # damage so far
        self.total: dict[int, Counter[int]] = defaultdict(Counter)  # whole runs, any hitlag
        self.pummel_len: Counter[int] = Counter()

    def add(self, p: Any, opp: Any) -> None:
        act = p.action.astype(np.int64)
        oact = opp.action.astype(np.int64)
        n = len(act)
        change = np.flatnonzero(np.diff(act) != 0) + 1
        bounds = np.concatenate(([0], change, [n]))
        for s, e in itertools.pairwise(bounds):
            if s == 0 or e >= n or act[s] not in GRABBER:
                continue
            if act[s - 1] in GRABBER and act[s] in CATCHES:
                continue
            a = int(act[s])
            if p.hitlag[s:e].max() <= 0:
                self.lengths[a][int(e - s)] += 1
            if a in CATCHES and act[e] == 0x0E:
                self.whiff[a][int(e - s)] += 1
            if a in CATCHES and act[e] in (0xD5, 0xD7):
                self.catch_af[a][int(e - s)] += 1
                # held: from the pull to the cut
                k = e
                while k < n and act[k] in GRABBER and act[k] not in THROWS and act[k] != 0xDA:
                    k += 1
                if k < n and act[k] == 0xDA:
                    self.hold.append((float(opp.percent[e]), int(k - e)))
            for k in range(s, e):
                self.victim[a][int(oact[k])] += 1
            if a in (0xD8,):
                f = int(p.facing[s])
                gx, gy = float(opp.x[s] - p.x[s]) * f, float(opp.y[s] - p.y[s])
                self.gap[(round(gx, 1), round(gy, 1))] += 1
            if a == PUMMEL:
                d = float(opp.percent[e] - opp.percent[s - 1])
                self.pummel[round(d, 2)] += 1
                self.pummel_len[int(e - s)] += 1
            if a in THROWS and act[e] in NATURAL_END:
                before = float(opp.percent[s - 1])
                self.throw_dmg[a][round(float(opp.percent[e]) - before, 2)] += 1
                out = [k for k in range(s, e) if oact[k] not in range(0xEF, 0xF4)]
                if out:
                    self.release[a][int(out[0] - s)] += 1
                    self.at_release[a][round(float(opp.percent[out[0]]) - before, 2)] += 1
                    self.total[a][int(e - s)] += 1
                    f = int(p.facing[s])
                    for k in range(out[0], min(out[0] + 30, n)):
                        vx, vy = float(opp.vx_knockback[k]), float(opp.vy_knockback[k])
                        if opp.hitlag[k] <= 0 and (vx != 0 or vy != 0):
                            self.launch[a].append(
                                (
                                    float(opp.percent[k]),
                                    float(opp.percent[e] - opp.percent[s - 1]),
                                    math.hypot(vx, vy),
                                    math.degrees(math.atan2(vy, vx * f)) % 360,
                                )
                            )
                            break

    def report(self, name: str) -> None:
        print(f"-- {name}'s grabs")
        for a in sorted(self.lengths):
            print(f"   {a:#06x} {action_name(a):20s} lengths {self.lengths[a].most_common(4)}")
        for a in sorted(self.whiff):
            print(f"   whiffed {action_name(a)}: run lengths {self.whiff[a].most_common(3)}")
        for a in sorted(self.catch_af):
            pull = self.catch_af[a].most_common(4)
            print(f"   caught {action_name(a)}: frames before the pull {pull}")
        for a in sorted(self.victim):
            top = [(f"{v:#x} {action_name(v)}", c) for v, c in self.victim[a].most_common(3)]
            print(f"   grabber {action_name(a)}: the grabbed player's {top}")
        print(f"   victim - grabber in GRAB_WAIT (x * facing, y) {self.gap.most_common(3)}")
        print(f"   pummel damage {self.pummel.most_common(3)}", end="")
        print(f", lengths {self.pummel_len.most_common(3)}")
        for a in sorted(self.throw_dmg):
            name_a = action_name(a)
            print(f"   {name_a}: damage at the release {self.at_release[a].most_common(3)}", end="")
            print(f", whole runs {self.total[a].most_common(3)}")
            print(f"   {name_a}: damage {self.throw_dmg[a].most_common(3)}", end="")
            print(f", released on throw frame {self.release[a].most_common(3)}")
            if self.launch[a]:
                v = np.array(self.launch[a])
                kb = v[:, 2] / KB_SPEED
                print(f"      launches {len(v)}: knockback median {np.median(kb):.1f}", end="")
                print(f", angle median {np.median(v[:, 3]):.1f}")
                pct, dmg = v[:, 0], v[:, 1]
                w = 85.0  # (a rough fit: a middle weight)
                x = (pct / 10 + pct * dmg / 20) * 200 / (w + 100) * 1.4 + 18
                sol, *_ = np.linalg.lstsq(np.c_[x / 100, np.ones_like(x)], kb, rcond=None)
                print(f"      fit: growth {sol[0]:.1f}, base {sol[1]:.1f}")
        if self.hold:
            h = np.array(self.hold)
            for lo, hi in ((0, 30), (30, 60), (60, 100), (100, 999)):
                sel = h[(h[:, 0] >= lo) & (h[:, 0] < hi)]
                if len(sel):
                    med, top = np.median(sel[:, 1]), sel[:, 1].max()
                    print(f"   held until the cut, {lo}-{hi}%: {len(sel)} grabs", end="")
                    print(f", median {med:.0f}, max {top:.0f} frames")


def main(corpus: Path) -> None:
    files = sorted(str(p) for p in corpus.rglob("*.slp"))
    cache_dir = Path("/tmp/exphil-measure-moves-cache")
    with GameCache(cache_dir) as cache:
        sel = select_games(files, ReplayFilter(), cache=cache)
        dmg: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        runs: dict[str, dict[int, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        hit_af: dict[str, dict[int, Counter[int]]] = defaultdict(lambda: defaultdict(Counter))
        shine: dict[str, Shine] = defaultdict(Shine)
        grab: dict[str, Grab] = defaultdict(Grab)
        opp_weights: dict[str, list[float]] = defaultdict(list)
        for r in sel.kept:
            if r.key is None:
                continue
            game = cache.load(r.key, path=r.path)
            if game is None:
                continue
            players = game.frames.players
            if len(players) != 2:
                continue
            for i, p in enumerate(players):
                if len(p) == 0 or not p.exists.any():
                    continue
                ch = Character.from_internal(int(np.bincount(p.character[p.exists]).argmax()))
                name = ch.name.lower()
                if name not in ("fox", "falco"):
                    continue
                opp = players[1 - i]
                for a, d in player_samples(p, opp)["damage"]:
                    dmg[name][a].append(d)
                rise = np.flatnonzero(
                    (opp.percent[1:] > opp.percent[:-1] + 1e-3)
                    & (opp.stocks[1:] == opp.stocks[:-1])
                    & opp.exists[1:]
                    & p.exists[1:]
                )
                for t in rise:  # the attacker's action frame on the frame the hit lands
                    hit_af[name][int(p.action[t + 1])][int(p.action_frame[t + 1])] += 1
                n_launch = len(shine[name].launch)
                shine[name].add(p, opp, rise)
                grab[name].add(p, opp)
                oc = Character.from_internal(int(np.bincount(opp.character[opp.exists]).argmax()))
                w = WEIGHT.get(oc.name.lower(), math.nan)  # the fit: Fox and Falco targets
                opp_weights[name] += [w] * (len(shine[name].launch) - n_launch)
                act = p.action.astype(np.int64)
                change = np.flatnonzero(np.diff(act) != 0) + 1
                bounds = np.concatenate(([0], change, [len(act)]))
                for s, e in itertools.pairwise(bounds):
                    # a whole run: entered from another action, no hitlag (which stretches it),
                    # ended by the move itself (standing or falling), not by an interrupt
                    if (
                        s > 0
                        and e < len(act)
                        and act[e] in NATURAL_END
                        and p.hitlag[s:e].max() <= 0
                    ):
                        runs[name][int(act[s])][int(e - s)] += 1
    for name, per in dmg.items():
        total = sum(sum(v) for v in per.values())
        print(f"== {name}: {total:.0f}% dealt")
        for a, v in sorted(per.items(), key=lambda kv: -sum(kv[1]))[:TOP]:
            mode = Counter(round(x, 2) for x in v).most_common(3)
            length = runs[name][a].most_common(3)
            print(
                f"{a:#06x} {action_name(a):24s} hits {len(v):5d} total {sum(v):7.0f}"
                f" ({100 * sum(v) / total:4.1f}%) damage {mode} lengths {length}"
                f" hit on action frames {sorted(hit_af[name][a].items())[:12]}"
            )
    for name, sh in shine.items():
        sh.report(name, opp_weights[name])
    for name, g in grab.items():
        g.report(name)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/corpus"))
