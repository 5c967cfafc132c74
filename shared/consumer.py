"""The consume loop: batches from Kafka, one database transaction each, offsets after it.

    getmany → decode each record (bad → DLQ) → handler(events) in ONE db transaction
            → rejected records → DLQ (awaited) → offsets committed (not awaited by the next fetch)

Pipelined: while batch k is being stored (the handler awaits its database work), batch k+1 is
fetched and decoded; it is handed to the handler only once batch k is stored, so batches are
stored one at a time and in order, and their offsets are committed in order.

Offsets are committed only after the handler's transaction committed and the DLQ acknowledged,
so a crash anywhere re-delivers the batch; handlers are idempotent on event identity, so the
re-delivery changes nothing. Commits are coalesced: at most one in flight and one started per
`commit_interval_ms`; the offsets of batches stored meanwhile go with the next one (an idle
poll, a drain, a revocation and the stop commit whatever is stored). At 1,000 events/s in
small batches, a commit after each was ~6 % of the metrics service's py-spy samples (and a
request each for the broker); a crash re-delivers at most one interval's batches more.

A handler that raises is told apart (`is_transient`, then a probe of the database):
- transient (database unreachable or locked, broker errors, timeouts): the same records are
  retried with backoff, never skipped, committed nor dead-lettered; the loop reports itself
  `stuck` (`/readyz`) while no attempt succeeds, and the error is logged once with a count;
- deterministic (it fails again while the database answers its probe, before the attempt
  and after): the batch is split and the halves are retried in order, each its own handler
  call (its own transaction), down to the one record that still fails, which is
  dead-lettered as `handler failed: <Type>: <message>` while its neighbours are stored.
  Handlers are idempotent on event identity, so re-running is safe. Dead letters go out in
  the topic's order.
The happy path pays for none of it: one handler call per batch, no probe.
Revocation waits for the batch in hand, so a rebalance never splits one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.failures import failure_reason, is_transient
from shared.inbound import (
    BatchHandler,
    Decoder,
    Inbound,
    InvalidEvent,
    Rejection,
    decode_record,
)
from shared.kafka_auth import KafkaAuth
from shared.producer import EventProducer
from shared.supervisor import RepeatedErrors

FETCH_MAX_BYTES = 16 * 1024 * 1024  # of one fetch, every partition together


@dataclass(frozen=True)
class Fetch:
    """How long the broker holds a consumer's fetch for how many bytes to pile up."""

    min_bytes: int
    max_wait_ms: int


SPARSE = Fetch(min_bytes=1, max_wait_ms=500)
"""Kafka's default, for a topic of rare records nobody can batch (tenants and API keys): each
is fetched the moment it arrives, and an idle consumer asks the broker twice a second, not
once per live wait (`bench/idle_fetch.py`)."""

UNHURRIED = Fetch(min_bytes=1024 * 1024, max_wait_ms=500)
"""For a busy topic nobody waits on (metrics reads all of `okr.events` for the rare
graduation): one fetch per half second or per MiB, not one per live wait."""

log = structlog.get_logger(__name__)

REASON_HEADER = "lodestar.dlq.reason"
DECODE_SLICE = 250  # records decoded between two turns of the event loop


class ConsumerObserver(Protocol):
    """What a runner reports, for metrics (`shared.observability.Metrics` implements it)."""

    def batch_stored(self, loop: str, stored: int, rejections: Sequence[Rejection]) -> None: ...

    def batch_retried(self, loop: str, kind: str) -> None: ...


class _Verdict(enum.Enum):
    TRANSIENT = "transient"  # retry the same records after a backoff
    UNCONFIRMED = "unconfirmed"  # the database answers now: retry at once, to be sure
    DETERMINISTIC = "deterministic"  # failed with the database healthy before and after


