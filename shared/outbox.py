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

One relay runs per deployment: on PostgreSQL the replica leading `outbox-relay`
(`shared.leader`, which says why one relay and not rows claimed by several keeps per-key
order); each transaction that adds rows NOTIFYs `lodestar_outbox`, so the leader wakes for rows
another replica wrote. On SQLite one process owns the file (`shared.db.SqliteFileLock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database, bound, driver_connection
from shared.events import CloudEvent, utcnow
from shared.leader import WAKE_CHANNEL
from shared.producer import EventProducer
from shared.supervisor import RepeatedErrors
from shared.tables import outbox

log = structlog.get_logger(__name__)


async def enqueue(session: AsyncSession, topic: str, *events: CloudEvent) -> None:
    """Add events to the outbox inside the caller's transaction."""
    await enqueue_all(session, ((topic, event) for event in events))


# Rows added and the relay's statements, on the driver's connection
# (`shared.db.driver_connection`): through SQLAlchemy, compiling and binding each row cost
# several times the insert. Rows are inserted one after the other, so `seq` follows their order.
_NOTIFY = f"NOTIFY {WAKE_CHANNEL}"
_PENDING = {
    "postgresql": "SELECT seq, topic, key, payload FROM outbox WHERE seq > $1 "
    "ORDER BY seq LIMIT $2",
    "sqlite": "SELECT seq, topic, key, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
}
_DELETE_POSTGRES = "DELETE FROM outbox WHERE seq = ANY($1::bigint[])"
_ADD = {
    "postgresql": "INSERT INTO outbox (event_id, topic, key, payload, created_at) "
    "VALUES ($1, $2, $3, $4, $5)",
    "sqlite": "INSERT INTO outbox (event_id, topic, key, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?)",
}


async def enqueue_all(session: AsyncSession, items: Iterable[tuple[str, CloudEvent]]) -> None:
    """Add (topic, event) pairs to the outbox, in order, inside the caller's transaction."""
    now = bound(session, outbox.c.created_at, utcnow())
    rows = [(event.id, topic, event.key, event.to_json(), now) for topic, event in items]
    if not rows:
        return
    conn = await driver_connection(session)
    if session.get_bind().dialect.name == "postgresql":
        await conn.executemany(_ADD["postgresql"], rows)
        # Wakes the leading relay (in whichever replica) when this transaction commits; one
        # notification per transaction, however many rows (PostgreSQL folds them).
        await conn.execute(_NOTIFY)
    else:
        await conn.cursor().executemany(_ADD["sqlite"], rows)


class OutboxRelay:
    """Publishes committed outbox rows, oldest first, until told to stop.

    A round that fails (broker or database away) is retried with backoff inside `run`, the
    error logged once with a count (`outbox_relay_failed`, then `..._recovered`);
    `failing_for()` says for how long, for `/readyz`."""

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
        self._errors = RepeatedErrors("outbox_relay_failed")
        db.after_commit.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self._stopping = True
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                done = await self._round()
            except Exception as exc:
                if self._stopping:
                    raise
                self._errors.failed(exc, retry_in_s=backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._errors.recovered()
            backoff = 0.2
            if done:
                return

    async def _round(self) -> bool:
        """Publish until the outbox is empty, then wait for a wake-up (or delete, idle);
        true when that was the last round (a stop was requested before it)."""
        self._wake.clear()
        while await self.relay_once() == self._batch_max:
            pass
        if self._stopping:
            await self.delete_published()
            return True
        timeout = self._idle_delete_s if self._undeleted else self._poll_interval_s
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            await self.delete_published()
        return False

    def failing_for(self) -> float:
        """Seconds the relay has been failing without a round succeeding (0: it is not)."""
        since = self._errors.since
        return 0.0 if since is None else time.monotonic() - since

    async def backlog(self) -> tuple[int, float]:
        """The rows not yet published, and the age in seconds of the oldest (0 if none)."""
        async with self._db.session() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(outbox.c.created_at)).where(
                        outbox.c.seq > self._sent_upto
                    )
                )
            ).one()
        if not count or oldest is None:
            return 0, 0.0
        if oldest.tzinfo is None:  # SQLite hands back the naive UTC it stored
            oldest = oldest.replace(tzinfo=UTC)
        return int(count), max((datetime.now(UTC) - oldest).total_seconds(), 0.0)

    async def relay_once(self) -> int:
        """Publish up to one batch of pending rows; returns how many were published."""
        postgres = not self._db.is_sqlite
        async with self._db.session() as session:
            conn = await driver_connection(session)
            if postgres:
                rows = await conn.fetch(_PENDING["postgresql"], self._sent_upto, self._batch_max)
            else:
                cursor = await conn.cursor().execute(
                    _PENDING["sqlite"], (self._sent_upto, self._batch_max)
                )
                rows = await cursor.fetchall()
        if not rows:
            return 0
        # Sends are queued in seq order; the idempotent producer keeps that order per partition.
        send = self._producer.send
        deliveries = [await send(topic, payload, key=key) for _, topic, key, payload in rows]
        await asyncio.gather(*deliveries)
        self.published += len(rows)
        if self._delete_max:
            self._sent_upto = rows[-1][0]
            self._undeleted += len(rows)
            if self._undeleted >= self._delete_max:
                await self.delete_published()
        else:
            async with self._db.transaction(notify=False) as session:
                conn = await driver_connection(session)
                await conn.execute(_DELETE_POSTGRES, [row[0] for row in rows])
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
