"""The behavioral-cloning dataset: replays -> an embedded, memory-mapped corpus -> batches.

Three layers:

* :func:`build_corpus` finds the replays (``exphil.data.discover``), scans them
  (``exphil.data.scan``), keeps what :class:`~exphil.data.ReplayFilter` accepts, drops copies
  (``find_duplicates``), picks at most ``max_files`` games, loads each game's ``Frames`` from
  the parsed-game cache and embeds it from each player's side. The arrays go to the store of
  the configuration, which every later build with the same configs reuses and extends (see
  "Store" below).
* :class:`Sampler` turns a set of segments (one segment = one game from one player's side)
  into an epoch of sample descriptors: single rows for the MLP, windows for temporal
  backbones; optional character balancing and per-sample reaction delays.
* :func:`assemble` turns descriptors into a :class:`Batch` of torch tensors (delay pairing,
  the previous-controller block, mirror augmentation), and :class:`BatchLoader` does so on
  worker threads, identically whatever the number of threads.

Store (``<cache>/embedded/<hash>/``, ``<cache>`` = ``cache_dir`` or
``exphil.data.default_cache_dir()``; ``<hash>`` covers both configs, the perspectives, the
parser tag and :data:`STORE_FORMAT`, never the games): one store per configuration, holding
every game ever embedded with it (:mod:`exphil.data.embedded`: append-only, memory-mapped,
grown under a lock). A build embeds only the games the store does not have yet, so another
seed's subset, another ``max_files`` or a later run over more of the corpus reuses what is
there, and the disk holds each game once per configuration (``exphil cache`` shows and
cleans it)::

    dense.npy     float32 [N, D]   the embedding (layout: exphil.embed.describe)
    ids.npy       int16/int64 [N, K]  the learned-id columns
    buttons.npy   uint8 [N, 8]     row t's own buttons (the targets)
    classes.npy   uint8 [N, 5]     row t's own main_x, main_y, c_x, c_y, shoulder classes
    ctrl.npy      float32 [N, C]   the ``prev.*`` block that row t's own controller produces
    reward_terms.npy float32 [N, 3] row t's unweighted reward terms for its player (stock,
                                   damage, win: ``exphil.train._returns.reward_terms``)
    segments.npy  structured [S]   offset, length, key, port, character, opponent, stage
    manifest.json written last: rows, arrays, layout, configs, games that failed to embed

Rows of one segment are contiguous; a game's perspectives are side by side, games in the
order they were added (by key within one build). A :class:`Corpus` is the segments of its
games in (game key, port) order, whatever else the store holds (so a seed's epochs never
depend on the cache); its arrays are the whole store's (memory-mapped: other games' rows
are never read).
A game that cannot be embedded is recorded and not tried again; a store that disagrees with
its manifest is deleted and rebuilt.

Delay pairing: a sample's input row ``t`` is paired with the controller of row ``t + d`` of
the same segment, and the input's ``prev.*`` block is replaced by ``ctrl[t + d - 1]``: the
last controller the agent committed before acting at ``t + d`` (``d = 0`` gives the
embedding's own block; before a segment's first row it is the embedding's neutral
controller). In play this is an agent that, seeing frame ``t``, chooses the controller
applied at frame ``t + d``, and feeds back with frame ``t`` the controller it chose at frame
``t - 1`` (the one applied at ``t + d - 1``). The value target of row ``t`` is the return
from row ``t + d`` (the frame its decision is about): ``Corpus.returns[t + d]``.

Value targets: the store keeps each row's unweighted reward terms; :class:`Corpus` weights
them with its :class:`~exphil.train.ValueConfig` and computes every segment's discounted
returns (truncated at the segment's end) once, in memory (``returns``, scaled by
``value.scale``), so changing the discount or the weights never re-embeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, overload

import msgspec
import numpy as np
import structlog
import torch

from exphil.data import (
    DiscoveryError,
    GameCache,
    ReplayFilter,
    ScanResult,
    discover,
    find_duplicates,
    scan,
)
from exphil.data.embedded import ArraySpec, ItemFailed, grow_pool, open_pool
from exphil.embed import (
    AXES,
    ControllerConfig,
    EmbedConfig,
    describe,
    embed,
    embed_games,
    encode_controller,
    id_specs,
    sample_delays,
)
from exphil.errors import UserError
from exphil.game.frames import BUTTONS, Frames, PlayerFrames
from exphil.game.ids import Character, Stage
from exphil.game.peppi import ReplayError, read_game
from exphil.train._config import DataConfig, ValueConfig
from exphil.train._returns import (
    REWARD_TERMS,
    reward_terms,
    rewards_from_terms,
    segment_returns,
)

__all__ = [
    "STORE_FORMAT",
    "CLASS_COMPONENTS",
    "DESC_SEGMENT",
    "DESC_START",
    "DESC_WINDOW",
    "DESC_DELAY",
    "DatasetError",
    "Segment",
    "Corpus",
    "Mirror",
    "build_corpus",
    "split_games",
    "Sampler",
    "EpochBatches",
    "Batch",
    "assemble",
    "BatchLoader",
]

log = structlog.get_logger("exphil.train.dataset")

Array = np.ndarray[Any, Any]
Progress = Callable[[str, int, int], None]

#: bump when the store's content or layout changes (old stores are then never read)
STORE_FORMAT: Final = 4  # 2: stick ties toward neutral; 3: reward_terms; 4: one store per config
#: the columns of ``classes.npy`` and the integer targets, in ``exphil.nets`` COMPONENTS order
CLASS_COMPONENTS: Final = ("main_x", "main_y", "c_x", "c_y", "shoulder")
#: columns of a sample descriptor (``[B, 4]`` int64): segment index, first row inside the
#: segment, window length, delay
DESC_SEGMENT: Final = 0
DESC_START: Final = 1
DESC_WINDOW: Final = 2
DESC_DELAY: Final = 3

_FRAMES_PER_HOUR: Final = 60 * 3600
_TMP_MAX_AGE_S: Final = 3600.0
_MIN_DEEP_CHUNK: Final = 8
_ARRAYS: Final = ("dense", "ids", "buttons", "classes", "ctrl", "reward_terms")
_SEGMENT_DTYPE: Final = np.dtype(
    [
        ("offset", "<i8"),
        ("length", "<i8"),
        ("key", "<U32"),
        ("port", "<i1"),
        ("character", "<i2"),
        ("opponent", "<i2"),
        ("stage", "<i2"),
    ]
)
# rng stream tags: each random decision has its own stream per (seed, epoch, ...)
_STREAM_ORDER: Final = 1
_STREAM_DELAY: Final = 2
_STREAM_MIRROR: Final = 3
_STREAM_SPLIT: Final = "split"
_STREAM_PICK: Final = "max_files"

#: player fields that flip sign under a left-right mirror (component ``<who>.<field>``)
_X_FIELDS: Final = frozenset({"facing", "x", "vx_air", "vx_knockback", "vx_ground"})
_PLAYER_TAGS: Final = frozenset({"self", "opp", "self_nana", "opp_nana"})
#: single x-like components elsewhere in the layout
_X_COMPONENTS: Final = frozenset({"spatial.dx", "prev.main_x", "prev.c_x"})
#: inside a ``proj[j]`` block (exists, own, dx, dy, vx, vy, type...): dx and vx
_PROJ_X: Final = (2, 4)


class DatasetError(UserError, ValueError):
    """The corpus cannot be built: no replays, no usable game, a bad setting."""


def _rng(seed: int, *words: int) -> np.random.Generator:
    """An rng for one decision, keyed by the seed and the decision's words (any ints)."""
    mask = (1 << 64) - 1
    return np.random.default_rng([w & mask for w in (seed, *words)])


