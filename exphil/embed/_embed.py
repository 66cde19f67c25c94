"""``Frames`` -> model inputs (numpy only, so game workers need no torch)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np

from exphil.embed import _tables as tb
from exphil.embed._config import EmbedConfig
from exphil.game.frames import BUTTONS, Frames, PlayerFrames
from exphil.game.ids import NUM_INTERNAL_CHARACTERS

__all__ = [
    "ControllerColumns",
    "IdSpec",
    "Embedded",
    "embed",
    "embed_games",
    "describe",
    "id_specs",
    "embed_dim",
    "dimension_table",
]

Array = np.ndarray[Any, Any]

XY_SCALE: Final = 0.05
"""Positions and distances (x, y, dx, dy, ledge distance) are in Melee units times this."""
PERCENT_SCALE: Final = 0.01
SHIELD_SCALE: Final = 0.01
SPEED_SCALE: Final = 0.5
HITSTUN_SCALE: Final = 0.01
HITLAG_SCALE: Final = 0.05
ACTION_FRAME_SCALE: Final = 1.0 / 60.0
STOCKS_SCALE: Final = 0.25
GAME_FRAMES: Final = 28800.0  # 8 minutes
POS_CLIP: Final = 20.0  # 400 units, past every blast zone
SPEED_CLIP: Final = 10.0

_VELOCITIES: Final = ("vx_air", "vy_self", "vx_knockback", "vy_knockback", "vx_ground")
_STICKS: Final = ("main_x", "main_y", "c_x", "c_y")
_BUTTON_SHIFTS: Final = np.arange(len(BUTTONS), dtype=np.uint8)
_DEFAULT: Final = EmbedConfig()


class ControllerColumns(Protocol):
    """A controller as ``[N]`` columns (``Frames``' conventions: sticks in [-1, 1], shoulder
    in [0, 1], ``buttons`` a uint8 bitmask in ``BUTTONS`` order). ``PlayerFrames`` and
    ``exphil.game.Controls`` both are."""

    @property
    def main_x(self) -> Array: ...
    @property
    def main_y(self) -> Array: ...
    @property
    def c_x(self) -> Array: ...
    @property
    def c_y(self) -> Array: ...
    @property
    def shoulder(self) -> Array: ...
    @property
    def buttons(self) -> Array: ...


@dataclass(frozen=True, slots=True)
class IdSpec:
    """One integer column of ``Embedded.ids``: its ``name`` (``"self.action"``), the learned
    ``table`` it indexes (columns with the same table share one embedding table: both
    players' actions index ``"action"``), and the table's ``size`` (ids are in
    ``[0, size)``)."""

    name: str
    table: str
    size: int


@dataclass(frozen=True, slots=True, eq=False)
class Embedded:
    """The embedding of ``T`` rows: ``dense`` float32 ``[T, D]`` (layout: :func:`describe`)
    and ``ids`` int64 ``[T, K]`` for the learned tables, column ``k`` described by
    ``id_specs[k]`` (``K = 0`` when no mode is learned)."""

    dense: Array
    ids: Array
    id_specs: tuple[IdSpec, ...]

    def __len__(self) -> int:
        return int(self.dense.shape[0])

    @property
    def id_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.id_specs)

    @property
    def tables(self) -> dict[str, int]:
        """Learned table name -> size, in first-use order."""
        return {s.table: s.size for s in self.id_specs}

    def id(self, name: str) -> Array:
        """The id column called ``name`` (``"opp.action"``...)."""
        for k, spec in enumerate(self.id_specs):
            if spec.name == name:
                col: Array = self.ids[:, k]
                return col
        raise KeyError(f"no id column {name!r}; the columns are {list(self.id_names)}")


# --- building blocks -----------------------------------------------------------------------
class _Parts:
    """Named dense blocks and id columns, in layout order.

    Scalar columns (:meth:`add`) are gathered and scaled, clipped and masked together when
    a block of another kind comes or the mask changes (one numpy call each instead of one
    per column: a single live frame costs little more than its Python overhead). While
    ``mask`` is set (an absent Nana), dense values are zeroed and ids are set to their
    table's "none".
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.layout: list[tuple[str, int]] = []
        self.blocks: list[Array] = []
        self.ids: list[tuple[IdSpec, Array]] = []
        self._mask: Array | None = None
        self._cols: list[Array] = []
        self._scale: list[float] = []
        self._lo: list[float] = []
        self._hi: list[float] = []

    @property
    def mask(self) -> Array | None:
        return self._mask

    @mask.setter
    def mask(self, value: Array | None) -> None:
        self.flush()
        self._mask = value

    def add(
        self,
        name: str,
        values: Array,
        scale: float = 1.0,
        lo: float = -np.inf,
        hi: float = np.inf,
    ) -> None:
        """One column: ``clip(values * scale, lo, hi)``."""
        self.layout.append((name, 1))
        self._cols.append(values)
        self._scale.append(scale)
        self._lo.append(lo)
        self._hi.append(hi)

    def flush(self) -> None:
        if not self._cols:
            return
        # built transposed ([columns, T], each column contiguous), handed over as a view
        out = np.empty((len(self._cols), self.n), dtype=np.float32)
        for j, col in enumerate(self._cols):
            out[j] = col
        out *= np.asarray(self._scale, dtype=np.float32)[:, None]
        lo = np.asarray(self._lo, dtype=np.float32)[:, None]
        hi = np.asarray(self._hi, dtype=np.float32)[:, None]
        np.clip(out, lo, hi, out=out)
        if self._mask is not None:
            out = np.where(self._mask[None, :], out, np.float32(0))
        self.blocks.append(out.T)
        self._cols, self._scale, self._lo, self._hi = [], [], [], []

    def block(self, name: str, values: Array) -> None:
        """A ready ``[T, w]`` float32 block (already masked)."""
        self.flush()
        self.layout.append((name, int(values.shape[1])))
        self.blocks.append(values)

    def one_hot(self, name: str, index: Array, width: int) -> None:
        out = np.zeros((self.n, width), dtype=np.float32)
        rows = np.arange(self.n)
        idx = np.asarray(index, dtype=np.int64)
        if self._mask is not None:
            rows, idx = rows[self._mask], idx[self._mask]
        out[rows, idx] = 1.0
        self.block(name, out)

    def add_id(self, name: str, table: str, size: int, ids: Array, none: int) -> None:
        col = np.asarray(ids, dtype=np.int64)
        if self._mask is not None:
            col = np.where(self._mask, col, none)
        self.ids.append((IdSpec(name, table, size), col))


def _bad_rows(what: str, bad: Array, expected: str, values: Array) -> ValueError:
    """``bad`` and ``values``: ``[T]`` or ``[T, slots]``."""
    rows = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))
    first = int(rows[0])
    value = values.reshape(len(values), -1)[first][bad.reshape(len(bad), -1)[first]][0]
    return ValueError(
        f"{what} must be {expected}: {len(rows)} bad rows, the first at row {first} (value {value})"
    )


