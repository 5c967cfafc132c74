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
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import chain
from typing import Any

from services.metrics.ingest import corrections
from services.metrics.ingest.rows import (
    KPI_COLUMNS,
    KPI_FROM,
    KpiDef,
    Record,
    TouchedRollup,
    kpi_defs,
    missing,
    outbox_rows,
    prepare,
    record_rollups,
    wanted,
)
from shared.db import SQLITE_PRAGMAS
from shared.inbound import Inbound, Rejection

POINT_COLUMNS = "id, tenant, source, event_id, kpi, observed_at, period_start, value, dimensions"
CHUNKS = (500, 50, 1)
"""Rows per INSERT statement: a batch goes in as 500-row statements, then 50s, then ones."""


def insert_points_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT OR IGNORE INTO measurements ({POINT_COLUMNS}) VALUES {values}"


INSERT_POINTS = {rows: insert_points_sql(rows) for rows in CHUNKS}

# Merges a batch's aggregates (computed in Python from the rows it newly inserted) into the
# stored rollups, and returns the results: one `kpi.values` event each.
ROLLUP_COLUMNS = "tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at"
MERGE_ROLLUPS_TAIL = f"""
ON CONFLICT (tenant, kpi, period_start) DO UPDATE SET
    count = count + excluded.count,
    total = total + excluded.total,
    minimum = min(minimum, excluded.minimum),
    maximum = max(maximum, excluded.maximum),
    last_value = CASE WHEN (excluded.last_at, excluded.last_value) > (last_at, last_value)
                      THEN excluded.last_value ELSE last_value END,
    last_at = max(last_at, excluded.last_at)
RETURNING {ROLLUP_COLUMNS}, revision
"""
MERGE_CHUNKS = (100, 10, 1)


def merge_rollups_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO rollups ({ROLLUP_COLUMNS}) VALUES {values}{MERGE_ROLLUPS_TAIL}"


MERGE_ROLLUPS = {rows: merge_rollups_sql(rows) for rows in MERGE_CHUNKS}

INSERT_OUTBOX = {
    rows: "INSERT INTO outbox (event_id, topic, key, payload, created_at) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    for rows in MERGE_CHUNKS
}


# The batch's definitions, read in its transaction: its KPIs (a JSON array of [tenant, key])
# and its tenants (a JSON array of slugs), each looked up by primary key.
SELECT_KPIS = f"""
SELECT {KPI_COLUMNS} FROM {KPI_FROM}
WHERE (k.tenant, k.key) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)
)
"""
SELECT_TENANTS = "SELECT slug FROM tenants WHERE slug IN (SELECT value FROM json_each(?))"


def read_kpis(
    conn: sqlite3.Connection, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], KpiDef]:
    """The definitions of the KPIs `pairs` names (those that exist)."""
    return kpi_defs(conn.execute(SELECT_KPIS, (json.dumps(pairs),)))


def chunked(
    conn: sqlite3.Connection, statements: dict[int, str], params: list[Any], width: int
) -> list[Any]:
    """Run `params` (rows of `width` values, flattened) through the fixed-size multi-row
    statements, largest first; the rows they return."""
    out: list[Any] = []
    done, total = 0, len(params) // width
    for size, sql in statements.items():
        while total - done >= size:
            out += conn.execute(sql, params[done * width : (done + size) * width]).fetchall()
            done += size
    return out


def insert_points(conn: sqlite3.Connection, records: list[Record]) -> list[Record]:
    """INSERT OR IGNORE the points; the ones that were new (not stored by an earlier batch).

    Rowids grow with each insert and OR IGNORE skips the duplicates, so the rows above the
    starting high-water mark are exactly the new ones; when as many rows were inserted as
    given (the usual case) they are all new and need not be read back."""
    params = list(chain.from_iterable(records))  # a record is a row's parameters, in order
    (before,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM measurements").fetchone()
    changes = conn.total_changes
    chunked(conn, INSERT_POINTS, params, 9)
    if conn.total_changes - changes == len(records):
        return records
    new = {key for (key,) in conn.execute("SELECT id FROM measurements WHERE rowid > ?", (before,))}
    return [record for record in records if record[0] in new]


def merge_rollups(conn: sqlite3.Connection, records: list[Record]) -> list[Any]:
    """Add the new points' aggregates to the stored rollups; the touched rollups, as stored."""
    params: list[Any] = []
    for key, acc in record_rollups(records).items():
        params += key
        params += acc
    return chunked(conn, MERGE_ROLLUPS, params, 9)


def run(conn: sqlite3.Connection, steps: corrections.Steps) -> list[TouchedRollup]:
    """Run the slow path's queries on the batch's connection; what it returns."""
    try:
        query = next(steps)
        while True:
            sql, params = query
            query = steps.send(conn.execute(sql, params).fetchall())
    except StopIteration as done:
        touched: list[TouchedRollup] = done.value  # the generator's return value
        return touched


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
            # This thread is the only one a checkpoint stalls: fewer, larger ones.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            self._conn = conn
        return self._conn

    async def store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._store, batch)

    def _store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            pairs, slugs = wanted(batch)
            kpis = read_kpis(conn, pairs)
            tenants = {slug for (slug,) in conn.execute(SELECT_TENANTS, (json.dumps(slugs),))}
            points = prepare(batch, kpis, tenants)
            rejected = points.rejected
            touched: list[Any] = []
            if points.records:
                touched = merge_rollups(conn, insert_points(conn, points.records))
            if points.corrections:
                recomputed = run(conn, corrections.apply(points.corrections))
                touched = corrections.superseded(touched, recomputed)
                kpis.update(read_kpis(conn, missing(recomputed, kpis)))
            if touched:
                # SQLAlchemy's storage format for a naive UTC DATETIME on SQLite.
                created_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                events = outbox_rows(
                    touched, kpis, topic=self._topic, source=self._source, created_at=created_at
                )
                chunked(conn, INSERT_OUTBOX, [v for event in events for v in event], 5)
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