def _unit_hash(*parts: object) -> float:
    """A uniform number in [0, 1) from the parts (stable across runs and machines)."""
    text = "\0".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") / 2.0**64


# --- the mirror --------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Mirror:
    """A left-right flip of inputs and targets.

    ``x_columns``: the dense columns that change sign (found by name in
    :func:`exphil.embed.describe`): each player's and Nana's ``facing``, ``x``, ``vx_air``,
    ``vx_knockback``, ``vx_ground``; ``spatial.dx``; every projectile's ``dx`` and ``vx``;
    ``prev.main_x`` and ``prev.c_x``. Everything else (y, speeds in y, ledge distance,
    percent, stage, ids, buttons, shoulder) is unchanged.

    ``class_map``: the stick-x class of the mirrored stick (``main_x`` and ``c_x`` targets):
    ``n - 1 - i`` for uniform buckets, the center nearest ``-center[i]`` for k-means centers
    (an involution when the centers are symmetric, as uniform buckets always are).
    """

    x_columns: Array
    class_map: Array

    @classmethod
    def for_configs(cls, embed_config: EmbedConfig, controller: ControllerConfig) -> Mirror:
        return cls(_x_columns(embed_config), _class_map(controller))

    def apply(self, dense: Array, classes: dict[str, Array], which: Array) -> None:
        """Flip, in place, the samples selected by ``which`` (``[B]`` bool): ``dense``
        ``[B, T, D]`` and the ``main_x`` / ``c_x`` arrays of ``classes`` (``[B, T]``)."""
        idx = np.flatnonzero(which)
        if not len(idx):
            return
        if len(self.x_columns):
            sub = dense[idx]
            sub[..., self.x_columns] *= np.float32(-1)
            dense[idx] = sub
        for name in ("main_x", "c_x"):
            cls_arr = classes[name]
            cls_arr[idx] = self.class_map[cls_arr[idx]]


def _x_columns(config: EmbedConfig) -> Array:
    cols: list[int] = []
    offset = 0
    for name, width in describe(config):
        head, _, field = name.rpartition(".")
        if name.startswith("proj[") and not head:
            if width < max(_PROJ_X) + 1:
                raise RuntimeError(f"projectile block {name} has {width} columns, expected >= 6")
            cols += [offset + j for j in _PROJ_X]
        elif (head in _PLAYER_TAGS and field in _X_FIELDS) or name in _X_COMPONENTS:
            if width != 1:
                raise RuntimeError(f"x-like component {name} has width {width}, expected 1")
            cols.append(offset)
        offset += width
    return np.asarray(cols, dtype=np.int64)


def _class_map(controller: ControllerConfig) -> Array:
    n = controller.axis_classes
    if controller.stick_centers is None:
        return np.arange(n - 1, -1, -1, dtype=np.int64)
    c = controller.axis_values.astype(np.float64)
    out: Array = np.argmin(np.abs(c[None, :] + c[:, None]), axis=1).astype(np.int64)
    return out


# --- the controller block -----------------------------------------------------------------
def _prev_layout(config: EmbedConfig) -> list[tuple[str, int, int]]:
    """``(component, offset, width)`` of the ``prev.*`` components, in layout order."""
    out: list[tuple[str, int, int]] = []
    offset = 0
    for name, width in describe(config):
        if name.startswith("prev."):
            out.append((name, offset, width))
        offset += width
    return out


def _own_controller(p: PlayerFrames, layout: list[tuple[str, int, int]]) -> Array:
    """The ``prev.*`` values each row's own controller produces (what the embedding puts on
    the next row), ``[T, C]`` float32, computed as ``exphil.embed`` does."""
    n = len(p)
    blocks: list[Array] = []
    for name, _offset, width in layout:
        field = name.removeprefix("prev.")
        if field == "buttons":
            b = np.asarray(p.buttons, dtype=np.uint8)
            bits = (b[:, None] >> np.arange(len(BUTTONS), dtype=np.uint8)[None, :]) & 1
            blocks.append(bits.astype(np.float32))
        elif field in AXES:
            col = np.asarray(getattr(p, field), dtype=np.float32)
            blocks.append(np.clip(col, np.float32(-1), np.float32(1))[:, None])
        elif field == "shoulder":
            col = np.asarray(p.shoulder, dtype=np.float32)
            blocks.append(np.clip(col, np.float32(0), np.float32(1))[:, None])
        else:
            raise RuntimeError(f"unknown previous-controller component {name}")
        if blocks[-1].shape[1] != width:
            raise RuntimeError(f"{name}: {blocks[-1].shape[1]} columns, the layout says {width}")
    if not blocks:
        return np.zeros((n, 0), dtype=np.float32)
    return np.concatenate(blocks, axis=1)


def _neutral_controller(config: EmbedConfig, prev_cols: Array) -> Array:
    """The ``prev.*`` values the embedding uses before a game's first frame."""
    e = embed_games(Frames.zeros(1), config, 0)
    out: Array = np.ascontiguousarray(e.dense[0, prev_cols], dtype=np.float32)
    return out