HealthProbe = Callable[[], Awaitable[None]]
"""Raises unless the database answers (`SELECT 1` on a connection of its own)."""


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a revocation until the batch in hand is stored and its offsets committed."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._runner.batch_lock:
            self._runner.revocations += 1
            try:
                await self._runner.drain()
            except Exception as exc:
                log.warning("drain_on_revoke_failed", loop=self._runner.name, error=str(exc))
            self._runner.forget(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions_assigned", loop=self._runner.name, partitions=len(assigned))


class ConsumerRunner:
    """One consumer group member running `handler` over `topics` until told to stop."""

    def __init__(
        self,
        *,
        name: str,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        producer: EventProducer,
        dlq_for: Callable[[str], str],
        batch_max: int = 2000,
        poll_timeout_ms: int = 200,
        max_event_bytes: int = 64 * 1024,
        decoder: Decoder | None = None,
        observer: ConsumerObserver | None = None,
        commit_interval_ms: int = 100,
        fetch: Fetch = SPARSE,
        health_probe: HealthProbe | None = None,
        max_age_s: float | None = None,
        max_backoff_s: float = 10.0,
        auth: KafkaAuth | None = None,
    ) -> None:
        """`health_probe` tells a deterministic failure from an outage (without one, a failure
        that `is_transient` does not recognise is taken as deterministic); `max_age_s` refuses
        events whose CloudEvent `time` is older (the window of an inbox that deduplicates
        them: older identities are pruned, so such an event could be applied twice);
        `fetch` is the broker's wait for a fetch to fill (the services' live consumers wait
        20 ms: `shared.settings.ServiceSettings`)."""
        self.name = name
        self._bootstrap = bootstrap
        self._auth = auth or KafkaAuth()
        self._group_id = group_id
        self._topics = list(topics)
        self._handler = handler
        self._producer = producer
        self._dlq_for = dlq_for
        self._batch_max = batch_max
        self._poll_timeout_ms = poll_timeout_ms
        self._fetch = fetch
        self._decode: Decoder = decoder or (lambda r: decode_record(r, max_event_bytes))
        self._observer = observer
        self._health_probe = health_probe
        self._max_age = timedelta(seconds=max_age_s) if max_age_s is not None else None
        self._max_backoff_s = max_backoff_s
        self._backoff_s = 0.2
        self._errors = RepeatedErrors("batch_failed", loop=name)
        # Since when the batch in hand has failed with no attempt succeeding (None: it has not).
        self._stuck_since: float | None = None
        # The database answered a probe since the last transient failure (of this batch).
        self._known_healthy = False
        # Per partition, the offset of the first record not yet stored (for the lag).
        self._next: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self._pending_commit: asyncio.Task[None] | None = None
        self._commit_interval_s = commit_interval_ms / 1000
        self._last_commit = 0.0
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        self._in_flight: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.batch_lock = asyncio.Lock()
        self.revocations = 0  # partitions revoked so far (a fetch across one is not used)
        self.assigned = asyncio.Event()

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `request_stop()`; the last batch is stored and committed first."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            **self._auth.client_options(),
            group_id=self._group_id,
            client_id=f"{self._group_id}-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._batch_max,
            fetch_max_bytes=FETCH_MAX_BYTES,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_min_bytes=self._fetch.min_bytes,
            fetch_max_wait_ms=self._fetch.max_wait_ms,
        )
        consumer.subscribe(self._topics, listener=_WaitForBatch(self))
        await consumer.start()
        self._consumer = consumer
        try:
            try:
                while not self._stopping.is_set():
                    # Fetched outside the lock: aiokafka holds a fetch while a reassignment
                    # is in progress, and the revocation that reassignment waits for takes
                    # the lock (holding it here stalled the member, and so its group).
                    revocations = self.revocations
                    fetched = await consumer.getmany(
                        timeout_ms=self._poll_timeout_ms, max_records=self._batch_max
                    )
                    async with self.batch_lock:
                        if self.revocations != revocations:
                            # Fetched across a revocation: perhaps from a partition gone to
                            # another member, perhaps of the new assignment; fetched again.
                            self._rewind(consumer, fetched)
                            continue
                        if consumer.assignment():
                            self.assigned.set()
                        if not fetched:
                            self._commit_soon(consumer, at_once=True)
                            continue
                        # Decoded while the previous batch is still being stored (pipelining).
                        decoded = await self._decode_all(fetched)
                        await self._finish_in_flight()
                        self._in_flight = asyncio.create_task(
                            self._process(consumer, fetched, decoded)
                        )
                        # Let it start (hand the batch to the database) before this loop
                        # fetches and decodes the next one: `getmany` returns without
                        # suspending when records are buffered, and decoding never suspends,
                        # so without this the store would only begin after the next decode.
                        await asyncio.sleep(0)
            finally:
                # The batch in hand is stored (or, stopping on a failure, sought back) first.
                await self._finish_in_flight()
        finally:
            with contextlib.suppress(Exception):
                await self.flush_commit()
            self._consumer = None
            await consumer.stop()

    def _rewind(
        self,
        consumer: AIOKafkaConsumer,
        fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        """Put the fetch position of each partition still assigned back before `fetched`
        (a partition no longer assigned starts at its committed offset wherever it goes)."""
        assigned = consumer.assignment()
        for tp, records in fetched.items():
            if tp in assigned:
                consumer.seek(tp, records[0].offset)

    async def _finish_in_flight(self) -> None:
        """Wait until the batch being stored is stored and its offset commit is scheduled."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await in_flight

    async def drain(self) -> None:
        """Store the batch in hand and wait for its offsets to be committed."""
        await self._finish_in_flight()
        await self.flush_commit()

    async def _decode_all(
        self, fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> tuple[list[Inbound], list[Rejection]]:
        good: list[Inbound] = []
        bad: list[Rejection] = []
        decode = self._decode
        oldest = datetime.now(UTC) - self._max_age if self._max_age is not None else None
        for records in fetched.values():
            for start in range(0, len(records), DECODE_SLICE):
                if start:
                    # Decoding a large batch takes tens of ms; let the batch being stored
                    # take its turn between slices, or each of its awaits (a database round
                    # trip, the thread's hand-back) waits for the whole decode.
                    await asyncio.sleep(0)
                for record in records[start : start + DECODE_SLICE]:
                    try:
                        inbound = decode(record)
                        if oldest is not None and inbound.event.time < oldest:
                            bad.append(Rejection(record, self._too_old(inbound), "outside_window"))
                            continue
                    except InvalidEvent as exc:
                        bad.append(Rejection(record, str(exc)))
                    except Exception as exc:  # a decoder's bug must not stop the loop either
                        reason = f"undecodable record: {type(exc).__name__}: {exc}"[:600]
                        bad.append(Rejection(record, reason, "invalid_event"))
                    else:
                        good.append(inbound)
        return good, bad

    def _too_old(self, inbound: Inbound) -> str:
        assert self._max_age is not None
        return (
            f"outside the deduplication window: event time {inbound.event.time.isoformat()} "
            f"is older than {self._max_age.total_seconds():g} s (the processed-event record "
            "is pruned after that, so a re-delivery could be applied twice)"
        )

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        fetched: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        decoded: tuple[list[Inbound], list[Rejection]],
    ) -> None:
        good, bad = decoded
        for tp, records in fetched.items():
            self._next.setdefault(tp, records[0].offset)
        try:
            rejections = [*bad, *await self._store_isolating(good)] if good else list(bad)
            # In the order of the topic, whatever refused them (decoder, window, handler).
            rejections.sort(key=lambda r: (r.record.topic, r.record.partition, r.record.offset))
            while rejections:
                try:
                    await self._dead_letter(rejections)
                    break
                except Exception as exc:
                    await self._failed(exc)
        except BaseException:
            # Stopping (or dying) before the batch is through: nothing of it is committed,
            # and the next fetch of this consumer starts at the batch again.
            for tp, records in fetched.items():
                consumer.seek(tp, records[0].offset)
            raise
        self._progressed()
        if self._observer is not None:
            self._observer.batch_stored(self.name, len(good) + len(bad), rejections)
        for tp, records in fetched.items():
            self._uncommitted[tp] = OffsetAndMetadata(records[-1].offset + 1, "")
            self._next[tp] = records[-1].offset + 1
        self._commit_soon(consumer)

    async def _store_isolating(self, items: list[Inbound]) -> list[Rejection]:
        """Hand `items` to the handler; on a deterministic failure, split and hand over the
        halves in order, until the record that fails alone is refused."""
        rejections: list[Rejection] = []
        self._known_healthy = False
        segments = [items]  # a stack: the next segment to store is the last
        while segments:
            segment = segments.pop()
            try:
                rejections.extend(await self._handler(segment))
            except Exception as exc:
                verdict = await self._judge(exc)
                if verdict is _Verdict.TRANSIENT:
                    segments.append(segment)
                    await self._failed(exc)
                    continue
                if self._observer is not None:
                    self._observer.batch_retried(self.name, "isolate")
                if verdict is _Verdict.UNCONFIRMED:
                    segments.append(segment)  # again, now that the database is known healthy
                elif len(segment) == 1:
                    record = segment[0].record
                    log.warning(
                        "record_isolated",
                        loop=self.name,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        error=f"{type(exc).__name__}: {exc}"[:500],
                    )
                    rejections.append(Rejection(record, failure_reason(exc), "handler_failed"))
                else:
                    middle = len(segment) // 2
                    segments += [segment[middle:], segment[:middle]]
                continue
            self._progressed()
        return rejections

    async def _judge(self, exc: Exception) -> _Verdict:
        """Deterministic only if the attempt began with the database known healthy (probed,
        no transient failure since) and it still answers: a failure during an outage whose
        probe runs just after the recovery is then retried, not dead-lettered."""
        if is_transient(exc) or not await self._probe():
            self._known_healthy = False
            return _Verdict.TRANSIENT
        if self._known_healthy:
            return _Verdict.DETERMINISTIC
        self._known_healthy = True
        return _Verdict.UNCONFIRMED

    async def _probe(self) -> bool:
        if self._health_probe is None:
            return True
        try:
            async with asyncio.timeout(5):
                await self._health_probe()
        except Exception:
            return False
        return True

    async def _failed(self, exc: Exception) -> None:
        """A transient failure: log it (once, with a count), then wait before the retry; a
        stop requested meanwhile gives up on the batch (re-delivered after the restart)."""
        if self._stopping.is_set():
            raise exc
        if self._stuck_since is None:
            self._stuck_since = time.monotonic()
        self._errors.failed(exc, retry_in_s=self._backoff_s)
        if self._observer is not None:
            self._observer.batch_retried(self.name, "transient")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._backoff_s)
        self._backoff_s = min(self._backoff_s * 2, self._max_backoff_s)
        if self._stopping.is_set():
            raise exc

    def _progressed(self) -> None:
        if self._stuck_since is not None:
            self._stuck_since = None
            self._backoff_s = 0.2
            self._errors.recovered()

    def stuck_for(self) -> float:
        """Seconds the batch in hand has been failing with no attempt succeeding (0: not)."""
        since = self._stuck_since
        return 0.0 if since is None else time.monotonic() - since

    def forget(self, partitions: Any) -> None:
        """Drop what is known of revoked partitions (another member may move them on)."""
        for tp in partitions:
            self._next.pop(tp, None)

    async def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition: the broker's high-water mark minus the first offset not yet
        stored (the committed position, for a partition no batch came from yet)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags = {}
        for tp in consumer.assignment():
            try:  # a rebalance may take the partition away meanwhile (IllegalStateError)
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                done = self._next.get(tp)
                if done is None:
                    async with asyncio.timeout(1):
                        done = await consumer.position(tp)
            except Exception:
                continue
            lags[tp] = max(highwater - done, 0)
        return lags

    def _commit_soon(self, consumer: AIOKafkaConsumer, *, at_once: bool = False) -> None:
        """Start committing the stored batches' offsets, unless a commit is in flight or (not
        `at_once`) one started less than the commit interval ago."""
        if not self._uncommitted:
            return
        if self._pending_commit is not None and not self._pending_commit.done():
            return
        now = time.monotonic()
        if not at_once and now - self._last_commit < self._commit_interval_s:
            return
        offsets, self._uncommitted = self._uncommitted, {}
        self._last_commit = now
        self._pending_commit = asyncio.create_task(self._commit(consumer, offsets))

    async def _dead_letter(self, rejections: Sequence[Rejection]) -> None:
        deliveries = []
        for rejection in rejections:
            record = rejection.record
            log.warning(
                "dead_lettered",
                loop=self.name,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=rejection.reason,
            )
            headers = [
                *(record.headers or ()),
                # A reason quoting the record may hold lone surrogates: escape, never fail.
                (REASON_HEADER, rejection.reason.encode("utf-8", "backslashreplace")),
                ("lodestar.dlq.topic", record.topic.encode()),
                ("lodestar.dlq.partition", str(record.partition).encode()),
                ("lodestar.dlq.offset", str(record.offset).encode()),
                ("lodestar.dlq.at", datetime.now(UTC).isoformat().encode()),
            ]
            deliveries.append(
                await self._producer.send(
                    self._dlq_for(record.topic),
                    record.value or b"",
                    key=record.key.decode(errors="replace") if record.key else None,
                    headers=headers,
                )
            )
        await asyncio.gather(*deliveries)

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        try:
            await consumer.commit(offsets)
        except Exception as exc:
            # A lost commit only means a re-delivery, which the handlers absorb.
            log.warning("offset_commit_failed", loop=self.name, error=str(exc))

    async def flush_commit(self) -> None:
        """Commit the offsets of every batch stored so far, and wait for it."""
        pending, self._pending_commit = self._pending_commit, None
        if pending is not None:
            await pending
        offsets, self._uncommitted = self._uncommitted, {}
        if offsets and self._consumer is not None:
            await self._commit(self._consumer, offsets)
