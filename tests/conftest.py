"""Shared test configuration: every async test runs on asyncio and on trio."""

from __future__ import annotations

import logging

import pytest
import structlog


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _quiet_structlog() -> None:
    """Keep test output readable: only warnings and errors, as plain lines.

    Tests that assert on log events use ``structlog.testing.capture_logs()``.
    """
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        cache_logger_on_first_use=False,
    )
