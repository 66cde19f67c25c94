"""A process pool for the replay parser that contains every way it can fail.

``concurrent.futures.ProcessPoolExecutor`` cannot stop one hung task, and a crashed worker
breaks the whole pool; peppi-py can panic (a ``BaseException`` plus a Rust backtrace on
stderr), hang or, in principle, crash. Here each worker is a process with its own pipe and
its own stderr file:

* a task that runs past ``timeout`` gets its worker killed and replaced; the task's result
  is ``("timeout", ...)``;
* a worker that dies mid-task (segfault, abort, OOM kill) is replaced; the result is
  ``("crash", ...)`` with the exit code or signal and the last line it wrote to stderr;
* a worker's stderr goes to a private file, never to the terminal, so no Rust backtrace
  reaches the user; the task function can read it back (``stderr_since``) to attach the
  panic location to an error.

Tasks and results are bytes (the caller encodes them with msgspec): nothing is pickled.
Workers are started with ``spawn`` (safe with threads and torch in the parent).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["WorkerPool", "PoolFailure", "stderr_since"]

_STDERR_FD = 2
_stderr_file: Any = None


@dataclass(frozen=True, slots=True)
class PoolFailure:
    """A task that produced no result: ``cause`` is ``timeout`` or ``crash``."""

    cause: str
    detail: str


def stderr_since(offset: int) -> tuple[str, int]:
    """(text the worker wrote to stderr since ``offset``, the new offset). In a worker only."""
    if _stderr_file is None:
        return "", offset
    try:
        with open(_stderr_file, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            if end <= offset:
                return "", end
            f.seek(offset)
            data = f.read(min(end - offset, 1 << 16))
    except OSError:
        return "", offset
    return data.decode("utf-8", "replace"), end


def _worker_main(
    conn: Connection, func: Callable[[bytes], bytes], stderr_path: str, env: dict[str, str]
) -> None:
    global _stderr_file
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, _STDERR_FD)
    os.close(fd)
    _stderr_file = stderr_path
    while True:
        try:
            task = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not task:
            return
        conn.send_bytes(func(task))


class _Worker:
    def __init__(self, ctx: Any, func: Callable[[bytes], bytes], env: dict[str, str]) -> None:
        fd, self.stderr_path = tempfile.mkstemp(prefix="exphil-parser-", suffix=".stderr")
        os.close(fd)
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.proc = ctx.Process(
            target=_worker_main, args=(child, func, self.stderr_path, env), daemon=True
        )
        try:
            self.proc.start()
        except BaseException:
            parent.close()
            with contextlib.suppress(OSError):
                os.unlink(self.stderr_path)
            raise
        finally:
            child.close()
        self.task: tuple[int, bytes] | None = None
        self.deadline = 0.0

    def last_stderr_line(self) -> str:
        with contextlib.suppress(OSError), open(self.stderr_path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln]
            for ln in lines:
                if "panicked at" in ln or "Error" in ln or "error" in ln:
                    return ln.strip()[:300]
            return lines[-1].strip()[:300] if lines else ""
        return ""

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send_bytes(b"")
        self.proc.join(2.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(2.0)
        self.conn.close()
        with contextlib.suppress(OSError):
            os.unlink(self.stderr_path)


class WorkerPool:
    """``jobs`` worker processes running ``func(task_bytes) -> result_bytes``.

    ``func`` must be a module-level function (it is imported in the worker). ``env`` is added
    to each worker's environment (``RUST_BACKTRACE=0`` by default).
    """

    def __init__(
        self,
        func: Callable[[bytes], bytes],
        jobs: int,
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("a WorkerPool needs at least one job")
        self._func = func
        self._jobs = jobs
        self._timeout = timeout
        self._env = {"RUST_BACKTRACE": "0", **(env or {})}
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []
        self.restarts = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for w in self._workers:
            w.stop(kill=w.task is not None)
        self._workers.clear()

    def _spawn(self) -> _Worker:
        w = _Worker(self._ctx, self._func, self._env)
        self._workers.append(w)
        return w

    def _replace(self, w: _Worker) -> None:
        self._workers.remove(w)
        w.stop(kill=True)
        self.restarts += 1

    def map_unordered(self, tasks: Iterable[bytes]) -> Iterator[tuple[int, bytes | PoolFailure]]:
        """``(index, result or PoolFailure)`` for every task, as they finish."""
        queue: deque[tuple[int, bytes]] = deque(enumerate(tasks))
        if not queue:
            return
        while len(self._workers) < min(self._jobs, len(queue)):
            self._spawn()
        running = 0
        while queue or running:
            # hand work to idle workers (one that died while idle is replaced, costing no task)
            for w in list(self._workers):
                if w.task is None and queue and not w.proc.is_alive():
                    self._replace(w)
                    w = self._spawn()
                if w.task is None and queue:
                    w.task = queue.popleft()
                    try:
                        w.conn.send_bytes(w.task[1])
                    except (BrokenPipeError, OSError):
                        pass  # noticed below through its sentinel
                    w.deadline = time.monotonic() + self._timeout
                    running += 1
            busy = [w for w in self._workers if w.task is not None]
            if not busy:
                continue
            remaining = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait(
                [w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=remaining
            )
            now = time.monotonic()
            for w in busy:
                assert w.task is not None
                index = w.task[0]
                result: bytes | PoolFailure | None = None
                if w.conn in ready:
                    try:
                        result = w.conn.recv_bytes()
                    except (EOFError, OSError):
                        result = None
                if result is None and (w.conn in ready or w.proc.sentinel in ready):
                    w.proc.join(1.0)
                    code = w.proc.exitcode
                    how = (
                        f"killed by signal {signal.Signals(-code).name}"
                        if code is not None and code < 0
                        else f"exit code {code}"
                    )
                    last = w.last_stderr_line()
                    detail = f"the parser process died ({how})" + (f": {last}" if last else "")
                    result = PoolFailure("crash", detail)
                    self._replace(w)
                    if queue:
                        self._spawn()
                elif result is None and now >= w.deadline:
                    result = PoolFailure(
                        "timeout", f"parsing took longer than {self._timeout:g} s; stopped"
                    )
                    self._replace(w)
                    if queue:
                        self._spawn()
                if result is not None:
                    w.task = None
                    running -= 1
                    yield index, result
