"""The emulator process: probe, launch, stop, and never leave one behind.

* :func:`probe_version` runs ``DOLPHIN --version`` with a timeout (libmelee's own probe has
  none) and says whether it is a Slippi build, mainline or Ishiiruka, ExiAI or not.
* :class:`DolphinProcess` starts Dolphin in a **new session** (its own process group, so an
  AppImage's children go with it) and :meth:`~DolphinProcess.stop` sends SIGTERM to the
  group, waits ``grace`` seconds, then SIGKILLs the group and waits until no member is left.
* Every live process is registered: an ``atexit`` hook stops them all, and a SIGTERM/SIGHUP
  handler (installed once, from the main thread, only where the handler is the default one;
  an existing Python handler is chained) stops them before the interpreter exits with
  ``128 + signum``. Ctrl-C is a ``KeyboardInterrupt``: the env's ``close`` (context manager,
  ``finally``) and the ``atexit`` hook both stop the emulator.

Not covered: a ``SIGKILL`` of this Python process (nothing runs); the emulator then lives on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import structlog

from exphil.envs.dolphin.errors import DolphinNotFound, NotSlippiDolphin

__all__ = ["DolphinBuild", "DolphinProcess", "group_members", "live_processes", "probe_version"]

log = structlog.get_logger("exphil.dolphin")


@dataclass(frozen=True, slots=True)
class DolphinBuild:
    """What ``--version`` said: ``mainline`` (vs Ishiiruka), ``exi_ai`` (the fast-forward
    build), and the version text."""

    mainline: bool
    exi_ai: bool
    version: str


def probe_version(exe: str | os.PathLike[str], timeout: float = 10.0) -> DolphinBuild:
    """Run ``exe --version`` (in its own process group, killed at ``timeout``) and classify
    it the way libmelee does on Linux; :class:`NotSlippiDolphin` when it is something else."""
    exe = os.fspath(exe)
    try:
        proc = subprocess.Popen(
            [exe, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise DolphinNotFound(f"Dolphin not found: {exe} does not exist") from None
    except OSError as exc:
        raise NotSlippiDolphin(f"{exe} cannot be run ({exc.strerror or exc})") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise NotSlippiDolphin(
            f"{exe} did not answer --version within {timeout:g} s: not a Slippi Dolphin?"
        ) from None
    finally:
        _kill_group(proc.pid)  # anything it left running
    rc = proc.returncode
    out, err = out.strip(), err.strip()
    text = out or err
    first = text.splitlines()[0] if text else "(no output)"
    if rc == 0 and "mainline" in out.lower():
        return DolphinBuild(mainline=True, exi_ai="ExiAI" in out, version=out)
    if rc == 255 and out:  # Ishiiruka prints its version on stdout and exits -1
        return DolphinBuild(mainline=False, exi_ai=False, version=out)
    if rc == 1 and err.startswith("Faster Melee") and "ExiAI" in err:
        return DolphinBuild(mainline=False, exi_ai=True, version=err)
    raise NotSlippiDolphin(
        f"{exe} is not a Slippi Dolphin libmelee can drive (--version exited {rc}: {first[:120]})"
    )


def _kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``, from ``/proc`` (Linux; an
    empty list elsewhere)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(entry.name))
    return out


class DolphinProcess:
    """One emulator process group; ``stop`` is idempotent and safe from any exit path."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: str | os.PathLike[str],
        grace: float = 2.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.grace = grace
        self.log_path = Path(log_path)
        self._log: IO[bytes] | None = self.log_path.open("wb")
        self._lock = threading.Lock()
        self._stopped = False
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(env) if env is not None else None,
            )
        except OSError as exc:
            self._log.close()
            raise NotSlippiDolphin(
                f"{self.argv[0]} cannot be run ({exc.strerror or exc})"
            ) from None
        self.pid = self.popen.pid
        self.pgid = self.pid  # a new session: the group is the leader's pid
        _register(self)
        log.info("dolphin started", pid=self.pid, argv=" ".join(self.argv))

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, lines: int = 15) -> str:
        """The last lines Dolphin wrote to stdout/stderr."""
        try:
            text = self.log_path.read_bytes()[-8192:].decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM the group, wait ``grace`` s, SIGKILL the group, wait until it is gone."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        g = self.grace if grace is None else grace
        if self.popen.poll() is None:
            _kill_group(self.pgid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=g)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(self.pgid, signal.SIGKILL)  # the leader's children too, even if it exited
        self.popen.wait()
        deadline = time.monotonic() + 2.0
        while group_members(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._log is not None:
            self._log.close()
            self._log = None
        _unregister(self)
        log.info("dolphin stopped", pid=self.pid, returncode=self.popen.returncode)

    def __enter__(self) -> DolphinProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- every live process, stopped at exit and on SIGTERM/SIGHUP ------------------------------
_LIVE: weakref.WeakSet[DolphinProcess] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()
_OWNER = os.getpid()
_INSTALLED = False
_PREVIOUS: dict[int, Any] = {}


def live_processes() -> list[DolphinProcess]:
    """The emulators started by this process and not stopped yet."""
    with _LIVE_LOCK:
        return list(_LIVE)


def stop_all(grace: float | None = None) -> None:
    if os.getpid() != _OWNER:  # a forked child (libmelee's stream worker) owns none of them
        return
    for p in live_processes():
        with contextlib.suppress(Exception):
            p.stop(grace)


def _register(p: DolphinProcess) -> None:
    with _LIVE_LOCK:
        _LIVE.add(p)
    _install_handlers()


def _unregister(p: DolphinProcess) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(p)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if os.getpid() != _OWNER:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    stop_all(grace=0.5)
    previous = _PREVIOUS.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    raise SystemExit(128 + signum)


def _install_handlers() -> None:
    global _INSTALLED, _OWNER
    if _INSTALLED:
        return
    _INSTALLED = True
    _OWNER = os.getpid()
    atexit.register(stop_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still holds
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN or current is _on_signal:
            continue
        _PREVIOUS[signum] = current if callable(current) else None
        try:
            signal.signal(signum, _on_signal)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            print(f"exphil: cannot handle {name}", file=sys.stderr)
