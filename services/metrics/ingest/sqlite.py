"""SQLite writer: the whole batch in one dedicated thread, stdlib sqlite3, one transaction.

One hand-off per batch (not one thread hop per statement, as aiosqlite does); while the thread
works the event loop keeps fetching and decoding the next batch and answering heartbeats. The
thread's connection uses the same durability settings as the rest of the service
(`synchronous=FULL`), and the caller holds the database's writer lock around each batch.

The points go in as multi-row `INSERT ... VALUES (...), (...)` statements of a few fixed sizes
(each prepared once and cached), not `executemany`: the sqlite3 module releases the GIL around
every statement step, so `executemany` gives the GIL up and waits to get it back (up to the
5 ms switch interval while the event loop decodes the next batch) once per row; a 500-row
statement does so once per 500 rows and otherwise runs in C without the GIL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import msgspec

from services.metrics.ingest.rows import KPI_COLUMNS, Points, kpi_defs, outbox_rows, prepare
from shared.consumer import Inbound, Rejection
from shared.db import SQLITE_PRAGMAS

POINT_COLUMNS = "id, tenant, source, event_id, kpi, observed_at, period_start, value, dimensions"
CHUNKS = (500, 50, 1)
"""Rows per INSERT statement: a batch goes in as 500-row statements, then 50s, then ones."""


def insert_points_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT OR IGNORE INTO measurements ({POINT_COLUMNS}) VALUES {values}"


INSERT_POINTS = {rows: insert_points_sql(rows) for rows in CHUNKS}

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

_encode = msgspec.json.encode


def insert_points(conn: sqlite3.Connection, points: Points) -> None:
    """INSERT OR IGNORE the points, in input order (the first of two duplicates is kept)."""
    params: list[object] = []
    for key, (tenant, source, event_id, kpi, at, start, value, dims) in zip(
        points.ids, points.rows, strict=True
    ):
        params += (key, tenant, source, event_id, kpi, at, start, value)
        params.append(_encode(dims).decode() if dims else None)
    width = 9
    done, total = 0, len(points.rows)
    for size in CHUNKS:
        sql = INSERT_POINTS[size]
        while total - done >= size:
            conn.execute(sql, params[done * width : (done + size) * width])
            done += size


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
            points = prepare(batch, kpis, tenants)
            rejected = points.rejected
            if points.rows:
                (before,) = conn.execute(
                    "SELECT coalesce(max(rowid), 0) FROM measurements"
                ).fetchone()
                insert_points(conn, points)
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
