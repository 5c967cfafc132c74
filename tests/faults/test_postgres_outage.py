"""PostgreSQL stopped for over 10 s in the middle of the stream (a cluster of the test's
own): the metrics consumer waits and retries, `/readyz` says not ready during the outage
(naming the stuck consume loop) and ready after it, nothing is dead-lettered because of it,
and nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.settings import Topics
from tests.support.accounting import (
    Reader,
    create_topics,
    measurement_stream,
    produce_paced,
    rolled_up,
    series_totals,
    stored,
    stored_count,
    to_every_partition,
)
from tests.support.events import measurement
from tests.support.infra import create_postgres_database
from tests.support.kafka import wait_until
from tests.support.private import PrivatePostgres
from tests.support.processes import platform

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.faults]

KPIS = ("orders", "signups")
UNIQUE = 15_000
OUTAGE_S = 10.0
SENTINEL_AT = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    private = PrivatePostgres(tmp_path / "pgcache")
    try:
        yield private
    finally:
        private.remove()


@pytest.mark.timeout(300)
async def test_postgres_outage_is_waited_out(
    postgres: PrivatePostgres,
    kafka_bootstrap: str,
    topics: Topics,
    admin_key: str,
    tmp_path: Path,
) -> None:
    server = await asyncio.to_thread(postgres.start)
    url, _name = await create_postgres_database(server)
    measurements = topics.name(topics.measurements)
    dlq = topics.name(topics.measurements_dlq)
    await create_topics(kafka_bootstrap, [measurements, dlq])
    stream = measurement_stream(
        tenant="acme",
        kpis=KPIS,
        unique=UNIQUE,
        resend_every=25,
        start=datetime(2026, 11, 2, tzinfo=UTC),
        days=2,
        seed=4,
    )
    headers = {"Authorization": f"Bearer {admin_key}"}
    with platform(
        bootstrap=kafka_bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls={"metrics": url},
        log_dir=tmp_path,
        services=("metrics",),
        # A consume loop whose batch has failed this long is reported stuck by /readyz.
        extra_env={"LODESTAR_CONSUMER_STUCK_AFTER_S": "3"},
    ) as running:
        metrics = running.services["metrics"]
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            for kpi in (*KPIS, "sentinel"):
                body = {"key": kpi, "name": kpi, "aggregation": "sum", "period": "day"}
                created = await client.post(f"{metrics.url}/v1/kpis", json=body)
                assert created.status_code == 201, created.text

            producing = asyncio.create_task(
                produce_paced(kafka_bootstrap, measurements, stream, per_second=1500)
            )
            await wait_until(
                lambda: _at_least(url, UNIQUE // 8), timeout_s=60, what="ingest under way"
            )
            await asyncio.to_thread(postgres.stop)
            down_at = time.monotonic()
            print(f"PostgreSQL stopped with {stream.sent} of {len(stream.records)} sent")
            assert not producing.done()

            async def not_ready() -> bool:
                answer = await client.get(f"{metrics.url}/readyz")
                return answer.status_code == 503 and answer.json()["status"] == "not ready"

            await wait_until(not_ready, timeout_s=OUTAGE_S, what="/readyz not ready")

            async def stuck_named() -> bool:
                answer = await client.get(f"{metrics.url}/readyz")
                loops = str(answer.json()["checks"].get("loops", ""))
                return "stuck" in loops and "measurements" in loops

            # Not only the database check: the consume loop itself says it is stuck.
            await wait_until(stuck_named, timeout_s=OUTAGE_S, what="/readyz naming the loop")
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
            assert await not_ready()  # still, at the end of the outage
            assert await asyncio.to_thread(postgres.start) == server
            print(f"PostgreSQL down for {time.monotonic() - down_at:.1f}s")

            async def ready() -> bool:
                return (await client.get(f"{metrics.url}/readyz")).status_code == 200

            await wait_until(ready, timeout_s=60, what="/readyz ready after the outage")
            await producing

            partitions = await to_every_partition(kafka_bootstrap, measurements, _sentinel)
            await wait_until(
                lambda: _has(url, "sentinel", partitions),
                timeout_s=120,
                what="the sentinels stored after the stream",
            )
            expected = {**stream.expected, "sentinel": (partitions, float(partitions))}
            assert await stored(url) == expected
            assert await rolled_up(url) == expected
            shown = await series_totals(client, metrics.url, KPIS, stream.start, stream.end)
            assert shown == stream.expected

            # Nothing dead-lettered for the outage: a bad sentinel on every partition (an
            # unknown KPI) reaches the DLQ, and nothing else is there.
            async with Reader(kafka_bootstrap, dlq) as letters:
                await to_every_partition(kafka_bootstrap, measurements, _bad_sentinel)
                await letters.wait_for(
                    lambda records: len(records) >= partitions,
                    timeout_s=60,
                    what="the bad sentinels dead-lettered",
                )
                await letters.read_to_end()
                subjects = [e["subject"] for e in letters.events()]
            assert subjects == ["no-such-kpi"] * partitions


def _sentinel(_partition: int) -> tuple[str, bytes]:
    return "acme/sentinel", measurement("acme", "sentinel", 1.0, time=SENTINEL_AT)


def _bad_sentinel(_partition: int) -> tuple[str, bytes]:
    return "acme/no-such-kpi", measurement("acme", "no-such-kpi", 1.0, time=SENTINEL_AT)


async def _at_least(url: str, n: int) -> bool:
    return await stored_count(url) >= n


async def _has(url: str, kpi: str, n: int) -> bool:
    return (await stored(url)).get(kpi, (0, 0.0))[0] >= n
