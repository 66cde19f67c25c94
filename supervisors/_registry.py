"""Unique names for actors.

Every runtime has a default registry (plain names: ``call("pool", ...)``). More registries can
be made and used through ``Via(registry, key)``, like Elixir's ``{:via, Registry, {reg, key}}``.
A name is released automatically when its actor exits; an actor restarted by its supervisor
registers the same name again, so the name re-resolves to the new incarnation.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from supervisors._errors import AlreadyRegistered

if TYPE_CHECKING:
    from supervisors._actor import ActorRef, _Process

__all__ = ["Registry", "Via", "RegistryStatistics"]


@dataclass(frozen=True, slots=True)
class RegistryStatistics:
    names: int
    registrations_total: int
    conflicts_total: int


class Registry:
    """A unique-key registry of live actors."""

    __slots__ = ("_conflicts", "_entries", "_registrations", "name")

    def __init__(self, name: str = "registry") -> None:
        self.name = name
        self._entries: dict[Hashable, _Process] = {}
        self._registrations = 0
        self._conflicts = 0

    def __repr__(self) -> str:
        return f"<Registry {self.name!r} names={len(self._entries)}>"

    def register(self, key: Hashable, ref: ActorRef) -> None:
        """Register a live actor under ``key``; raises ``AlreadyRegistered`` if taken."""
        self._register(key, ref._proc)

    def _register(self, key: Hashable, proc: _Process) -> None:
        owner = self._entries.get(key)
        if owner is not None and not owner.dead:
            self._conflicts += 1
            raise AlreadyRegistered(key, owner.ref)
        if proc.dead:
            return  # registering a dead actor is a no-op: the name would dangle
        self._entries[key] = proc
        proc.names.append((self, key))
        self._registrations += 1

    def unregister(self, key: Hashable) -> None:
        """Release ``key`` (no error if it is not registered)."""
        proc = self._entries.pop(key, None)
        if proc is not None:
            try:
                proc.names.remove((self, key))
            except ValueError:
                pass

    def _release(self, key: Hashable, proc: _Process) -> None:
        if self._entries.get(key) is proc:
            del self._entries[key]

    def whereis(self, key: Hashable) -> ActorRef | None:
        """The live actor registered under ``key``, or None."""
        proc = self._entries.get(key)
        if proc is None or proc.dead:
            return None
        return proc.ref

    def _lookup(self, key: Hashable) -> _Process | None:
        proc = self._entries.get(key)
        if proc is None or proc.dead:
            return None
        return proc

    def names(self) -> list[Hashable]:
        """Every registered key, in registration order."""
        return [k for k, p in self._entries.items() if not p.dead]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, Hashable) and self._lookup(key) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def statistics(self) -> RegistryStatistics:
        return RegistryStatistics(len(self._entries), self._registrations, self._conflicts)


@dataclass(frozen=True, slots=True)
class Via:
    """A name in a specific registry: ``Via(registry, key)``, usable wherever a name is."""

    registry: Registry
    key: Hashable
