"""Links: where a :class:`~exphil.envs.dolphin.DolphinEnv` gets gamestates and sends
controllers.

A :class:`Link` has ``controllers`` (libmelee controllers, by 1-based port, for the ports the
env presses: bots and CPUs) and ``step()``: flush what was pressed and return the next
``melee.GameState``. Three of them:

* :class:`ConsoleLink`: a running ``melee.Console`` on Dolphin (made by
  :func:`~exphil.envs.dolphin.launch`). ``step`` is libmelee's ``Console.step`` guarded by a
  watchdog thread: past ``step_timeout`` seconds (or when the process dies) it calls
  ``Console.interrupt`` (libmelee's thread-safe way out of a blocked step) and ``step``
  raises :class:`DolphinHung` (:class:`DolphinCrashed` when the process died or the
  connection dropped). ``close`` stops the emulator's process group first, then the stream.
* :class:`ReplayLink`: libmelee reading ``.slp`` files as a live stream (``Console`` with
  ``is_dolphin=False``), one file after another: the same ``Console.step`` code path
  (event parsing, controller flushes, ``GAME_START`` release) on real games, without Dolphin.
* :class:`RecordedLink`: recorded gamestates (a fake console), for tests and menus.

Both non-Dolphin links raise :class:`StreamEnded` when they run out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import structlog

from exphil.envs.dolphin.errors import DolphinCrashed, DolphinHung, StreamEnded
from exphil.envs.dolphin.process import DolphinProcess
from exphil.game.live import ControllerLike

__all__ = ["Link", "FlushingController", "ConsoleLink", "ReplayLink", "RecordedLink"]

log = structlog.get_logger("exphil.dolphin")


class FlushingController(ControllerLike, Protocol):
    """A controller a link can flush (``melee.Controller``)."""

    def flush(self) -> None: ...
    def release_all(self) -> None: ...


@runtime_checkable
class Link(Protocol):
    @property
    def controllers(self) -> Mapping[int, FlushingController]:
        """The controllers the env presses, by 1-based port."""
        ...

    def step(self) -> Any:
        """Flush the controllers; the next ``melee.GameState``."""
        ...

    def close(self) -> None: ...


class _Watchdog:
    """One daemon thread: when an armed deadline passes, or ``alive()`` turns false, it
    calls ``on_fire`` once (per arming) and records why."""

    def __init__(self, on_fire: Any, alive: Any, tick: float = 0.05) -> None:
        self._on_fire = on_fire
        self._alive = alive
        self._tick = tick
        self._deadline: float | None = None
        self.fired: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dolphin-watchdog", daemon=True)
        self._thread.start()

    def arm(self, seconds: float) -> None:
        self.fired = None
        self._deadline = time.monotonic() + seconds

    def disarm(self) -> None:
        self._deadline = None

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            deadline = self._deadline
            if deadline is None:
                continue
            why = None
            if not self._alive():
                why = "exited"
            elif time.monotonic() > deadline:
                why = "timeout"
            if why is not None:
                self._deadline = None
                self.fired = why
                with contextlib.suppress(Exception):
                    self._on_fire()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)


class ConsoleLink:
    """A live ``melee.Console`` (see the module docstring). Owns the process and the
    console's temporary home folder: ``close`` releases both, in that order."""

    def __init__(
        self,
        console: Any,
        controllers: Mapping[int, FlushingController],
        *,
        process: DolphinProcess | None,
        step_timeout: float,
        grace: float = 2.0,
        scratch: str | os.PathLike[str] | None = None,
    ) -> None:
        self.console = console
        self._scratch = scratch
        self._controllers = dict(controllers)
        self.process = process
        self.step_timeout = step_timeout
        self.grace = grace
        self._closed = False
        self._watchdog = _Watchdog(
            console.interrupt, (lambda: process.alive()) if process is not None else (lambda: True)
        )

    @property
    def controllers(self) -> Mapping[int, FlushingController]:
        return self._controllers

    def _tail(self) -> str:
        return self.process.log_tail() if self.process is not None else ""

    def step(self) -> Any:
        from melee.slippstream import EnetDisconnected  # type: ignore[import-untyped]

        if self._closed:
            raise DolphinCrashed("the Dolphin link is closed")
        self._watchdog.arm(self.step_timeout)
        try:
            gs = self.console.step()
        except (EnetDisconnected, BrokenPipeError, EOFError, ConnectionError) as exc:
            why = self._watchdog.fired
            rc = self.process.returncode if self.process is not None else None
            tail = self._tail()
            self.close()
            if why == "timeout":
                raise DolphinHung(
                    f"Dolphin sent no frame for {self.step_timeout:g} s (hung): stopped it",
                    log_tail=tail,
                ) from None
            what = (
                f"exited with status {rc}"
                if rc is not None
                else f"dropped the connection ({type(exc).__name__})"
            )
            raise DolphinCrashed(f"Dolphin {what} during the game", log_tail=tail) from None
        finally:
            self._watchdog.disarm()
        if gs is None:  # only in libmelee's polling mode, which ConsoleLink does not use
            raise DolphinHung("Dolphin returned no gamestate")
        return gs

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._watchdog.stop()
        if self.process is not None:
            self.process.stop(self.grace)
        for c in self._controllers.values():
            with contextlib.suppress(Exception):
                c.disconnect()  # type: ignore[attr-defined]
        close_console(self.console)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def close_console(console: Any) -> None:
    """``Console.stop`` made safe. libmelee's ``shutdown`` joins the stream worker with no
    timeout, and a worker blocked writing frames nobody reads never returns: here the
    worker is asked to stop, joined for a moment, then terminated. A worker that never
    started is not joined. The temporary home folder is removed either way."""
    stream: Any = getattr(console, "_slippstream", None)
    worker = getattr(stream, "_worker", None)
    if stream is not None and worker is not None:
        if getattr(worker, "_popen", None) is not None:  # started
            with contextlib.suppress(Exception):
                stream._shutdown.set()
                worker.join(timeout=1.5)
                if worker.is_alive():
                    worker.terminate()
                    worker.join(timeout=2.0)
        with contextlib.suppress(Exception):
            stream._buffer.close()
        stream._worker = None
        stream.running = False
    console._process = None  # the process is ours (DolphinProcess), already stopped
    with contextlib.suppress(Exception):
        console.stop()
    tmp = getattr(console, "temp_dir", None)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
        console.temp_dir = None


