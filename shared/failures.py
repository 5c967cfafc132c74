"""Telling a failure that passes by itself (a lost connection, a locked database, a timeout)
from one that will happen again with the same records: the consume loop retries the first
and isolates the record behind the second (`shared.consumer`)."""

from __future__ import annotations

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DisconnectionError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLite result codes that say "not now" rather than "never": BUSY, LOCKED, NOMEM, READONLY,
# IOERR, FULL, CANTOPEN, PROTOCOL (https://sqlite.org/rescode.html; primary code = low byte).
_SQLITE_TRANSIENT = frozenset({5, 6, 7, 8, 10, 13, 14, 15})
# SQLSTATE classes and codes of PostgreSQL that say the same: connection exception,
# authorization refused and database missing (both at connect time: configuration, never the
# record), insufficient resources, operator intervention (shutdown), system error,
# serialization failure and deadlock, lock not available.
_SQLSTATE_TRANSIENT = ("08", "28", "3D000", "53", "57", "58", "40001", "40P01", "55P03")


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it wraps) is of a kind that passes by itself: a lost or
    refused connection, a locked database, a timeout, an OS or Kafka error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            OSError | TimeoutError | KafkaError | InterfaceError | DisconnectionError | PoolTimeout,
        ):
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        code = getattr(current, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_SQLSTATE_TRANSIENT):
            return True
        if "database is locked" in str(current):
            return True
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper of the driver's error
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def failure_reason(exc: BaseException, limit: int = 500) -> str:
    """`handler failed: <Type>: <message>`, on one line and bounded (driver errors can quote
    a whole statement with its parameters)."""
    message = " ".join(str(exc).split())
    if len(message) > limit:
        message = message[:limit] + "…"
    return f"handler failed: {type(exc).__name__}: {message}"