def _player(
    parts: _Parts, p: PlayerFrames, cfg: EmbedConfig, tag: str, source: str, edge: Array
) -> None:
    """One player's block (a leader, or Nana in ``"full"`` mode under ``parts.mask``)."""
    parts.add(f"{tag}.percent", p.percent, PERCENT_SCALE, 0.0, 10.0)
    parts.add(f"{tag}.facing", p.facing, 1.0, -1.0, 1.0)
    parts.add(f"{tag}.x", p.x, XY_SCALE, -POS_CLIP, POS_CLIP)
    parts.add(f"{tag}.y", p.y, XY_SCALE, -POS_CLIP, POS_CLIP)
    if cfg.speeds:
        for col in _VELOCITIES:
            parts.add(f"{tag}.{col}", getattr(p, col), SPEED_SCALE, -SPEED_CLIP, SPEED_CLIP)
    parts.add(f"{tag}.shield", p.shield, SHIELD_SCALE, 0.0, 1.0)
    parts.one_hot(f"{tag}.jumps_left", np.minimum(p.jumps_left, 6), 7)
    parts.add(f"{tag}.on_ground", p.on_ground)
    parts.add(f"{tag}.invulnerable", p.invulnerable)
    if cfg.frame_info:
        parts.add(f"{tag}.hitstun", p.hitstun, HITSTUN_SCALE, 0.0, 2.0)
        parts.add(f"{tag}.hitlag", p.hitlag, HITLAG_SCALE, 0.0, 2.0)
        parts.add(f"{tag}.action_frame", p.action_frame, ACTION_FRAME_SCALE, -1.0, 4.0)
    if cfg.stocks == "scaled":
        parts.add(f"{tag}.stocks", p.stocks, STOCKS_SCALE, 0.0, 2.5)
    else:
        parts.one_hot(f"{tag}.stocks", np.minimum(p.stocks, 4), 5)
    if cfg.ledge_distance:
        ledge = np.where(edge > 0, edge - np.abs(p.x), np.float32(0))
        parts.add(f"{tag}.ledge_distance", ledge, XY_SCALE, -POS_CLIP, POS_CLIP)
    _action(parts, p, cfg, tag)
    chars = p.character.astype(np.int64)
    bad = chars >= NUM_INTERNAL_CHARACTERS
    if parts.mask is not None:
        bad &= parts.mask
    if bad.any():
        raise _bad_rows(
            f"{source}.character", bad, f"an internal id 0..{NUM_INTERNAL_CHARACTERS - 1}", chars
        )
    if cfg.character == "one_hot":
        parts.one_hot(f"{tag}.character", chars, NUM_INTERNAL_CHARACTERS)
    else:
        parts.add_id(f"{tag}.character", "character", tb.CHARACTER_TABLE, chars, tb.CHARACTER_NONE)


