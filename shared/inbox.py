"""The record of processed events, written in the same transaction as their effect.

`first_delivery` inserts the event's identity (tenant, source, id); it is false when the event
was already processed, so a re-delivered event is skipped instead of applied twice.
`first_deliveries` is its batch form (same table, same key), on the driver's connection.

The record is kept for `inbox_retention_s` (7 days by default, Kafka's default log retention:
a re-delivery comes from a topic, so an event older than its topic's retention cannot come
back); `InboxPruner` deletes older identities in chunks, in the background. Without it the
table grew by a row per event for ever (86 million a day at 1,000 events/s).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database, bound, driver_connection
from shared.events import CloudEvent, utcnow
from shared.sql import dialect_insert
from shared.supervisor import BackgroundLoop
from shared.tables import processed_events

log = structlog.get_logger(__name__)


async def first_delivery(session: AsyncSession, event: CloudEvent) -> bool:
    stmt = (
        dialect_insert(session, processed_events)
        .values(tenant=event.tenant, source=event.source, event_id=event.id, processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["tenant", "source", "event_id"])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Recording a batch's identities, on the driver's connection (`shared.db.driver_connection`):
# through SQLAlchemy the per-row compiling and bind processing cost several times the insert.
# The same statement either way: insert, skip an identity already there, and say which were
# inserted now. PostgreSQL: one statement over arrays, RETURNING the identities inserted.
_RECORD_POSTGRES = """
INSERT INTO processed_events (tenant, source, event_id, processed_at)
SELECT tenant, source, event_id, $4::timestamptz
FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS batch (tenant, source, event_id)
ON CONFLICT (tenant, source, event_id) DO NOTHING
RETURNING tenant, source, event_id"""
# SQLite: the statement once per identity (prepared once, sqlite3's statement cache), whose
# rowcount says whether it was inserted.
_RECORD_SQLITE = (
    "INSERT INTO processed_events (tenant, source, event_id, processed_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (tenant, source, event_id) DO NOTHING"
)


async def first_deliveries(
    session: AsyncSession, events: Sequence[CloudEvent], now: datetime
) -> list[bool]:
    """For each event, whether this is its first delivery; the identities (tenant, source, id)
    not yet recorded are recorded now, in the caller's transaction. A repeat of an identity
    inside `events` counts as a re-delivery of the first."""
    identities = [(e.tenant, e.source, e.id) for e in events]
    unique = list(dict.fromkeys(identities))
    fresh: set[tuple[str, str, str]] = set()
    if unique:
        stamp = bound(session, processed_events.c.processed_at, now)
        conn = await driver_connection(session)
        if session.get_bind().dialect.name == "postgresql":
            tenants, sources, ids = zip(*unique, strict=True)
            rows = await conn.fetch(_RECORD_POSTGRES, tenants, sources, ids, stamp)
            fresh.update((t, s, i) for t, s, i in rows)
        else:
            counts = await conn.cursor().rowcounts(
                _RECORD_SQLITE, [(t, s, i, stamp) for t, s, i in unique]
            )
            fresh.update(identity for identity, count in zip(unique, counts, strict=True) if count)
    answer = []
    for identity in identities:
        answer.append(identity in fresh)
        fresh.discard(identity)
    return answer


async def prune(db: Database, before: datetime, *, chunk: int = 10_000) -> int:
    """Delete the identities processed before `before`, `chunk` rows per transaction (so the
    SQLite writer is never held long); returns how many were deleted."""
    c = processed_events.c
    deleted = 0
    while True:
        oldest = select(c.tenant, c.source, c.event_id).where(c.processed_at < before).limit(chunk)
        async with db.transaction(notify=False) as session:
            result = await session.execute(
                delete(processed_events).where(tuple_(c.tenant, c.source, c.event_id).in_(oldest))
            )
        count: int = result.rowcount  # type: ignore[attr-defined]
        deleted += count
        if count < chunk:
            return deleted


class InboxPruner(BackgroundLoop):
    """Prunes the processed-event record every `interval_s` until told to stop."""

    def __init__(self, db: Database, *, retention_s: float, interval_s: float) -> None:
        super().__init__()
        self._db = db
        self._retention = timedelta(seconds=retention_s)
        self._interval_s = interval_s

    async def run(self) -> None:
        while not self.stopping:
            deleted = await prune(self._db, utcnow() - self._retention)
            if deleted:
                log.info("inbox_pruned", deleted=deleted)
            await self.pause(self._interval_s)
