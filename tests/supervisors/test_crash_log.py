"""Crash reports stay cheap in a crash storm.

The first crash of an (actor name or class, exception type) within ``CRASH_LOG_WINDOW`` is
logged with a plain, pre-formatted traceback (``exception=``, never ``exc_info``, which a
ConsoleRenderer would render with rich at tens of milliseconds a crash); repeats within the
window are one-line summaries. The window runs on the runtime's clock (a fake one here).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from supervisors import (
    Actor,
    ActorExited,
    ChildSpec,
    From,
    NoProcess,
    Runtime,
    Supervisor,
    call,
    kill,
)
from supervisors._runtime import CRASH_LOG_WINDOW, CRASH_TRACEBACK_LIMIT
from tests.supervisors.conftest import FakeClock
from tests.supervisors.helpers import capture_all_logs, events_named, join

pytestmark = pytest.mark.anyio


class Crasher(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        raise request


async def crash(name: str, exc: BaseException) -> None:
    """Make the named child crash with ``exc`` (waiting for the restarted incarnation)."""
    while True:
        try:
            await call(name, exc)
        except ActorExited:
            return
        except NoProcess:  # the supervisor has not restarted it yet
            await anyio.sleep(0.001)


async def test_repeated_crashes_are_summarised(rt: Runtime, clock: FakeClock) -> None:
    await rt.spawn(
        Supervisor(
            [ChildSpec("c", Crasher, name="crasher"), ChildSpec("d", Crasher, name="other")],
            max_restarts=100,
            max_seconds=60,
        )
    )
    with capture_all_logs() as logs:
        for i in range(5):
            await crash("crasher", ValueError(f"bad {i}"))
        await crash("crasher", KeyError("another type"))  # a new key: full report
        await crash("other", ValueError("another actor"))  # a new key: full report
        clock.advance(CRASH_LOG_WINDOW)
        await crash("crasher", ValueError("after the window"))
    reports = events_named(logs, "actor.exited")
    assert len(reports) == 8
    assert all("exc_info" not in r for r in reports)
    full = [r for r in reports if "exception" in r]
    summaries = [r for r in reports if "exception" not in r]
    assert [r["reason"] for r in full] == [
        "crash(ValueError: bad 0)",
        "crash(KeyError: 'another type')",
        "crash(ValueError: another actor)",
        "crash(ValueError: after the window)",
    ]
    for r in full:
        assert r["exception"].startswith("Traceback (most recent call last):")
        assert "in handle_call" in r["exception"]
    assert full[0]["exception"].rstrip().endswith("ValueError: bad 0")
    assert full[-1]["summarised_before"] == 4
    assert [r["repeat"] for r in summaries] == [1, 2, 3, 4]
    assert [r["reason"] for r in summaries] == [f"crash(ValueError: bad {i})" for i in range(1, 5)]
    assert all(r["log_level"] == "error" for r in reports)
    assert rt.statistics().crash_reports_summarised == 4


async def test_other_abnormal_exits_are_one_line(rt: Runtime) -> None:
    ref = await rt.spawn(Crasher())
    with capture_all_logs() as logs:
        kill(ref)
        await join(ref)
    [report] = events_named(logs, "actor.exited")
    assert report["reason"] == "killed" and report["log_level"] == "error"
    assert "exception" not in report and "exc_info" not in report


async def test_a_long_traceback_is_cut_to_its_innermost_frames(rt: Runtime) -> None:
    class Deep(Actor):
        async def handle_call(self, request: Any, from_: From) -> Any:
            def down(n: int) -> None:
                if n == 0:
                    raise RuntimeError("bottom")
                down(n - 1)

            down(200)

    ref = await rt.spawn(Deep())
    with capture_all_logs() as logs:
        with pytest.raises(ActorExited):
            await call(ref, "go")
        await join(ref)
    [report] = events_named(logs, "actor.exited")
    text = report["exception"]
    assert text.count("\n  File ") <= CRASH_TRACEBACK_LIMIT
    assert "in handle_call" not in text  # the outer frames are the ones cut
    assert text.rstrip().endswith("RuntimeError: bottom")
    assert len(text) < 4000
