"""Config layering for any root config Struct (``TrainConfig`` for ``exphil train-bc``, PPO's
root for self-play): presets, a config file, the environment and flags become one checked
config, with error messages that say which field, which layer and what is wrong.

A :class:`ConfigFamily` says what is layered: the root Struct, the preset family
(``exphil/presets/FAMILY/``), the environment variables and the family's cross-field rules.
Layers, later wins::

    defaults < preset < --config FILE < environment < command-line flags < --set PATH=VALUE

* **preset** (``--preset NAME``, else ``preset: NAME`` at the top of the ``--config`` file,
  else the family's ``preset_env`` variable, ``$EXPHIL_DEFAULT_PRESET`` for train-bc):
  ``exphil/presets/FAMILY/NAME.yaml`` (package data, see :mod:`exphil.presets`). A preset
  may start from another with ``extends: OTHER`` (chains are followed base first; cycles
  are an error).
* **--config FILE**: a YAML file of the same shape as the config (``optim: {lr: 1e-4}``),
  optionally with ``preset: NAME`` at the top.
* **environment**: the family's ``env`` pairs (variable -> field; an integer field reads
  the value as an integer) and ``env_fallbacks`` (variable -> list field, filled with
  ``[value]`` only when no layer gives a non-empty list).
* **command-line flags** (``cli``): a mapping of dotted field path to ``(value, flag)``,
  holding only the flags the user typed, e.g. ``{"optim.lr": (1e-4, "--lr")}``.
* **--set** (``sets``): ``"optim.lr=1e-4"`` strings; the value is read as YAML
  (``--set data.character=[fox,falco]``).

Mappings merge key by key (also inside mapping fields such as ``optim.loss_weights``);
lists and every other value replace. YAML is read with the YAML 1.2 core schema: ``1e-4`` is
a float (PyYAML's YAML 1.1 default makes it a string), only ``true``/``false`` are booleans
(``bf16: off`` is the string ``"off"``), and dates stay strings.

After the merge, ``msgspec.convert`` checks every type and each Struct's ``__post_init__``
its ranges; then the family's ``rules(config, context)`` tie fields together: a rule reads
which layer set a field (:class:`RuleContext`), may force a value (recorded in the
sources) and raises :class:`ConfigError` naming the fields and their layers. train-bc's
rules (the MLP's window of one frame, ``burnin < window``, ``delay_spread <= delay``) are in
``exphil.train._config``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import io
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Final, Generic, TypeVar

import msgspec
import yaml

import exphil
from exphil.errors import UserError
from exphil.presets import PRESET_NAME, preset_folder, preset_names

__all__ = [
    "ConfigError",
    "ConfigFamily",
    "RuleContext",
    "Resolved",
    "LEVEL_DEFAULTS",
    "LEVEL_PRESET",
    "LEVEL_FILE",
    "LEVEL_ENV",
    "LEVEL_COMMAND_LINE",
    "list_presets",
    "load_preset",
    "resolve_config",
    "config_family",
    "config_differences",
    "to_yaml",
    "from_yaml_text",
    "from_builtins",
]

C = TypeVar("C", bound=msgspec.Struct)

#: the package's parent folder: preset paths are shown relative to it
_PACKAGE_PARENT: Final = Path(exphil.__file__).resolve().parent.parent

_PRESET_NAME: Final = PRESET_NAME

# layer levels, low to high; the command line (flags and --set) is one level
LEVEL_DEFAULTS: Final = 0
LEVEL_PRESET: Final = 1
LEVEL_FILE: Final = 2
LEVEL_ENV: Final = 3
LEVEL_COMMAND_LINE: Final = 4
_DEFAULTS: Final = LEVEL_DEFAULTS
_PRESET: Final = LEVEL_PRESET
_FILE: Final = LEVEL_FILE
_ENV: Final = LEVEL_ENV
_COMMAND_LINE: Final = LEVEL_COMMAND_LINE


class ConfigError(UserError, ValueError):
    """A config that cannot be resolved. The message names the dotted field path, the layer
    that set the value (``command line --lr``, ``--config run.yaml``, ...) and what is wrong,
    with a suggestion where one is known. ``path`` and ``layer`` hold the first two (``layer``
    is None where no single layer is to blame)."""

    def __init__(self, message: str, *, path: str = "", layer: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.layer = layer


@dataclasses.dataclass(frozen=True)
class Resolved(Generic[C]):
    """What :func:`resolve_config` found.

    ``sources``: dotted field path -> the layer that set it (``"command line --lr"``,
    ``"preset quick (exphil/presets/train-bc/quick.yaml)"``, ...) for every field some layer
    set or a rule changed; fields absent from it hold their defaults. ``preset``: the preset
    named (by ``--preset``, the config file or the family's ``preset_env``), None without
    one."""

    config: C
    sources: dict[str, str]
    preset: str | None


class RuleContext:
    """What a family's ``rules`` see besides the converted config: which layer set each
    field, the command-line flags, and a way to record a forced value's note."""

    def __init__(
        self, merger: _Merger, cli: Mapping[str, tuple[Any, str]], forced: dict[str, str]
    ) -> None:
        self._merger = merger
        self.cli = cli
        self._forced = forced

    def origin(self, path: str) -> str:
        """The description of the layer that set ``path`` (``"command line --window"``),
        a forced value's note, or ``"defaults"``."""
        return _origin(path, self._merger, self._forced)

    def level(self, path: str) -> int:
        """The level (``LEVEL_DEFAULTS`` .. ``LEVEL_COMMAND_LINE``) of the layer that set
        ``path``."""
        layer = self._merger.layer_of(path)
        return LEVEL_DEFAULTS if layer is None else layer.level

    def is_set(self, path: str) -> bool:
        """Whether some layer (not the defaults) set ``path``."""
        return self._merger.layer_of(path) is not None

    def drop_hint(self, path: str) -> str:
        """How to take ``path``'s value out of the layer that set it (``"drop --window"``,
        ``"unset EXPHIL_X"``, ``"remove data.window from preset lstm"``)."""
        layer = self._merger.layer_of(path)
        return f"leave {path} at its default" if layer is None else layer.drop_hint(path)

    def flag(self, path: str, default: str) -> str:
        """The command-line flag that set ``path``, else ``default`` (for hints)."""
        entry = self.cli.get(path)
        return entry[1] if isinstance(entry, tuple) else default

    def force(self, path: str, note: str) -> None:
        """Record that a rule forced ``path``'s value (``note`` becomes its source)."""
        self._forced[path] = note


@dataclasses.dataclass(frozen=True)
class ConfigFamily(Generic[C]):
    """What :func:`resolve_config` layers: ``root`` (a msgspec Struct whose fields all have
    defaults), its presets (``exphil/presets/NAME/``), the environment and its rules.

    * ``env``: ``(variable, dotted field path)`` pairs; a non-empty variable sets the field
      (an integer field reads it as an integer, with a clear error).
    * ``env_fallbacks``: ``(variable, dotted list field)`` pairs; the field becomes
      ``[value]`` only when no layer gives a non-empty list (``EXPHIL_REPLAYS_DIR``).
    * ``preset_env``: the variable naming the default preset (None: none).
    * ``rules``: ``rules(config, context) -> config``, the cross-field checks after the
      types and ranges (see :class:`RuleContext`); None for none.
    * ``env_help``: variable -> what it sets, for documentation.
    """

    name: str
    root: type[C]
    env: tuple[tuple[str, str], ...] = ()
    env_fallbacks: tuple[tuple[str, str], ...] = ()
    preset_env: str | None = "EXPHIL_DEFAULT_PRESET"
    rules: Callable[[C, RuleContext], C] | None = None
    env_help: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.root, type) and issubclass(self.root, msgspec.Struct)):
            raise TypeError(f"ConfigFamily.root must be a msgspec Struct class, got {self.root!r}")
        if not _PRESET_NAME.fullmatch(self.name):
            raise ValueError(f"ConfigFamily.name must be a preset family name, got {self.name!r}")
        paths = dict(_walk_paths(self.root))
        for var, path in (*self.env, *self.env_fallbacks):
            if paths.get(path) is not False:
                raise ValueError(
                    f"ConfigFamily.env: {var} names {path!r}, not a field of {self.root.__name__}"
                )
        _FAMILIES[self.name] = self


