"""PostgreSQL writer: COPY the batch into a temporary staging table, then one statement
inserts the new points, rolls up only those (from `RETURNING`) and hands back the touched
rollups; their `kpi.values` rows are COPYed into the outbox in the same transaction.

asyncpg directly, on one dedicated connection: it is asynchronous, so the event loop keeps
fetching and decoding the next batch while PostgreSQL works.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from services.metrics.ingest.rows import KPI_COLUMNS, kpi_defs, outbox_rows, prepare
from shared.consumer import Inbound, Rejection

POINT_COLUMNS = [
    "id",
    "tenant",
    "source",
    "event_id",
    "kpi",
    "observed_at",
    "period_start",
    "value",
    "dimensions",
]

CREATE_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS staging_measurements (
    id bytea, tenant text, source text, event_id text, kpi text,
    observed_at bigint, period_start bigint, value double precision, dimensions text
) ON COMMIT DELETE ROWS
"""

# ON CONFLICT DO NOTHING + RETURNING yields exactly the rows this statement inserted, so
# redeliveries (in this batch or earlier ones) are never rolled up twice.
STORE = """
WITH inserted AS (
    INSERT INTO measurements (id, tenant, source, event_id, kpi, observed_at, period_start,
                              value, dimensions)
    SELECT id, tenant, source, event_id, kpi, observed_at, period_start, value, dimensions
    FROM staging_measurements
    ON CONFLICT (id) DO NOTHING
    RETURNING tenant, kpi, period_start, observed_at, value
), ranked AS (
    SELECT tenant, kpi, period_start, observed_at, value,
           row_number() OVER (PARTITION BY tenant, kpi, period_start
                              ORDER BY observed_at DESC, value DESC) AS rn
    FROM inserted
)
INSERT INTO rollups AS r
    (tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at)
SELECT tenant, kpi, period_start, count(*), sum(value), min(value), max(value),
       max(CASE WHEN rn = 1 THEN value END), max(observed_at)
FROM ranked GROUP BY tenant, kpi, period_start
ON CONFLICT (tenant, kpi, period_start) DO UPDATE SET
    count = r.count + excluded.count,
    total = r.total + excluded.total,
    minimum = least(r.minimum, excluded.minimum),
    maximum = greatest(r.maximum, excluded.maximum),
    last_value = CASE WHEN (excluded.last_at, excluded.last_value) > (r.last_at, r.last_value)
                      THEN excluded.last_value ELSE r.last_value END,
    last_at = greatest(r.last_at, excluded.last_at)
RETURNING tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at
"""


_encode = msgspec.json.encode


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PostgresWriter:
    def __init__(self, url: str, *, topic: str, source: str) -> None:
        self._dsn = asyncpg_dsn(url)
        self._topic = topic
        self._source = source
        self._conn: Any = None

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self._dsn)
            await conn.execute(CREATE_STAGING)
            self._conn = conn
        return self._conn

    async def store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        try:
            return await self._store(batch)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            # A broken connection: drop it, so the retried batch gets a fresh one.
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()
            raise

    async def _store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        conn = await self._connection()
        async with conn.transaction():
            kpis = kpi_defs(await conn.fetch(f"SELECT {KPI_COLUMNS} FROM kpis"))
            tenants = {r[0] for r in await conn.fetch("SELECT slug FROM tenants")}
            points = prepare(batch, kpis, tenants)
            rejected = points.rejected
            if points.rows:
                records = [
                    (key, *row[:7], _encode(row[7]).decode() if row[7] else None)
                    for key, row in zip(points.ids, points.rows, strict=True)
                ]
                await conn.copy_records_to_table(
                    "staging_measurements", records=records, columns=POINT_COLUMNS
                )
                touched = await conn.fetch(STORE)
                events = outbox_rows(
                    touched,
                    kpis,
                    topic=self._topic,
                    source=self._source,
                    created_at=datetime.now(UTC),
                )
                if events:
                    await conn.copy_records_to_table(
                        "outbox",
                        records=events,
                        columns=["event_id", "topic", "key", "payload", "created_at"],
                    )
        return rejected

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
