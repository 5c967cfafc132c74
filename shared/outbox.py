"""The transactional outbox: events are rows written in the same transaction as the state
they announce, and a relay publishes committed rows to Kafka in order, then deletes them.

The relay is woken in-process after every write transaction and polls as a fallback. A crash
between the broker's ack and the delete republishes a row; consumers deduplicate on the
event's identity, so that is harmless. On PostgreSQL the relay reads every unsent row, not
"rows above the last sequence number seen", so a transaction that commits late is never
skipped; it deletes what it published right after the ack.

On SQLite, where every delete is a write transaction that waits for the one writer (and an
fsync), published rows are deleted in chunks: when `delete_max` of them have piled up, or when
no new row arrived for `idle_delete_s`. Until then the relay skips them by sequence number,
which is safe there: writers are serialised, so a row committed later always has a higher
`seq` than every row still in the table (an INTEGER PRIMARY KEY takes max + 1).
"""

from __future__ import annotations

import asyncio
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
        delete_max: int = 10_000,
        idle_delete_s: float = 0.2,
    ) -> None:
        self._db = db
        self._producer = producer
        self._batch_max = batch_max
        self._poll_interval_s = poll_interval_s
        self._delete_max = delete_max if db.is_sqlite else 0
        self._idle_delete_s = idle_delete_s
        self._wake = asyncio.Event()
        self._stopping = False
        # SQLite only: rows up to `_sent_upto` are published but not deleted yet.
        self._sent_upto = 0
        self._undeleted = 0
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
                await self.delete_published()
                return
            timeout = self._idle_delete_s if self._undeleted else self._poll_interval_s
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                await self.delete_published()

    async def relay_once(self) -> int:
        """Publish up to one batch of pending rows; returns how many were published."""
        async with self._db.session() as session:
            rows = (
                await session.execute(
                    select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.payload)
                    .where(outbox.c.seq > self._sent_upto)
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
        self.published += len(rows)
        if self._delete_max:
            self._sent_upto = rows[-1].seq
            self._undeleted += len(rows)
            if self._undeleted >= self._delete_max:
                await self.delete_published()
        else:
            async with self._db.transaction(notify=False) as session:
                await session.execute(delete(outbox).where(outbox.c.seq.in_([r.seq for r in rows])))
        return len(rows)

    async def delete_published(self) -> None:
        """Delete the published rows still in the table (SQLite's deferred deletes)."""
        if not self._undeleted:
            return
        async with self._db.transaction(notify=False) as session:
            await session.execute(delete(outbox).where(outbox.c.seq <= self._sent_upto))
        # Every row left is unpublished; new rows may now reuse lower numbers: read them all.
        self._sent_upto = 0
        self._undeleted = 0
