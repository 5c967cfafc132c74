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

Each batch uses the definitions of the KPIs and tenants it names, and only those. The writer
keeps those it has read (`DefinitionCache`, each row with a digest of its whole text) and does
not read them again: that read was a round trip at the head of each batch, waiting for the
event loop's turn behind the next batch's fetch and decoding. They are checked instead, in the
same statement as the rollup merge, which also returns a fingerprint of the batch's `kpis` and
`tenants` rows (by primary key: work that grows with the batch, not the database); a batch
written with definitions that no longer match is rolled back and written again with fresh
ones. A batch that names a KPI or tenant the writer has not read (or that does not exist), or
that holds a correction, or stores no new point (no merge to check with), reads its
definitions in its transaction, by primary key, before the COPY.

asyncpg directly, on one dedicated connection: it is asynchronous, so the event loop keeps
fetching and decoding the next batch while PostgreSQL works.
"""

from __future__ import annotations

import asyncio
import hashlib
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
    Points,
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
# deleted and created again since), then its tenants; each with the digest of its whole row
# (`CHECKED_ROWS`).
DEFINITIONS = f"""
SELECT {KPI_COLUMNS}, k.created_at, NULL AS slug, md5(k::text) FROM {KPI_FROM}
WHERE (k.tenant, k.key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, t.slug, md5(t::text)
FROM tenants t WHERE t.slug = ANY($3::text[])
"""

# The fingerprint of a batch's definitions: the md5 of the digests of its `kpis` rows
# ($10, $11: tenants and keys) and `tenants` rows ($12), sorted bytewise (`Definitions`
# computes the same from the digests it read).
FINGERPRINT = """
(SELECT md5(coalesce(string_agg(d, '' ORDER BY d COLLATE "C"), '')) FROM (
    SELECT md5(k::text) AS d FROM kpis k
    WHERE (k.tenant, k.key) IN (SELECT * FROM unnest($10::text[], $11::text[]))
    UNION ALL
    SELECT md5(t::text) FROM tenants t WHERE t.slug = ANY($12::text[])
) AS batch)
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
# The same, then one more row: the fingerprint of the batch's definitions (last field).
MERGE_CHECKED = f"""
WITH merged AS ({MERGE_ROLLUPS})
SELECT {ROLLUP_COLUMNS}, revision, NULL AS fingerprint FROM merged
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, {FINGERPRINT}
"""


@dataclass(frozen=True, slots=True)
class Definitions:
    """The definitions of a batch's KPIs and tenants, as its transaction sees them."""

    kpis: dict[tuple[str, str], KpiDef]
    tenants: set[str]
    created: dict[tuple[str, str], datetime]
    """Each KPI's `created_at`."""
    digests: dict[tuple[str, str] | str, str]
    """Each row's digest (`md5` of its text), by (tenant, KPI) or tenant slug."""


def fingerprint(digests: Iterable[str]) -> str:
    """`FINGERPRINT` of rows with these digests."""
    return hashlib.md5("".join(sorted(digests)).encode()).hexdigest()


class DefinitionCache:
    """The definitions this writer has read, each as its row was then; only a merge whose
    fingerprint matches theirs (`MERGE_CHECKED`) commits a batch written with them."""

    def __init__(self) -> None:
        self.kpis: dict[tuple[str, str], KpiDef] = {}
        self.tenants: set[str] = set()
        self._digests: dict[tuple[str, str] | str, str] = {}

    def fingerprint(self, pairs: Sequence[tuple[str, str]], tenants: Sequence[str]) -> str | None:
        """The fingerprint of the batch's definitions as cached; None unless every one of
        them is cached."""
        digests = self._digests
        try:
            return fingerprint([*(digests[p] for p in pairs), *(digests[t] for t in tenants)])
        except KeyError:
            return None

    def update(
        self, defs: Definitions, pairs: Sequence[tuple[str, str]], tenants: Sequence[str]
    ) -> None:
        """What a read of `pairs` and `tenants` found (those it did not find are forgotten)."""
        for pair in pairs:
            if pair in defs.kpis:
                self.kpis[pair] = defs.kpis[pair]
                self._digests[pair] = defs.digests[pair]
            else:
                self.kpis.pop(pair, None)
                self._digests.pop(pair, None)
        for tenant in tenants:
            if tenant in defs.tenants:
                self.tenants.add(tenant)
                self._digests[tenant] = defs.digests[tenant]
            else:
                self.tenants.discard(tenant)
                self._digests.pop(tenant, None)

    def clear(self) -> None:
        self.kpis.clear()
        self.tenants.clear()
        self._digests.clear()


class StaleDefinitions(Exception):
    """A batch's definitions changed since this writer read them."""


async def load_definitions(
    conn: Any, pairs: Sequence[tuple[str, str]], tenants: Sequence[str] = ()
) -> Definitions:
    """The definitions of the KPIs `pairs` names, and which of `tenants` exist."""
    kpi_rows: list[tuple[Any, ...]] = []
    created: dict[tuple[str, str], datetime] = {}
    found: set[str] = set()
    digests: dict[tuple[str, str] | str, str] = {}
    keys = [key for _, key in pairs]
    for row in await conn.fetch(DEFINITIONS, [tenant for tenant, _ in pairs], keys, tenants):
        if row[-2] is not None:
            found.add(row[-2])
            digests[row[-2]] = row[-1]
        else:
            kpi_rows.append(tuple(row)[:-3])
            created[(row[0], row[1])] = row[-3]
            digests[(row[0], row[1])] = row[-1]
    return Definitions(kpi_defs(kpi_rows), found, created, digests)


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
        self._cache = DefinitionCache()
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
        copy = True
        while True:
            try:
                return await self._store_once(batch, copy=copy)
            except asyncpg.UniqueViolationError:
                # A point was stored before (not by this writer lately): the whole
                # transaction is rolled back, and the batch goes again the set-based way.
                if not copy:
                    raise
                copy = False
            except StaleDefinitions:
                # Rolled back; the next attempt reads the definitions in its transaction.
                self._cache.clear()

    async def _definitions(
        self, conn: Any, pairs: Sequence[tuple[str, str]], tenants: Sequence[str] = ()
    ) -> Definitions:
        defs = await load_definitions(conn, pairs, tenants)
        self._cache.update(defs, pairs, tenants)
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

    async def _prepare(
        self,
        conn: Any,
        batch: Sequence[Inbound],
        pairs: Sequence[tuple[str, str]],
        tenants: Sequence[str],
    ) -> tuple[dict[tuple[str, str], KpiDef], Points, str | None]:
        """The batch's definitions and points (redeliveries of points this writer stored
        lately left out), and the fingerprint its merge must return: with the cached
        definitions when they are all there and a merge will check them, else with the
        definitions read now (and no fingerprint)."""
        check = self._cache.fingerprint(pairs, tenants)
        if check is not None:
            points = prepare(batch, self._cache.kpis, self._cache.tenants, self._recent)
            if points.records and not (points.unknown or points.corrections):
                return self._cache.kpis, points, check
        defs = await self._definitions(conn, pairs, tenants)
        return defs.kpis, prepare(batch, defs.kpis, defs.tenants, self._recent), None

    async def _write(
        self, conn: Any, batch: Sequence[Inbound], *, copy: bool
    ) -> tuple[Iterable[bytes], list[Rejection]]:
        """The batch's writes, inside its transaction: the keys stored, the refused."""
        pairs, tenants = wanted(batch)
        kpis, points, check = await self._prepare(conn, batch, pairs, tenants)
        stored: Iterable[bytes] = ()
        touched: list[Any] = []
        if points.records:
            new = await self._insert(conn, points.records, copy=copy)
            stored = points.keys if new is points.records else [record[0] for record in new]
            columns = rollup_columns(new)
            if check is None:
                touched = list(await conn.fetch(MERGE_ROLLUPS, *columns))
            else:
                slugs = [tenant for tenant, _ in pairs]
                keys = [key for _, key in pairs]
                merged = await conn.fetch(MERGE_CHECKED, *columns, slugs, keys, tenants)
                if [row[-1] for row in merged if row[-1] is not None] != [check]:
                    raise StaleDefinitions
                touched = [row[:-1] for row in merged if row[-1] is None]
        if points.corrections:
            recomputed = await run(conn, corrections.apply(points.corrections))
            touched = corrections.superseded(touched, recomputed)
            if left := missing(recomputed, kpis):
                kpis.update((await self._definitions(conn, left)).kpis)
            # Each corrected point is stored now (restated, retracted or a tombstone).
            stored = [*stored, *(c.key for c in points.corrections)]
        events = outbox_rows(
            touched, kpis, topic=self._topic, source=self._source, created_at=datetime.now(UTC)
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
