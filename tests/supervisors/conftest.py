"""Fixtures for the supervisors conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from supervisors import Runtime


class FakeClock:
    """A monotonic clock the test moves by hand; drives restart-intensity windows."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def rt(clock: FakeClock) -> AsyncIterator[Runtime]:
    """A runtime whose restart-intensity clock is ``clock`` (the event loop's time is real)."""
    async with Runtime(clock=clock) as runtime:
        yield runtime
