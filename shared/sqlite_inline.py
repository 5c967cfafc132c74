"""SQLite for SQLAlchemy's asyncio engine without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close, commit) in its own thread and hands
the result back through the event loop. `bench/sqlite_calls.py` on this project's 2-core
machine: a transaction of ten indexed SELECTs through an `AsyncSession` took 5.6 ms (p50) on
aiosqlite, 1.2 ms inline, 0.02 ms on bare `sqlite3`; a consumer batch of the alerts service
(ten statements) spent most of its latency in those hand-offs.

This module gives SQLAlchemy's aiosqlite dialect (through `create_async_engine(...,
async_creator=...)`) a connection with aiosqlite's shape whose coroutines run `sqlite3` right
away on the calling thread. What that trades: a statement blocks the event loop while SQLite
works. Lodestar's statements are short (indexed lookups, batch inserts), writers in one process
never wait on each other (`Database.transaction()` serialises them before they reach SQLite)
and WAL readers do not block, so the loop is held for microseconds to a few milliseconds (a
WAL checkpoint). The bulk ingest path of the metrics service keeps its own thread.

Only a writer outside that lock (another process, an operator's `sqlite3` shell) can make a
statement wait for SQLite's write lock, and SQLite's busy handler waits by sleeping on the
calling thread, here the event loop. So the busy timeout is short (`BUSY_TIMEOUT_S`) and a
statement refused with SQLITE_BUSY is retried after an `asyncio.sleep`, until `BUSY_BUDGET_S`:
the loop is never held longer than one short busy wait (`bench/sqlite_calls.py`, contention).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

# The releases whose private internals this module was written against: SQLAlchemy's aiosqlite
# adapter (`AsyncAdapt_aiosqlite_connection`) reads `InlineConnection._connection` before a
# commit or rollback, calls `stop()` to terminate, turns a ValueError "no active connection"
# into a disconnect, and has `has_terminate` follow `aiosqlite.Connection.stop`.
# tests/unit/test_pinned_internals.py fails while the installed or locked versions differ:
# re-read that adapter, then move these.
WRITTEN_AGAINST = {"sqlalchemy": "2.1.9", "aiosqlite": "0.22.1"}

BUSY_TIMEOUT_S = 0.02  # SQLite's own busy wait: the longest a locked database holds the loop
BUSY_BUDGET_S = 10.0  # then the statement's retries, in async pauses, before SQLITE_BUSY is raised
_PAUSE_MIN_S = 0.005
_PAUSE_MAX_S = 0.1

T = TypeVar("T")


async def _while_busy(budget_s: float, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)`, again after a growing async pause while SQLite answers SQLITE_BUSY.

    A statement refused with SQLITE_BUSY changed nothing (it could not take a lock), so
    running it again is what SQLite's busy handler does too. SQLITE_BUSY_SNAPSHOT (a WAL
    read transaction that may no longer write) and every other error are raised at once."""
    pause = _PAUSE_MIN_S
    deadline: float | None = None
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            now = time.monotonic()
            deadline = now + budget_s if deadline is None else deadline
            if now >= deadline:
                raise
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _PAUSE_MAX_S)


class InlineCursor:
    """An aiosqlite-shaped cursor over a `sqlite3.Cursor`."""

    def __init__(self, cursor: sqlite3.Cursor, busy_budget_s: float) -> None:
        self._cursor = cursor
        self._busy_budget_s = busy_budget_s

    async def __aenter__(self) -> InlineCursor:
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await _while_busy(self._busy_budget_s, self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        # In WAL mode only the first row can meet SQLITE_BUSY (taking the write lock), so a
        # retry never repeats a row; a list, because a retry reads the parameters again.
        rows = list(parameters)
        await _while_busy(self._busy_budget_s, self._cursor.executemany, sql, rows)
        return self

    async def rowcounts(self, sql: str, rows: Iterable[Any]) -> list[int]:
        """`sql` run once per row, and each run's rowcount (sqlite3's `executemany` refuses
        RETURNING and sums the counts)."""
        counts = []
        for row in rows:
            await self._execute_one(sql, row)
            counts.append(self._cursor.rowcount)
        return counts

    async def _execute_one(self, sql: str, row: Any) -> None:
        """One run of a statement run per row; a run refused with SQLITE_BUSY changed
        nothing, and is run again as `execute` does, after async pauses."""
        try:
            self._cursor.execute(sql, row)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            await _while_busy(self._busy_budget_s, self._cursor.execute, sql, row)

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An aiosqlite-shaped connection over a `sqlite3.Connection`, used on one thread."""

    def __init__(
        self, connection: sqlite3.Connection, busy_budget_s: float = BUSY_BUDGET_S
    ) -> None:
        # SQLAlchemy's adapter reads `_connection` to tell an open connection from a closed one.
        self._connection: sqlite3.Connection | None = connection
        self._busy_budget_s = busy_budget_s

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._busy_budget_s)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def set_trace_callback(self, handler: Callable[[str], object] | None) -> None:
        """`handler` is given each statement run, its parameters spelled in (tests read the
        statements sent on the driver's connection with it)."""
        self._conn.set_trace_callback(handler)

    async def commit(self) -> None:
        await _while_busy(self._busy_budget_s, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (also SQLAlchemy's forced terminate): nothing runs elsewhere to stop."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def connect(
    *args: Any, busy_budget_s: float = BUSY_BUDGET_S, **kwargs: Any
) -> InlineConnection:
    """`async_creator` for `create_async_engine`: the arguments are `sqlite3.connect`'s (its
    `timeout` is SQLite's busy timeout; keep it at `BUSY_TIMEOUT_S`)."""
    return InlineConnection(sqlite3.connect(*args, **kwargs), busy_budget_s)
