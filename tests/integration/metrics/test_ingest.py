"""Ingestion from `kpi.measurements` on the real broker and both databases: idempotency,
late and out-of-order points, dead letters with reasons, restarts, `kpi.values` events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.metrics.app import create_app
from services.metrics.repository.measurements import measurements
from shared.consumer import REASON_HEADER
from shared.db import Database
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.metrics.support import (
    create_kpi,
    metrics_service,
    rolled_up_points,
    settings,
    stored_points,
)
from tests.support.apps import running
from tests.support.events import measurement
from tests.support.kafka import TopicReader, new_producer, produce, wait_until

pytestmark = pytest.mark.kafka

DAY1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


class TestIdempotency:
    async def test_duplicates_in_one_batch_and_across_batches_count_once(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        topic = topics.name(topics.measurements)
        ids = [str(uuid.uuid4()) for _ in range(3)]
        async with metrics_service(kafka_bootstrap, topics, url, admin_key) as service:
            await create_kpi(service, "mql", aggregation="sum")
            first = [measurement("acme", "mql", 1.0, id=ids[0], time=DAY1)] * 3 + [
                measurement("acme", "mql", 2.0, id=ids[1], time=DAY1)
            ]
            # One producer call, one key: one partition, almost surely one fetch.
            await produce(kafka_bootstrap, topic, first, keys=["acme/mql"] * 4)
            await wait_until(lambda: stored_points(service), what="the first points")
            await wait_until(
                lambda: _is(rolled_up_points(service), 2), what="two unique points rolled up"
            )
            again = [
                measurement("acme", "mql", 1.0, id=ids[0], time=DAY1),
                measurement("acme", "mql", 4.0, id=ids[2], time=DAY1),
                measurement("acme", "mql", 2.0, id=ids[1], time=DAY1),
            ]
            await produce(kafka_bootstrap, topic, again, keys=["acme/mql"] * 3)
            await wait_until(lambda: _is(rolled_up_points(service), 3), what="three points")
            value = await _settled_value(service, "mql", expected=7.0)
            assert value["count"] == 3
            assert await stored_points(service) == 3

    async def test_same_id_from_another_source_is_another_event(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        async with metrics_service(kafka_bootstrap, topics, url, admin_key) as service:
            await create_kpi(service, "mql", aggregation="count")
            records = [
                measurement("acme", "mql", 1.0, id="e-1", source="crm/a", time=DAY1),
                measurement("acme", "mql", 1.0, id="e-1", source="crm/b", time=DAY1),
            ]
            await produce(kafka_bootstrap, topics.name(topics.measurements), records)
            await _settled_value(service, "mql", expected=2.0)


class TestPeriods:
    async def test_late_and_out_of_order_points_land_in_their_own_period(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        topic = topics.name(topics.measurements)
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key) as service,
            TopicReader(kafka_bootstrap, topics.name(topics.kpi_values)) as values,
        ):
            await create_kpi(service, "revenue", aggregation="sum", green=10.0, amber=5.0)
            await produce(kafka_bootstrap, topic, [measurement("acme", "revenue", 7.0, time=DAY2)])
            await values.wait_for(lambda rs: len(rs) >= 1, what="day 2's value")
            late = [
                measurement("acme", "revenue", 3.0, time=DAY1 + timedelta(hours=5)),
                measurement("acme", "revenue", 2.0, time=DAY1),
            ]
            await produce(kafka_bootstrap, topic, late, keys=["acme/revenue"] * 2)
            await wait_until(lambda: _is(rolled_up_points(service), 3), what="the late points")
            answer = await service.client.get(
                "/v1/kpis/revenue/series",
                params={
                    "start": "2026-11-02T00:00:00Z",
                    "end": "2026-11-04T00:00:00Z",
                },
            )
            assert answer.status_code == 200, answer.text
            assert [(p["value"], p["count"]) for p in answer.json()["points"]] == [
                (5.0, 2),
                (7.0, 1),
            ]
            # The late period's value is re-emitted, with its own aggregate and health.
            records = await values.wait_for(
                lambda rs: any(_day1(r) and _data(r)["count"] == 2 for r in rs),
                what="day 1's value",
            )
            day1 = [_data(r) for r in records if _day1(r)]
            assert day1[-1]["value"] == 5.0
            assert day1[-1]["health"] == "amber"
            assert day1[-1]["count"] == 2

    async def test_one_value_event_per_touched_period_per_batch(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key) as service,
            TopicReader(kafka_bootstrap, topics.name(topics.kpi_values)) as values,
        ):
            await create_kpi(service, "signups", aggregation="last", direction="higher")
            records = [
                measurement("acme", "signups", float(i), time=DAY1 + timedelta(minutes=i))
                for i in range(50)
            ]
            await produce(kafka_bootstrap, topics.name(topics.measurements), records)
            await wait_until(lambda: _is(rolled_up_points(service), 50), what="50 points")
            # Sentinel: a point of another day, same KPI (same key, same partition), whose
            # value event comes after every event of the first day's batches.
            later = DAY1 + timedelta(days=2)
            await produce(
                kafka_bootstrap,
                topics.name(topics.measurements),
                [measurement("acme", "signups", -1.0, time=later)],
            )
            await values.wait_for(
                lambda rs: any(json.loads(r.value)["data"]["value"] == -1.0 for r in rs),
                what="the sentinel's value event",
            )
            await values.drain()
            events = [
                e
                for e in (json.loads(r.value) for r in values.records)
                if e["data"]["value"] != -1.0
            ]
            assert 1 <= len(events) < 50, "one event per batch and period, not per point"
            assert all(r.key == b"acme/signups" for r in values.records)
            assert events[-1]["type"] == "lodestar.kpi.value.v1"
            assert events[-1]["data"]["value"] == 49.0
            assert events[-1]["data"]["count"] == 50


class TestDeadLetters:
    async def test_every_bad_input_is_dead_lettered_with_its_reason_and_the_good_are_stored(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        base = json.loads(measurement("acme", "mql", 1.0, time=DAY1))
        no_time = {k: v for k, v in base.items() if k != "time"}
        cases: list[tuple[bytes, str]] = [
            (measurement("acme", "nope", 1.0, time=DAY1), "unknown KPI 'nope'"),
            (measurement("globex", "mql", 1.0, time=DAY1), "unknown tenant 'globex'"),
            (measurement("acme", "mql", "12", time=DAY1), "invalid data for"),
            (measurement("acme", "mql", False, time=DAY1), "invalid data for"),
            (measurement("acme", "mql", None, time=DAY1), "invalid data for"),
            (_raw_value("NaN"), "finite"),
            (_raw_value("Infinity"), "finite"),
            (_raw_value("1e999"), "finite"),
            (json.dumps(no_time).encode(), "time"),
            (json.dumps({**base, "data": {}}).encode(), "value"),
            (measurement("acme", "mql", 1.0, time=DAY1, specversion="0.3"), "specversion"),
            (measurement("acme", "mql", 1.0, time=DAY1, padding="x" * 70_000), "too large"),
            (b"{not json", "invalid CloudEvent"),
            (
                measurement("acme", "mql", 1.0, time=DAY1, type="com.example.other"),
                "unexpected event type com.example.other",
            ),
            (
                measurement("acme", "mql", 1.0, time=DAY1, type="lodestar.kpi.value.v1"),
                "invalid data for lodestar.kpi.value.v1",
            ),
        ]
        records: list[bytes] = []
        for bad, _ in cases:
            records += [bad, measurement("acme", "mql", 1.0, time=DAY1)]
        async with (
            metrics_service(kafka_bootstrap, topics, url, admin_key) as service,
            TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq,
        ):
            await create_kpi(service, "mql", aggregation="count")
            await produce(
                kafka_bootstrap,
                topics.name(topics.measurements),
                records,
                keys=["k"] * len(records),
            )
            await dlq.wait_for(lambda rs: len(rs) >= len(cases), what="every dead letter")
            await wait_until(
                lambda: _is(stored_points(service), len(cases)), what="the good records"
            )
            await dlq.drain()
            assert len(dlq.records) == len(cases)
            reasons = {r.value: dict(r.headers)[REASON_HEADER].decode() for r in dlq.records}
            for bad, reason in cases:
                assert reason in reasons[bad], (reason, reasons.get(bad))
            assert (await service.client.get("/readyz")).status_code == 200


class TestRestart:
    async def test_a_restart_mid_stream_loses_nothing(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        url = await databases.new()
        n = 6000
        records = [
            measurement("acme", f"k{i % 3}", 1.0, time=DAY1 + timedelta(seconds=i))
            for i in range(n)
        ]
        records += records[:300]  # redeliveries
        async with metrics_service(kafka_bootstrap, topics, url, admin_key) as service:
            for key in ("k0", "k1", "k2"):
                await create_kpi(service, key, aggregation="count")
        await produce_fast(kafka_bootstrap, topics.name(topics.measurements), records)
        # Batches of 100, so the stream takes dozens of transactions and the stop below lands
        # in the middle of it.
        small_batches = settings(kafka_bootstrap, topics, url, admin_key).model_copy(
            update={"consumer_batch_max": 100}
        )
        async with running(create_app(small_batches), admin_key) as service:
            await wait_until(lambda: stored_points(service), timeout_s=30, what="ingest under way")
        # Counted after the stop, with no consumer running: strictly mid-stream.
        stopped = Database(url)
        try:
            async with stopped.session() as session:
                stmt = select(func.count()).select_from(measurements)
                stopped_at = int((await session.execute(stmt)).scalar_one())
        finally:
            await stopped.dispose()
        assert 0 < stopped_at < n
        async with metrics_service(kafka_bootstrap, topics, url, admin_key) as service:
            await wait_until(
                lambda: _is(stored_points(service), n), timeout_s=60, what="every point"
            )
            assert await rolled_up_points(service) == n


async def produce_fast(bootstrap: str, topic: str, values: list[bytes]) -> None:

    producer = new_producer(bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, v) for v in values]
        for f in futures:
            await f
    finally:
        await producer.stop()


def _raw_value(literal: str) -> bytes:
    raw = measurement("acme", "mql", 123456.0, time=DAY1)
    return raw.replace(b"123456.0", literal.encode())


def _data(record: object) -> dict[str, object]:
    value = json.loads(record.value)  # type: ignore[attr-defined]
    data: dict[str, object] = value["data"]
    return data


def _day1(record: object) -> bool:
    return str(_data(record)["period_start"]).startswith("2026-11-02")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def _is(awaitable: object, expected: int) -> bool:
    return await awaitable == expected  # type: ignore[misc]


async def _settled_value(service: object, key: str, *, expected: float) -> dict[str, object]:
    async def check() -> dict[str, object] | None:
        answer = await service.client.get(f"/v1/kpis/{key}/value")  # type: ignore[attr-defined]
        body: dict[str, object] = answer.json()
        return body if body.get("value") == expected else None

    result: dict[str, object] = await wait_until(check, what=f"{key} == {expected}")
    return result
