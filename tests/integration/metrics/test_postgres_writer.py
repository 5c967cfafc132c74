"""The PostgreSQL writer keeps the definitions of the KPIs and tenants its batches named
(each merge checks them) and opens each batch's transaction with the previous batch's commit:
a definition created, changed or deleted between two batches is seen by the second, and a
transaction left unused is rolled back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from services.metrics.codec import measurement_decoder
from services.metrics.ingest.postgres import PostgresWriter, asyncpg_dsn
from shared.inbound import Inbound
from tests.support.infra import migrated_postgres_database

pytestmark = pytest.mark.postgres

MIGRATIONS = Path(__file__).resolve().parents[3] / "services/metrics/migrations"
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

decode = measurement_decoder(64 * 1024)


@pytest.fixture(scope="module")
def url(postgres_server: str) -> Iterator[str]:
    """One migrated database for the module; each test has its own tenant."""
    with migrated_postgres_database(postgres_server, MIGRATIONS) as url:
        yield url


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def sql(url: str, statement: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def add_tenant(url: str, tenant: str) -> None:
    await sql(
        url,
        "INSERT INTO tenants (slug, name, timezone, created_at) VALUES ($1, $1, 'UTC', now())",
        tenant,
    )


async def add_kpi(url: str, tenant: str, key: str, aggregation: str = "sum") -> None:
    await sql(
        url,
        "INSERT INTO kpis (tenant, key, name, unit, description, what, why, how, owner,"
        " aggregation, period, direction, tags, created_at, updated_at) VALUES"
        " ($1, $2, $2, '', '', '', '', '', '', $3, 'day', 'higher', '[]', now(), now())",
        tenant,
        key,
        aggregation,
    )


def batch(tenant: str, kpi: str, *values: float) -> list[Inbound]:
    out = []
    for offset, value in enumerate(values):
        body = {
            "specversion": "1.0",
            "type": "lodestar.kpi.measurement.v1",
            "id": str(uuid.uuid4()),
            "source": "tests",
            "time": AT.isoformat(),
            "subject": kpi,
            "tenant": tenant,
            "data": {"value": value},
        }
        raw = json.dumps(body).encode()
        out.append(decode(ConsumerRecord("t", 0, offset, 0, 0, None, raw, None, 0, len(raw), ())))
    return out


async def last_value_event(url: str, tenant: str, kpi: str) -> dict[str, Any]:
    last = "SELECT payload FROM outbox WHERE key = $1 ORDER BY seq DESC LIMIT 1"
    rows = await sql(url, last, f"{tenant}/{kpi}")
    event: dict[str, Any] = json.loads(rows[0][0])
    return event


async def stored(url: str, tenant: str) -> int:
    rows = await sql(url, "SELECT count(*) FROM measurements WHERE tenant = $1", tenant)
    return int(rows[0][0])


class TestDefinitionsChangedBetweenBatches:
    async def test_a_kpi_created_after_a_batch_is_known_to_the_next(
        self, url: str, tenant: str
    ) -> None:
        await add_tenant(url, tenant)
        await add_kpi(url, tenant, "mql")
        writer = PostgresWriter(url, topic="values", source="tests")
        try:
            assert await writer.store(batch(tenant, "mql", 1.0)) == []
            await add_kpi(url, tenant, "arr")
            assert await writer.store(batch(tenant, "arr", 2.0, 3.0)) == []
        finally:
            await writer.close()
        assert await stored(url, tenant) == 3

    async def test_a_tenant_created_after_a_batch_is_known_to_the_next(self, url: str) -> None:
        first, second = f"t{uuid.uuid4().hex[:10]}", f"t{uuid.uuid4().hex[:10]}"
        await add_tenant(url, first)
        await add_kpi(url, first, "mql")
        writer = PostgresWriter(url, topic="values", source="tests")
        try:
            assert await writer.store(batch(first, "mql", 1.0)) == []
            await add_tenant(url, second)
            await add_kpi(url, second, "mql")
            assert await writer.store(batch(second, "mql", 2.0)) == []
        finally:
            await writer.close()
        assert await stored(url, second) == 1

    async def test_a_kpi_changed_after_a_batch_is_seen_by_the_next(
        self, url: str, tenant: str
    ) -> None:
        await add_tenant(url, tenant)
        await add_kpi(url, tenant, "mql", aggregation="sum")
        writer = PostgresWriter(url, topic="values", source="tests")
        try:
            await writer.store(batch(tenant, "mql", 1.0, 5.0))
            assert (await last_value_event(url, tenant, "mql"))["data"]["value"] == 6.0
            await sql(
                url,
                "UPDATE kpis SET aggregation = 'max', updated_at = now()"
                " WHERE tenant = $1 AND key = 'mql'",
                tenant,
            )
            assert await writer.store(batch(tenant, "mql", 2.0)) == []
        finally:
            await writer.close()
        data = (await last_value_event(url, tenant, "mql"))["data"]
        assert (data["aggregation"], data["value"], data["count"]) == ("max", 5.0, 3)
        assert await stored(url, tenant) == 3

    async def test_a_tenants_timezone_changed_after_a_batch_is_seen_by_the_next(
        self, url: str, tenant: str
    ) -> None:
        await add_tenant(url, tenant)
        await add_kpi(url, tenant, "mql")
        writer = PostgresWriter(url, topic="values", source="tests")
        try:
            await writer.store(batch(tenant, "mql", 1.0))
            update = "UPDATE tenants SET timezone = 'Asia/Tokyo' WHERE slug = $1"
            await sql(url, update, tenant)
            # All names known: written with the kept definitions, found stale by the merge,
            # rolled back and written again with the new ones.
            assert await writer.store(batch(tenant, "mql", 2.0)) == []
        finally:
            await writer.close()
        data = (await last_value_event(url, tenant, "mql"))["data"]
        # 09:00 UTC is 18:00 in Tokyo: the Tokyo day began at 15:00 UTC the day before.
        assert (data["period_start"], data["count"]) == ("2026-11-01T15:00:00Z", 1)
        assert await stored(url, tenant) == 2

    async def test_a_kpi_deleted_after_a_batch_refuses_the_next_points(
        self, url: str, tenant: str
    ) -> None:
        await add_tenant(url, tenant)
        await add_kpi(url, tenant, "mql")
        writer = PostgresWriter(url, topic="values", source="tests")
        try:
            await writer.store(batch(tenant, "mql", 1.0))
            await sql(url, "DELETE FROM kpis WHERE tenant = $1 AND key = 'mql'", tenant)
            rejected = await writer.store(batch(tenant, "mql", 2.0))
        finally:
            await writer.close()
        assert [r.reason for r in rejected] == [f"unknown KPI 'mql' for tenant '{tenant}'"]
        assert await stored(url, tenant) == 1


class TestTheNextBatchesTransaction:
    async def test_is_opened_by_the_commit_and_rolled_back_when_unused(
        self, url: str, tenant: str
    ) -> None:
        await add_tenant(url, tenant)
        await add_kpi(url, tenant, "mql")
        writer = PostgresWriter(url, topic="values", source="tests", idle_s=0.2)

        async def writer_state() -> str:
            rows = await sql(
                url,
                "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            )
            return str(rows[0][0])

        try:
            await writer.store(batch(tenant, "mql", 1.0))
            assert await writer_state() == "idle in transaction"
            deadline = asyncio.get_running_loop().time() + 10
            while await writer_state() != "idle":
                assert asyncio.get_running_loop().time() < deadline, "never rolled back"
                await asyncio.sleep(0.05)
            assert await writer.store(batch(tenant, "mql", 2.0)) == []
        finally:
            await writer.close()
        assert await stored(url, tenant) == 2
