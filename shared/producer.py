"""The Kafka producer every service uses: idempotent, acks=all, in-flight sends bounded.

aiokafka puts no bound on in-flight sends, so a fast relay could buffer without limit;
`EventProducer` holds a semaphore slot per send until the broker acknowledges it.
`send_all` waits for the acknowledgements at most a deadline, so a caller answering a client
(HTTP ingest) can say "try again" instead of hanging while the broker is away.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from shared.events import CloudEvent
from shared.kafka_auth import KafkaAuth

Headers = Sequence[tuple[str, bytes]]
Record = tuple[str | None, bytes]
"""A record to send: its key and its value."""

log = structlog.get_logger(__name__)

OUTAGE_SUMMARY_INTERVAL_S = 30.0
"""While the broker stays unreachable, one summary line per this interval, not one per send."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge every record in time. Records not acknowledged may
    still be delivered later (the producer keeps retrying them), so a client that was told
    to retry must resend the same event ids: consumers store an identity once."""


class _Outage:
    """Logs 'broker unreachable since ...' once, then a count per interval, then recovery."""

    def __init__(self, client_id: str) -> None:
        self._client_id = client_id
        self._since: float | None = None
        self._failed = 0
        self._failed_reported = 0
        self._reported_at = 0.0
        self._since_text = ""

    def failed(self, error: str) -> None:
        now = time.monotonic()
        self._failed += 1
        if self._since is None:
            self._since, self._reported_at = now, now
            since = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            self._since_text = since
            log.warning(
                "broker_unreachable",
                since=since,
                client=self._client_id,
                error=error,
            )
        elif now - self._reported_at >= OUTAGE_SUMMARY_INTERVAL_S:
            log.warning(
                "broker_still_unreachable",
                since=self._since_text,
                client=self._client_id,
                sends_failed=self._failed,
                sends_failed_since_last=self._failed - self._failed_reported,
            )
            self._reported_at, self._failed_reported = now, self._failed

    def succeeded(self) -> None:
        if self._since is None:
            return
        log.info(
            "broker_reachable",
            since=self._since_text,
            client=self._client_id,
            down_s=round(time.monotonic() - self._since, 1),
            sends_failed=self._failed,
        )
        self._since, self._failed, self._failed_reported = None, 0, 0


@functools.lru_cache(maxsize=65_536)
def _key_index(key: bytes, partitions: int) -> int:
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


def partition_of(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The partition of a record: the Java client's default for a key (murmur2 of the key,
    made positive, modulo the partition count), so every client that keys records the same
    way agrees; a random available one for no key. aiokafka's `DefaultPartitioner` computes
    murmur2 in pure Python, ~3 µs a record, several percent of a service's relay; keys repeat
    (a tenant's KPIs, key results, alerts), so each is hashed once per partition count."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_key_index(key, len(all_partitions))]


def _failure(delivery: asyncio.Future[object]) -> BaseException | None:
    if delivery.cancelled():
        return asyncio.CancelledError("send cancelled")
    return delivery.exception()


class EventProducer:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        max_in_flight: int = 10_000,
        auth: KafkaAuth | None = None,
    ) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            **(auth or KafkaAuth()).client_options(),
            client_id=client_id,
            enable_idempotence=True,
            acks="all",
            partitioner=partition_of,
            # The relay queues a whole outbox batch before the sender runs, so records still
            # go out together; a linger only delayed each hop (2 ms measured per relay).
            linger_ms=0,
            max_batch_size=256 * 1024,
            request_timeout_ms=30_000,
        )
        self._slots = asyncio.Semaphore(max_in_flight)
        self._outage = _Outage(client_id)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, topic: str, value: bytes, *, key: str | None, headers: Headers | None = None
    ) -> asyncio.Future[object]:
        """Queue one record; the returned future resolves when the broker has acknowledged it."""
        await self._slots.acquire()
        try:
            delivery: asyncio.Future[object] = await self._producer.send(
                topic,
                value,
                key=key.encode() if key is not None else None,
                headers=list(headers) if headers else None,
            )
        except BaseException:
            self._slots.release()
            raise
        delivery.add_done_callback(lambda _: self._slots.release())
        return delivery

    async def send_and_wait(
        self, topic: str, value: bytes, *, key: str | None, headers: Headers | None = None
    ) -> None:
        await (await self.send(topic, value, key=key, headers=headers))

    async def send_all(
        self,
        topic: str,
        records: Sequence[Record],
        *,
        timeout_s: float,
        headers: Callable[[bytes], Headers] | None = None,
    ) -> None:
        """Send the records and return once the broker has acknowledged every one; raise
        `BrokerUnavailable` if that takes longer than `timeout_s` or a send fails. `headers`
        gives each record's headers from its value (e.g. a signature, `shared.ingest_proof`).

        The deadline covers the whole call: waiting for metadata and for in-flight slots as
        well as the acknowledgements (aiokafka alone would wait `request_timeout_ms`, 30 s, for
        metadata). Sends already queued are not withdrawn when the deadline passes."""
        deliveries: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout(timeout_s):
                for key, value in records:
                    extra = headers(value) if headers else None
                    deliveries.append(await self.send(topic, value, key=key, headers=extra))
                # `wait`, not `gather`: a deadline must not cancel the sends themselves.
                await asyncio.wait(deliveries)
        except TimeoutError:
            pending = sum(1 for d in deliveries if not d.done())
            unsent = len(records) - len(deliveries)
            error = f"no acknowledgement within {timeout_s:g} s ({pending + unsent} records)"
            self._outage.failed(error)
            raise BrokerUnavailable(error) from None
        except Exception as exc:  # aiokafka's KafkaError and friends, raised by `send`
            self._outage.failed(f"{type(exc).__name__}: {exc}")
            raise BrokerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        failures = [_failure(d) for d in deliveries]
        failed = [f for f in failures if f is not None]
        if failed:
            error = f"{type(failed[0]).__name__}: {failed[0]}"
            self._outage.failed(error)
            raise BrokerUnavailable(f"{len(failed)} records not acknowledged: {error}")
        self._outage.succeeded()

    async def publish(self, topic: str, event: CloudEvent) -> None:
        """Send one event keyed by tenant/subject and wait for the broker's ack."""
        await self.send_and_wait(topic, event.to_json(), key=event.key)

    async def ping(self) -> None:
        """Raise unless the broker answers a metadata request."""
        await self._producer.client.fetch_all_metadata()
