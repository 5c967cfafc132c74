"""The transactional outbox: events are rows written in the same transaction as the state
they announce, and a relay publishes committed rows to Kafka in order, then deletes them.

The relay is woken in-process after every write transaction and polls as a fallback. A crash
between the broker's ack and the delete republishes a row; consumers deduplicate on the
event's identity, so that is harmless. The relay reads every unsent row, not "rows above the
last sequence number seen", so a PostgreSQL transaction that commits late is never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events import CloudEvent, utcnow
from shared.producer import EventProducer
from shared.tables import outbox

log = structlog.get_logger(__name__)


async def enqueue(session: AsyncSession, topic: str, *events: CloudEvent) -> None:
    """Add events to the outbox inside the caller's transaction."""
    await enqueue_all(session, ((topic, event) for event in events))


async def enqueue_all(session: AsyncSession, items: Iterable[tuple[str, CloudEvent]]) -> None:
    now = utcnow()
    rows = [
        {
            "event_id": event.id,
            "topic": topic,
            "key": event.key,
            "payload": event.to_json(),
            "created_at": now,
        }
        for topic, event in items
    ]
    if rows:
        await session.execute(insert(outbox), rows)


class OutboxRelay:
    """Publishes committed outbox rows, oldest first, until told to stop."""

    def __init__(
        self,
        db: Database,
        producer: EventProducer,
        *,
        batch_max: int = 1000,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._db = db
        self._producer = producer
        self._batch_max = batch_max
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0
        db.after_commit.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            while await self.relay_once() == self._batch_max:
                pass
            if self._stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    async def relay_once(self) -> int:
        """Publish up to one batch of pending rows; returns how many were published."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.payload)
                    .order_by(outbox.c.seq)
                    .limit(self._batch_max)
                )
            ).all()
        if not rows:
            return 0
        # Sends are queued in seq order; the idempotent producer keeps that order per partition.
        deliveries = [
            await self._producer.send(row.topic, row.payload, key=row.key) for row in rows
        ]
        await asyncio.gather(*deliveries)
        async with self._db.transaction(notify=False) as session:
            await session.execute(delete(outbox).where(outbox.c.seq.in_([r.seq for r in rows])))
        self.published += len(rows)
        return len(rows)
