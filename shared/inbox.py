"""The record of processed events, written in the same transaction as their effect.

`first_delivery` inserts the event's identity (tenant, source, id); it is false when the event
was already processed, so a re-delivered event is skipped instead of applied twice.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import CloudEvent, utcnow
from shared.sql import dialect_insert
from shared.tables import processed_events


async def first_delivery(session: AsyncSession, event: CloudEvent) -> bool:
    stmt = (
        dialect_insert(session, processed_events)
        .values(tenant=event.tenant, source=event.source, event_id=event.id, processed_at=utcnow())
        .on_conflict_do_nothing(index_elements=["tenant", "source", "event_id"])
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]
