"""Self-play on Slippi Dolphin: the paths a worker uses and the env factory of its runners.

Every GameRunner of a Dolphin worker builds one :class:`~exphil.envs.dolphin.DolphinEnv`
(``n == 1``) with :class:`DolphinEnvFactory`: bot vs bot (the learner's policy on env port 0,
the opponent on port 1, both pipe controllers fed by the runner's ``step``), its own Slippi
port (libmelee gives every instance its own temporary user folder, with its own controller
pipes). A dead or hung emulator raises ``DolphinCrashed`` / ``DolphinHung`` out of the step:
the runner fails, its ``finally`` closes the env (which stops the emulator's process group),
and the GamePool starts it again with a fresh Dolphin.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from exphil.envs import GameEnv
from exphil.envs.dolphin import (
    DolphinConfig,
    DolphinEnv,
    DolphinNotFound,
    IsoError,
    PortInUse,
    check_dolphin_path,
    check_iso,
)
from exphil.selfplay._config import SelfPlayConfig

__all__ = ["DolphinEnvFactory", "DolphinPaths", "resolve_dolphin"]

log = structlog.get_logger("exphil.worker")

#: ports tried for one launch when the chosen port is taken before Dolphin binds it
PORT_TRIES = 5


@dataclass(frozen=True)
class DolphinPaths:
    """A machine's Slippi Dolphin executable and Melee ISO, checked."""

    dolphin: Path
    iso: Path


def resolve_dolphin(
    dolphin: str | None,
    iso: str | None,
    *,
    probe: bool = True,
    config: SelfPlayConfig | None = None,
) -> DolphinPaths:
    """This machine's paths: ``dolphin`` / ``iso`` (the flags) > ``$EXPHIL_DOLPHIN_PATH`` /
    ``$EXPHIL_ISO_PATH`` > the settings file (:mod:`exphil.settings`). Checks that both exist
    (an executable, a Melee NTSC 1.02 image) and, with ``probe``, asks Dolphin for its version
    (a Slippi build, headless / fast-forward support as ``config`` asks). Raises
    :class:`~exphil.envs.dolphin.DolphinNotFound`, :class:`~exphil.envs.dolphin.IsoError` or
    :class:`~exphil.envs.dolphin.NotSlippiDolphin` (user errors: exit 2) before anything is
    started."""
    from exphil.settings import ENV_DOLPHIN, ENV_ISO, resolve_dolphin_path, resolve_iso_path

    d = resolve_dolphin_path(dolphin)
    if d is None:
        raise DolphinNotFound(
            f"no Slippi Dolphin for --env dolphin: pass --dolphin PATH, set {ENV_DOLPHIN}, "
            "or run `exphil setup`"
        )
    exe = check_dolphin_path(d)
    i = resolve_iso_path(iso)
    if i is None:
        raise IsoError(
            f"no Melee ISO for --env dolphin: pass --iso PATH, set {ENV_ISO}, or run `exphil setup`"
        )
    paths = DolphinPaths(exe, check_iso(i))
    if probe:
        from exphil.envs.dolphin import check_build, probe_version

        build = probe_version(paths.dolphin)
        if config is not None:
            check_build(config.dolphin_config(port=1024), build, paths.dolphin)
    return paths


class DolphinEnvFactory:
    """``env_factory`` of a Dolphin worker: ``factory(k, seed, config)`` launches one Dolphin
    (``k`` must be 1) and returns its :class:`DolphinEnv`. Slippi ports: with
    ``dolphin.slippi_port`` 0 each instance gets a free port chosen by the system; with a port
    N, the lowest of N, N+1, ... that no live instance of this factory holds and nothing else
    has bound. A port is held until its env is closed (after its emulator is stopped). A port
    taken between its choice and the launch's check (:class:`PortInUse`) is replaced by
    another, up to :data:`PORT_TRIES` ports."""

    def __init__(self, paths: DolphinPaths) -> None:
        self.paths = paths
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self.launched = 0

    def __call__(self, k: int, seed: int, config: SelfPlayConfig) -> GameEnv:
        if k != 1:
            raise ValueError(f"a Dolphin runner plays one game, not {k}")
        tried: set[int] = set()
        while True:
            port = self._take_port(config.dolphin.slippi_port, avoid=tried)
            try:
                dc = config.dolphin_config(
                    dolphin=str(self.paths.dolphin), iso=str(self.paths.iso), port=port
                )
                env = _LeasedDolphinEnv(dc, functools.partial(self._release, port))
            except PortInUse:
                # free when chosen, bound by something else before the launch checked it (a
                # system-chosen port can go to another emulator's or an ENet client's
                # socket in between): another port, a few times
                self._release(port)
                tried.add(port)
                if len(tried) >= PORT_TRIES:
                    raise
                log.warning("worker.dolphin_port_taken", slippi_port=port)
                continue
            except BaseException:
                self._release(port)
                raise
            break
        with self._lock:
            self.launched += 1
        log.info("worker.dolphin_started", slippi_port=port)
        return env

    def held_ports(self) -> set[int]:
        with self._lock:
            return set(self._held)

    def _take_port(self, base: int, avoid: set[int]) -> int:
        with self._lock:
            if base == 0:
                for _ in range(64):
                    port = _free_udp_port()
                    if port not in self._held and port not in avoid:
                        break
            else:
                port = base
                while port in self._held or port in avoid or not _udp_port_free(port):
                    port += 1
                    if port > 65535:
                        raise RuntimeError(f"no free Slippi port from {base}")
            self._held.add(port)
            return port

    def _release(self, port: int) -> None:
        with self._lock:
            self._held.discard(port)


class _LeasedDolphinEnv(DolphinEnv):
    """A :class:`DolphinEnv` that gives its Slippi port back to its factory once closed."""

    def __init__(self, config: DolphinConfig, release: Callable[[], None]) -> None:
        self._release = release
        super().__init__(config)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("", 0))
        port: int = s.getsockname()[1]
    return port


def _udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True
