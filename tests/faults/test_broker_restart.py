"""The broker stopped and started again while measurements are being produced and consumed
(a broker of the test's own): every unique measurement is stored once, the rollups count
them exactly, and the KPI values metrics publishes through its outbox end at those rollups."""

from __future__ import annotations

import asyncio
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
from tests.support.kafka import wait_until
from tests.support.private import PrivateBroker
from tests.support.processes import platform, sqlite_urls

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

KPIS = ("orders", "signups")
UNIQUE = 20_000
SENTINEL_AT = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    private = PrivateBroker(tmp_path / "cache")
    try:
        yield private
    finally:
        private.stop()


@pytest.mark.timeout(300)
async def test_broker_restart_mid_stream_loses_and_doubles_nothing(
    broker: PrivateBroker, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    bootstrap = broker.start()
    url = sqlite_urls(tmp_path)["metrics"]
    measurements, values = topics.name(topics.measurements), topics.name(topics.kpi_values)
    await create_topics(bootstrap, [measurements, values])
    stream = measurement_stream(
        tenant="acme",
        kpis=KPIS,
        unique=UNIQUE,
        resend_every=25,
        start=datetime(2026, 11, 2, tzinfo=UTC),
        days=2,
        seed=3,
    )
    headers = {"Authorization": f"Bearer {admin_key}"}
    with platform(
        bootstrap=bootstrap,
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
                produce_paced(bootstrap, measurements, stream, per_second=2000)
            )
            await wait_until(
                lambda: _at_least(url, UNIQUE // 8), timeout_s=60, what="ingest under way"
            )
            await asyncio.to_thread(broker.stop)
            at_stop = await stored_count(url)
            print(f"broker stopped with {at_stop} of {UNIQUE} stored, {stream.sent} sent")
            assert 0 < at_stop < UNIQUE
            assert not producing.done()
            await asyncio.sleep(3)  # down a while: the producer's chunks fail and are retried
            assert await asyncio.to_thread(broker.start) == bootstrap
            await producing
            print(f"producer chunks retried during the outage: {stream.retries}")

            partitions = await to_every_partition(bootstrap, measurements, _sentinel)
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

            # What metrics published through its outbox, across the outage: the newest
            # kpi.values event of each KPI period carries that period's stored count.
            async with Reader(bootstrap, values) as published:
                await published.wait_for(
                    lambda _: (
                        _newest_counts(published).get(("sentinel", _day(SENTINEL_AT))) == partitions
                    ),
                    timeout_s=60,
                    what="the sentinels' KPI value",
                )
                await published.read_to_end()
                newest = _newest_counts(published)
            by_kpi: dict[str, int] = {}
            for (kpi, _start), count in newest.items():
                by_kpi[kpi] = by_kpi.get(kpi, 0) + count
            assert by_kpi == {kpi: n for kpi, (n, _) in expected.items()}


def _day(at: datetime) -> str:
    return at.date().isoformat()


def _newest_counts(reader: Reader) -> dict[tuple[str, str], int]:
    """Per (KPI, period day): the count of the period's largest aggregate published (a
    period's count only grows, and events of one KPI come in order on one partition)."""
    newest: dict[tuple[str, str], int] = {}
    for event in reader.events():
        data = event["data"]
        key = (data["kpi"], data["period_start"][:10])
        newest[key] = max(newest.get(key, 0), data["count"])
    return newest


def _sentinel(_partition: int) -> tuple[str, bytes]:
    return "acme/sentinel", measurement("acme", "sentinel", 1.0, time=SENTINEL_AT)


async def _at_least(url: str, n: int) -> bool:
    return await stored_count(url) >= n


async def _has(url: str, kpi: str, n: int) -> bool:
    return (await stored(url)).get(kpi, (0, 0.0))[0] >= n
