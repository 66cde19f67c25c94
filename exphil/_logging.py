"""structlog configuration, done once per process.

Coloured console output on a TTY; JSON lines with ``--log-json`` or whenever stderr is not a TTY
(pipes, CI, log files), so machine readers always get one event per line.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

__all__ = ["configure_logging", "LEVELS"]

LEVELS = ("debug", "info", "warning", "error", "critical")

_configured = False


def configure_logging(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog (and route stdlib logging through it).

    ``json=None`` picks JSON lines when ``stream`` is not a TTY. Calling again reconfigures.
    """
    global _configured
    out = stream if stream is not None else sys.stderr
    use_json = json if json is not None else not out.isatty()
    numeric = logging.getLevelNamesMapping()[level.upper()]

    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if use_json:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())

    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries (pyzmq, torch, textual) log through stdlib logging: same format.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    _configured = True
