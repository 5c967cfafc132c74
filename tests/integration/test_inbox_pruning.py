"""The processed-event record is pruned past its retention, and what is younger still stops
a re-delivery; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from shared.db import Database
from shared.events import CloudEvent, utcnow
from shared.inbox import first_deliveries, prune
from shared.migrations import upgrade
from shared.tables import processed_events
from tests.conftest import DatabaseFactory

GOALS_MIGRATIONS = Path(__file__).resolve().parents[2] / "services/goals/migrations"


def event() -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source="tests/inbox",
        type="lodestar.test.v1",
        time=utcnow(),
        subject="x",
        tenant="acme",
        data={},
    )


async def count(db: Database) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(processed_events)
        return int((await session.execute(query)).scalar_one())


async def test_old_identities_go_in_chunks_and_young_ones_still_stop_redeliveries(
    databases: DatabaseFactory,
) -> None:
    db = Database(await databases.new())
    try:
        await upgrade(db, GOALS_MIGRATIONS)
        now = utcnow()
        old, young = [event() for _ in range(25)], [event() for _ in range(5)]
        async with db.transaction() as session:
            assert await first_deliveries(session, old, now - timedelta(days=8)) == [True] * 25
            assert await first_deliveries(session, young, now - timedelta(days=6)) == [True] * 5

        assert await prune(db, now - timedelta(days=7), chunk=10) == 25
        assert await count(db) == 5
        async with db.transaction() as session:
            again = await first_deliveries(session, [young[0], old[0]], now)
        assert again == [False, True]  # pruned: no longer recognised, as documented
        assert await prune(db, now - timedelta(days=7), chunk=10) == 0
    finally:
        await db.dispose()
