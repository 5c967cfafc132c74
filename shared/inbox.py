"""The record of processed events, written in the same transaction as their effect.

`first_delivery` inserts the event's identity (tenant, source, id); it is false when the event
was already processed, so a re-delivered event is skipped instead of applied twice.
`first_deliveries` is its batch form (same table, same key): one statement per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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


_RECORD: dict[str, Any] = {}  # dialect name → the statement, built once


def _record(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = _RECORD.get(dialect)
    if stmt is None:
        c = processed_events.c
        stmt = (
            dialect_insert(session, processed_events)
            .on_conflict_do_nothing(index_elements=["tenant", "source", "event_id"])
            .returning(c.tenant, c.source, c.event_id)
        )
        _RECORD[dialect] = stmt
    return stmt


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
        # One compiled statement with many parameter sets: SQLAlchemy's "insertmanyvalues"
        # sends it as multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING, and the rows
        # returned are exactly the identities inserted now.
        rows = [
            {"tenant": t, "source": s, "event_id": i, "processed_at": now} for t, s, i in unique
        ]
        result = await session.execute(_record(session), rows)
        fresh.update((t, s, i) for t, s, i in result.all())
    answer = []
    for identity in identities:
        answer.append(identity in fresh)
        fresh.discard(identity)
    return answer
