"""The processed-event record, written on the driver's own connection, is in the caller's
transaction (rolled back with it, committed with what follows it) and holds what SQLAlchemy
wrote before (`first_delivery` sees the same rows, `prune` compares the same times); on
SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db import Database
from shared.events import CloudEvent, utcnow
from shared.inbox import first_deliveries, first_delivery, prune
from shared.migrations import upgrade
from shared.tables import processed_events, tenants
from tests.conftest import DatabaseFactory

GOALS_MIGRATIONS = Path(__file__).resolve().parents[2] / "services/goals/migrations"


def event(tenant: str = "acme", source: str = "tests/inbox") -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source=source,
        type="lodestar.test.v1",
        time=utcnow(),
        subject="x",
        tenant=tenant,
        data={},
    )


@pytest.fixture
async def db(databases: DatabaseFactory) -> AsyncIterator[Database]:
    db = Database(await databases.new())
    await upgrade(db, GOALS_MIGRATIONS)
    yield db
    await db.dispose()


async def recorded(db: Database) -> dict[tuple[str, str, str], datetime]:
    c = processed_events.c
    async with db.session() as session:
        rows = await session.execute(select(c.tenant, c.source, c.event_id, c.processed_at))
        return {(t, s, i): at for t, s, i, at in rows}


async def test_a_rolled_back_batch_is_not_recorded(db: Database) -> None:
    a, b = event(), event()

    async def record_then_fail() -> None:
        async with db.transaction() as session:
            assert await first_deliveries(session, [a, b], utcnow()) == [True, True]
            raise RuntimeError("the handler failed")

    with pytest.raises(RuntimeError):
        await record_then_fail()
    assert await recorded(db) == {}
    async with db.transaction() as session:
        assert await first_deliveries(session, [a, b], utcnow()) == [True, True]


async def test_the_batch_commits_with_the_statements_after_it(db: Database) -> None:
    a = event()
    now = utcnow()
    async with db.transaction() as session:
        assert await first_deliveries(session, [a], now) == [True]
        await session.execute(tenants.insert().values(slug="acme", name="Acme", created_at=now))
    async with db.session() as session:
        assert (await session.execute(select(tenants.c.slug))).scalars().all() == ["acme"]
    assert list(await recorded(db)) == [(a.tenant, a.source, a.id)]


async def test_the_record_after_statements_of_the_same_transaction(db: Database) -> None:
    a, b = event(), event()
    async with db.transaction() as session:
        assert await first_delivery(session, a)
        assert await first_deliveries(session, [a, b, b], utcnow()) == [False, True, False]
        assert not await first_delivery(session, b)


async def test_the_time_stored_is_the_instant_given_in_utc(db: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    at = datetime(2026, 11, 24, 10, 59, 0, 123456, tzinfo=berlin)
    on_the_second = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    a, b = event(), event(tenant="globex", source="ü/ß")
    async with db.transaction() as session:
        assert await first_deliveries(session, [a], at) == [True]
        assert await first_deliveries(session, [b], on_the_second) == [True]
    assert await recorded(db) == {
        (a.tenant, a.source, a.id): at.astimezone(UTC),
        (b.tenant, b.source, b.id): on_the_second,
    }
    assert await prune(db, datetime(2026, 11, 24, 9, 59, 0, 123457, tzinfo=UTC)) == 2


async def test_prune_keeps_what_is_not_older_than_the_cut(db: Database) -> None:
    at = datetime(2026, 11, 24, 9, 59, 0, 123456, tzinfo=UTC)
    async with db.transaction() as session:
        await first_deliveries(session, [event()], at)
    assert await prune(db, at) == 0
    assert await prune(db, at + timedelta(microseconds=1)) == 1


async def test_a_large_batch_answers_each_event(db: Database) -> None:
    events = [event(tenant=f"t{i % 7}") for i in range(2500)]
    async with db.transaction() as session:
        assert await first_deliveries(session, events[:1000], utcnow()) == [True] * 1000
    async with db.transaction() as session:
        answer = await first_deliveries(session, events, utcnow())
    assert answer == [False] * 1000 + [True] * 1500
    assert len(await recorded(db)) == 2500
