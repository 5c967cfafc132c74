"""PostgreSQL writer: the batch's new points COPYed straight into `measurements`, their
aggregates (computed in Python, `rows.record_rollups`) merged into the rollups by one upsert
that hands back the touched rollups, and their `kpi.values` rows COPYed into the outbox, in
one transaction.

COPY cannot skip a duplicate: a key already stored (a redelivery from an earlier batch) makes
it fail, the transaction is rolled back, and the batch goes again the set-based way: COPY into
a temporary staging table, `INSERT ... ON CONFLICT DO NOTHING RETURNING` the keys that were
new (not a savepoint: that is two more round trips on every batch). Redeliveries of recent
events are dropped before the COPY (`RecentKeys`), so the fallback is rare. COPY into the
table is 2-3 times faster than the INSERT from staging.

Each batch reads the definitions of the KPIs and tenants it names, and only those, in its own
transaction (one statement, by primary key, before the COPY): always fresh, with no cache to
keep in step. (Keeping every definition between batches instead saved that round trip, but
each merge then fingerprinted every `kpis` and `tenants` row to check them, and each change
reloaded them all: work that grew with the database, not the batch.)

asyncpg directly, on one dedicated connection: it is asynchronous, so the event loop keeps
fetching and decoding the next batch while PostgreSQL works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

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
from shared.inbound import Inbound, Rejection
from shared.leader import WAKE_CHANNEL

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

# The batch's definitions, in one statement: its KPIs (with `created_at`, which tells a KPI
# deleted and created again since), then its tenants.
DEFINITIONS = f"""
SELECT {KPI_COLUMNS}, k.created_at, NULL AS slug FROM {KPI_FROM}
WHERE (k.tenant, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, slug FROM tenants
WHERE slug = ANY($3::text[])
"""

# The set-based path: exactly the keys this statement inserted (redeliveries are skipped).
INSERT_NEW = """
INSERT INTO measurements (id, tenant, source, event_id, kpi, observed_at, period_start,
                          value, dimensions)
SELECT id, tenant, source, event_id, kpi, observed_at, period_start, value, dimensions
FROM staging_measurements
ON CONFLICT (id) DO NOTHING
RETURNING id
"""

ROLLUP_COLUMNS = "tenant, kpi, period_start, count, total, minimum, maximum, last_value, last_at"
# The touched rollups, as stored.
MERGE_ROLLUPS = f"""
INSERT INTO rollups AS r ({ROLLUP_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[],
                     $5::double precision[], $6::double precision[], $7::double precision[],
                     $8::double precision[], $9::bigint[])
ON CONFLICT (tenant, kpi, period_start) DO UPDATE SET
    count = r.count + excluded.count,
    total = r.total + excluded.total,
    minimum = least(r.minimum, excluded.minimum),
    maximum = greatest(r.maximum, excluded.maximum),
    last_value = CASE WHEN (excluded.last_at, excluded.last_value) > (r.last_at, r.last_value)
                      THEN excluded.last_value ELSE r.last_value END,
    last_at = greatest(r.last_at, excluded.last_at)
RETURNING {ROLLUP_COLUMNS}, revision
"""


@dataclass(frozen=True, slots=True)
class Definitions:
    """The definitions of a batch's KPIs and tenants, as its transaction sees them."""

    kpis: dict[tuple[str, str], KpiDef]
    tenants: set[str]
    created: dict[tuple[str, str], datetime]
    """Each KPI's `created_at`."""


async def load_definitions(
    conn: Any, pairs: Sequence[tuple[str, str]], tenants: Sequence[str] = ()
) -> Definitions:
    """The definitions of the KPIs `pairs` names, and which of `tenants` exist."""
    kpi_rows: list[tuple[Any, ...]] = []
    created: dict[tuple[str, str], datetime] = {}
    found: set[str] = set()
    keys = [key for _, key in pairs]
    for row in await conn.fetch(DEFINITIONS, [tenant for tenant, _ in pairs], keys, tenants):
        if row[-1] is not None:
            found.add(row[-1])
        else:
            kpi_rows.append(tuple(row)[:-2])
            created[(row[0], row[1])] = row[-2]
    return Definitions(kpi_defs(kpi_rows), found, created)


class RecentKeys:
    """The keys of the points this writer stored lately (at most about 2 x `capacity`), added
    only after their transaction committed: a key in here is stored, so its redelivery can be
    dropped before the COPY. Cleared when a KPI of a batch is not the one this writer saw
    under that name before (deleted, its points with it, and created again)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._current: set[bytes] = set()
        self._previous: set[bytes] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._current or key in self._previous

    def add_all(self, keys: Iterable[bytes]) -> None:
        if len(self._current) >= self._capacity:
            self._previous, self._current = self._current, set()
        self._current.update(keys)

    def clear(self) -> None:
        self._current.clear()
        self._previous.clear()


def rollup_columns(records: list[Record]) -> list[list[Any]]:
    """The batch's aggregates as the nine column arrays `MERGE_ROLLUPS` unnests."""
    columns: list[list[Any]] = [[] for _ in range(9)]
    for (tenant, kpi, start), acc in record_rollups(records).items():
        for column, value in zip(columns, (tenant, kpi, start, *acc), strict=True):
            column.append(value)
    return columns


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def run(conn: Any, steps: corrections.Steps) -> list[TouchedRollup]:
    """Run the slow path's queries on the batch's connection; what it returns."""
    try:
        query = next(steps)
        while True:
            sql, params = query
            rows = await conn.fetch(corrections.numbered(sql), *params)
            query = steps.send([tuple(row) for row in rows])
    except StopIteration as done:
        touched: list[TouchedRollup] = done.value  # the generator's return value
        return touched


class PostgresWriter:
    """Stores batches through one connection (opened on first use), one transaction each.

    A batch's transaction is committed with `COMMIT; BEGIN`, one round trip that also opens
    the next batch's transaction, so a batch's first round trip is its COPY. A transaction
    that has run no statement holds no snapshot and no lock; if no batch comes to use it
    within `idle_s`, it is rolled back (so the connection does not sit idle in transaction).
    """

    def __init__(self, url: str, *, topic: str, source: str, idle_s: float = 1.0) -> None:
        self._dsn = asyncpg_dsn(url)
        self._topic = topic
        self._source = source
        self._idle_s = idle_s
        self._conn: Any = None
        self._recent = RecentKeys()
        # The `created_at` of each KPI this writer has read the definition of.
        self._created: dict[tuple[str, str], datetime] = {}
        self._lock = asyncio.Lock()  # the connection: a batch, or the idle rollback
        self._open = False  # a transaction is open and unused (`COMMIT; BEGIN`)
        self._idle: asyncio.TimerHandle | None = None
        self._idle_task: asyncio.Task[None] | None = None

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._open = False
            conn = await asyncpg.connect(self._dsn)
            await conn.execute(CREATE_STAGING)
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        self._open = False
        if conn is not None:
            conn.terminate()

    async def store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        async with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            try:
                rejected = await self._store(batch)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                # A broken connection: drop it, so the retried batch gets a fresh one.
                self._drop_connection()
                raise
            if self._open:
                self._idle = asyncio.get_running_loop().call_later(self._idle_s, self._on_idle)
            return rejected

    def _on_idle(self) -> None:
        self._idle = None
        self._idle_task = asyncio.create_task(self._end_idle())

    async def _end_idle(self) -> None:
        async with self._lock:
            if not self._open:
                return
            self._open = False
            try:
                await self._conn.execute("ROLLBACK")
            except Exception:  # the next batch connects again
                self._drop_connection()

    async def _store(self, batch: Sequence[Inbound]) -> list[Rejection]:
        try:
            return await self._store_once(batch, copy=True)
        except asyncpg.UniqueViolationError:
            # A point was stored before (not by this writer lately): the whole transaction
            # is rolled back, and the batch goes again the set-based way.
            return await self._store_once(batch, copy=False)

    async def _definitions(
        self, conn: Any, pairs: Sequence[tuple[str, str]], tenants: Sequence[str] = ()
    ) -> Definitions:
        defs = await load_definitions(conn, pairs, tenants)
        seen = self._created
        for pair, created in defs.created.items():
            if seen.get(pair, created) != created:
                # A KPI deleted takes its points with it: what this writer remembers storing
                # may be gone.
                self._recent.clear()
            seen[pair] = created
        return defs

    async def _store_once(self, batch: Sequence[Inbound], *, copy: bool) -> list[Rejection]:
        conn = await self._connection()
        if not self._open:
            await conn.execute("BEGIN")
        self._open = False
        try:
            stored, rejected = await self._write(conn, batch, copy=copy)
        except BaseException:
            if not conn.is_closed() and conn.is_in_transaction():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT; BEGIN")
        self._open = True
        self._recent.add_all(stored)
        return rejected

    async def _write(
        self, conn: Any, batch: Sequence[Inbound], *, copy: bool
    ) -> tuple[Iterable[bytes], list[Rejection]]:
        """The batch's writes, inside its transaction: the keys stored, the refused."""
        defs = await self._definitions(conn, *wanted(batch))
        # Redeliveries of points this writer stored lately are left out.
        points = prepare(batch, defs.kpis, defs.tenants, self._recent)
        stored: Iterable[bytes] = ()
        touched: list[Any] = []
        if points.records:
            new = await self._insert(conn, points.records, copy=copy)
            stored = points.keys if new is points.records else [record[0] for record in new]
            touched = list(await conn.fetch(MERGE_ROLLUPS, *rollup_columns(new)))
        if points.corrections:
            recomputed = await run(conn, corrections.apply(points.corrections))
            touched = corrections.superseded(touched, recomputed)
            if left := missing(recomputed, defs.kpis):
                defs.kpis.update((await self._definitions(conn, left)).kpis)
            # Each corrected point is stored now (restated, retracted or a tombstone).
            stored = [*stored, *(c.key for c in points.corrections)]
        events = outbox_rows(
            touched, defs.kpis, topic=self._topic, source=self._source, created_at=datetime.now(UTC)
        )
        if events:
            await conn.copy_records_to_table(
                "outbox",
                records=events,
                columns=["event_id", "topic", "key", "payload", "created_at"],
            )
            await conn.execute(f"NOTIFY {WAKE_CHANNEL}")  # the leading relay may be elsewhere
        return stored, points.rejected

    async def _insert(self, conn: Any, records: list[Record], *, copy: bool) -> list[Record]:
        """Store the points not stored before; those points. With `copy`, COPY them all
        straight in (raises UniqueViolationError if one was stored before)."""
        if copy:
            await conn.copy_records_to_table("measurements", records=records, columns=POINT_COLUMNS)
            return records
        await conn.copy_records_to_table(
            "staging_measurements", records=records, columns=POINT_COLUMNS
        )
        new = {r[0] for r in await conn.fetch(INSERT_NEW)}
        return [record for record in records if record[0] in new]

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._idle_task is not None:
            self._idle_task.cancel()  # closing the connection rolls back as well
            self._idle_task = None
        async with self._lock:
            if self._conn is not None:
                # An open, unused transaction ends with the connection (rolled back).
                await self._conn.close()
                self._conn = None
                self._open = False
