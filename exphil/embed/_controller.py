"""Controller discretization: the policy's output space.

A controller is 8 buttons (``BUTTONS``: A B X Y Z L R D-up, each on/off), four stick axes
(main x/y, c-stick x/y) and the analog shoulder. The policy predicts one class per axis:

* axes: uniform buckets over [-1, 1] (``axis_buckets=16`` gives 17 classes at -1, -0.875, ...,
  0, ..., 1, so neutral and both extremes are representable), or k-means centers fitted on
  replay stick values (:func:`fit_stick_centers`, ``exphil kmeans``);
* shoulder: uniform buckets over [0, 1] (``shoulder_buckets=4`` gives 0, 0.25, ..., 1).

``encode`` maps any controller to the nearest representable class (ties go to the lower
class); ``decode`` maps classes back to values. Decoding a class then encoding it gives the
class back, and encoding a representable value then decoding it gives the value exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np

from exphil.game.controls import Controls
from exphil.game.frames import BUTTONS

__all__ = [
    "ControllerConfig",
    "DiscreteController",
    "AXES",
    "encode_controller",
    "decode_controller",
    "fit_stick_centers",
    "save_stick_centers",
    "load_stick_centers",
]

AXES: Final = ("main_x", "main_y", "c_x", "c_y")
Array = np.ndarray[Any, Any]


class ControllerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the policy's controller output is discretized (see the module docstring)."""

    axis_buckets: int = 16
    shoulder_buckets: int = 4
    #: k-means centers, for all four axes; a path (str) to a file ``exphil kmeans`` wrote is
    #: read at once and replaced by its centers (so a saved config holds the values)
    stick_centers: tuple[float, ...] | str | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.axis_buckets <= 254:
            raise ValueError(f"axis_buckets must be in 2..254, got {self.axis_buckets}")
        if not 1 <= self.shoulder_buckets <= 254:
            raise ValueError(f"shoulder_buckets must be in 1..254, got {self.shoulder_buckets}")
        c = self.stick_centers
        if isinstance(c, str):
            try:
                c = load_stick_centers(c)
            except ValueError as exc:
                raise ValueError(
                    f"stick_centers must be a file exphil kmeans wrote: {exc}"
                ) from None
            msgspec.structs.force_setattr(self, "stick_centers", c)
        if c is not None:
            arr = np.asarray(c, dtype=np.float64)
            if len(arr) < 2:
                raise ValueError("stick_centers needs at least 2 centers")
            if not np.isfinite(arr).all() or (np.abs(arr) > 1).any():
                raise ValueError("stick_centers must be finite values in [-1, 1]")
            if not (np.diff(arr) > 0).all():
                raise ValueError("stick_centers must be strictly increasing")

    @classmethod
    def from_centers_file(cls, path: str | Path, **kw: Any) -> ControllerConfig:
        """A config using the centers saved by ``exphil kmeans`` (or :func:`save_stick_centers`)."""
        return cls(stick_centers=str(path), **kw)

    @property
    def axis_values(self) -> Array:
        """The representable stick values, increasing (float32)."""
        if self.stick_centers is not None:
            return np.asarray(self.stick_centers, dtype=np.float32)
        return (np.arange(self.axis_buckets + 1) * (2.0 / self.axis_buckets) - 1.0).astype(
            np.float32
        )

    @property
    def shoulder_values(self) -> Array:
        return (np.arange(self.shoulder_buckets + 1) / self.shoulder_buckets).astype(np.float32)

    @property
    def axis_classes(self) -> int:
        return len(self.axis_values)

    @property
    def shoulder_classes(self) -> int:
        return self.shoulder_buckets + 1


@dataclass(frozen=True, slots=True)
class DiscreteController:
    """Classes for ``T`` controllers: ``buttons`` ``[T, 8]`` (0/1, ``BUTTONS`` order) and one
    class index per axis and the shoulder (``[T]`` int64)."""

    buttons: Array
    main_x: Array
    main_y: Array
    c_x: Array
    c_y: Array
    shoulder: Array


def _nearest(values: Array, x: Array, name: str) -> Array:
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"controller {name} must be finite (NaN or inf found)")
    mids = (values[:-1].astype(np.float64) + values[1:]) / 2
    xd = x.astype(np.float64)
    out: Array = np.searchsorted(mids, xd, side="left")
    # a value exactly between two classes goes to the one nearer neutral (searchsorted picks
    # the lower one): on the negative side that is the upper class, so encoding stays
    # symmetric (encode(-x) mirrors encode(x)); about 1.6% of real stick values are ties
    tie = (out < len(mids)) & (xd < 0)
    tie[tie] = mids[out[tie]] == xd[tie]
    out[tie] += 1
    return out


def encode_controller(controls: Any, config: ControllerConfig | None = None) -> DiscreteController:
    """Classes of ``controls`` (anything with ``main_x``..``shoulder`` and ``buttons``
    columns: ``PlayerFrames``, ``exphil.game.Controls``): the nearest representable value."""
    cfg = config or ControllerConfig()
    axes = cfg.axis_values
    b = np.asarray(controls.buttons, dtype=np.uint8)
    bits = ((b[:, None] >> np.arange(len(BUTTONS), dtype=np.uint8)) & 1).astype(np.uint8)
    return DiscreteController(
        buttons=bits,
        main_x=_nearest(axes, controls.main_x, "main_x"),
        main_y=_nearest(axes, controls.main_y, "main_y"),
        c_x=_nearest(axes, controls.c_x, "c_x"),
        c_y=_nearest(axes, controls.c_y, "c_y"),
        shoulder=_nearest(cfg.shoulder_values, controls.shoulder, "shoulder"),
    )