# ---------------------------------------------------------------------------------------
# YAML: the 1.2 core schema for reading, quoting that survives both schemas for writing


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars: ``1e-4`` is a float, only
    ``true``/``false`` are booleans, decimal integers only (``010`` is 10), no timestamps;
    a key given twice in one mapping is an error."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return int(str(loader.construct_scalar(node)), 10)


_CORE_RESOLVERS: Final = (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?[0-9]+(?:_[0-9]+)*$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
)
for _tag, _regexp, _first in _CORE_RESOLVERS:
    # ints are listed before floats, so "10" stays an int (the float pattern matches it too)
    _Loader.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class _Dumper(yaml.SafeDumper):
    """Quotes every string that either YAML 1.1 or the 1.2 core schema would read as
    something else (``'off'``, ``'1e-4'``), so the text reads back the same anywhere."""


for _tag, _regexp, _first in _CORE_RESOLVERS:
    _Dumper.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _load_yaml(text: str, name: str = "<text>") -> Any:
    stream = io.StringIO(text)
    stream.name = name
    return yaml.load(stream, Loader=_Loader)  # _Loader derives from SafeLoader


_FAMILIES: dict[str, ConfigFamily[Any]] = {}


def config_family(family: ConfigFamily[C] | str) -> ConfigFamily[C]:
    """``family`` itself, or the :class:`ConfigFamily` defined under that name (families
    register themselves when created: ``"train-bc"`` once ``exphil.train`` is imported)."""
    if isinstance(family, ConfigFamily):
        return family
    found = _FAMILIES.get(family)
    if found is None:
        raise ValueError(
            f"family: no config family named {family!r}; defined: "
            f"{', '.join(sorted(_FAMILIES)) or 'none'}"
        )
    return found


