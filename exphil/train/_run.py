"""A training run's folder and everything written to it, for any algorithm (BC, PPO).

:class:`Run` owns, in ``RUN = PARENT/NAME``:

* the folder itself: :meth:`Run.create` picks it with the overwrite protection of
  ``prepare_run_dir`` (an existing run is kept and the new one goes to ``NAME-2`` with a
  warning, unless ``checkpoint.overwrite`` says otherwise); :meth:`Run.resume` reopens the
  folder of a checkpoint loaded by :func:`load_resume_point`;
* ownership: one process at a time writes a run folder. A :class:`RunLock` (``flock`` on
  ``RUN/.lock``) is taken when the run opens and held until :meth:`Run.close` or the
  process's end, so the kernel frees the lock of a crashed or killed process at once (its
  next owner takes it over; the file stays, naming its last holder). A second run started
  with the same name at the same moment goes to ``NAME-2`` as for an existing run (or is
  refused: ``checkpoint.overwrite`` True or False); resuming a run that is still going is
  refused (:class:`RunInUse`);
* ``config.yaml``: the run's config (any msgspec Struct), rewritten when the run opens;
* ``metrics.jsonl`` and the sinks: :meth:`Run.log` appends one JSON object per record and
  hands it to TensorBoard (``output.tensorboard``: ``RUN/tensorboard/``), Weights & Biases
  (``output.wandb``) and any extra sinks;
* checkpoints (see ``exphil.train._checkpoint``): :meth:`Run.save` snapshots the policy and
  the training state on the calling thread and writes them in the background, with
  ``checkpoint.backup_count`` rotated backups and a size warning;
* Ctrl-C: within :meth:`Run.interruptible` the first SIGINT sets :attr:`Run.stop` (the loop
  ends at its next step boundary and saves a resumable checkpoint), the second raises
  ``KeyboardInterrupt``;
* :meth:`Run.close` (or leaving ``with run:``) writes the pending saves and closes sinks.

The config's ``checkpoint`` (:class:`CheckpointConfig`) and ``output``
(:class:`OutputConfig`) sections are used when the root config has them; pass them
explicitly otherwise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import msgspec
import structlog

from exphil.errors import UserError
from exphil.nets import Policy
from exphil.train._checkpoint import load_checkpoint, save_checkpoint, snapshot_policy
from exphil.train._ckpt_files import CheckpointError, rotate_backups, size_warning
from exphil.train._config import CheckpointConfig, OutputConfig
from exphil.train._layers import (
    ConfigError,
    ConfigFamily,
    Resolved,
    from_builtins,
    resolve_config,
    to_yaml,
)
from exphil.train._run_dir import RunInUse, prepare_run_dir
from exphil.train._saver import BackgroundSaver
from exphil.train._train_state import snapshot_state

__all__ = [
    "Run",
    "RunLock",
    "RunInUse",
    "ResumePoint",
    "load_resume_point",
    "resolve_run_config",
    "Sink",
]

C = TypeVar("C", bound=msgspec.Struct)

#: a metrics consumer: gets every record :meth:`Run.log` writes
Sink = Callable[[dict[str, Any]], None]

log = structlog.get_logger("exphil.train.run")


def _log_warning(text: str) -> None:
    log.warning("run", message=text)


#: the lock file in every run folder (hidden: never taken for a checkpoint or a temp file)
LOCK_FILE = ".lock"


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when another holds it."""
    if sys.platform == "win32":  # pragma: no cover - a byte-range lock, freed on exit too
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _command_line() -> str:
    """This process's command, as a user would recognise it (``exphil train-bc ...``)."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if prog in ("exphil", "__main__.py"):  # the console script, or python -m exphil.cli
        prog = "exphil"
    return " ".join([prog, *sys.argv[1:]])


def _holder(path: Path) -> str:
    """Who holds the lock at ``path``, as its holder wrote it (a holder that has just taken
    it writes that a moment later: a short wait for it)."""
    for _ in range(50):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid, host, since = int(info["pid"]), str(info["host"]), str(info["since"])
            command = str(info.get("command", ""))
            break
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.01)
    else:
        return "another process"
    who = (
        "another run in this process"
        if pid == os.getpid() and host == socket.gethostname()
        else f"another process (pid {pid} on {host}" + (f": {command}" if command else "") + ")"
    )
    return f"{who}, since {since}"


class RunLock:
    """This process's exclusive hold on a run folder: an ``flock`` on ``RUN/.lock`` (see the
    module docstring). :meth:`acquire` never waits."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: str | os.PathLike[str]) -> RunLock | str:
        """Take ``folder`` (which must exist), or say who holds it: ``"another process (pid
        123 on box: exphil train-bc ...), since 2026-12-05T10:00:00Z"``."""
        d = Path(folder)
        path = d / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            if not _try_lock(fd):
                os.close(fd)
                return _holder(path)
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "command": _command_line()[:300],
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return cls(d, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the folder back (idempotent; the process's end does it too)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


def _checkpoint_section(config: Any, given: CheckpointConfig | None) -> CheckpointConfig:
    found = given if given is not None else getattr(config, "checkpoint", None)
    return found if isinstance(found, CheckpointConfig) else CheckpointConfig()


def _output_section(config: Any, given: OutputConfig | None) -> OutputConfig:
    found = given if given is not None else getattr(config, "output", None)
    return found if isinstance(found, OutputConfig) else OutputConfig()


@dataclass(frozen=True)
class ResumePoint(Generic[C]):
    """A checkpoint to continue from: its policy file ``path``, the run folder, the policy
    (the weights of the policy file: the EMA average when the run used EMA), the training
    state, the policy file's metadata and the run's config as saved."""

    path: Path
    run_dir: Path
    policy: Policy
    state: dict[str, Any]
    config: C
    metadata: dict[str, Any] = field(default_factory=dict)


def load_resume_point(path: str | os.PathLike[str], root: type[C]) -> ResumePoint[C]:
    """Load the checkpoint at ``path`` (a run folder: its ``last``; or a checkpoint file)
    whose training state holds a ``root`` config under ``"config"``. Raises
    :class:`~exphil.errors.UserError` naming ``path`` when it is missing, unreadable or not
    a checkpoint of this kind."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"--resume {p}: no such file or folder")
    try:
        loaded = load_checkpoint(p)
    except CheckpointError as exc:
        raise UserError(f"--resume {p}: {exc}") from None
    try:
        config = from_builtins(loaded.state["config"], root, source=str(loaded.path))
    except (KeyError, ConfigError) as exc:
        raise UserError(f"--resume {p}: the checkpoint's config does not read ({exc})") from None
    return ResumePoint(
        path=loaded.path,
        run_dir=loaded.path.parent,
        policy=loaded.policy,
        state=loaded.state,
        config=config,
        metadata=dict(loaded.metadata),
    )


def _reset_field(config: Any, parts: Sequence[str]) -> Any:
    """``config`` with the field at the dotted ``parts`` set back to its default (unchanged
    when there is no such field or it has no default)."""
    name = parts[0]
    if not isinstance(config, msgspec.Struct):
        return config
    if len(parts) > 1:
        child = getattr(config, name, None)
        if not isinstance(child, msgspec.Struct):
            return config
        return msgspec.structs.replace(config, **{name: _reset_field(child, parts[1:])})
    for f in msgspec.structs.fields(config):
        if f.name != name:
            continue
        if f.default is not msgspec.NODEFAULT:
            return msgspec.structs.replace(config, **{name: f.default})
        if f.default_factory is not msgspec.NODEFAULT:
            return msgspec.structs.replace(config, **{name: f.default_factory()})
    return config


def resolve_run_config(
    family: ConfigFamily[C],
    *,
    resume: str | os.PathLike[str] | None,
    preset: str | None,
    config_file: str | Path | None,
    cli: Mapping[str, tuple[Any, str]],
    sets: Sequence[str],
    per_invocation: Sequence[str] = (),
) -> tuple[Resolved[C], ResumePoint[C] | None]:
    """A command's config: with ``resume`` (a run folder or checkpoint) the saved config is
    the base layer under the preset, file, flags and ``--set``; without, the defaults are.

    ``per_invocation``: dotted fields that belong to one command, not to the run (e.g.
    ``output.verbosity``: a run started with ``--quiet`` is not resumed quietly): the saved
    config's values of those go back to their defaults, in the base layer and in the
    returned point's ``config``."""
    point = load_resume_point(resume, family.root) if resume is not None else None
    if point is not None and per_invocation:
        stored = point.config
        for path in per_invocation:
            stored = _reset_field(stored, path.split("."))
        point = dataclasses.replace(point, config=stored)
    base = (point.config, f"checkpoint {point.path}") if point is not None else None
    resolved = resolve_config(
        family, preset=preset, config_file=config_file, cli=cli, sets=sets, base=base
    )
    return resolved, point


class Run(Generic[C]):
    """The run folder ``directory`` of a run with ``config`` (see the module docstring).

    ``warn(text)`` receives user-facing warnings (an existing run, a large checkpoint, the
    first Ctrl-C); by default they are logged. ``sinks``: extra metric consumers.

    The run holds ``lock`` (taken here when not given) until :meth:`close`: a folder that
    another process (or another open Run) holds raises :class:`RunInUse`."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        config: C,
        *,
        checkpoint: CheckpointConfig | None = None,
        output: OutputConfig | None = None,
        warn: Callable[[str], None] | None = None,
        sinks: Sequence[Sink] = (),
        lock: RunLock | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.config = config
        self.checkpoint_config = _checkpoint_section(config, checkpoint)
        self.output_config = _output_section(config, output)
        self.warn = warn or _log_warning
        #: set by the first Ctrl-C within :meth:`interruptible` (or by anyone): the loop
        #: ends at its next step boundary with a resumable checkpoint
        self.stop = threading.Event()
        if lock is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            got = RunLock.acquire(self.directory)
            if isinstance(got, str):
                raise RunInUse(
                    f"run folder {self.directory} is in use by {got}: a run folder is "
                    "written by one process at a time; wait for that run to end (or stop it)"
                )
            lock = got
        self.lock = lock
        try:
            (self.directory / "config.yaml").write_text(to_yaml(config))
        except BaseException:
            lock.release()
            raise
        self.metrics_path = self.directory / "metrics.jsonl"
        self._sinks: list[Sink] = list(sinks)
        self._closers: list[Callable[[], Any]] = []
        self._lock = threading.Lock()
        self._closed = False
        out = self.output_config
        try:
            if out.tensorboard:
                from exphil.train._report import tensorboard_sink

                sink, close = tensorboard_sink(self.directory / "tensorboard")
                self._sinks.append(sink)
                self._closers.append(close)
            if out.wandb:
                from exphil.train._report import wandb_sink

                sink, close = wandb_sink(
                    out.wandb_project,
                    self.directory.name,
                    json.loads(msgspec.json.encode(config)),
                    self.directory,
                    out.wandb_offline,
                )
                self._sinks.append(sink)
                self._closers.append(close)
        except BaseException:
            self._close_sinks()
            lock.release()
            raise
        self._saver = BackgroundSaver()

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls,
        config: C,
        *,
        default_name: str,
        checkpoint: CheckpointConfig | None = None,
        output: OutputConfig | None = None,
        warn: Callable[[str], None] | None = None,
        sinks: Sequence[Sink] = (),
    ) -> Run[C]:
        """A new run folder: ``checkpoint.dir`` (default ``$EXPHIL_CHECKPOINTS_DIR``, else
        ``./checkpoints``) / ``checkpoint.name`` (default ``DEFAULT_NAME-YYYYmmdd-HHMMSS``),
        with the overwrite protection of ``checkpoint.overwrite`` (its warnings go to
        ``warn``; a refusal is a :class:`~exphil.errors.UserError`). The folder is locked
        for this run; one that another process holds counts as taken (see the module
        docstring). A new run's ``metrics.jsonl`` starts empty (an older one becomes
        ``metrics.jsonl.bak``)."""
        ck = _checkpoint_section(config, checkpoint)
        report = warn or _log_warning
        parent = Path(ck.dir or os.environ.get("EXPHIL_CHECKPOINTS_DIR") or "checkpoints")
        name = ck.name or f"{default_name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
        held: dict[Path, RunLock] = {}

        def claim(folder: Path) -> Callable[[], None] | str:
            got = RunLock.acquire(folder)
            if isinstance(got, str):
                return got
            held[folder] = got
            return got.release

        try:
            try:
                directory, warnings = prepare_run_dir(
                    parent, name, overwrite=ck.overwrite, claim=claim
                )
            except CheckpointError:
                raise
            except (ValueError, OSError) as exc:
                raise UserError(str(exc)) from None
            lock = held[directory]
            for w in warnings:
                report(w)
            # a new run's metrics start empty: an earlier run's (replaced, or one that ended
            # before its first checkpoint) are kept as a backup
            metrics = directory / "metrics.jsonl"
            if metrics.exists():
                rotate_backups(metrics, max(ck.backup_count, 1))
        except BaseException:
            for got in held.values():
                got.release()
            raise
        return cls(
            directory, config, checkpoint=ck, output=output, warn=warn, sinks=sinks, lock=lock
        )

    @classmethod
    def resume(
        cls,
        point: ResumePoint[Any],
        config: C,
        *,
        checkpoint: CheckpointConfig | None = None,
        output: OutputConfig | None = None,
        warn: Callable[[str], None] | None = None,
        sinks: Sequence[Sink] = (),
    ) -> Run[C]:
        """Reopen the folder of ``point`` for a run continuing with ``config`` (the saved
        config with the user's changes): ``config.yaml`` is rewritten, metrics append. A run
        still going in another process raises :class:`RunInUse`."""
        return cls(
            point.run_dir, config, checkpoint=checkpoint, output=output, warn=warn, sinks=sinks
        )

    # ------------------------------------------------------------------ writing

    def log(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (JSON-able) to ``metrics.jsonl`` and hand it to every sink."""
        rec = dict(record)
        with self._lock:
            with open(self.metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
            for sink in self._sinks:
                sink(rec)

    def save(
        self,
        name: str,
        policy: Policy,
        state: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Checkpoint ``name`` (``last``, ``best``): ``policy``'s current weights and
        ``state`` are copied now, on the calling thread, and written in the background
        (a pending ``last`` is replaced by a newer one; ``best`` is never dropped). Errors
        of a background write surface on the next save, :meth:`wait` or :meth:`close`."""
        snap, st = snapshot_policy(policy), snapshot_state(state)
        meta = dict(metadata or {})
        ck = self.checkpoint_config

        def job() -> None:
            save_checkpoint(
                self.directory, name, snap, st, metadata=meta, backup_count=ck.backup_count
            )
            warning = size_warning(self.directory / f"{name}.safetensors", ck.warn_size_mb)
            if warning:
                self.warn(warning)

        self._saver.submit(name, job)

    def wait(self) -> None:
        """Block until every submitted save is written (re-raises a failed one's error)."""
        self._saver.wait()

    def check(self) -> None:
        """Re-raise the error of a background save that failed since the last look (a full
        disk: :class:`~exphil.train._checkpoint.CheckpointSpaceError`), without waiting; a
        loop calls it every step so it stops at once rather than at its next save."""
        self._saver.check()

    # ------------------------------------------------------------------ Ctrl-C

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Within the block the first SIGINT sets :attr:`stop` (and warns), the second
        raises ``KeyboardInterrupt``; the previous handler comes back after. Only the main
        thread can install signal handlers: elsewhere this does nothing (set :attr:`stop`
        yourself)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_sigint(signum: int, frame: Any) -> None:
            if self.stop.is_set():  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.stop.set()
            self.warn(
                "interrupt: finishing this step and saving a resumable checkpoint "
                "(Ctrl-C again to abort)"
            )

        old = signal.signal(signal.SIGINT, on_sigint)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    # ------------------------------------------------------------------ closing

    def _close_sinks(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            close()

    def close(self, *, raise_errors: bool = True) -> None:
        """Write the pending saves, then close the sinks (idempotent). A failed save's
        error is raised unless ``raise_errors`` is False (it is logged then)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._saver.close(raise_errors=raise_errors)
        finally:
            try:
                self._close_sinks()
            finally:
                self.lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # on an error, still write what is pending, but let the first error win
        self.close(raise_errors=exc is None)
