"""Structured logging: one JSON object per line (structlog), stdlib loggers routed through it.

aiokafka logs the same connection error many times a second while a broker is away (from
`aiokafka.conn`, `aiokafka.client`, `aiokafka.consumer.*`, `aiokafka.producer.*`); a filter on
the handler lets each distinct message of any `aiokafka` logger through once per window, and
says how many like it it held back.
"""

from __future__ import annotations

import logging
import sys
import time

import structlog


class _OncePerWindow(logging.Filter):
    """Lets one record per (logger, message template) through per window, for the loggers
    under `prefix`; the next one let through says how many were held back meanwhile.

    On the handler, not on the `aiokafka` logger: a logger's filters do not apply to records
    its child loggers propagate to it, which is how a broker outage once printed 9,309 lines
    in 150 s."""

    def __init__(self, prefix: str = "aiokafka", window_s: float = 30.0) -> None:
        super().__init__()
        self._prefix = prefix
        self._dotted = prefix + "."
        self._window_s = window_s
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name != self._prefix and not name.startswith(self._dotted):
            return True
        key = (name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._window_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) > 1000:
            self._last.clear()
            self._held.clear()
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this held back)"
            record.args = None
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
    handler.addFilter(_OncePerWindow())
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
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
