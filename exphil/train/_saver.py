"""Background saving: snapshot on the training thread (``snapshot_policy``,
``snapshot_state``: detached CPU copies), then hand a closure to :class:`BackgroundSaver`,
which writes on one worker thread while training goes on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import structlog

__all__ = ["SaverStatistics", "BackgroundSaver"]

log = structlog.get_logger("exphil.train.checkpoint")


@dataclass(frozen=True)
class SaverStatistics:
    """Counters of a :class:`BackgroundSaver`."""

    done: int
    superseded: int
    failed: int
    seconds_writing: float
    pending: int
    running: str | None


@dataclass
class _Job:
    name: str
    fn: Callable[[], Any]
    droppable: bool


class BackgroundSaver:
    """Runs save jobs on one worker thread, in submission order.

    ``submit(name, fn)`` returns at once. A pending (not started) job is replaced by a newer
    job of the same name when it is droppable -- by default every name except ``best``, so a
    burst of ``last`` saves writes only the newest while every ``best`` is written. A failed
    job's exception is re-raised by the next ``submit``, ``wait`` or ``close`` (once; later
    failures before that are logged). ``close`` (or leaving the ``with`` block) writes what is
    pending and stops the thread. Jobs must not share mutable tensors with training: build
    them from :func:`snapshot_policy` / :func:`snapshot_state` copies."""

    NEVER_DROPPED: Final = frozenset({"best"})

    def __init__(self, *, thread_name: str = "exphil-checkpoint-saver") -> None:
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._running: _Job | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._done = 0
        self._superseded = 0
        self._failed = 0
        self._seconds = 0.0
        self._thread = threading.Thread(target=self._work, name=thread_name, daemon=True)
        self._thread.start()

    def _raise_error(self) -> None:
        """Re-raise (once) a failed job's exception; call with the lock held."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def submit(self, name: str, fn: Callable[[], Any], *, droppable: bool | None = None) -> None:
        """Queue ``fn()`` as the save job for checkpoint ``name``; ``droppable`` (default:
        ``name`` not in ``NEVER_DROPPED``) lets a later job of the same name replace it while
        it is still pending."""
        drop = name not in self.NEVER_DROPPED if droppable is None else droppable
        with self._cond:
            if self._closed:
                raise RuntimeError("the background saver is closed")
            self._raise_error()
            kept: list[_Job] = []
            for job in self._pending:
                if job.name == name and job.droppable:
                    self._superseded += 1
                else:
                    kept.append(job)
            kept.append(_Job(name, fn, drop))
            self._pending = kept
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                job = self._pending.pop(0)
                self._running = job
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                job.fn()
            except BaseException as exc:  # reported to the training thread
                error = exc
            elapsed = time.perf_counter() - started
            with self._cond:
                self._running = None
                self._seconds += elapsed
                if error is None:
                    self._done += 1
                else:
                    self._failed += 1
                    error.add_note(f"(in the background save job for checkpoint {job.name!r})")
                    if self._error is None:
                        self._error = error
                    else:
                        log.error("checkpoint_save_failed", name=job.name, error=repr(error))
                self._cond.notify_all()

    def check(self) -> None:
        """Re-raise (once) a failed job's exception now, without waiting for the others."""
        with self._cond:
            self._raise_error()

    def _idle(self) -> bool:
        return not self._pending and self._running is None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is pending or running (True) or ``timeout`` passes (False);
        re-raise a failed job's exception."""
        with self._cond:
            idle = self._cond.wait_for(self._idle, timeout)
            self._raise_error()
            return idle

    def close(self, *, raise_errors: bool = True) -> None:
        """Write what is pending, stop the worker; re-raise a failed job's exception."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        with self._cond:
            if raise_errors:
                self._raise_error()
            elif self._error is not None:
                log.error("checkpoint_save_failed", error=repr(self._error))
                self._error = None

    def statistics(self) -> SaverStatistics:
        with self._cond:
            return SaverStatistics(
                done=self._done,
                superseded=self._superseded,
                failed=self._failed,
                seconds_writing=self._seconds,
                pending=len(self._pending),
                running=self._running.name if self._running else None,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Pending saves are still written when leaving on an exception (e.g. Ctrl-C), but a
        # save error then is logged rather than hiding the original exception.
        self.close(raise_errors=exc_type is None)