# --- the corpus -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One game from one player's side: rows ``offset .. offset + length`` of the store.

    ``port`` is the agent's index in ``Frames.players`` (0 = the lower port);
    ``character``, ``opponent`` and ``stage`` are external ids as the replay records them;
    ``path`` is where this build found the game (one of its copies)."""

    offset: int
    length: int
    key: str
    port: int
    character: int
    opponent: int
    stage: int
    path: str

    @property
    def character_name(self) -> str:
        return _char_name(self.character)

    @property
    def stage_name(self) -> str:
        return _stage_name(self.stage)


def _char_name(cid: int) -> str:
    try:
        return Character.from_external(cid).display_name
    except ValueError:
        return f"unknown ({cid})"


def _stage_name(sid: int) -> str:
    try:
        return Stage(sid).display_name
    except ValueError:
        return f"unknown ({sid})"


@dataclasses.dataclass(frozen=True, slots=True)
class _Report:
    files: int
    skipped: dict[str, int]
    filtered: dict[str, int]
    duplicates: int
    not_selected: int
    reused: bool
    embedded: int = 0  # games embedded by this build (the others were in the store)


class Corpus:
    """An embedded corpus over a memory-mapped store (see the module docstring).

    Arrays (read-only, rows = frames of one perspective): ``dense`` ``[N, D]``, ``ids``
    ``[N, K]``, ``buttons`` ``[N, 8]``, ``classes`` ``[N, 5]`` (:data:`CLASS_COMPONENTS`),
    ``ctrl`` ``[N, C]``, ``reward_terms`` ``[N, 3]``; ``segments`` (and ``offsets``,
    ``lengths``, ``characters`` as arrays). ``prev_columns`` are the dense columns of the
    ``prev.*`` block (``ctrl``'s columns, in order), ``neutral`` their value before a game's
    first frame. ``rewards`` ``[N]`` (weighted by ``value.rewards``) and ``returns`` ``[N]``
    (their discounted returns per segment, times ``value.scale``) are computed in memory.
    """

    def __init__(
        self,
        store: Path,
        arrays: dict[str, Array],
        segments: tuple[Segment, ...],
        embed_config: EmbedConfig,
        controller: ControllerConfig,
        report: _Report,
        value: ValueConfig | None = None,
    ) -> None:
        self.store = store
        self.dense = arrays["dense"]
        self.ids = arrays["ids"]
        self.buttons = arrays["buttons"]
        self.classes = arrays["classes"]
        self.ctrl = arrays["ctrl"]
        self.reward_terms = arrays["reward_terms"]
        self.segments = segments
        self.embed_config = embed_config
        self.controller = controller
        self.report = report
        self.offsets = np.asarray([s.offset for s in segments], dtype=np.int64)
        self.lengths = np.asarray([s.length for s in segments], dtype=np.int64)
        self.characters = np.asarray([s.character for s in segments], dtype=np.int64)
        self.dense_columns = tuple(describe(embed_config))
        self.id_names = tuple(s.name for s in id_specs(embed_config))
        layout = _prev_layout(embed_config)
        self.prev_columns = np.asarray(
            [o + j for _, o, w in layout for j in range(w)], dtype=np.int64
        )
        self.neutral = _neutral_controller(embed_config, self.prev_columns)
        self.mirror = Mirror.for_configs(embed_config, controller)
        self.value = value or ValueConfig()
        # the store may hold other games too: only the rows of these segments are read
        rewards_from_terms(self.reward_terms[:0], self.value.rewards)  # checks the weights
        self.rewards = np.zeros(len(self.reward_terms), dtype=np.float32)
        for a, n in zip(self.offsets.tolist(), self.lengths.tolist(), strict=True):
            self.rewards[a : a + n] = rewards_from_terms(
                self.reward_terms[a : a + n], self.value.rewards
            )
        returns = segment_returns(self.rewards, self.offsets, self.lengths, self.value.discount)
        self.returns = (returns * np.float32(self.value.scale)).astype(np.float32)

    @property
    def n_frames(self) -> int:
        """Rows of this corpus's segments (frames times perspectives); the store's arrays
        may hold more (other games embedded with the same configs)."""
        return int(self.lengths.sum())

    @property
    def dense_dim(self) -> int:
        return int(self.dense.shape[1])

    @property
    def n_ids(self) -> int:
        return int(self.ids.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of this corpus's rows in the store (on disk, memory-mapped)."""
        arrays = (self.dense, self.ids, self.buttons, self.classes, self.ctrl, self.reward_terms)
        return self.n_frames * sum(int(a.itemsize) * int(a.shape[1]) for a in arrays)

    @property
    def game_keys(self) -> tuple[str, ...]:
        """The games' content keys, each once, in store order."""
        return tuple(dict.fromkeys(s.key for s in self.segments))

    def summary(self) -> dict[str, Any]:
        """Games, perspectives, rows (``frames``), game frames and hours of play (60 fps),
        agent characters (per perspective) and stages (per game), and what was left out:
        ``skipped`` (unreadable, by cause), ``filtered`` (by rule), ``duplicates``,
        ``not_selected`` (past ``max_files``)."""
        per_game: dict[str, Segment] = {}
        for s in self.segments:
            per_game.setdefault(s.key, s)
        game_frames = sum(s.length for s in per_game.values())
        chars = Counter(s.character_name for s in self.segments)
        stages = Counter(_stage_name(s.stage) for s in per_game.values())
        r = self.report
        return {
            "games": len(per_game),
            "perspectives": len(self.segments),
            "frames": self.n_frames,
            "game_frames": game_frames,
            "hours": round(game_frames / _FRAMES_PER_HOUR, 3),
            "characters": dict(chars.most_common()),
            "stages": dict(stages.most_common()),
            "files": r.files,
            "skipped": dict(r.skipped),
            "filtered": dict(r.filtered),
            "duplicates": r.duplicates,
            "not_selected": r.not_selected,
            "store": str(self.store),
            "reused": r.reused,
            "embedded": r.embedded,
        }

    def game_frames(self) -> dict[str, int]:
        """Each game's frames (its longest perspective): both players of a frame count once."""
        frames: dict[str, int] = {}
        for s in self.segments:
            frames[s.key] = max(frames.get(s.key, 0), s.length)
        return frames

    def split(
        self, val_fraction: float, seed: int, *, min_games: int = 0, min_frames: int = 0
    ) -> tuple[Array, Array]:
        """``(train_segment_ids, val_segment_ids)``, by game (see :func:`split_games`; the
        minimums hold out more games when the fraction gives too little)."""
        val_keys = split_games(
            self.game_keys,
            val_fraction,
            seed,
            frames=self.game_frames() if min_frames else None,
            min_games=min_games,
            min_frames=min_frames,
        )
        is_val = np.asarray([s.key in val_keys for s in self.segments], dtype=bool)
        ids = np.arange(len(self.segments), dtype=np.int64)
        return ids[~is_val], ids[is_val]


def planned_val_games(games: int, val_fraction: float) -> int:
    """How many of ``games`` games ``val_fraction`` holds out (before any minimum):
    ``round(val_fraction * games)``; with ``0 < val_fraction < 1`` and at least two games,
    each side gets at least one."""
    n_val = round(val_fraction * games)
    if 0.0 < val_fraction < 1.0 and games >= 2:
        n_val = min(max(n_val, 1), games - 1)
    return n_val


def split_games(
    keys: Sequence[str],
    val_fraction: float,
    seed: int,
    *,
    frames: Mapping[str, int] | None = None,
    min_games: int = 0,
    min_frames: int = 0,
) -> frozenset[str]:
    """The validation game keys: the :func:`planned_val_games` games with the lowest hash of
    ``(seed, key)``, so the choice depends only on the games, never on positions or order,
    and adding or removing a game moves at most one other game across (a per-game threshold
    would be as stable but far from the fraction on small corpora: 2 of 3 games in
    validation at 0.2).

    With validation on (``val_fraction > 0``), when those games are fewer than
    ``min_games`` or hold fewer than ``min_frames`` frames (``frames``: per key), the next
    games in the same order are held out too, up to half of the games (training keeps at
    least the other half); whether the minimum was met is the caller's to check."""
    if not 0.0 <= val_fraction <= 1.0:
        raise DatasetError(f"val_fraction must be in [0, 1], got {val_fraction}")
    unique = sorted(set(keys))
    ranked = sorted(unique, key=lambda k: (_unit_hash(_STREAM_SPLIT, seed, k), k))
    n_val = planned_val_games(len(unique), val_fraction)
    if val_fraction > 0 and (min_games or min_frames):
        sizes = frames or {}
        held = sum(sizes.get(k, 0) for k in ranked[:n_val])
        while n_val < len(unique) // 2 and (n_val < min_games or held < min_frames):
            held += sizes.get(ranked[n_val], 0)
            n_val += 1
    return frozenset(ranked[:n_val])


# --- building -------------------------------------------------------------------------------
@dataclasses.dataclass
class _Counts:
    skipped: Counter[str] = dataclasses.field(default_factory=Counter)
    filtered: Counter[str] = dataclasses.field(default_factory=Counter)
    duplicates: int = 0
    not_selected: int = 0

    def keep(self, filt: ReplayFilter, results: Sequence[ScanResult]) -> list[ScanResult]:
        kept: list[ScanResult] = []
        for r in results:
            if r.error is not None:
                self.skipped[r.error.cause] += 1
                continue
            why = filt.reject_reason(r)
            if why is None:
                kept.append(r)
            elif why == "error":
                self.skipped["unreadable"] += 1
            else:
                self.filtered[why] += 1
        return kept

    def dedupe(self, results: list[ScanResult]) -> list[ScanResult]:
        dupes = {d.path for d in find_duplicates(results)}
        self.duplicates += len(dupes)
        return [r for r in results if r.path not in dupes]


def _pick_order(seed: int) -> Callable[[ScanResult], tuple[float, str]]:
    """The max_files order: a hash of (seed, file name, size), stable when the folder moves
    or games are added."""

    def key(r: ScanResult) -> tuple[float, str]:
        return (_unit_hash(_STREAM_PICK, seed, os.path.basename(r.path), r.size), r.path)

    return key


def _scan_progress(progress: Progress | None, total: int) -> Callable[[ScanResult], None]:
    done = 0

    def on_result(_r: ScanResult) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress("scan", done, total)

    return on_result


def _select(
    files: list[Path],
    data: DataConfig,
    filt: ReplayFilter,
    cache: GameCache,
    seed: int,
    jobs: int | None,
    counts: _Counts,
    progress: Progress | None,
) -> list[ScanResult]:
    """The games to embed (deep-scanned: each has a content key), in max_files order.

    Without ``max_files`` (or with ``min_quality``, which needs it) every file gets a deep
    scan, which also fills the parsed-game cache. Otherwise a quick scan (headers) filters
    and orders the files and only the chosen ones are parsed, more as needed when some turn
    out broken or duplicates."""
    order = _pick_order(seed)
    limit = data.max_files
    if limit is None or data.min_quality is not None:
        results = scan(
            files, deep=True, cache=cache, jobs=jobs, on_result=_scan_progress(progress, len(files))
        )
        kept = counts.dedupe(counts.keep(filt, results))
        kept.sort(key=order)
        if limit is not None and len(kept) > limit:
            counts.not_selected = len(kept) - limit
            kept = kept[:limit]
        return kept

    quick = scan(files, deep=False, jobs=jobs, on_result=_scan_progress(progress, len(files)))
    candidates = counts.dedupe(counts.keep(filt, quick))
    candidates.sort(key=order)
    chosen: list[ScanResult] = []
    pos = 0
    while len(chosen) < limit and pos < len(candidates):
        chunk = candidates[pos : pos + max(limit - len(chosen), _MIN_DEEP_CHUNK)]
        pos += len(chunk)
        deep = scan(
            [c.path for c in chunk],
            deep=True,
            cache=cache,
            jobs=jobs,
            on_result=_scan_progress(progress, len(chunk)),
        )
        chosen = counts.dedupe(chosen + counts.keep(filt, deep))
        chosen.sort(key=order)
    counts.not_selected = len(candidates) - pos + max(0, len(chosen) - limit)
    return chosen[:limit]


def _store_hash(
    embed_config: EmbedConfig,
    controller: ControllerConfig,
    ports: tuple[int, ...],
    parser_tag: str,
) -> str:
    """The store's name: what its rows hold (never which games: every selection shares it)."""
    doc = {
        "format": STORE_FORMAT,
        "embed": msgspec.to_builtins(embed_config),
        "controller": msgspec.to_builtins(controller),
        "ports": list(ports),
        "parser": parser_tag,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _load_frames(cache: GameCache, r: ScanResult) -> Frames:
    """A game's ``Frames``: from the cache (memory-mapped), else parsed (and cached)."""
    assert r.key is not None
    game = cache.load(r.key, path=r.path)
    if game is not None:
        return game.frames
    info, frames = read_game(r.path)
    if r.quality is not None:
        with contextlib.suppress(OSError):
            cache.store(r.key, info, r.quality, frames, r.fingerprint)
    return frames


def _specs(embed_config: EmbedConfig) -> list[ArraySpec]:
    """The store's arrays (see the module docstring), ``dense`` first."""
    dim = sum(w for _, w in describe(embed_config))
    specs = id_specs(embed_config)
    id_dtype = np.int16 if all(s.size <= np.iinfo(np.int16).max for s in specs) else np.int64
    prev = _prev_layout(embed_config)
    widths: dict[str, tuple[Any, int]] = {
        "dense": (np.float32, dim),
        "ids": (id_dtype, len(specs)),
        "buttons": (np.uint8, len(BUTTONS)),
        "classes": (np.uint8, len(CLASS_COMPONENTS)),
        "ctrl": (np.float32, sum(w for _, _, w in prev)),
        "reward_terms": (np.float32, len(REWARD_TERMS)),
    }
    return [ArraySpec(name, np.dtype(widths[name][0]), widths[name][1]) for name in _ARRAYS]


def _producer(
    cache: GameCache,
    embed_config: EmbedConfig,
    controller: ControllerConfig,
    ports: tuple[int, ...],
    progress: Progress | None,
    total: int,
    transient: list[dict[str, str]],
) -> Callable[[Any], list[tuple[dict[str, Any], dict[str, Array]]]]:
    """Embeds one game (a ``ScanResult``) for the store: one segment per port. A game that
    cannot be loaded or embedded raises ``ItemFailed`` (recorded in the store; a load error
    other than the replay's own is only counted in ``transient``: it is tried again next
    time)."""
    prev = _prev_layout(embed_config)
    prev_cols = np.asarray([o + j for _, o, w in prev for j in range(w)], dtype=np.int64)
    done = 0

    def fail(r: ScanResult, cause: str, detail: str, permanent: bool = True) -> ItemFailed:
        log.warning("game skipped", path=r.path, cause=cause, detail=detail)
        if not permanent:
            transient.append({"key": r.key or "", "path": r.path, "cause": cause})
        return ItemFailed(cause, detail, permanent=permanent)

    def produce(r: ScanResult) -> list[tuple[dict[str, Any], dict[str, Array]]]:
        nonlocal done
        assert r.info is not None and r.key is not None
        done += 1
        try:
            frames = _load_frames(cache, r)
        except ReplayError as exc:
            raise fail(r, exc.cause, exc.detail) from None
        except (OSError, ValueError) as exc:
            raise fail(r, "load", f"{type(exc).__name__}: {exc}", permanent=False) from None
        if progress is not None:
            progress("load", done, total)
        if len(frames) == 0:
            raise fail(r, "empty", "the game has no frames")
        try:
            blocks = [
                _embed_one(frames, p, embed_config, controller, prev, prev_cols) for p in ports
            ]
        except ReplayError as exc:
            raise fail(r, exc.cause, exc.detail) from None
        except (OSError, ValueError) as exc:
            raise fail(r, "embed", f"{type(exc).__name__}: {exc}") from None
        players = r.info.players
        out = [
            (
                {
                    "port": port,
                    "character": players[port].character_id,
                    "opponent": players[1 - port].character_id,
                    "stage": r.info.stage_id,
                },
                block,
            )
            for port, block in zip(ports, blocks, strict=True)
        ]
        if progress is not None:
            progress("embed", done, total)
        return out

    return produce


def _embed_one(
    frames: Frames,
    port: int,
    embed_config: EmbedConfig,
    controller: ControllerConfig,
    prev: list[tuple[str, int, int]],
    prev_cols: Array,
) -> dict[str, Array]:
    e = embed(frames, embed_config, port)
    me = frames.players[port]
    dc = encode_controller(me, controller)
    ctrl = _own_controller(me, prev)
    if len(prev_cols) and not np.array_equal(e.dense[1:, prev_cols], ctrl[:-1]):
        raise RuntimeError(
            "the stored previous-controller values disagree with the embedding's prev.* block "
            "(exphil.embed changed how it embeds the controller: update _own_controller)"
        )
    classes = np.stack([getattr(dc, c) for c in CLASS_COMPONENTS], axis=1)
    return {
        "dense": e.dense,
        "ids": e.ids,
        "buttons": dc.buttons,
        "classes": classes.astype(np.uint8),
        "ctrl": ctrl,
        "reward_terms": reward_terms(frames, port),
    }


def build_corpus(
    data: DataConfig,
    embed: EmbedConfig,
    controller: ControllerConfig,
    *,
    cache_dir: Path | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    jobs: int | None = None,
    value: ValueConfig | None = None,
) -> Corpus:
    """Build (or reopen) the embedded corpus that ``data`` describes.

    Replays come from ``data.replays`` (files, folders, globs, @lists; default
    ``$EXPHIL_REPLAYS_DIR``). Games are kept by :class:`~exphil.data.ReplayFilter`
    (``character``, ``stage``, ``min_quality``, 1v1 only), copies dropped, then at most
    ``data.max_files`` chosen by a hash of ``(seed, file name, size)``. Each game is embedded
    from port 0's and port 1's side (only port 0 when ``both_perspectives`` is off).
    Broken games are skipped and counted (``Corpus.summary()["skipped"]``), never fatal.

    ``cache_dir``: the parsed-game cache root (default ``default_cache_dir()``); the store
    lives in its ``embedded/`` folder. ``progress(stage, done, total)`` is called with
    stages ``scan``, ``load`` and ``embed``. ``jobs``: parser processes for the scan
    (default one per CPU; 0 parses in this process).

    ``value``: how the value targets are made (default ``ValueConfig()``); it does not
    change the store.

    Raises :class:`DatasetError` when no replay is found or none is usable.
    """
    embed_config, controller_config = embed, controller
    paths = list(data.replays)
    if not paths:
        env = os.environ.get("EXPHIL_REPLAYS_DIR")
        if not env:
            raise DatasetError(
                "no replay paths: set data.replays (files, folders or globs) or EXPHIL_REPLAYS_DIR"
            )
        paths = [env]
    where = ", ".join(paths)
    if data.max_files is not None and data.max_files < 1:
        raise DatasetError(f"max_files must be at least 1 (or None for all), got {data.max_files}")
    try:
        filt = ReplayFilter.from_names(data.character, data.stage, min_quality=data.min_quality)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    try:
        files = discover(paths)
    except DiscoveryError as exc:
        raise DatasetError(str(exc)) from None
    if not files:
        raise DatasetError(f"no replays found in {where} (searched recursively for *.slp)")

    cache = GameCache(cache_dir)
    try:
        counts = _Counts()
        games = _select(files, data, filt, cache, seed, jobs, counts, progress)
        if not games:
            raise DatasetError(_nothing_usable(where, len(files), counts))
        ports = (0, 1) if data.both_perspectives else (0,)
        games.sort(key=lambda r: (r.key or "", r.path))
        digest = _store_hash(embed_config, controller_config, ports, cache.games_dir.name)
        folder = cache.root / "embedded" / digest
        specs = _specs(embed_config)
        existing = open_pool(folder, digest, specs, _SEGMENT_DTYPE)
        covered = existing.covered if existing is not None else frozenset()
        del existing
        transient: list[dict[str, str]] = []
        produce = _producer(
            cache,
            embed_config,
            controller_config,
            ports,
            progress,
            sum(1 for r in games if r.key not in covered),
            transient,
        )
        meta = {
            "store_format": STORE_FORMAT,
            "dense_columns": [[n, w] for n, w in describe(embed_config)],
            "id_columns": [s.name for s in id_specs(embed_config)],
            "embed": msgspec.to_builtins(embed_config),
            "controller": msgspec.to_builtins(controller_config),
            "ports": list(ports),
        }
        pool, embedded = grow_pool(folder, digest, specs, _SEGMENT_DTYPE, games, produce, meta)
    finally:
        cache.close()
    keys = {r.key for r in games if r.key is not None}
    table = pool.segments_of(keys)
    # (game key, port) order, as a store of these games alone would have: the epochs of a
    # seed never depend on what else the store holds
    table = table[np.lexsort((table["port"], table["key"]))]
    for f in [*pool.failed_of(keys), *transient]:
        counts.skipped[f["cause"]] += 1
    path_of = {r.key: r.path for r in games}
    segments = tuple(
        Segment(
            offset=int(row["offset"]),
            length=int(row["length"]),
            key=str(row["key"]),
            port=int(row["port"]),
            character=int(row["character"]),
            opponent=int(row["opponent"]),
            stage=int(row["stage"]),
            path=path_of.get(str(row["key"]), ""),
        )
        for row in table
    )
    if not segments:
        raise DatasetError(_nothing_usable(where, len(files), counts))
    report = _Report(
        files=len(files),
        skipped=dict(counts.skipped),
        filtered=dict(counts.filtered),
        duplicates=counts.duplicates,
        not_selected=counts.not_selected,
        reused=embedded == 0,
        embedded=embedded,
    )
    return Corpus(folder, pool.arrays, segments, embed_config, controller_config, report, value)


def _nothing_usable(where: str, files: int, counts: _Counts) -> str:
    parts = [f"{files} files"]
    if counts.skipped:
        causes = ", ".join(f"{k} {v}" for k, v in counts.skipped.most_common())
        parts.append(f"{sum(counts.skipped.values())} unreadable ({causes})")
    if counts.filtered:
        rules = ", ".join(f"{k} {v}" for k, v in counts.filtered.most_common())
        parts.append(f"{sum(counts.filtered.values())} filtered out ({rules})")
    if counts.duplicates:
        parts.append(f"{counts.duplicates} duplicates")
    return f"no usable 1v1 game in {where}: " + ", ".join(parts)


# --- sampling -------------------------------------------------------------------------------
class EpochBatches(Sequence[Array]):
    """One epoch's batches of sample descriptors (``[B, 4]`` int64: :data:`DESC_SEGMENT`,
    :data:`DESC_START`, :data:`DESC_WINDOW`, :data:`DESC_DELAY`), computed on access from a
    compact sample order; batch ``i``'s delays come from an rng seeded by ``(seed, epoch,
    i)``, so any batch can be recomputed alone (resuming mid-epoch)."""

    def __init__(
        self,
        segment: Array,
        start: Array,
        *,
        window: int,
        delay: int,
        delay_spread: int,
        batch_size: int,
        drop_last: bool,
        seed: int,
        epoch: int,
    ) -> None:
        self._segment = segment
        self._start = start
        self.window = window
        self.delay = delay
        self.delay_spread = delay_spread
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = epoch
        n = len(segment)
        self.samples = n
        self._len = n // batch_size if drop_last else -(-n // batch_size)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Array: ...
    @overload
    def __getitem__(self, index: slice) -> list[Array]: ...
    def __getitem__(self, index: int | slice) -> Array | list[Array]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        i = index + self._len if index < 0 else index
        if not 0 <= i < self._len:
            raise IndexError(f"batch {index} of {self._len}")
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        seg = self._segment[sl]
        rng = _rng(self.seed, self.epoch, i, _STREAM_DELAY)
        out = np.empty((len(seg), 4), dtype=np.int64)
        out[:, DESC_SEGMENT] = seg
        out[:, DESC_START] = self._start[sl]
        out[:, DESC_WINDOW] = self.window
        out[:, DESC_DELAY] = sample_delays(len(seg), self.delay, self.delay_spread, rng)
        return out

    def __iter__(self) -> Iterator[Array]:
        for i in range(self._len):
            yield self[i]


class Sampler:
    """Epochs of sample descriptors over ``segment_ids`` of ``corpus``.

    * ``window == 1`` (MLP): every row ``t`` of a segment with ``t + delay + delay_spread``
      inside it, shuffled.
    * ``window == T > 1``: windows of ``T`` consecutive rows inside one segment (targets
      included: ``start + T + delay + delay_spread <= length``), strided by ``T - burnin``
      from a random offset per segment and epoch, so each row is a loss row (past the
      burn-in) about once per epoch; shuffled.
    * ``balance_characters``: the same number of samples, drawn with replacement so each
      agent character is about equally frequent (weight 1 / its sample count).
    * delays: ``delay``, or with ``delay_spread`` uniform in ``delay +/- delay_spread``
      (clipped at 0), one per sample (per window).

    Everything is a function of ``(seed, epoch)`` (and the batch index for delays).
    """

    def __init__(
        self,
        corpus: Corpus,
        segment_ids: Sequence[int] | Array,
        *,
        window: int,
        burnin: int,
        delay: int,
        delay_spread: int,
        batch_size: int,
        balance_characters: bool,
        seed: int,
        drop_last: bool = False,
    ) -> None:
        if window < 1:
            raise DatasetError(f"window must be at least 1, got {window}")
        if not 0 <= burnin < window:
            raise DatasetError(f"burnin must be in 0..window - 1 ({window - 1}), got {burnin}")
        if delay < 0 or delay_spread < 0:
            raise DatasetError(
                f"delay and delay_spread must be >= 0, got {delay} and {delay_spread}"
            )
        if batch_size < 1:
            raise DatasetError(f"batch_size must be at least 1, got {batch_size}")
        ids = np.asarray(segment_ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(corpus.segments)):
            raise DatasetError(f"segment ids must be in 0..{len(corpus.segments) - 1}")
        self.corpus = corpus
        self.segment_ids = ids
        self.window = window
        self.burnin = burnin
        self.delay = delay
        self.delay_spread = delay_spread
        self.batch_size = batch_size
        self.balance_characters = balance_characters
        self.seed = seed
        self.drop_last = drop_last
        self.max_delay = delay + delay_spread
        lengths = corpus.lengths[ids]
        # rows usable as a window start (window 1: every usable row)
        self._span = np.maximum(lengths - window - self.max_delay + 1, 0)
        if window == 1:
            self._segment = np.repeat(ids, self._span)
            self._start = _ranges(self._span)

    @property
    def stride(self) -> int:
        return self.window - self.burnin

    def _candidates(self, epoch: int) -> tuple[Array, Array]:
        if self.window == 1:
            return self._segment, self._start
        rng = _rng(self.seed, epoch, _STREAM_ORDER, 0)
        stride = self.stride
        has = self._span > 0
        offsets = np.zeros(len(self._span), dtype=np.int64)
        hi = np.minimum(stride, self._span[has])  # offsets in [0, min(stride, span))
        offsets[has] = (rng.random(int(has.sum())) * hi).astype(np.int64)
        counts = np.where(has, (self._span - 1 - offsets) // stride + 1, 0)
        counts = np.maximum(counts, 0)
        segment = np.repeat(self.segment_ids, counts)
        start = np.repeat(offsets, counts) + _ranges(counts) * stride
        return segment, start

    def epoch_batches(self, epoch: int) -> EpochBatches:
        """The epoch's batches (a lazy sequence of ``[B, 4]`` descriptors)."""
        segment, start = self._candidates(epoch)
        rng = _rng(self.seed, epoch, _STREAM_ORDER, 1)
        n = len(segment)
        if self.balance_characters and n:
            chars = self.corpus.characters[segment]
            order = np.argsort(chars, kind="stable")
            uniq, first, count = np.unique(chars[order], return_index=True, return_counts=True)
            which = rng.integers(0, len(uniq), n)
            pick = order[first[which] + (rng.random(n) * count[which]).astype(np.int64)]
        else:
            pick = rng.permutation(n)
        return EpochBatches(
            segment[pick],
            start[pick],
            window=self.window,
            delay=self.delay,
            delay_spread=self.delay_spread,
            batch_size=self.batch_size,
            drop_last=self.drop_last,
            seed=self.seed,
            epoch=epoch,
        )

    def epoch_size(self, epoch: int = 0) -> int:
        """Samples in an epoch (windows vary slightly with the epoch's random offsets)."""
        if self.window == 1:
            return len(self._segment)
        return len(self._candidates(epoch)[0])

    def n_batches(self, epoch: int = 0) -> int:
        """``len(self.epoch_batches(epoch))`` without shuffling the epoch."""
        n = self.epoch_size(epoch)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _ranges(counts: Array) -> Array:
    """``concatenate([arange(c) for c in counts])``, vectorized."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    out: Array = np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts)
    return out


# --- batches -------------------------------------------------------------------------------
@dataclasses.dataclass(eq=False)
class Batch:
    """Model inputs and targets for ``B`` samples of ``T`` frames.

    ``dense`` ``[B, T, D]`` float32, ``ids`` ``[B, T, K]`` int64, ``targets``:
    ``"buttons"`` ``[B, T, 8]`` uint8, ``"main_x"`` .. ``"shoulder"`` ``[B, T]`` int64 and
    ``"value"`` ``[B, T]`` float32 (the value head's target).
    ``descriptors`` (numpy ``[B, 4]``) and ``mirrored`` (numpy ``[B]`` bool) say where each
    sample came from."""

    dense: torch.Tensor
    ids: torch.Tensor
    targets: dict[str, torch.Tensor]
    descriptors: Array
    mirrored: Array

    def __len__(self) -> int:
        return int(self.dense.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return dataclasses.replace(
            self,
            dense=self.dense.to(device, non_blocking=non_blocking),
            ids=self.ids.to(device, non_blocking=non_blocking),
            targets={k: v.to(device, non_blocking=non_blocking) for k, v in self.targets.items()},
        )

    def pin_memory(self) -> Batch:
        return dataclasses.replace(
            self,
            dense=self.dense.pin_memory(),
            ids=self.ids.pin_memory(),
            targets={k: v.pin_memory() for k, v in self.targets.items()},
        )


def assemble(
    corpus: Corpus, descriptors: Array, *, mirror: bool, rng: np.random.Generator
) -> Batch:
    """The batch for ``descriptors`` (``[B, 4]``, one window length).

    Row ``t`` of a sample starting at ``s`` with delay ``d`` is input row ``s + t`` paired
    with the targets of row ``s + t + d`` (the controller and the return ``returns[s + t +
    d]``); its ``prev.*`` block is ``ctrl[s + t + d - 1]`` (the neutral controller before the
    segment's first row). With ``mirror``, each sample is flipped (:class:`Mirror`) with
    probability 0.5, drawn from ``rng`` (returns do not change under a mirror)."""
    desc = np.asarray(descriptors, dtype=np.int64)
    if desc.ndim != 2 or desc.shape[1] != 4 or not len(desc):
        raise ValueError(f"descriptors must be a non-empty [B, 4] array, got {desc.shape}")
    windows = desc[:, DESC_WINDOW]
    window = int(windows[0])
    if (windows != window).any():
        raise ValueError("every sample of a batch must have the same window length")
    seg, start, delay = desc[:, DESC_SEGMENT], desc[:, DESC_START], desc[:, DESC_DELAY]
    lengths = corpus.lengths[seg]
    if (start < 0).any() or (delay < 0).any() or (start + window + delay > lengths).any():
        raise ValueError("a sample's rows or targets fall outside its segment")
    b = len(desc)
    local = start[:, None] + np.arange(window)[None, :]  # [B, T] rows inside the segment
    base = corpus.offsets[seg][:, None]
    rows = (base + local).reshape(-1)
    target = (base + local + delay[:, None]).reshape(-1)
    dense = corpus.dense[rows].reshape(b, window, -1)
    if len(corpus.prev_columns):
        prev_local = (local + delay[:, None] - 1).reshape(-1)
        prev = corpus.ctrl[base.repeat(window, axis=1).reshape(-1) + np.maximum(prev_local, 0)]
        prev[prev_local < 0] = corpus.neutral
        dense[..., corpus.prev_columns] = prev.reshape(b, window, -1)
    ids = corpus.ids[rows].reshape(b, window, -1).astype(np.int64)
    classes = corpus.classes[target].astype(np.int64)
    cls = {
        name: np.ascontiguousarray(classes[:, j].reshape(b, window))
        for j, name in enumerate(CLASS_COMPONENTS)
    }
    buttons = corpus.buttons[target].reshape(b, window, -1)
    flips = np.zeros(b, dtype=bool)
    if mirror:
        flips = rng.random(b) < 0.5
        corpus.mirror.apply(dense, cls, flips)
    targets = {"buttons": torch.from_numpy(buttons)}
    targets.update({k: torch.from_numpy(v) for k, v in cls.items()})
    targets["value"] = torch.from_numpy(np.ascontiguousarray(corpus.returns[target]).reshape(b, -1))
    return Batch(
        dense=torch.from_numpy(np.ascontiguousarray(dense)),
        ids=torch.from_numpy(ids),
        targets=targets,
        descriptors=desc,
        mirrored=flips,
    )


# --- the loader -----------------------------------------------------------------------------
class _LoaderState:
    """What the worker threads share (never the loader itself, so it can be collected)."""

    def __init__(
        self,
        corpus: Corpus,
        plan: EpochBatches,
        start: int,
        mirror: bool,
        prefetch: int,
        pin: bool,
    ) -> None:
        self.corpus = corpus
        self.plan = plan
        self.mirror = mirror
        self.prefetch = max(1, prefetch)
        self.pin = pin
        self.end = len(plan)
        self.cond = threading.Condition()
        self.next_claim = start
        self.in_flight = 0  # claimed by a worker, not yet taken by the consumer
        self.results: dict[int, Batch] = {}
        self.error: BaseException | None = None
        self.error_index = 0  # the batch whose assembly raised ``error`` (the first one)
        self.stopped = False
        self.assemble_s = 0.0

    def make(self, i: int) -> Batch:
        t0 = time.perf_counter()
        rng = _rng(self.plan.seed, self.plan.epoch, i, _STREAM_MIRROR)
        batch = assemble(self.corpus, self.plan[i], mirror=self.mirror, rng=rng)
        if self.pin:
            batch = batch.pin_memory()
        dt = time.perf_counter() - t0
        with self.cond:
            self.assemble_s += dt
        return batch

    def fail(self, i: int, exc: BaseException) -> None:
        """Batch ``i`` raised ``exc`` (the earliest failed batch's error is kept)."""
        with self.cond:
            if self.error is None or i < self.error_index:
                self.error, self.error_index = exc, i
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.results.clear()
            self.cond.notify_all()


def _worker(state: _LoaderState) -> None:
    while True:
        with state.cond:
            while (
                not state.stopped
                and state.error is None
                and state.next_claim < state.end
                and state.in_flight >= state.prefetch
            ):
                state.cond.wait()
            if state.stopped or state.error is not None or state.next_claim >= state.end:
                return
            i = state.next_claim
            state.next_claim += 1
            state.in_flight += 1
        try:
            batch = state.make(i)
        except BaseException as exc:
            state.fail(i, exc)
            return
        with state.cond:
            if not state.stopped:
                state.results[i] = batch
                state.cond.notify_all()


def _shutdown(state: _LoaderState, threads: list[threading.Thread]) -> None:
    state.stop()
    me = threading.current_thread()
    for t in threads:
        if t is not me:
            t.join(timeout=5.0)


class BatchLoader:
    """An iterator of :class:`Batch` in the sampler's order for one epoch, from batch
    ``start_batch`` on.

    ``workers`` threads assemble batches (0: in the caller's thread), at most ``prefetch``
    ahead of the consumer. Batch ``i`` is a function of ``(seed, epoch, i)`` alone, so the
    output is the same whatever ``workers`` is, and ``start_batch=k`` gives exactly the
    batches an uninterrupted epoch gives from ``k``. An exception in a worker is raised in
    the consumer when it reaches that batch (the batches before it come first). ``close()``
    (also on exit of a ``with`` block, at the end of the epoch and on garbage collection)
    stops the threads."""

    def __init__(
        self,
        corpus: Corpus,
        sampler: Sampler,
        *,
        epoch: int,
        start_batch: int = 0,
        mirror: bool,
        workers: int,
        prefetch: int,
        pin_memory: bool = False,
    ) -> None:
        if workers < 0 or prefetch < 0:
            raise ValueError(f"workers and prefetch must be >= 0, got {workers} and {prefetch}")
        if sampler.corpus is not corpus:
            raise ValueError("the sampler was built over another corpus")
        plan = sampler.epoch_batches(epoch)
        if not 0 <= start_batch <= len(plan):
            raise ValueError(f"start_batch must be in 0..{len(plan)}, got {start_batch}")
        self.epoch = epoch
        self.workers = workers
        self._next = start_batch
        self._end = len(plan)
        self._produced = 0
        self._wait_s = 0.0
        pin = pin_memory and torch.cuda.is_available()
        self._state = _LoaderState(corpus, plan, start_batch, mirror, prefetch, pin)
        self._threads: list[threading.Thread] = []
        if workers and start_batch < self._end:
            for k in range(workers):
                t = threading.Thread(
                    target=_worker, args=(self._state,), name=f"exphil-loader-{k}", daemon=True
                )
                t.start()
                self._threads.append(t)
        self._finalizer = weakref.finalize(self, _shutdown, self._state, self._threads)

    def __len__(self) -> int:
        """Batches left to produce."""
        return max(0, self._end - self._next)

    def __iter__(self) -> BatchLoader:
        return self

    def __next__(self) -> Batch:
        i = self._next
        if i >= self._end:
            self.close()
            raise StopIteration
        state = self._state
        if not self.workers:
            if state.stopped:
                raise StopIteration
            batch = state.make(i)
        else:
            t0 = time.perf_counter()
            with state.cond:
                # batches before a failed one were claimed earlier: they still arrive
                while (
                    i not in state.results
                    and (state.error is None or state.error_index > i)
                    and not state.stopped
                ):
                    state.cond.wait()
                if i in state.results:
                    error = None
                    batch = state.results.pop(i)
                    state.in_flight -= 1
                    state.cond.notify_all()
                elif state.error is not None:
                    error = state.error
                else:
                    raise StopIteration
            self._wait_s += time.perf_counter() - t0
            if error is not None:
                self.close()
                raise error
        self._next = i + 1
        self._produced += 1
        return batch

    def close(self) -> None:
        """Stop the worker threads (the batches ready are dropped)."""
        self._finalizer()

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statistics(self) -> dict[str, Any]:
        """Batches produced, seconds spent assembling (all threads), seconds the consumer
        waited for a batch."""
        return {
            "batches": self._produced,
            "assemble_s": round(self._state.assemble_s, 6),
            "wait_s": round(self._wait_s, 6),
            "workers": self.workers,
        }
