"""The consumer runner's guarantees, on the real broker and both databases: bad records go to
the DLQ with a reason and never stop the loop; a crash between the DB commit and the offset
commit re-delivers without a duplicate row."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import Column, Float, MetaData, String, Table, func, select

from shared.consumer import REASON_HEADER, ConsumerRunner
from shared.db import Database
from shared.events import MEASUREMENT_V1, MeasurementV1
from shared.inbound import BatchHandler, Inbound, Rejection
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


class SimulatedCrash(BaseException):
    """The process dying after the DB commit, before the offset commit (like SIGKILL)."""


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


def storing_handler(db: Database, seen: list[str], crash_once: list[bool]) -> BatchHandler:
    """Stores measurements idempotently; optionally 'crashes' once after its commit."""

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        rejected: list[Rejection] = []
        async with db.transaction() as session:
            for item in batch:
                if item.event.type != MEASUREMENT_V1:
                    rejected.append(Rejection(item.record, f"unexpected type {item.event.type}"))
                    continue
                assert isinstance(item.payload, MeasurementV1)
                seen.append(item.event.id)
                stmt = dialect_insert(session, points).values(
                    tenant=item.event.tenant,
                    source=item.event.source,
                    event_id=item.event.id,
                    value=item.payload.value,
                )
                await session.execute(stmt.on_conflict_do_nothing())
        if crash_once and crash_once.pop():
            raise SimulatedCrash
        return rejected

    return handle


def runner(
    bootstrap: str, topics: Topics, handler: BatchHandler, producer: EventProducer
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
    )


async def count_points(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(points))).scalar_one())


async def stored(db: Database, expected: int) -> bool:
    return await count_points(db) == expected


async def test_bad_records_go_to_the_dlq_with_a_reason_and_good_ones_are_stored(
    kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
) -> None:
    records = [
        b"{not json",
        measurement("acme", "mql", 1.0),
        measurement("acme", "mql", 2.0, specversion="0.3"),
        measurement("acme", "mql", False),
        measurement("acme", "mql", 3.0, padding="x" * 4096),
        measurement("acme", "mql", 4.0),
    ]
    # One key: one partition, so the order below is the order on the topic.
    await produce(kafka_bootstrap, topics.name(topics.measurements), records, keys=["acme/mql"] * 6)
    seen: list[str] = []
    consumer = runner(kafka_bootstrap, topics, storing_handler(db, seen, []), producer)
    task = asyncio.create_task(consumer.run())
    try:
        async with TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq:
            await dlq.wait_for(lambda rs: len(rs) >= 4, what="four dead letters")
            await wait_until(lambda: stored(db, 2), what="both good points stored")
            reasons = [dict(r.headers)[REASON_HEADER].decode() for r in dlq.records]
            assert reasons[0].startswith("invalid CloudEvent")
            assert "specversion" in reasons[1]
            assert reasons[2].startswith("invalid data for lodestar.kpi.measurement.v1: value")
            assert reasons[3].startswith("payload too large")
            assert [r.value for r in dlq.records] == [records[0], *records[2:5]]
            await dlq.drain()
            assert len(dlq.records) == 4
    finally:
        consumer.request_stop()
        await task


async def test_crash_after_db_commit_redelivers_without_duplicate(
    kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
) -> None:
    event_id = str(uuid.uuid4())
    await produce(
        kafka_bootstrap,
        topics.name(topics.measurements),
        [measurement("acme", "mql", 5.0, id=event_id)],
    )
    seen_first: list[str] = []
    first = runner(kafka_bootstrap, topics, storing_handler(db, seen_first, [True]), producer)
    with pytest.raises(SimulatedCrash):
        await asyncio.wait_for(first.run(), 30)
    assert seen_first == [event_id]
    assert await count_points(db) == 1, "the DB transaction committed before the crash"

    seen_second: list[str] = []
    second = runner(kafka_bootstrap, topics, storing_handler(db, seen_second, []), producer)
    task = asyncio.create_task(second.run())
    try:
        await wait_until(lambda: seen_second, what="the re-delivery")
    finally:
        second.request_stop()
        await task
    assert seen_second == [event_id], "the uncommitted record is delivered again"
    assert await count_points(db) == 1, "and stored once"


async def test_offsets_are_committed_after_the_batch(
    kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
) -> None:
    await produce(
        kafka_bootstrap,
        topics.name(topics.measurements),
        [measurement("acme", "mql", float(i)) for i in range(5)],
    )
    seen: list[str] = []
    consumer = runner(kafka_bootstrap, topics, storing_handler(db, seen, []), producer)
    task = asyncio.create_task(consumer.run())
    await wait_until(lambda: len(seen) == 5, what="five records")
    consumer.request_stop()
    await task

    again: list[str] = []
    restarted = runner(kafka_bootstrap, topics, storing_handler(db, again, []), producer)
    await produce(
        kafka_bootstrap, topics.name(topics.measurements), [measurement("acme", "mql", 9.0)]
    )
    task = asyncio.create_task(restarted.run())
    try:
        await wait_until(lambda: again, what="the new record")
    finally:
        restarted.request_stop()
        await task
    assert len(again) == 1, "records committed before the restart are not delivered again"
    assert await count_points(db) == 6


async def test_a_rebalance_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
) -> None:
    topic = topics.name(topics.measurements)
    first_half = [measurement("acme", f"k{i % 8}", float(i)) for i in range(1500)]
    second_half = [measurement("acme", f"k{i % 8}", float(i)) for i in range(1500, 3000)]
    keys = [f"acme/k{i % 8}" for i in range(1500)]  # eight keys spread over the partitions
    await produce(kafka_bootstrap, topic, first_half, keys=keys)

    seen_a: list[str] = []
    seen_b: list[str] = []
    a = runner(kafka_bootstrap, topics, storing_handler(db, seen_a, []), producer)
    b = runner(kafka_bootstrap, topics, storing_handler(db, seen_b, []), producer)
    task_a = asyncio.create_task(a.run())
    try:
        await wait_until(lambda: seen_a, what="the first member to start consuming")
        # A second member joins while the first is consuming: partitions move between them.
        task_b = asyncio.create_task(b.run())
        await asyncio.wait_for(b.assigned.wait(), 30)
        await produce(kafka_bootstrap, topic, second_half, keys=keys)
        await wait_until(lambda: stored(db, 3000), timeout_s=60, what="all 3,000 stored")
    finally:
        a.request_stop()
        b.request_stop()
        await asyncio.gather(task_a, task_b)
    assert seen_b, "the second member consumed its share"
    assert len(set(seen_a) | set(seen_b)) == 3000, "every record reached a member"
    assert await count_points(db) == 3000, "and is stored once"


async def test_a_rebalance_while_records_trickle_in_stalls_no_member(
    kafka_bootstrap: str, topics: Topics, db: Database, producer: EventProducer
) -> None:
    """A member mostly waits in the fetch when records arrive one by one; a rebalance that
    begins then must not leave it there (aiokafka holds a fetch while a reassignment is in
    progress, and the revocation waits for the batch in hand), or the group never settles."""
    topic = topics.name(topics.measurements)
    values = [measurement("acme", f"k{i % 8}", float(i)) for i in range(400)]
    keys = [f"acme/k{i % 8}" for i in range(400)]
    seen_a: list[str] = []
    seen_b: list[str] = []
    a = runner(kafka_bootstrap, topics, storing_handler(db, seen_a, []), producer)
    b = runner(kafka_bootstrap, topics, storing_handler(db, seen_b, []), producer)

    async def trickle(start: int, stop: int) -> None:
        for i in range(start, stop):
            await produce(kafka_bootstrap, topic, [values[i]], keys=[keys[i]])

    task_a = asyncio.create_task(a.run())
    tasks = [task_a]
    try:
        await trickle(0, 1)
        await wait_until(lambda: seen_a, what="the first member to start consuming")
        dripping = asyncio.create_task(trickle(1, 200))  # on through the whole rebalance
        tasks.append(asyncio.create_task(b.run()))
        await asyncio.wait_for(b.assigned.wait(), 30)
        await dripping
        await trickle(200, 400)  # after the rebalance: both members take their share
        await wait_until(lambda: stored(db, 400), timeout_s=60, what="all 400 stored")
    finally:
        a.request_stop()
        b.request_stop()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    assert seen_b, "the second member consumed its share"
    assert len(set(seen_a) | set(seen_b)) == 400, "every record reached a member"
    assert await count_points(db) == 400, "and is stored once"
