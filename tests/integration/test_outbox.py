"""The outbox on the real broker and both databases: a committed event is published exactly
once, a rolled-back one never."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel
from sqlalchemy import func, select

from shared.db import Database
from shared.events import CloudEvent, new_event
from shared.outbox import OutboxRelay, enqueue
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
