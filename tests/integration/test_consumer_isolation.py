"""The consume loop's two kinds of failure, on the real broker and both databases: a record
that makes the handler fail deterministically is dead-lettered alone while its neighbours are
stored in order; a failure while the database is away is retried, never dead-lettered; a
decoder's bug and an event older than the inbox window are dead-lettered with their reasons."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Float, MetaData, String, Table, func, select
from structlog.testing import capture_logs

from shared.consumer import REASON_HEADER, ConsumerRunner, HealthProbe
from shared.db import Database
from shared.inbound import BatchHandler, Decoder, Inbound, Rejection, decode_record
from shared.observability import Metrics
from shared.producer import EventProducer
from shared.settings import Topics
from shared.sql import dialect_insert
from shared.tables import infra_metadata
from tests.conftest import DatabaseFactory
from tests.support.events import measurement
from tests.support.kafka import TopicReader, auth, produce, wait_until

pytestmark = pytest.mark.kafka

test_metadata = MetaData()
points = Table(
    "points",
    test_metadata,
    Column("tenant", String(64), primary_key=True),
    Column("source", String(200), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("value", Float, nullable=False),
)

KEY = "acme/mql"  # one key: one partition, so the produce order is the topic's order


class Poison(ValueError):
    """What the handler raises, every time, for the poisoned event ids."""


@pytest.fixture
async def db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    database = Database(await databases.new())
    async with database.engine.begin() as conn:
        await conn.run_sync(infra_metadata.create_all)
        await conn.run_sync(test_metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[EventProducer]:
    p = EventProducer(kafka_bootstrap, client_id="tests", auth=auth(kafka_bootstrap))
    await p.start()
    yield p
    await p.stop()


class Outage:
    """A database outage the test switches on and off: while on, the handler fails with an
    error of no recognised transient kind, and the probe fails as a down database does."""

    def __init__(self) -> None:
        self.on = False

    async def probe(self, db: Database) -> None:
        if self.on:
            raise ConnectionRefusedError("the test's database is down")
        await db.ping()


def handler(
    db: Database,
    committed: list[str],
    *,
    poison: frozenset[str] = frozenset(),
    outage: Outage | None = None,
) -> BatchHandler:
    """Stores each point in the batch's transaction (idempotently); the ids of each batch that
    committed are appended to `committed`, in order."""

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        ids = []
        async with db.transaction() as session:
            for item in batch:
                event = item.event
                await session.execute(
                    dialect_insert(session, points)
                    .values(tenant=event.tenant, source=event.source, event_id=event.id, value=1.0)
                    .on_conflict_do_nothing()
                )
                if event.id in poison:
                    raise Poison(f"no column can hold event {event.id}")
                if outage is not None and outage.on:
                    raise RuntimeError("server closed the connection unexpectedly")
                ids.append(event.id)
        committed.extend(ids)
        return []

    return handle


def runner(
    bootstrap: str,
    topics: Topics,
    handler: BatchHandler,
    producer: EventProducer,
    *,
    probe: HealthProbe | None,
    metrics: Metrics | None = None,
    decoder: Decoder | None = None,
    max_age_s: float | None = None,
) -> ConsumerRunner:
    return ConsumerRunner(
        name="test",
        bootstrap=bootstrap,
        auth=auth(bootstrap),
        group_id=f"{topics.prefix}group",
        topics=[topics.name(topics.measurements)],
        handler=handler,
        producer=producer,
        dlq_for=topics.dlq_for,
        poll_timeout_ms=50,
        max_event_bytes=2048,
        observer=metrics,
        health_probe=probe,
        decoder=decoder,
        max_age_s=max_age_s,
        max_backoff_s=0.5,
    )


async def count_points(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(points))).scalar_one())


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"service": "tests", "loop": "test", **labels})
    return value or 0.0


def reason(record: ConsumerRecord[bytes, bytes]) -> str:
    return dict(record.headers)[REASON_HEADER].decode()


async def caught_up(consumer: ConsumerRunner) -> bool:
    lags = await consumer.lag()
    return bool(lags) and all(lag == 0 for lag in lags.values())


class TestDeterministicFailure:
    async def test_the_poisoned_record_alone_is_dead_lettered_and_its_neighbours_stored_in_order(
        self, kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
    ) -> None:
        ids = [str(uuid.uuid4()) for _ in range(40)]
        records = [measurement("acme", "mql", float(i), id=id) for i, id in enumerate(ids)]
        topic = topics.name(topics.measurements)
        await produce(kafka_bootstrap, topic, records, keys=[KEY] * len(records))
        poisoned = 17
        committed: list[str] = []
        metrics = Metrics("tests")
        consumer = runner(
            kafka_bootstrap,
            topics,
            handler(db, committed, poison=frozenset({ids[poisoned]})),
            producer,
            probe=db.ping,
            metrics=metrics,
        )
        task = asyncio.create_task(consumer.run())
        try:
            async with TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq:
                await dlq.wait_for(lambda rs: len(rs) >= 1, what="the dead letter")
                sentinel = str(uuid.uuid4())
                await produce(
                    kafka_bootstrap, topic, [measurement("acme", "mql", 0.0, id=sentinel)]
                )
                await wait_until(lambda: sentinel in committed, what="the sentinel stored")
                await dlq.drain()
                await wait_until(lambda: caught_up(consumer), what="lag back to zero")
        finally:
            consumer.request_stop()
            await task

        assert len(dlq.records) == 1, "only the poisoned record is dead-lettered"
        (dead,) = dlq.records
        assert dead.value == records[poisoned]
        assert reason(dead) == f"handler failed: Poison: no column can hold event {ids[poisoned]}"
        headers = dict(dead.headers)
        assert headers["lodestar.dlq.topic"] == topic.encode()
        assert headers["lodestar.dlq.offset"] == str(poisoned).encode()
        expected = [id for i, id in enumerate(ids) if i != poisoned]
        assert committed == [*expected, sentinel], "the neighbours, once each and in order"
        assert await count_points(db) == len(ids), "39 neighbours and the sentinel, no poison"
        registry = metrics.registry
        dead_lettered = "lodestar_dead_lettered_records_total"
        assert sample(registry, dead_lettered, reason="handler_failed") == 1
        assert sample(registry, "lodestar_consumer_batch_retries_total", kind="isolate") >= 1
        assert sample(registry, "lodestar_consumer_batch_retries_total", kind="transient") == 0

    async def test_a_decoder_raising_any_exception_dead_letters_the_record_and_carries_on(
        self, kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
    ) -> None:
        def buggy(record: ConsumerRecord[bytes, bytes]) -> Inbound:
            if record.value is not None and b"boom" in record.value:
                raise KeyError("a decoder bug")
            return decode_record(record, 2048)

        ids = [str(uuid.uuid4()) for _ in range(3)]
        records = [
            measurement("acme", "mql", 1.0, id=ids[0]),
            measurement("acme", "mql", 2.0, id=ids[1], boom=True),
            measurement("acme", "mql", 3.0, id=ids[2]),
        ]
        topic = topics.name(topics.measurements)
        await produce(kafka_bootstrap, topic, records, keys=[KEY] * 3)
        committed: list[str] = []
        consumer = runner(
            kafka_bootstrap, topics, handler(db, committed), producer, probe=db.ping, decoder=buggy
        )
        task = asyncio.create_task(consumer.run())
        try:
            async with TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq:
                await dlq.wait_for(lambda rs: len(rs) >= 1, what="the dead letter")
                await wait_until(lambda: ids[2] in committed, what="the record after it stored")
                await dlq.drain()
        finally:
            consumer.request_stop()
            await task
        assert task.exception() is None
        assert [r.value for r in dlq.records] == [records[1]]
        assert reason(dlq.records[0]) == "undecodable record: KeyError: 'a decoder bug'"
        assert committed == [ids[0], ids[2]]


class TestTransientFailure:
    async def test_a_failure_while_the_database_is_down_is_retried_never_dead_lettered(
        self, kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
    ) -> None:
        ids = [str(uuid.uuid4()) for _ in range(5)]
        topic = topics.name(topics.measurements)
        outage = Outage()
        outage.on = True
        committed: list[str] = []
        metrics = Metrics("tests")
        consumer = runner(
            kafka_bootstrap,
            topics,
            handler(db, committed, outage=outage),
            producer,
            probe=lambda: outage.probe(db),
            metrics=metrics,
        )
        await produce(
            kafka_bootstrap,
            topic,
            [measurement("acme", "mql", 1.0, id=id) for id in ids],
            keys=[KEY] * 5,
        )
        retries = "lodestar_consumer_batch_retries_total"
        with capture_logs() as logs:
            task = asyncio.create_task(consumer.run())
            try:
                await wait_until(
                    lambda: sample(metrics.registry, retries, kind="transient") >= 4,
                    what="four retries",
                )
                assert consumer.stuck_for() > 0, "the loop says it is stuck"
                assert committed == []
                outage.on = False
                await wait_until(lambda: len(committed) == 5, what="the batch stored after")
                assert consumer.stuck_for() == 0, "and no longer stuck"
                # The absence of earlier dead letters, shown by the first one arriving now.
                async with TopicReader(
                    kafka_bootstrap, topics.name(topics.measurements_dlq)
                ) as dlq:
                    await produce(kafka_bootstrap, topic, [b"{not json"], keys=[KEY])
                    await dlq.wait_for(lambda rs: len(rs) >= 1, what="the sentinel dead letter")
                    await dlq.drain()
            finally:
                consumer.request_stop()
                await task
        assert [r.value for r in dlq.records] == [b"{not json"]
        assert committed == ids
        assert await count_points(db) == 5
        assert sample(metrics.registry, retries, kind="isolate") == 0
        failed = [e for e in logs if e["event"] == "batch_failed"]
        assert len(failed) == 1, "logged once, not once per retry"
        (recovered,) = [e for e in logs if e["event"] == "batch_failed_recovered"]
        assert recovered["repeated"] == sample(metrics.registry, retries, kind="transient")


class TestInboxWindow:
    async def test_an_event_older_than_the_window_is_refused_with_the_reason(
        self, kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
    ) -> None:
        old, fresh = str(uuid.uuid4()), str(uuid.uuid4())
        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
        records = [
            measurement("acme", "mql", 1.0, id=old, time=two_hours_ago),
            measurement("acme", "mql", 2.0, id=fresh),
        ]
        topic = topics.name(topics.measurements)
        await produce(kafka_bootstrap, topic, records, keys=[KEY] * 2)
        committed: list[str] = []
        consumer = runner(
            kafka_bootstrap, topics, handler(db, committed), producer, probe=db.ping, max_age_s=3600
        )
        task = asyncio.create_task(consumer.run())
        try:
            async with TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq:
                await dlq.wait_for(lambda rs: len(rs) >= 1, what="the dead letter")
                await wait_until(lambda: fresh in committed, what="the fresh event stored")
                await dlq.drain()
        finally:
            consumer.request_stop()
            await task
        assert [r.value for r in dlq.records] == [records[0]]
        assert reason(dlq.records[0]).startswith(
            f"outside the deduplication window: event time {two_hours_ago.isoformat()}"
        )
        assert committed == [fresh]