def _action(parts: _Parts, p: PlayerFrames, cfg: EmbedConfig, tag: str) -> None:
    action = np.minimum(p.action.astype(np.int64), tb.ACTION_OTHER)
    if cfg.action == "one_hot":
        parts.one_hot(f"{tag}.action", action, tb.ACTION_ONE_HOT)
    else:
        parts.add_id(f"{tag}.action", "action", tb.ACTION_TABLE, action, tb.ACTION_NONE)


def _nana_compact(parts: _Parts, p: PlayerFrames, cfg: EmbedConfig, tag: str) -> None:
    parts.add(f"{tag}.exists", np.ones(parts.n, dtype=np.float32))
    parts.add(f"{tag}.percent", p.percent, PERCENT_SCALE, 0.0, 10.0)
    parts.add(f"{tag}.facing", p.facing, 1.0, -1.0, 1.0)
    parts.add(f"{tag}.x", p.x, XY_SCALE, -POS_CLIP, POS_CLIP)
    parts.add(f"{tag}.y", p.y, XY_SCALE, -POS_CLIP, POS_CLIP)
    parts.add(f"{tag}.shield", p.shield, SHIELD_SCALE, 0.0, 1.0)
    parts.add(f"{tag}.on_ground", p.on_ground)
    parts.add(f"{tag}.invulnerable", p.invulnerable)
    parts.add(f"{tag}.hitstun", p.hitstun, HITSTUN_SCALE, 0.0, 2.0)
    parts.add(f"{tag}.hitlag", p.hitlag, HITLAG_SCALE, 0.0, 2.0)
    parts.add(f"{tag}.action_frame", p.action_frame, ACTION_FRAME_SCALE, -1.0, 4.0)
    if cfg.action == "learned":
        _action(parts, p, cfg, tag)


