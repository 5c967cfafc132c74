"""SQLite writer: the whole batch in one dedicated thread, stdlib sqlite3, one transaction.

One hand-off per batch (not one thread hop per statement, as aiosqlite does); while the thread
works the event loop keeps fetching and decoding the next batch and answering heartbeats. The
thread's connection uses the same durability settings as the rest of the service
(`synchronous=FULL`), and the caller holds the database's writer lock around each batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from services.metrics.ingest.rows import KPI_COLUMNS, kpi_defs, outbox_rows, prepare
from shared.consumer import Inbound, Rejection
from shared.db import SQLITE_PRAGMAS

INSERT_POINTS = (
    "INSERT OR IGNORE INTO measurements"
    " (tenant, source, event_id, kpi, observed_at, period_start, value, dimensions)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

# The rows with a rowid above the batch's starting high-water mark are exactly the ones this
# batch inserted (rowids grow with each insert; OR IGNORE skips the duplicates), so
# redeliveries are never rolled up twice.
ROLL_UP = """
WITH ranked AS (
    SELECT tenant, kpi, period_start, observed_at, value,
           row_number() OVER (PARTITION BY tenant, kpi, period_start
                              ORDER BY observed_at DESC, value DESC) AS rn
    FROM measurements WHERE rowid > ?
)
INSERT INTO rollups
    (tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at)
SELECT tenant, kpi, period_start, count(*), sum(value), min(value), max(value),
       max(CASE WHEN rn = 1 THEN value END), max(observed_at)
FROM ranked GROUP BY tenant, kpi, period_start
ON CONFLICT (tenant, kpi, period_start) DO UPDATE SET
    count = count + excluded.count,
    total = total + excluded.total,
    minimum = min(minimum, excluded.minimum),
    maximum = max(maximum, excluded.maximum),
    last_value = CASE WHEN (excluded.last_at, excluded.last_value) > (last_at, last_value)
                      THEN excluded.last_value ELSE last_value END,
    last_at = max(last_at, excluded.last_at)
RETURNING tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at
"""

INSERT_OUTBOX = (
    "INSERT INTO outbox (event_id, topic, key, payload, created_at) VALUES (?, ?, ?, ?, ?)"
)


class SqliteWriter:
    def __init__(self, path: str, *, topic: str, source: str) -> None:
        self._path = path
        self._topic = topic
        self._source = source
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="metrics-ingest")
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30
            )
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
        return self._conn

    async def store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._store, batch)

    def _store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            kpis = kpi_defs(conn.execute(f"SELECT {KPI_COLUMNS} FROM kpis"))
            tenants = {slug for (slug,) in conn.execute("SELECT slug FROM tenants")}
            rows, rejected = prepare(batch, kpis, tenants)
            if rows:
                (before,) = conn.execute(
                    "SELECT coalesce(max(rowid), 0) FROM measurements"
                ).fetchone()
                conn.executemany(INSERT_POINTS, rows)
                touched = conn.execute(ROLL_UP, (before,)).fetchall()
                # SQLAlchemy's storage format for a naive UTC DATETIME on SQLite.
                created_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                conn.executemany(
                    INSERT_OUTBOX,
                    outbox_rows(
                        touched, kpis, topic=self._topic, source=self._source, created_at=created_at
                    ),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return rejected

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)
