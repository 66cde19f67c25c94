"""Launch Slippi Dolphin and connect to it: :func:`launch` returns a
:class:`~exphil.envs.dolphin.link.ConsoleLink` ready to step, or raises a specific error
with no process left behind.

Order: the paths (:func:`resolve_paths`), ``--version`` with a timeout
(:func:`probe_version`: a Slippi build? headless / fast-forward supported?), the spectator
port free (:func:`check_port_free`), libmelee's ``Console`` (a temporary home folder with
its config, gecko codes and controller pipes), Dolphin started in its own process group
(:class:`DolphinProcess`, not ``Console.run``: libmelee's ``Popen`` has no group and its
``stop`` kills the leader only), the Slippi stream connected within ``connect_timeout``
(libmelee tries for about 10 s per attempt; a failed attempt gets a fresh stream client),
and each pipe controller opened within what is left of it (libmelee's ``open`` of a FIFO
blocks forever when nobody reads it; here the open is non-blocking and retried).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from exphil.envs.dolphin.config import DolphinConfig, check_port_free, resolve_paths
from exphil.envs.dolphin.errors import DolphinCrashed, DolphinHung, NotSlippiDolphin
from exphil.envs.dolphin.link import ConsoleLink, close_console
from exphil.envs.dolphin.process import DolphinBuild, DolphinProcess, probe_version

__all__ = ["check_build", "launch", "open_pipe"]

log = structlog.get_logger("exphil.dolphin")


def launch(config: DolphinConfig, *, env: Mapping[str, str] | None = None) -> ConsoleLink:
    """Start Dolphin for ``config`` and connect; see the module docstring."""
    paths = resolve_paths(config.dolphin_path, config.iso_path)
    build = probe_version(paths.dolphin)
    check_build(config, build, paths.dolphin)
    check_port_free(config.slippi_port)

    import melee  # type: ignore[import-untyped]
    from melee.enums import ControllerType  # type: ignore[import-untyped]

    ffw = config.fast_forward
    console = melee.Console(
        path=str(paths.dolphin),
        slippi_port=config.slippi_port,
        blocking_input=config.blocking_input,
        polling_mode=False,
        fullscreen=False,
        gfx_backend="Null" if config.headless else "",
        disable_audio=config.disable_audio or config.headless,
        emulation_speed=config.emulation_speed,
        use_exi_inputs=ffw,
        enable_ffw=ffw,
        save_replays=config.save_replays,
        replay_dir=config.replay_dir,
        tmp_home_directory=True,
    )
    process: DolphinProcess | None = None
    logdir = tempfile.mkdtemp(prefix="exphil_dolphin_")
    try:
        controllers: dict[int, Any] = {}
        for p in config.players:
            kind = ControllerType.GCN_ADAPTER if p.kind == "human" else ControllerType.STANDARD
            c = melee.Controller(console, p.port, kind)
            if p.kind != "human":
                controllers[p.port] = c
        home = console._get_dolphin_home_path()
        argv = [str(paths.dolphin), "-e", str(paths.iso), "-u", str(home)]
        process = DolphinProcess(
            argv,
            log_path=Path(logdir) / "dolphin.log",
            grace=config.shutdown_grace,
            env={**os.environ, **(env or {})},
        )
        console._process = process.popen  # libmelee logs the exit status on a failed connect
        deadline = time.monotonic() + config.connect_timeout
        _connect_stream(console, process, deadline, config.connect_timeout)
        for c in controllers.values():
            pipe = open_pipe(c.pipe_path, deadline, process)
            c.pipe = pipe
            console.controllers.append(c)
        log.info("dolphin connected", port=config.slippi_port, version=build.version)
        return ConsoleLink(
            console,
            controllers,
            process=process,
            step_timeout=config.step_timeout,
            grace=config.shutdown_grace,
            scratch=logdir,
        )
    except BaseException:
        if process is not None:
            process.stop()
        close_console(console)
        shutil.rmtree(logdir, ignore_errors=True)
        raise


def check_build(config: DolphinConfig, build: DolphinBuild, exe: Path) -> None:
    """Refuse a build that cannot do what ``config`` asks (headless needs mainline or ExiAI,
    fast-forward needs ExiAI): :class:`NotSlippiDolphin` naming the file and its version."""
    if config.headless and not (build.mainline or build.exi_ai):
        raise NotSlippiDolphin(
            f"{exe} ({build.version}) cannot run headless: the Null video backend needs a "
            "mainline or ExiAI Slippi build (or run with a window)"
        )
    if config.fast_forward and not build.exi_ai:
        raise NotSlippiDolphin(
            f"{exe} ({build.version}) cannot fast-forward: that needs the ExiAI build "
            "(vladfi1/slippi-Ishiiruka, exi-ai branch)"
        )


def _connect_stream(console: Any, process: DolphinProcess, deadline: float, total: float) -> None:
    from melee.slippstream import SlippstreamClient  # type: ignore[import-untyped]

    attempt = 0
    while True:
        if not process.alive():
            raise DolphinCrashed(
                f"Dolphin exited with status {process.returncode} before it connected",
                log_tail=process.log_tail(),
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise DolphinHung(
                f"Dolphin did not open its Slippi port within {total:g} s",
                log_tail=process.log_tail(),
            )
        if attempt:
            # a stream client's worker process starts once: a new one per attempt
            console._slippstream = SlippstreamClient(console.slippi_address, console.slippi_port)
        attempt += 1
        if _connect_once(console._slippstream, min(left, 12.0)):
            return
        time.sleep(0.1)


def _connect_once(client: Any, timeout: float) -> bool:
    """``SlippstreamClient.connect`` bounded by ``timeout`` (libmelee's worker tries for
    about 10 s and cannot be told to stop sooner: past the timeout it is terminated)."""
    client._worker.start()
    if client._buffer.poll(timeout):
        with contextlib.suppress(EOFError):
            if client._buffer.recv():
                client.running = True
                return True
    client._worker.terminate()
    client._worker.join()
    client._buffer.close()
    client._worker = None
    return False


def open_pipe(path: str | os.PathLike[str], deadline: float, process: DolphinProcess | None) -> Any:
    """Open a controller FIFO for writing once Dolphin reads it (a regular file opens at
    once), by ``deadline`` (``time.monotonic``); :class:`DolphinHung` / :class:`DolphinCrashed`
    otherwise. Returns a line-buffered text file, as ``melee.Controller.connect`` would."""
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: a FIFO nobody reads yet
                raise
        if process is not None and not process.alive():
            raise DolphinCrashed(
                f"Dolphin exited with status {process.returncode} before it opened {path}",
                log_tail=process.log_tail(),
            )
        if time.monotonic() >= deadline:
            raise DolphinHung(
                f"Dolphin did not open the controller pipe {path} in time",
                log_tail=process.log_tail() if process is not None else "",
            )
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
    return os.fdopen(fd, "w")