def decode_controller(
    classes: DiscreteController, config: ControllerConfig | None = None
) -> Controls:
    """The :class:`~exphil.game.Controls` for ``classes`` (``Frames``' conventions: sticks and
    shoulder float32, ``buttons`` a uint8 bitmask); fresh arrays."""
    cfg = config or ControllerConfig()
    axes, shoulder = cfg.axis_values, cfg.shoulder_values
    sticks: dict[str, Array] = {}
    for name in AXES:
        idx = np.asarray(getattr(classes, name))
        if idx.size and (idx.min() < 0 or idx.max() >= len(axes)):
            raise ValueError(f"{name} classes must be in 0..{len(axes) - 1}")
        sticks[name] = axes[idx]
    s = np.asarray(classes.shoulder)
    if s.size and (s.min() < 0 or s.max() >= len(shoulder)):
        raise ValueError(f"shoulder classes must be in 0..{len(shoulder) - 1}")
    bits = np.asarray(classes.buttons, dtype=np.uint8)
    if bits.ndim != 2 or bits.shape[1] != len(BUTTONS) or (bits > 1).any():
        raise ValueError(f"buttons must be [T, {len(BUTTONS)}] of 0/1")
    weights = (1 << np.arange(len(BUTTONS))).astype(np.uint8)
    return Controls(
        main_x=sticks["main_x"],
        main_y=sticks["main_y"],
        c_x=sticks["c_x"],
        c_y=sticks["c_y"],
        shoulder=shoulder[s],
        buttons=(bits * weights).sum(axis=1).astype(np.uint8),
    )


def fit_stick_centers(
    values: Array,
    k: int = 21,
    *,
    seed: int = 0,
    iterations: int = 100,
    include_neutral: bool = True,
    symmetric: bool = True,
) -> Array:
    """1-D k-means (k-means++ initialisation, Lloyd iterations) of stick values in [-1, 1].

    With ``include_neutral`` the center closest to 0 becomes exactly 0 (a neutral stick must
    be representable). With ``symmetric`` (the default) the values are fitted together with
    their mirror images and the centers made exactly symmetric (``-c`` is a center for every
    center ``c``), so a mirrored stick has a class and mirror augmentation is exact; with
    ``include_neutral`` that needs an odd ``k``. Returns ``k`` strictly increasing float32
    centers.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if symmetric and include_neutral and k % 2 == 0:
        raise ValueError(
            f"symmetric centers with an exact neutral need an odd k, got {k} (try {k + 1})"
        )
    if symmetric:
        x = np.concatenate([x, -x])
    uniq = np.unique(x)
    if len(uniq) < k:
        raise ValueError(f"need at least {k} distinct stick values, got {len(uniq)}")
    rng = np.random.default_rng(seed)
    centers = [float(x[rng.integers(len(x))])]
    d2 = (x - centers[0]) ** 2
    for _ in range(1, k):
        total = d2.sum()
        pick = rng.random() * total
        i = min(int(np.searchsorted(np.cumsum(d2), pick)), len(x) - 1)
        centers.append(float(x[i]))
        d2 = np.minimum(d2, (x - centers[-1]) ** 2)
    c = np.unique(np.array(centers))
    while len(c) < k:  # duplicates: fill with unused distinct values
        extra = np.setdiff1d(uniq, c)
        c = np.unique(np.concatenate([c, extra[rng.choice(len(extra), k - len(c), replace=False)]]))
    xs = np.sort(x)
    prefix = np.concatenate([[0.0], np.cumsum(xs)])
    for _ in range(iterations):
        mids = (c[:-1] + c[1:]) / 2
        bounds = np.concatenate([[0], np.searchsorted(xs, mids), [len(xs)]])
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        counts = np.diff(bounds)
        new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        new = np.sort(new)
        if np.allclose(new, c, atol=1e-9):
            c = new
            break
        c = new
    if symmetric:  # the fit on mirrored data is nearly symmetric: make it exactly so
        c = (c - c[::-1]) / 2
    if include_neutral:
        c[np.argmin(np.abs(c))] = 0.0
        c = np.sort(c)
    c = np.clip(c, -1.0, 1.0)
    out = np.unique(c.astype(np.float32))
    if len(out) < k:
        raise ValueError(f"k-means collapsed to {len(out)} distinct centers; try a smaller k")
    return out


def load_stick_centers(path: str | Path) -> tuple[float, ...]:
    """The centers of a file ``exphil kmeans`` (:func:`save_stick_centers`) wrote. Raises
    ``ValueError`` naming the file and what is wrong with it."""
    p = Path(path).expanduser()
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        centers = tuple(float(v) for v in data["centers"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a stick-centers file ({type(exc).__name__}: {exc})"
        ) from None
    return centers


def save_stick_centers(path: str | Path, centers: Array, **meta: Any) -> None:
    """Write centers as JSON (atomically), with any provenance fields in ``meta``."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    data = {"centers": [float(v) for v in centers], "k": len(centers), **meta}
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(p)
