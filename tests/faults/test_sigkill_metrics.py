"""`kill -9` of the metrics service in the middle of ingesting 60,000 measurements (with
duplicate resends) while the producer keeps producing; after the restart every unique
event is stored exactly once and the rollups count exactly the stored points."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.accounting import (
    measurement_stream,
    produce_paced,
    rolled_up,
    series_totals,
    stored,
    stored_count,
    to_every_partition,
)
from tests.support.events import measurement
from tests.support.kafka import wait_until
from tests.support.processes import platform, wait_ready

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

KPIS = ("orders", "signups", "refunds")
UNIQUE = 60_000
SENTINEL_AT = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.mark.timeout(300)
async def test_sigkill_mid_ingest_loses_and_doubles_nothing(
    kafka_bootstrap: str,
    topics: Topics,
    admin_key: str,
    tmp_path: Path,
    databases: DatabaseFactory,
) -> None:
    url = await databases.new()
    stream = measurement_stream(
        tenant="acme",
        kpis=KPIS,
        unique=UNIQUE,
        resend_every=20,  # 3,000 resends of earlier events, byte for byte
        start=datetime(2026, 11, 2, tzinfo=UTC),
        days=3,
        seed=21,
    )
    assert len(stream.records) > UNIQUE
    topic = topics.name(topics.measurements)
    headers = {"Authorization": f"Bearer {admin_key}"}
    with platform(
        bootstrap=kafka_bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls={"metrics": url},
        log_dir=tmp_path,
        services=("metrics",),
    ) as running:
        metrics = running.services["metrics"]
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            for kpi in (*KPIS, "sentinel"):
                body = {"key": kpi, "name": kpi, "aggregation": "sum", "period": "day"}
                created = await client.post(f"{metrics.url}/v1/kpis", json=body)
                assert created.status_code == 201, created.text

            producing = asyncio.create_task(
                produce_paced(kafka_bootstrap, topic, stream, per_second=6000)
            )
            # Kill once a good part is stored, while the producer is still at it.
            await wait_until(
                lambda: _at_least(url, UNIQUE // 10), timeout_s=60, what="ingest under way"
            )
            metrics.kill()
            at_kill = await stored_count(url)
            print(f"killed metrics with {at_kill} of {UNIQUE} stored, {stream.sent} sent")
            assert 0 < at_kill < UNIQUE
            assert not producing.done(), "the producer should still be producing at the kill"

            metrics.restart()
            await asyncio.to_thread(wait_ready, metrics)
            await producing
            # A sentinel on every partition, after the stream: once all are stored, every
            # record before them has been processed (stored or refused), resends included.
            partitions = await to_every_partition(kafka_bootstrap, topic, _sentinel)
            await wait_until(
                lambda: _has(url, "sentinel", partitions),
                timeout_s=180,
                what="the sentinels stored after the stream",
            )

            expected = {**stream.expected, "sentinel": (partitions, float(partitions))}
            assert await stored(url) == expected
            assert await rolled_up(url) == expected
            shown = await series_totals(client, metrics.url, KPIS, stream.start, stream.end)
            assert shown == stream.expected


def _sentinel(_partition: int) -> tuple[str, bytes]:
    return "acme/sentinel", measurement("acme", "sentinel", 1.0, time=SENTINEL_AT)


async def _at_least(url: str, n: int) -> bool:
    return await stored_count(url) >= n


async def _has(url: str, kpi: str, n: int) -> bool:
    return (await stored(url)).get(kpi, (0, 0.0))[0] >= n
