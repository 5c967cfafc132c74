"""Structured logging: one JSON object per line (structlog), stdlib loggers routed through it.

aiokafka logs the same connection error many times a second while a broker restarts; a filter
lets each distinct message through once per window.
"""

from __future__ import annotations

import logging
import sys
import time

import structlog


class _OncePerWindow(logging.Filter):
    def __init__(self, window_s: float = 30.0) -> None:
        super().__init__()
        self._window_s = window_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        now = time.monotonic()
        last = self._last.get(message)
        if last is not None and now - last < self._window_s:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[message] = now
        return True


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Set up structlog and the stdlib root logger once per process."""
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    kafka_logger = logging.getLogger("aiokafka")
    kafka_logger.filters[:] = [_OncePerWindow()]
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
