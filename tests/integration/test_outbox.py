"""The outbox on the real broker and both databases: a committed event is published exactly
once, a rolled-back one never."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from shared.db import Database
from shared.events import CloudEvent, new_event, utcnow
from shared.leader import WAKE_CHANNEL
from shared.outbox import OutboxRelay, enqueue, enqueue_all
from shared.producer import EventProducer
from shared.settings import Topics
from shared.tables import infra_metadata, outbox
from tests.conftest import DatabaseFactory
from tests.support.kafka import TopicReader, auth, wait_until

pytestmark = pytest.mark.kafka


class Note(BaseModel):
    text: str


def note(text: str) -> CloudEvent:
    return new_event(
        type="tests.note.v1", source="tests", tenant="acme", subject="notes", data=Note(text=text)
    )


class Rollback(Exception):
    pass


@pytest.fixture
async def relay(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> AsyncIterator[tuple[Database, OutboxRelay]]:
    db = Database(await databases.new())
    async with db.engine.begin() as conn:
        await conn.run_sync(infra_metadata.create_all)
    producer = EventProducer(kafka_bootstrap, client_id="tests", auth=auth(kafka_bootstrap))
    await producer.start()
    # A long poll interval: publishing promptly must come from the wake-up after commit.
    relay = OutboxRelay(db, producer, poll_interval_s=60)
    task = asyncio.create_task(relay.run())
    yield db, relay
    relay.request_stop()
    await task
    await producer.stop()
    await db.dispose()


async def test_committed_event_is_published_once_and_rolled_back_never(
    relay: tuple[Database, OutboxRelay], kafka_bootstrap: str, topics: Topics
) -> None:
    db, _ = relay
    topic = topics.name(topics.okr_events)
    committed, rolled_back, later = note("committed"), note("rolled back"), note("later")

    async with db.transaction() as session:
        await enqueue(session, topic, committed)

    async def enqueue_then_fail() -> None:
        async with db.transaction() as session:
            await enqueue(session, topic, rolled_back)
            raise Rollback

    with pytest.raises(Rollback):
        await enqueue_then_fail()
    async with db.transaction() as session:
        await enqueue(session, topic, later)
    sentinel = note("sentinel")
    async with db.transaction() as session:
        await enqueue(session, topic, sentinel)

    async with TopicReader(kafka_bootstrap, topic) as reader:
        await reader.wait_for(
            lambda _: sentinel.id in [e["id"] for e in reader.events()],
            timeout_s=10,
            what="the sentinel event",
        )
        await reader.drain()
        ids = [e["id"] for e in reader.events()]
    assert ids == [committed.id, later.id, sentinel.id], (
        "in commit order, each once, none rolled back"
    )
    assert json.loads(reader.records[0].value)["data"] == {"text": "committed"}
    assert reader.records[0].key == b"acme/notes"

    async def outbox_empty() -> bool:
        async with db.session() as session:
            rows = (await session.execute(select(func.count()).select_from(outbox))).scalar_one()
        return bool(rows == 0)

    # A row is deleted once the broker has acknowledged it, just after a reader can see it.
    await wait_until(outbox_empty, what="published rows leave the outbox")


async def test_events_written_while_the_relay_was_down_are_published_on_start(
    databases: DatabaseFactory, kafka_bootstrap: str, topics: Topics
) -> None:
    db = Database(await databases.new())
    async with db.engine.begin() as conn:
        await conn.run_sync(infra_metadata.create_all)
    topic = topics.name(topics.okr_events)
    events = [note(f"n{i}") for i in range(25)]
    async with db.transaction() as session:
        await enqueue(session, topic, *events)

    producer = EventProducer(kafka_bootstrap, client_id="tests", auth=auth(kafka_bootstrap))
    await producer.start()
    relay = OutboxRelay(db, producer, batch_max=10, poll_interval_s=60)
    task = asyncio.create_task(relay.run())
    try:
        async with TopicReader(kafka_bootstrap, topic) as reader:
            await reader.wait_for(lambda rs: len(rs) >= 25, timeout_s=10, what="25 events")
            sentinel = note("sentinel")
            async with db.transaction() as session:
                await enqueue(session, topic, sentinel)
            await reader.wait_for(
                lambda _: sentinel.id in [e["id"] for e in reader.events()],
                timeout_s=10,
                what="the sentinel event",
            )
            await reader.drain()
            assert [e["id"] for e in reader.events()] == [e.id for e in [*events, sentinel]]
    finally:
        relay.request_stop()
        await task
        await producer.stop()
        await db.dispose()


async def test_rows_hold_each_event_in_order_with_its_time(databases: DatabaseFactory) -> None:
    """What `enqueue` writes on the driver's connection: one row per event, `seq` in the order
    given, the event's id, topic, record key and JSON, and the time it was added (in UTC)."""
    db = Database(await databases.new())
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(infra_metadata.create_all)
        first, second = [note(f"a{i}") for i in range(30)], [note("ü ✓ \U0001f600")]
        before = utcnow()
        async with db.transaction() as session:
            await enqueue(session, "t.one", *first)
            await enqueue_all(session, [("t.two", second[0]), ("t.one", first[0])])
        after = utcnow()
        c = outbox.c
        async with db.session() as session:
            rows = (
                await session.execute(
                    select(c.seq, c.event_id, c.topic, c.key, c.payload, c.created_at).order_by(
                        c.seq
                    )
                )
            ).all()
        expected = [("t.one", e) for e in first] + [("t.two", second[0]), ("t.one", first[0])]
        assert [(r.topic, r.event_id, r.key, r.payload) for r in rows] == [
            (topic, e.id, e.key, e.to_json()) for topic, e in expected
        ]
        assert [r.seq for r in rows] == sorted({r.seq for r in rows})
        assert all(before <= r.created_at <= after for r in rows)
        assert len({r.created_at for r in rows[:30]}) == 1  # one time per call

        async with db.transaction() as session:
            await enqueue_all(session, [])

        async def enqueue_then_fail() -> None:
            async with db.transaction() as session:
                await enqueue(session, "t.one", note("rolled back"))
                raise Rollback

        with pytest.raises(Rollback):
            await enqueue_then_fail()
        async with db.session() as session:
            count = (await session.execute(select(func.count()).select_from(outbox))).scalar_one()
        assert count == len(rows)
    finally:
        await db.dispose()


async def test_an_enqueue_on_postgres_notifies_the_relays_once_committed(
    databases: DatabaseFactory,
) -> None:
    if databases.backend != "postgres":
        pytest.skip("NOTIFY is PostgreSQL's")
    url = await databases.new()
    db = Database(url)
    listener = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(infra_metadata.create_all)
        heard: asyncio.Queue[str] = asyncio.Queue()
        await listener.add_listener(WAKE_CHANNEL, lambda *args: heard.put_nowait(args[2]))
        async with db.transaction() as session:
            await enqueue(session, "t.one", note("a"), note("b"))
            await asyncio.sleep(0.2)
            assert heard.empty()  # not before the commit
        assert await asyncio.wait_for(heard.get(), 5) == WAKE_CHANNEL
        await asyncio.sleep(0.2)
        assert heard.empty()  # one per transaction
    finally:
        await listener.close()
        await db.dispose()
