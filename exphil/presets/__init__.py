"""Config presets shipped with the package (package data, so a non-editable install finds
them): one folder per command family (``train-bc/``, later ``selfplay/``), one YAML file per
preset (``train-bc/quick.yaml``). A preset has the shape of its family's root config Struct
and may start from another of the same family with ``extends: OTHER``.

Read them through :func:`preset_folder` (an ``importlib.resources`` Traversable: a folder on
disk for an ordinary install, a zip member otherwise); the config layering in
``exphil.train`` (``load_preset(family, name)``, ``list_presets(family)``) merges them.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Final

__all__ = ["PRESET_NAME", "families", "preset_folder", "preset_names"]

#: a preset's (and a family's) name: what may precede ``.yaml``
PRESET_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def families() -> list[str]:
    """The preset families shipped (``["train-bc", ...]``), sorted."""
    root = files(__name__)
    return sorted(p.name for p in root.iterdir() if p.is_dir() and PRESET_NAME.fullmatch(p.name))


def preset_folder(family: str, *, must_exist: bool = True) -> Traversable:
    """The shipped folder of ``family``'s presets. Raises ``ValueError`` (listing the
    families) for a family without presets, unless ``must_exist`` is False (then the folder
    may be absent: :func:`preset_names` finds none in it)."""
    if not isinstance(family, str) or not PRESET_NAME.fullmatch(family):
        raise ValueError(f"family: expected a preset family name, got {family!r}")
    folder = files(__name__) / family
    if must_exist and not folder.is_dir():
        raise ValueError(
            f"family: no presets for {family!r}; families: {', '.join(families()) or 'none'}"
        )
    return folder


def preset_names(folder: Traversable) -> list[str]:
    """The preset names in ``folder`` (``NAME`` of each ``NAME.yaml``), sorted; [] when
    ``folder`` is not a folder."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name.removesuffix(".yaml")
        for p in folder.iterdir()
        if p.name.endswith(".yaml") and PRESET_NAME.fullmatch(p.name.removesuffix(".yaml"))
    )