class ReplayLink:
    """``.slp`` files played one after another through libmelee's file console; the
    ``controllers`` (if any) are flushed by ``Console.step`` exactly as on Dolphin."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        controllers: Mapping[int, FlushingController] | None = None,
        *,
        allow_old_version: bool = False,
    ) -> None:
        self._paths: Iterator[str | os.PathLike[str]] = iter(paths)
        self._controllers = dict(controllers or {})
        self._allow_old = allow_old_version
        self._console: Any = None
        self.files = 0

    @property
    def controllers(self) -> Mapping[int, FlushingController]:
        return self._controllers

    def _next_console(self) -> Any:
        import melee  # type: ignore[import-untyped]

        path = next(self._paths, None)
        if path is None:
            raise StreamEnded("no more replays in the stream")
        console = melee.Console(
            path=os.fspath(path), is_dolphin=False, allow_old_version=self._allow_old
        )
        if not console.connect():
            raise OSError(f"{os.fspath(path)}: libmelee could not open the file")
        console.controllers.extend(self._controllers.values())
        self.files += 1
        return console

    def step(self) -> Any:
        while True:
            if self._console is None:
                self._console = self._next_console()
            gs = self._console.step()
            if gs is not None:
                return gs
            self._console.stop()
            self._console = None

    def close(self) -> None:
        if self._console is not None:
            self._console.stop()
            self._console = None


class RecordedLink:
    """Recorded gamestates played back: each ``step`` flushes the controllers and returns the
    next one (a fake console)."""

    def __init__(
        self,
        states: Iterable[Any],
        controllers: Mapping[int, FlushingController] | None = None,
    ) -> None:
        self._states = iter(states)
        self._controllers = dict(controllers or {})
        self.steps = 0

    @property
    def controllers(self) -> Mapping[int, FlushingController]:
        return self._controllers

    def step(self) -> Any:
        for c in self._controllers.values():
            c.flush()
        gs = next(self._states, None)
        if gs is None:
            raise StreamEnded("no more recorded gamestates")
        self.steps += 1
        return gs

    def close(self) -> None:
        self._states = iter(())
