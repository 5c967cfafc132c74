"""Both ingest writers read, in each batch's transaction, the definitions of the KPIs and
tenants that batch names: a restatement that moves a point to another KPI still publishes the
period it left, a KPI deleted and created again takes a redelivered point as new, and a batch
is untouched by another tenant's definitions."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord
from sqlalchemy.engine import make_url

from services.metrics.codec import measurement_decoder
from services.metrics.ingest import MeasurementWriter
from services.metrics.ingest.corrections import numbered
from services.metrics.ingest.postgres import PostgresWriter, asyncpg_dsn
from services.metrics.ingest.sqlite import SqliteWriter
from shared.db import Database
from shared.inbound import Inbound
from shared.migrations import upgrade
from tests.conftest import DatabaseFactory

MIGRATIONS = Path(__file__).resolve().parents[3] / "services/metrics/migrations"
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

decode = measurement_decoder(64 * 1024)


@dataclass
class Store:
    url: str
    writer: MeasurementWriter

    async def sql(self, statement: str, *args: Any) -> list[Any]:
        """Run one qmark-style statement on its own connection; its rows."""
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(str(make_url(self.url).database))
            try:
                rows = conn.execute(statement, args).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        pg = await asyncpg.connect(asyncpg_dsn(self.url))
        try:
            return [tuple(row) for row in await pg.fetch(numbered(statement), *args)]
        finally:
            await pg.close()

    async def add_tenant(self, tenant: str) -> None:
        await self.sql(
            "INSERT INTO tenants (slug, name, timezone, created_at) VALUES (?, ?, 'UTC', ?)",
            tenant,
            tenant,
            datetime.now(UTC).replace(tzinfo=None),
        )

    async def add_kpi(self, tenant: str, key: str, period: str = "day") -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        await self.sql(
            "INSERT INTO kpis (tenant, key, name, unit, description, what, why, how, owner,"
            " aggregation, period, direction, tags, created_at, updated_at) VALUES"
            " (?, ?, ?, '', '', '', '', '', '', 'sum', ?, 'higher', '[]', ?, ?)",
            *(tenant, key, key, period, now, now),
        )

    async def delete_kpi(self, tenant: str, key: str) -> None:
        """As `DELETE /v1/kpis/{key}` does: the KPI, its points and its rollups."""
        for table, column in (("measurements", "kpi"), ("rollups", "kpi"), ("kpis", "key")):
            await self.sql(f"DELETE FROM {table} WHERE tenant = ? AND {column} = ?", tenant, key)

    async def stored(self, tenant: str, kpi: str) -> int:
        rows = await self.sql(
            "SELECT count(*) FROM measurements WHERE tenant = ? AND kpi = ? AND NOT retracted",
            tenant,
            kpi,
        )
        return int(rows[0][0])

    async def last_value(self, tenant: str, kpi: str) -> dict[str, Any]:
        """The data of the last `kpi.value` event in the outbox for the KPI."""
        last = "SELECT payload FROM outbox WHERE key = ? ORDER BY seq DESC LIMIT 1"
        rows = await self.sql(last, f"{tenant}/{kpi}")
        payload = rows[0][0]
        data: dict[str, Any] = json.loads(payload)["data"]
        return data


@pytest.fixture
async def store(databases: DatabaseFactory) -> AsyncIterator[Store]:
    url = await databases.new()
    db = Database(url)
    try:
        await upgrade(db, MIGRATIONS)
    finally:
        await db.dispose()
    writer: MeasurementWriter
    if url.startswith("sqlite"):
        writer = SqliteWriter(str(make_url(url).database), topic="values", source="tests")
    else:
        writer = PostgresWriter(url, topic="values", source="tests")
    try:
        yield Store(url, writer)
    finally:
        await writer.close()


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def measurement(tenant: str, kpi: str, value: float, *, id: str, revision: int = 0) -> Inbound:
    body = {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.v1",
        "id": id,
        "source": "tests",
        "time": AT.isoformat(),
        "subject": kpi,
        "tenant": tenant,
        "data": {"value": value} | ({"revision": revision} if revision else {}),
    }
    raw = json.dumps(body).encode()
    return decode(ConsumerRecord("t", 0, 0, 0, 0, None, raw, None, 0, len(raw), ()))


class TestTheBatchsDefinitions:
    async def test_a_point_moved_to_another_kpi_republishes_the_period_it_left(
        self, store: Store, tenant: str
    ) -> None:
        await store.add_tenant(tenant)
        await store.add_kpi(tenant, "old")
        await store.add_kpi(tenant, "new")
        assert await store.writer.store([measurement(tenant, "old", 4.0, id="m1")]) == []
        # The batch names only `new`; the period `old` loses its point is published too.
        moved = measurement(tenant, "new", 4.0, id="m1", revision=1)
        assert await store.writer.store([moved]) == []
        assert (await store.stored(tenant, "old"), await store.stored(tenant, "new")) == (0, 1)
        old, new = await store.last_value(tenant, "old"), await store.last_value(tenant, "new")
        assert (old["count"], old["value"]) == (0, 0.0)
        assert (new["count"], new["value"]) == (1, 4.0)

    async def test_a_kpi_deleted_and_created_again_stores_a_redelivered_point(
        self, store: Store, tenant: str
    ) -> None:
        await store.add_tenant(tenant)
        await store.add_kpi(tenant, "mql")
        assert await store.writer.store([measurement(tenant, "mql", 1.0, id="m1")]) == []
        await store.delete_kpi(tenant, "mql")
        await store.add_kpi(tenant, "mql")
        assert await store.writer.store([measurement(tenant, "mql", 1.0, id="m1")]) == []
        assert await store.stored(tenant, "mql") == 1
        assert (await store.last_value(tenant, "mql"))["count"] == 1

    async def test_another_tenants_definitions_do_not_matter_to_a_batch(
        self, store: Store, tenant: str
    ) -> None:
        other = f"t{uuid.uuid4().hex[:10]}"
        for slug in (tenant, other):
            await store.add_tenant(slug)
        await store.add_kpi(tenant, "mql")
        # A row no writer could read (an unknown period): the batch does not name it.
        await store.add_kpi(other, "broken", period="fortnight")
        batch = [measurement(tenant, "mql", 2.0, id="m1"), measurement(other, "nope", 1.0, id="x")]
        rejected = await store.writer.store(batch)
        assert [r.reason for r in rejected] == [f"unknown KPI 'nope' for tenant '{other}'"]
        assert await store.stored(tenant, "mql") == 1
