"""The population: policy snapshots of the learner, persisted in the run folder, and the
opponent mix workers draw from.

Snapshots are ``RUN/population/vN.safetensors`` (a policy file each: ``exphil eval`` plays
them) listed in ``RUN/population/index.json``; the newest ``opponents.history_size`` are kept
(older files are deleted). Fixed anchors stay forever: ``initial`` (the starting policy,
``RUN/initial.safetensors``) and the scripted CPU levels.

**The mix** a worker gets for ``slots`` policy slots: ``current`` (the learner's live
weights) with weight ``opponents.current``; each CPU level with ``opponents.cpu / levels``;
and ``slots`` snapshot picks, each drawn from the newest ``opponents.recent`` snapshots with
probability ``history / (history + uniform)`` and from all snapshots plus ``initial``
otherwise, sharing ``history + uniform``. Over many mixes each group gets its configured share
(40/30/20/10 by default); groups without members give their share to the others.
``opponents.fixed`` replaces all this by its entries at equal weights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from exphil._atomic import atomic_write
from exphil.nets import Policy, load_policy, save_policy
from exphil.rl import OpponentConfig
from exphil.selfplay._play import weights_of
from exphil.wire import MixEntry

__all__ = ["Population"]

Array = np.ndarray[Any, Any]


class Population:
    def __init__(self, directory: Path, config: OpponentConfig, *, seed: int = 0) -> None:
        self.directory = Path(directory)
        self.folder = self.directory / "population"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.rng = np.random.default_rng(seed + 4_242)
        self.snapshots: list[str] = []  # "v10", "v20", ... oldest first
        self._cache: dict[str, dict[str, Array]] = {}
        index = self.folder / "index.json"
        if index.exists():  # a resumed run
            data = json.loads(index.read_text())
            self.snapshots = [
                s for s in data["snapshots"] if (self.folder / f"{s}.safetensors").exists()
            ]

    # --- members ----------------------------------------------------------------------------
    def anchors(self) -> list[str]:
        cfg = self.config
        if cfg.fixed:
            return [s for s in cfg.fixed if s != "current"]
        out = [f"cpu:{lv}" for lv in cfg.cpu_levels]
        if cfg.include_initial:
            out.append("initial")
        return out

    def path_of(self, name: str) -> Path:
        if name == "initial":
            return self.directory / "initial.safetensors"
        if name not in self.snapshots:
            raise KeyError(f"no snapshot {name!r} in the population (have {self.snapshots[-5:]})")
        return self.folder / f"{name}.safetensors"

    def add_snapshot(self, policy: Policy, version: int, metadata: Mapping[str, Any]) -> str:
        """Persist the learner's weights as ``v{version}``; drop the oldest past history_size."""
        name = f"v{version}"
        save_policy(policy, self.folder / f"{name}.safetensors", metadata=dict(metadata))
        if name not in self.snapshots:
            self.snapshots.append(name)
        while len(self.snapshots) > self.config.history_size:
            old = self.snapshots.pop(0)
            self._cache.pop(old, None)
            (self.folder / f"{old}.safetensors").unlink(missing_ok=True)
        self._write_index()
        return name

    def _write_index(self) -> None:
        text = json.dumps({"snapshots": self.snapshots}, indent=1)
        atomic_write(self.folder / "index.json", lambda p: p.write_text(text))

    def weights(self, name: str) -> dict[str, Array]:
        """The weights of snapshot ``name`` (or ``initial``) as numpy arrays (cached)."""
        if name not in self._cache:
            policy = load_policy(self.path_of(name))
            self._cache[name] = weights_of(policy)
            if len(self._cache) > 2 * self.config.history_size + 2:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[name]

    # --- the mix ----------------------------------------------------------------------------
    def mix(self, slots: int) -> list[MixEntry]:
        cfg = self.config
        if cfg.fixed:
            out = []
            for spec in cfg.fixed:
                kind = (
                    "current"
                    if spec == "current"
                    else "cpu"
                    if spec.startswith("cpu:")
                    else "snapshot"
                )
                out.append(MixEntry(name=spec, kind=kind, weight=1.0))
            return out
        entries: list[MixEntry] = []
        if cfg.current > 0:
            entries.append(MixEntry(name="current", kind="current", weight=cfg.current))
        if cfg.cpu > 0 and cfg.cpu_levels:
            w = cfg.cpu / len(cfg.cpu_levels)
            entries += [MixEntry(name=f"cpu:{lv}", kind="cpu", weight=w) for lv in cfg.cpu_levels]
        recent = self.snapshots[-cfg.recent :]
        everyone = self.snapshots + (["initial"] if cfg.include_initial else [])
        groups = [
            (g, w) for g, w in ((recent, cfg.history), (everyone, cfg.uniform)) if g and w > 0
        ]
        if groups and slots > 0:
            p = np.array([w for _, w in groups])
            picks: dict[str, None] = {}
            for _ in range(slots):
                g = groups[int(self.rng.choice(len(groups), p=p / p.sum()))][0]
                picks[g[int(self.rng.integers(len(g)))]] = None
            share = float(p.sum()) / len(picks)
            entries += [MixEntry(name=n, kind="snapshot", weight=share) for n in picks]
        if not entries:  # nothing configured: play the mirror
            entries.append(MixEntry(name="current", kind="current", weight=1.0))
        return entries

    def state_dict(self) -> dict[str, Any]:
        return {"snapshots": list(self.snapshots), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.snapshots = [
            s for s in state["snapshots"] if (self.folder / f"{s}.safetensors").exists()
        ]
        self.rng.bit_generator.state = state["rng"]