# ---------------------------------------------------------------------------------------
# the config's shape


def _struct_type(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct class ``tp`` is (or holds in an ``X | None``), else None."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
                return arg
    return None


def _field_types(cls: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def _is_mapping_type(tp: Any) -> bool:
    return typing.get_origin(tp) is dict


def _type_at(root: type[msgspec.Struct], path: str) -> Any:
    """The declared type at a dotted path of ``root`` (the class itself for ""), or None
    where the path leaves the Structs."""
    tp: Any = root
    for part in path.split(".") if path else ():
        cls = _struct_type(tp)
        if cls is None:
            return None
        tp = _field_types(cls).get(part)
        if tp is None:
            return None
    return tp


@functools.cache
def _walk_paths(cls: type[msgspec.Struct], prefix: str = "") -> tuple[tuple[str, bool], ...]:
    """Every (dotted path, is_section) under ``cls``, in field order."""
    out: list[tuple[str, bool]] = []
    for name, tp in _field_types(cls).items():
        sub = _struct_type(tp)
        out.append((prefix + name, sub is not None))
        if sub is not None:
            out += _walk_paths(sub, f"{prefix}{name}.")
    return tuple(out)


def _leaf_paths(root: type[msgspec.Struct]) -> tuple[str, ...]:
    return tuple(p for p, section in _walk_paths(root) if not section)


# ---------------------------------------------------------------------------------------
# layers and the merge


@dataclasses.dataclass(frozen=True)
class _Layer:
    description: str  # "command line --lr", "--config run.yaml", ...
    level: int  # _DEFAULTS .. _COMMAND_LINE
    kind: str  # "preset" | "file" | "env" | "cli" | "set"
    origin: str  # the preset name, file, variable, flag or --set item

    def drop_hint(self, path: str) -> str:
        """How to take ``path`` out of this layer, for hints."""
        if self.kind in ("cli", "set"):
            return f"drop {self.description.removeprefix('command line ')}"
        if self.kind == "env":
            return f"unset {self.origin}"
        if self.kind == "preset":
            return f"remove {path} from preset {self.origin}"
        return f"remove {path} from {self.origin}"


def _suggest(
    key: str,
    path: str,
    cls: type[msgspec.Struct],
    extra: Sequence[str],
    root: type[msgspec.Struct],
) -> str:
    """``did you mean ...?``: the closest field of ``cls``, else fields of that name (or a
    close one) elsewhere in the config (``root``), else the list of valid names."""
    names = [*_field_types(cls), *extra]
    close = difflib.get_close_matches(key, names, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    every = _walk_paths(root)
    last = {p.rsplit(".", 1)[-1] for p, _ in every}
    near = difflib.get_close_matches(key, last, n=1)
    if near:
        found = [p for p, _ in every if p.rsplit(".", 1)[-1] == near[0] and p != path]
        if found:
            return "did you mean " + " or ".join(repr(p) for p in found) + "?"
    return f"valid names here: {', '.join(names)}"


def _merge_values(old: Any, new: Any) -> Any:
    """Deep-merge mappings; anything else replaces."""
    if isinstance(old, dict) and isinstance(new, Mapping):
        out = dict(old)
        for k, v in new.items():
            out[k] = _merge_values(out.get(k), v)
        return out
    return copy.deepcopy(dict(new) if isinstance(new, Mapping) else new)


class _Merger:
    """The merged raw values and, per field path, the layer that last set it."""

    def __init__(self, root: type[msgspec.Struct]) -> None:
        self.root = root
        self.data: dict[str, Any] = {}
        self.sources: dict[str, _Layer] = {}

    def apply(self, values: Mapping[Any, Any], layer: _Layer, extra: Sequence[str] = ()) -> None:
        """Merge one layer's nested values, refusing unknown keys (``extra``: names also
        valid at the top level, for the suggestions)."""
        self._merge(self.data, values, self.root, "", layer, extra)

    def _merge(
        self,
        target: dict[str, Any],
        values: Mapping[Any, Any],
        cls: type[msgspec.Struct],
        prefix: str,
        layer: _Layer,
        extra: Sequence[str] = (),
    ) -> None:
        fields = _field_types(cls)
        for key, value in values.items():
            path = f"{prefix}{key}"
            if not isinstance(key, str):
                raise ConfigError(
                    f"{path}: field names are strings, got {key!r} (from {layer.description})",
                    path=path,
                    layer=layer.description,
                )
            if key not in fields:
                hint = _suggest(key, path, cls, extra, self.root)
                raise ConfigError(
                    f"{path}: unknown field (from {layer.description}); {hint}",
                    path=path,
                    layer=layer.description,
                )
            tp = fields[key]
            sub = _struct_type(tp)
            if sub is not None and (value is None or isinstance(value, Mapping)):
                # a section: merge field by field (an empty ``data:`` changes nothing)
                node = target.get(key)
                if not isinstance(node, dict):
                    node = target[key] = {}
                    self._forget(path)
                self._merge(node, value or {}, sub, f"{path}.", layer)
                continue
            if _is_mapping_type(tp):
                target[key] = _merge_values(target.get(key), value)
            else:
                target[key] = copy.deepcopy(value)
            self._forget(path)
            self.sources[path] = layer

    def _forget(self, path: str) -> None:
        for p in [p for p in self.sources if p == path or p.startswith(f"{path}.")]:
            del self.sources[p]

    def layer_of(self, path: str) -> _Layer | None:
        """The layer that set ``path`` (or the section holding it), None for defaults."""
        parts = path.split(".")
        for n in range(len(parts), 0, -1):
            layer = self.sources.get(".".join(parts[:n]))
            if layer is not None:
                return layer
        return None

    def value_at(self, path: str) -> tuple[bool, Any]:
        """(found, value) of the merged raw value at ``a.b[0].c``."""
        node: Any = self.data
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
            if part.startswith("["):
                i = int(part[1:-1])
                if not isinstance(node, list) or i >= len(node):
                    return False, None
                node = node[i]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return False, None
        return True, node


def _nest(dotted: str, value: Any, layer: _Layer) -> dict[str, Any]:
    """``"optim.lr", 1e-4`` -> ``{"optim": {"lr": 1e-4}}``."""
    parts = dotted.split(".")
    if not all(p.strip() for p in parts):
        raise ConfigError(
            f"{dotted}: not a field path like optim.lr (from {layer.description})",
            path=dotted,
            layer=layer.description,
        )
    out: Any = value
    for part in reversed(parts):
        out = {part.strip(): out}
    return typing.cast(dict[str, Any], out)


def _display(path: Path | Traversable) -> str:
    """A path relative to the package's parent (``exphil/presets/...``) or the working
    folder when it is inside one of them."""
    if not isinstance(path, Path):
        return str(path)
    for base in (_PACKAGE_PARENT, Path.cwd()):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def _read_mapping(path: Path | Traversable, label: str, layer: str) -> dict[Any, Any]:
    """A YAML file's top-level mapping ({} for an empty file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such file {path}", path=label, layer=layer) from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read {path}: {exc}", path=label, layer=layer) from None
    try:
        data = _load_yaml(text, str(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML: {exc}", path=label, layer=layer) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{label}: expected a mapping of fields at the top of {path}, "
            f"got {type(data).__name__}",
            path=label,
            layer=layer,
        )
    return data


# ---------------------------------------------------------------------------------------
# presets


def _folder(family: str, preset_dir: str | Path | Traversable | None) -> Path | Traversable:
    if preset_dir is None:
        return preset_folder(family, must_exist=False)
    return preset_dir if isinstance(preset_dir, Traversable) else Path(preset_dir)


def list_presets(
    family: str | ConfigFamily[Any], *, preset_dir: str | Path | Traversable | None = None
) -> list[str]:
    """The preset names of ``family`` (``"train-bc"``; ``NAME`` of each ``NAME.yaml`` in its
    shipped folder, or in ``preset_dir`` when given), sorted."""
    name = family if isinstance(family, str) else family.name
    return preset_names(_folder(name, preset_dir))


def _preset_layer(name: str, path: Path | Traversable) -> _Layer:
    return _Layer(f"preset {name} ({_display(path)})", _PRESET, "preset", name)


def _preset_chain(
    name: Any, folder: Path | Traversable, asked_by: str, field: str = "preset"
) -> list[tuple[_Layer, dict[Any, Any]]]:
    """The layers of preset ``name`` and every preset it extends, base first. ``asked_by``
    is the layer that named it, ``field`` the key it was named by (for errors)."""
    chain: list[tuple[_Layer, dict[Any, Any]]] = []
    seen: list[str] = []
    while True:
        available = preset_names(folder)
        if not isinstance(name, str) or not _PRESET_NAME.fullmatch(name):
            raise ConfigError(
                f"{field}: expected a preset name, got {name!r} (from {asked_by}); "
                f"available presets: {', '.join(available) or 'none'}",
                path=field,
                layer=asked_by,
            )
        if name in seen:
            cycle = " -> ".join([*seen, name])
            raise ConfigError(
                f"{field}: presets extend each other in a cycle: {cycle} (from {asked_by})",
                path=field,
                layer=asked_by,
            )
        path = folder / f"{name}.yaml"
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{field}: unknown preset {name!r} (from {asked_by}); {hint}"
                f"available presets: {', '.join(available) or 'none'} (in {_display(folder)})",
                path=field,
                layer=asked_by,
            )
        layer = _preset_layer(name, path)
        values = _read_mapping(path, f"preset {name}", layer.description)
        if "preset" in values:
            raise ConfigError(
                f"preset: a preset extends another with 'extends: NAME' (from {layer.description})",
                path="preset",
                layer=layer.description,
            )
        parent = values.pop("extends", None)
        chain.append((layer, values))
        seen.append(name)
        if parent is None:
            break
        name, asked_by, field = parent, layer.description, "extends"
    return chain[::-1]


def load_preset(
    family: str | ConfigFamily[Any],
    name: str,
    *,
    preset_dir: str | Path | Traversable | None = None,
) -> dict[str, Any]:
    """Preset ``name`` of ``family`` (a :class:`ConfigFamily` or its name, ``"train-bc"``) as
    a nested dict, with the presets it ``extends`` merged in underneath (and the ``extends``
    key gone); ``preset_dir`` replaces the shipped folder. Raises :class:`ConfigError` for an
    unknown preset (with the closest name), a cycle, bad YAML or an unknown field."""
    fam = config_family(family)
    folder = _folder(fam.name, preset_dir)
    merger = _Merger(fam.root)
    for layer, values in _preset_chain(name, folder, "load_preset()"):
        merger.apply(values, layer, extra=("extends",))
    return merger.data


# ---------------------------------------------------------------------------------------
# turning msgspec's errors into ConfigErrors


def _origin(path: str, merger: _Merger, forced: Mapping[str, str] | None = None) -> str:
    if forced and path in forced:
        return forced[path]
    layer = merger.layer_of(path)
    return "defaults" if layer is None else layer.description


def _validation_error(exc: msgspec.ValidationError, merger: _Merger) -> ConfigError:
    """msgspec's ``Expected `int`, got `str` - at `$.data.window``` (or a Struct's own
    ``__post_init__`` message, reported at the Struct) as a ConfigError naming the field
    and the layer that set it."""
    text = str(exc)
    m = re.fullmatch(r"(?s)(.*) - at `\$(.*)`", text)
    # errors of the top-level Struct itself (its __post_init__) come without a location
    problem, where = (m.group(1), m.group(2).lstrip(".")) if m else (text, "")
    field_path = re.sub(r"\[[^\]]*\]", "", where)
    tp = _type_at(merger.root, field_path)
    cls = _struct_type(tp)
    if cls is not None and not problem.startswith(("Expected `", "Invalid enum value")):
        # a Struct's __post_init__: find the field(s) its message names
        fields = list(_field_types(cls))
        hits = sorted(
            (m2.start(), f) for f in fields if (m2 := re.search(rf"\b{re.escape(f)}\b", problem))
        )
        if hits:
            names = [f for _, f in hits]
            paths = [f"{field_path}.{f}" if field_path else f for f in names]
            short = re.sub(rf"^(?:\w+\.)?{re.escape(names[0])}\s+(?=must\b)", "", problem)
            set_paths = [p for p in paths if merger.layer_of(p) is not None]
            if len(set_paths) <= 1:
                origin = _origin(set_paths[0] if set_paths else paths[0], merger)
            else:
                origin = ", ".join(f"{p} from {_origin(p, merger)}" for p in set_paths)
            where_from = f"from {origin}" if len(set_paths) <= 1 else origin
            return ConfigError(
                f"{paths[0]}: {short} ({where_from})",
                path=paths[0],
                layer=None if len(set_paths) > 1 else origin,
            )
    entry = "[...]" in where  # msgspec's mark for a key or value inside a mapping field
    shown = field_path if entry else (where or "config")
    origin = _origin(field_path, merger) if field_path else "defaults"
    detail = problem
    hint = ""
    type_m = re.fullmatch(r"Expected `([^`]+)`, got `([^`]+)`", problem)
    found, value = (False, None) if entry else merger.value_at(where)
    if type_m:
        expected, got = type_m.groups()
        detail = f"expected {expected}, got {got}"
        if entry:
            detail = f"an entry: {detail}"
        if found:
            detail += f" {value!r}"
        if found and expected.startswith("array") and got in ("str", "int", "float", "bool"):
            hint = f"; write a list, e.g. [{value}]"
    elif problem.startswith("Invalid enum value"):
        detail = "invalid value" + problem.removeprefix("Invalid enum value")
        if typing.get_origin(tp) is typing.Literal:
            detail += "; expected one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return ConfigError(f"{shown}: {detail} (from {origin}){hint}", path=shown, layer=origin)


def _convert(merger: _Merger, root: type[C]) -> C:
    try:
        return msgspec.convert(merger.data, root)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, merger) from None


# ---------------------------------------------------------------------------------------
# resolve_config


def _is_int_type(tp: Any) -> bool:
    if tp is int:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args == [int]
    return False


def _environment_layers(
    env: Mapping[str, str], family: ConfigFamily[Any]
) -> list[tuple[_Layer, dict[str, Any]]]:
    out: list[tuple[_Layer, dict[str, Any]]] = []
    for var, path in family.env:
        raw = env.get(var, "")
        if not raw:
            continue
        layer = _Layer(f"environment {var}", _ENV, "env", var)
        value: Any = raw
        if _is_int_type(_type_at(family.root, path)):
            try:
                value = int(raw.strip())
            except ValueError:
                raise ConfigError(
                    f"{path}: expected an integer, got {raw!r} (from {layer.description})",
                    path=path,
                    layer=layer.description,
                ) from None
        out.append((layer, _nest(path, value, layer)))
    return out


def _cli_layers(cli: Mapping[str, Any]) -> list[tuple[_Layer, dict[str, Any]]]:
    out: list[tuple[_Layer, dict[str, Any]]] = []
    for dotted, entry in cli.items():
        if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str)):
            raise TypeError(
                f"cli[{dotted!r}] must be a (value, flag_name) pair, e.g. (1e-4, '--lr'); "
                f"got {entry!r}"
            )
        value, flag = entry
        layer = _Layer(f"command line {flag}", _COMMAND_LINE, "cli", flag)
        out.append((layer, _nest(dotted, value, layer)))
    return out


def _set_layers(sets: Sequence[str]) -> list[tuple[_Layer, dict[str, Any]]]:
    if isinstance(sets, str):
        raise TypeError("sets must be a sequence of 'PATH=VALUE' strings, not one string")
    out: list[tuple[_Layer, dict[str, Any]]] = []
    for item in sets:
        layer = _Layer(f"--set {item}", _COMMAND_LINE, "set", item)
        dotted, sep, raw = item.partition("=")
        if not sep or not dotted.strip():
            raise ConfigError(
                f"{dotted.strip() or item}: expected --set PATH=VALUE, e.g. --set optim.lr=1e-4 "
                f"(from {layer.description})",
                path=dotted.strip(),
                layer=layer.description,
            )
        try:
            value = _load_yaml(raw, "--set")
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(
                f"{dotted.strip()}: cannot read the value {raw!r} as YAML: {problem} "
                f"(from {layer.description})",
                path=dotted.strip(),
                layer=layer.description,
            ) from None
        out.append((layer, _nest(dotted.strip(), value, layer)))
    return out


def resolve_config(
    family: ConfigFamily[C] | str,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, tuple[Any, str]] | None = None,
    sets: Sequence[str] = (),
    preset_dir: str | Path | Traversable | None = None,
    base: tuple[C, str] | None = None,
) -> Resolved[C]:
    """Merge the layers (defaults < preset < ``config_file`` < ``env`` < ``cli`` < ``sets``)
    into a checked config of ``family``'s root type (``family``: a :class:`ConfigFamily` or
    the name of a defined one, e.g. ``"train-bc"``).

    * ``base``: ``(config, description)`` replacing the defaults and the preset, e.g. the
      config stored in a checkpoint being resumed (``"checkpoint runs/x/last"``); a preset
      cannot be combined with it.
    * ``preset``: the ``--preset`` name; wins over ``preset:`` in the config file and over
      the family's ``preset_env`` variable.
    * ``env``: the environment (default ``os.environ``); see :class:`ConfigFamily`. Empty
      values count as unset.
    * ``cli``: only the flags the user typed, as dotted field path -> ``(value, flag)``,
      e.g. ``{"optim.lr": (1e-4, "--lr"), "policy.backbone.kind": ("lstm", "--backbone")}``.
      Values are Python values of the field's type (lists for list fields).
    * ``sets``: ``"PATH=VALUE"`` strings (``--set``), VALUE read as YAML.
    * ``preset_dir``: where presets live (default: the family's shipped folder).

    Raises :class:`ConfigError` naming the field, the layer and the problem.
    """
    fam: ConfigFamily[C] = config_family(family)
    env = os.environ if env is None else env
    cli = {} if cli is None else cli
    folder = _folder(fam.name, preset_dir)

    file_layer: _Layer | None = None
    file_values: dict[Any, Any] = {}
    file_preset: Any = None
    if config_file is not None:
        file_layer = _Layer(f"--config {config_file}", _FILE, "file", str(config_file))
        file_values = _read_mapping(Path(config_file), "--config", file_layer.description)
        if "extends" in file_values:
            raise ConfigError(
                f"extends: a config file names its preset with 'preset: NAME' "
                f"(from {file_layer.description})",
                path="extends",
                layer=file_layer.description,
            )
        file_preset = file_values.pop("preset", None)

    name: Any = None
    asked_by = ""
    if base is not None:
        if preset is not None or file_preset is not None:
            raise ConfigError(
                f"a preset cannot be combined with {base[1]}: the run's own config is the "
                "base; change single fields with flags or --set",
                path="preset",
                layer="command line --preset" if preset is not None else "--config",
            )
    elif preset is not None:
        name, asked_by = preset, "command line --preset"
    elif file_preset is not None:
        assert file_layer is not None
        name, asked_by = file_preset, file_layer.description
    elif fam.preset_env and env.get(fam.preset_env):
        name, asked_by = env[fam.preset_env], f"environment {fam.preset_env}"

    layers: list[tuple[_Layer, Mapping[Any, Any], tuple[str, ...]]] = []
    if base is not None:
        base_layer = _Layer(base[1], _PRESET, "base", base[1])
        layers.append((base_layer, msgspec.to_builtins(base[0]), ()))
    if name is not None:
        layers += [(lay, vals, ("extends",)) for lay, vals in _preset_chain(name, folder, asked_by)]
    if file_layer is not None:
        layers.append((file_layer, file_values, ("preset",)))
    layers += [(lay, vals, ()) for lay, vals in _environment_layers(env, fam)]
    layers += [(lay, vals, ()) for lay, vals in _cli_layers(cli)]
    layers += [(lay, vals, ()) for lay, vals in _set_layers(sets)]

    merger = _Merger(fam.root)
    for layer, values, extra in layers:
        merger.apply(values, layer, extra)

    for var, path in fam.env_fallbacks:
        raw = env.get(var, "")
        found, value = merger.value_at(path)
        if raw and not (found and value):
            layer = _Layer(f"environment {var}", _ENV, "env", var)
            merger.apply(_nest(path, [raw], layer), layer)

    config = _convert(merger, fam.root)
    forced: dict[str, str] = {}
    if fam.rules is not None:
        config = fam.rules(config, RuleContext(merger, cli, forced))

    sources: dict[str, str] = {}
    for path in _leaf_paths(fam.root):
        if path in forced:
            sources[path] = forced[path]
        elif (layer_ := merger.sources.get(path)) is not None:
            sources[path] = layer_.description
    return Resolved(config=config, sources=sources, preset=None if name is None else str(name))


# ---------------------------------------------------------------------------------------
# comparing and writing configs


def config_differences(a: msgspec.Struct, b: msgspec.Struct) -> list[tuple[str, Any, Any]]:
    """Every field where ``a`` and ``b`` differ, as ``(dotted path, a's value, b's value)``
    in field order, recursing into nested Structs (a mapping or list field is one value)."""

    def walk(x: Any, y: Any, prefix: str) -> list[tuple[str, Any, Any]]:
        if isinstance(x, msgspec.Struct) and type(x) is type(y):
            out: list[tuple[str, Any, Any]] = []
            for field in x.__struct_fields__:
                out += walk(getattr(x, field), getattr(y, field), f"{prefix}{field}.")
            return out
        return [] if x == y else [(prefix.rstrip(".") or "config", x, y)]

    return walk(a, b, "")


def to_yaml(config: msgspec.Struct) -> str:
    """Every field of ``config`` as YAML, in field order; :func:`from_yaml_text` reads it
    back to an equal config."""
    return yaml.dump(
        msgspec.to_builtins(config),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )


def from_yaml_text(text: str, root: type[C], *, source: str = "YAML text") -> C:
    """A ``root`` config from YAML (all fields or some; the rest keep their defaults),
    checked like a single ``--config`` layer but without the family's cross-field rules (a
    saved config reads back exactly). ``source`` names the text in errors."""
    layer = _Layer(source, _FILE, "file", source)
    try:
        data = _load_yaml(text, source)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}", path="", layer=source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of fields, got {type(data).__name__}",
            path="",
            layer=source,
        )
    merger = _Merger(root)
    merger.apply(data, layer)
    return _convert(merger, root)


def from_builtins(data: Any, root: type[C], *, source: str) -> C:
    """A ``root`` config from plain values (``msgspec.to_builtins`` output, e.g. the config
    stored in a training state), checked like :func:`from_yaml_text`."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: expected a mapping of fields, got {type(data).__name__}",
            path="",
            layer=source,
        )
    merger = _Merger(root)
    merger.apply(data, _Layer(source, _FILE, "file", source))
    return _convert(merger, root)