def _projectiles(
    parts: _Parts, frames: Frames, cfg: EmbedConfig, port: int, me: PlayerFrames
) -> None:
    """The ``cfg.projectiles`` items nearest the agent (ties in slot order), one block per
    slot: exists, own (the agent's), dx, dy (item minus agent), vx, vy, type."""
    n, k = parts.n, cfg.projectiles
    it = frames.items
    ex = it.exists
    dx = it.x.astype(np.float64) - me.x.astype(np.float64)[:, None]
    dy = it.y.astype(np.float64) - me.y.astype(np.float64)[:, None]
    if ex.any():
        d2 = np.where(ex, dx * dx + dy * dy, np.inf)
        order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    else:  # the common case: no item anywhere
        order = np.broadcast_to(np.arange(k), (n, k))
    rows = np.arange(n)[:, None]

    def pick(a: Array) -> Array:
        out: Array = a[rows, order]
        return out

    ex_k = pick(ex)
    z = np.float32(0)
    cols = [
        ex_k.astype(np.float32),
        (pick(it.owner) == port).astype(np.float32),
        np.clip(pick(dx) * XY_SCALE, -POS_CLIP, POS_CLIP),
        np.clip(pick(dy) * XY_SCALE, -POS_CLIP, POS_CLIP),
        np.clip(pick(it.vx) * SPEED_SCALE, -SPEED_CLIP, SPEED_CLIP),
        np.clip(pick(it.vy) * SPEED_SCALE, -SPEED_CLIP, SPEED_CLIP),
    ]
    types = pick(it.type).astype(np.int64)
    if cfg.projectile_type == "scaled":
        cols.append(np.minimum(types, 255) / 256.0)
    feats = np.where(ex_k[:, :, None], np.stack(cols, axis=2), z).astype(np.float32)
    if cfg.projectile_type == "bucket":
        buckets = np.zeros((n, k, len(tb.ITEM_BUCKETS)), dtype=np.float32)
        idx = tb.ITEM_BUCKET_INDEX[np.minimum(types, 255)]
        np.put_along_axis(buckets, idx[:, :, None], 1.0, axis=2)
        buckets *= ex_k[:, :, None]
        feats = np.concatenate([feats, buckets], axis=2)
    for j in range(k):
        parts.block(f"proj[{j}]", feats[:, j, :])
    if cfg.projectile_type == "learned":
        ids = np.where(types >= tb.ITEM_TYPE_OTHER, tb.ITEM_TYPE_OTHER, types)
        ids = np.where(ex_k, ids, tb.ITEM_TYPE_NONE)
        for j in range(k):
            spec = IdSpec(f"proj[{j}].type", "item_type", tb.ITEM_TYPE_TABLE)
            parts.ids.append((spec, ids[:, j]))


def _controller(parts: _Parts, prev: ControllerColumns) -> None:
    buttons = np.asarray(prev.buttons, dtype=np.uint8)
    bits = ((buttons[:, None] >> _BUTTON_SHIFTS[None, :]) & 1).astype(np.float32)
    parts.block("prev.buttons", bits)
    for col in _STICKS:
        parts.add(f"prev.{col}", getattr(prev, col), 1.0, -1.0, 1.0)
    parts.add("prev.shoulder", prev.shoulder, 1.0, 0.0, 1.0)


@dataclass(frozen=True, slots=True, eq=False)
class _Shifted:
    """Row ``t - 1``'s controller for every row ``t`` of one game (zeros on row 0)."""

    main_x: Array
    main_y: Array
    c_x: Array
    c_y: Array
    shoulder: Array
    buttons: Array

    @classmethod
    def of(cls, p: PlayerFrames) -> _Shifted:
        def shift(a: Array) -> Array:
            out = np.zeros_like(a)
            out[1:] = a[:-1]
            return out

        return cls(*(shift(getattr(p, c)) for c in (*_STICKS, "shoulder", "buttons")))

    @classmethod
    def zeros(cls, n: int) -> _Shifted:
        z = np.zeros(n, dtype=np.float32)
        return cls(z, z, z, z, z, np.zeros(n, dtype=np.uint8))


# --- checks --------------------------------------------------------------------------------
def _check_finite(columns: list[tuple[str, Array]]) -> None:
    """One vectorized test over every column; the per-column search runs only on failure."""
    if not columns:
        return
    if np.isfinite(np.concatenate([a.ravel() for _, a in columns])).all():
        return
    for name, values in columns:
        ok = np.isfinite(values)
        if not ok.all():
            raise _bad_rows(name, ~ok, "finite", values)


