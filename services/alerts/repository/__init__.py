"""Every query of the alerts service, one module per resource; the caller passes the session
and owns the commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

# Rows per multi-row statement: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
