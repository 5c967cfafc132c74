"""A record that deterministically raises inside the ingest handler — injected through the
real database: a PostgreSQL trigger on the metrics measurements table that refuses one
value — ends in the DLQ with the reason `handler failed: …`, and its neighbours are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from shared.consumer import REASON_HEADER
from shared.settings import Topics
from tests.support.accounting import Reader, create_topics, stored, to_every_partition
from tests.support.events import measurement
from tests.support.infra import create_postgres_database, drop_postgres_database
from tests.support.kafka import produce, wait_until
from tests.support.processes import platform

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults]

POISON = 666.0
TRIGGER = f"""
CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
BEGIN
  IF NEW.value = {POISON} THEN
    RAISE EXCEPTION 'the test trigger refuses %', NEW.value;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_poison BEFORE INSERT ON measurements
  FOR EACH ROW EXECUTE FUNCTION refuse_poison();
"""
AT = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.timeout(180)
async def test_a_record_the_handler_cannot_store_is_dead_lettered_alone(
    postgres_server: str, kafka_bootstrap: str, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    url, name = await create_postgres_database(postgres_server)
    measurements = topics.name(topics.measurements)
    dlq = topics.name(topics.measurements_dlq)
    await create_topics(kafka_bootstrap, [measurements, dlq])
    headers = {"Authorization": f"Bearer {admin_key}"}
    try:
        with platform(
            bootstrap=kafka_bootstrap,
            topics=topics,
            admin_key=admin_key,
            database_urls={"metrics": url},
            log_dir=tmp_path,
            services=("metrics",),
        ) as running:
            metrics = running.services["metrics"]
            db = make_url(url)
            conn = await asyncpg.connect(
                host=db.host, port=db.port, user=db.username, database=db.database
            )
            try:
                await conn.execute(TRIGGER)
            finally:
                await conn.close()
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                for kpi in ("orders", "sentinel"):
                    body = {"key": kpi, "name": kpi, "aggregation": "sum", "period": "day"}
                    created = await client.post(f"{metrics.url}/v1/kpis", json=body)
                    assert created.status_code == 201, created.text

            # 300 good neighbours on one partition, the poison in the middle of them.
            values = [float(1 + i % 9) for i in range(300)]
            records = [
                measurement("acme", "orders", v, time=AT + timedelta(seconds=i))
                for i, v in enumerate(values)
            ]
            poison = measurement("acme", "orders", POISON, time=AT)
            records.insert(150, poison)
            async with Reader(kafka_bootstrap, dlq) as letters:
                await produce(kafka_bootstrap, measurements, records, ["acme/orders"] * 301)
                partitions = await to_every_partition(
                    kafka_bootstrap,
                    measurements,
                    lambda _p: ("acme/sentinel", measurement("acme", "sentinel", 1.0, time=AT)),
                )
                await wait_until(
                    lambda: _has(url, "sentinel", partitions),
                    timeout_s=120,
                    what="the sentinels stored after the poison",
                )
                await letters.wait_for(lambda rs: len(rs) >= 1, what="the poison dead-lettered")
                await letters.read_to_end()
            assert [r.value for r in letters.records] == [poison]
            reason = dict(letters.records[0].headers)[REASON_HEADER].decode()
            assert reason.startswith("handler failed: "), reason
            assert "the test trigger refuses 666" in reason
            assert (await stored(url))["orders"] == (300, sum(values))
    finally:
        await drop_postgres_database(postgres_server, name)


async def _has(url: str, kpi: str, n: int) -> bool:
    return (await stored(url)).get(kpi, (0, 0.0))[0] >= n