def _check_inputs(
    frames: Frames, cfg: EmbedConfig, port: int, prev: ControllerColumns | None
) -> None:
    cols = ["x", "y", "percent", "shield"]
    if cfg.speeds:
        cols += _VELOCITIES
    if cfg.frame_info:
        cols += ["hitstun", "hitlag", "action_frame"]
    check: list[tuple[str, Array]] = []
    for i in range(2):
        check += [(f"players[{i}].{c}", getattr(frames.players[i], c)) for c in cols]
    if cfg.nana != "off":
        nana_cols = cols if cfg.nana == "full" else [*cols[:4], "hitstun", "hitlag", "action_frame"]
        for i in range(2):
            nana = frames.nana[i]  # absent rows may hold anything: they are zeroed
            if nana.exists.any():
                check += [
                    (f"nana[{i}].{c}", np.where(nana.exists, getattr(nana, c), 0))
                    for c in nana_cols
                ]
    if cfg.projectiles:
        it = frames.items  # empty slots may hold anything: they are zeroed
        if it.exists.any():
            check += [
                (f"items.{c}", np.where(it.exists, getattr(it, c), 0))
                for c in ("x", "y", "vx", "vy")
            ]
    if cfg.controller:
        if prev is None:
            me = frames.players[port]
            check += [(f"players[{port}].{c}", getattr(me, c)) for c in (*_STICKS, "shoulder")]
        else:
            for c in (*_STICKS, "shoulder", "buttons"):
                arr = np.asarray(getattr(prev, c))
                if arr.shape != (len(frames),):
                    raise ValueError(
                        f"prev_controller.{c} must have shape ({len(frames)},) (one row per "
                        f"row of frames), got {arr.shape}"
                    )
                if c != "buttons":
                    check.append((f"prev_controller.{c}", arr))
    _check_finite(check)
    stage = frames.stage.astype(np.int64)
    if cfg.stage in ("one_hot", "learned"):
        bad = stage >= tb.NUM_STAGE_IDS
        if bad.any():
            raise _bad_rows("stage", bad, f"an external stage id below {tb.NUM_STAGE_IDS}", stage)


# --- the embedding -------------------------------------------------------------------------
def _build(frames: Frames, cfg: EmbedConfig, port: int, prev: ControllerColumns | None) -> _Parts:
    if port not in (0, 1):
        raise ValueError(f"port must be 0 or 1 (the agent's index in Frames.players), got {port}")
    _check_inputs(frames, cfg, port, prev)
    n = len(frames)
    parts = _Parts(n)
    opp = 1 - port
    me, them = frames.players[port], frames.players[opp]
    stage = frames.stage.astype(np.int64)
    edge = tb.STAGE_EDGE[stage]

    _player(parts, me, cfg, "self", f"players[{port}]", edge)
    _player(parts, them, cfg, "opp", f"players[{opp}]", edge)
    if cfg.nana != "off":
        for tag, i in (("self_nana", port), ("opp_nana", opp)):
            nana = frames.nana[i]
            parts.mask = nana.exists
            if cfg.nana == "full":
                parts.add(f"{tag}.exists", np.ones(n, dtype=np.float32))
                _player(parts, nana, cfg, tag, f"nana[{i}]", edge)
            else:
                _nana_compact(parts, nana, cfg, tag)
            parts.mask = None

    if cfg.stage == "one_hot":
        parts.one_hot("stage", stage, tb.NUM_STAGE_IDS)
    elif cfg.stage == "compact":
        parts.one_hot("stage", tb.STAGE_COMPACT_INDEX[stage], len(tb.COMPACT_STAGES) + 1)
    else:
        parts.add_id("stage", "stage", tb.NUM_STAGE_IDS, stage, 0)

    if cfg.projectiles:
        _projectiles(parts, frames, cfg, port, me)

    if cfg.spatial:
        dx = (them.x.astype(np.float64) - me.x) * XY_SCALE
        dy = (them.y.astype(np.float64) - me.y) * XY_SCALE
        parts.add("spatial.distance", np.hypot(dx, dy), 1.0, 0.0, 30.0)
        parts.add("spatial.dx", dx, 1.0, -POS_CLIP, POS_CLIP)
        parts.add("spatial.dy", dy, 1.0, -POS_CLIP, POS_CLIP)
        parts.add("spatial.time", frames.frame, 1.0 / GAME_FRAMES, 0.0, 2.0)

    if cfg.controller:
        _controller(parts, prev if prev is not None else _Shifted.of(me))
    return parts


def _finish(parts: _Parts) -> Embedded:
    n = parts.n
    parts.flush()
    if parts.blocks:
        dense = np.concatenate(parts.blocks, axis=1, dtype=np.float32)
    else:
        dense = np.zeros((n, 0), dtype=np.float32)
    if parts.ids:
        ids = np.stack([c for _, c in parts.ids], axis=1).astype(np.int64, copy=False)
    else:
        ids = np.zeros((n, 0), dtype=np.int64)
    return Embedded(dense, ids, tuple(s for s, _ in parts.ids))


def embed(
    frames: Frames,
    config: EmbedConfig | None = None,
    port: int = 0,
    *,
    prev_controller: ControllerColumns | None = None,
) -> Embedded:
    """Embed the rows of one game as seen by the player at ``port`` (0 or 1).

    **Ego-centric**: the agent's player (``frames.players[port]``, and its Nana) comes first,
    the opponent second, whatever their ports; items are "own" when the agent owns them.
    x coordinates are **not** mirrored: a port-1 agent on the right side of the stage sees
    positive x, as it is.

    The rows are one game's frames in order (a whole game for training, or a single live
    frame, ``T = 1``). With ``config.controller`` the block ``prev.*`` is the agent's
    controller of the previous row (zeros on row 0); ``prev_controller`` (``[T]`` columns,
    see :class:`ControllerColumns`) overrides it, giving each row's previous controller
    explicitly (a live frame: the controller the agent sent before it).

    Vectorized over rows; never emits NaN: non-finite inputs raise ``ValueError`` naming the
    column, as do character ids that are not internal ids and (one-hot or learned stage)
    stage ids above 63. Action ids ``>= NUM_ACTIONS`` map to one "other" class.
    """
    return _finish(_build(frames, config or _DEFAULT, port, prev_controller))


def embed_games(
    frames: Frames,
    config: EmbedConfig | None = None,
    port: int = 0,
    prev_controller: ControllerColumns | None = None,
) -> Embedded:
    """Embed a batch of games, one row each (the mock environment's per-step ``Frames``).

    The same as :func:`embed` except that rows are different games, so no row's previous
    controller comes from another: ``prev_controller`` gives each game's (``[N]`` columns),
    and ``None`` means zeros (every game on its first frame).
    """
    cfg = config or _DEFAULT
    if prev_controller is None:
        prev_controller = _Shifted.zeros(len(frames))
    return _finish(_build(frames, cfg, port, prev_controller))


# --- layout ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _layout(cfg: EmbedConfig) -> tuple[tuple[tuple[str, int], ...], tuple[IdSpec, ...]]:
    """Built by embedding zero rows, so the layout is the embedding's own."""
    parts = _build(Frames.zeros(0), cfg, 0, None)
    parts.flush()
    dense = tuple(parts.layout)
    return dense, tuple(s for s, _ in parts.ids)


def describe(config: EmbedConfig | None = None) -> list[tuple[str, int]]:
    """The dense layout: ``(component, width)`` in column order; widths sum to
    :func:`embed_dim`."""
    return list(_layout(config or _DEFAULT)[0])


def id_specs(config: EmbedConfig | None = None) -> tuple[IdSpec, ...]:
    """The id columns (``Embedded.ids``) the config produces, in order."""
    return _layout(config or _DEFAULT)[1]


def embed_dim(config: EmbedConfig | None = None) -> int:
    """``D``, the width of ``Embedded.dense``."""
    return sum(w for _, w in describe(config))


def dimension_table(config: EmbedConfig | None = None) -> str:
    """A printable table of each dense component's offset and width, the total, and the id
    columns with their tables' sizes."""
    rows = describe(config)
    name_w = max([len("component"), *(len(n) for n, _ in rows)])
    lines = [f"{'component':<{name_w}}  {'offset':>6}  {'width':>5}"]
    offset = 0
    for name, width in rows:
        lines.append(f"{name:<{name_w}}  {offset:>6}  {width:>5}")
        offset += width
    lines.append(f"{'total':<{name_w}}  {'':>6}  {offset:>5}")
    specs = id_specs(config)
    lines.append(f"id columns: {len(specs)}")
    for spec in specs:
        lines.append(f"  {spec.name:<{name_w}}  table {spec.table} ({spec.size})")
    return "\n".join(lines)
