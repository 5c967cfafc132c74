"""Exact accounting for the fault tests: a paced stream of measurements with duplicate
resends whose expected totals are known up front, what the metrics service stored (its
database) and rolled up (its REST API and its database), and topics read to their end."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError
from sqlalchemy.engine import make_url

from tests.support import kafka
from tests.support.events import measurement
from tests.support.kafka import TopicReader

Totals = dict[str, tuple[int, float]]
"""Per KPI: (points, sum of their values)."""


@dataclass
class Stream:
    """Measurement records to produce, in order, with the totals a correct service stores:
    every unique event once, whatever the resends."""

    records: list[tuple[str, bytes]]
    expected: Totals
    start: datetime
    end: datetime
    sent: int = 0
    unique: int = 0
    retries: int = field(default=0)


def measurement_stream(
    *,
    tenant: str,
    kpis: Sequence[str],
    unique: int,
    resend_every: int,
    start: datetime,
    days: int,
    seed: int,
) -> Stream:
    """`unique` events over `kpis`, spread over `days` daily periods from `start`, values
    small integers (sums exact in floating point); after every `resend_every`-th event an
    earlier one is sent again, byte for byte, as a client retrying would."""
    rng = random.Random(seed)
    records: list[tuple[str, bytes]] = []
    totals: dict[str, list[float]] = {k: [0, 0.0] for k in kpis}
    for i in range(unique):
        kpi = kpis[i % len(kpis)]
        value = float(rng.randint(1, 9))
        at = start + timedelta(days=i % days, milliseconds=i)
        records.append((f"{tenant}/{kpi}", measurement(tenant, kpi, value, time=at)))
        totals[kpi][0] += 1
        totals[kpi][1] += value
        if i and i % resend_every == 0:
            records.append(records[rng.randrange(len(records))])
    return Stream(
        records=records,
        expected={k: (int(c), s) for k, (c, s) in totals.items()},
        start=start,
        end=start + timedelta(days=days),
        unique=unique,
    )


async def produce_paced(
    bootstrap: str, topic: str, stream: Stream, *, per_second: float, chunk: int = 500
) -> None:
    """Produce the stream at about `per_second`, a chunk at a time, each chunk acknowledged
    before the next; a chunk the broker refuses (it is down) is sent again until it is
    taken, so `stream.sent` only counts acknowledged records."""

    def new_producer() -> AIOKafkaProducer:
        return kafka.new_producer(bootstrap, acks="all", request_timeout_ms=5000, linger_ms=5)

    producer = new_producer()
    await _start(producer)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        for offset in range(0, len(stream.records), chunk):
            part = stream.records[offset : offset + chunk]
            while True:
                try:
                    async with asyncio.timeout(15):
                        futures = [
                            await producer.send(topic, value, key=key.encode())
                            for key, value in part
                        ]
                        await asyncio.gather(*futures)
                    break
                except (KafkaError, TimeoutError):
                    # Sent again from a new client, as a producer whose broker went away
                    # would: a record that did land is a resend, deduplicated downstream.
                    stream.retries += 1
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(10):
                            await producer.stop()
                    await asyncio.sleep(0.5)
                    producer = new_producer()
                    await _start(producer)
            stream.sent += len(part)
            due = began + stream.sent / per_second
            await asyncio.sleep(max(0.0, due - loop.time()))
    finally:
        await producer.stop()


async def _start(producer: AIOKafkaProducer) -> None:
    for _ in range(60):
        try:
            await producer.start()
            return
        except KafkaError:
            await asyncio.sleep(1)
    await producer.start()


async def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on a service's database (SQLite file or PostgreSQL),
    from outside the service."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":

        def run() -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True, timeout=10)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()

        return await asyncio.to_thread(run)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database, timeout=5
    )
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def stored(database_url: str) -> Totals:
    """What the metrics database holds: points and their sum, per KPI."""
    rows = await query(
        database_url, "SELECT kpi, count(*), sum(value) FROM measurements GROUP BY kpi"
    )
    return {kpi: (int(n), float(total)) for kpi, n, total in rows}


async def stored_count(database_url: str) -> int:
    try:
        rows = await query(database_url, "SELECT count(*) FROM measurements")
    except (sqlite3.OperationalError, OSError, asyncpg.PostgresError):
        return 0  # not migrated yet
    return int(rows[0][0])


async def rolled_up(database_url: str) -> Totals:
    """The metrics rollups, summed over periods per KPI, from the database."""
    rows = await query(database_url, "SELECT kpi, sum(count), sum(total) FROM rollups GROUP BY kpi")
    return {kpi: (int(n), float(total)) for kpi, n, total in rows}


async def series_totals(
    client: httpx.AsyncClient, metrics_url: str, kpis: Sequence[str], start: datetime,
    end: datetime,
) -> Totals:  # fmt: skip
    """The rollups as the REST API shows them: each KPI's daily series, counts and values
    summed (the KPIs aggregate by sum)."""
    totals: Totals = {}
    for kpi in kpis:
        answer = await client.get(
            f"{metrics_url}/v1/kpis/{kpi}/series",
            params={"start": start.isoformat(), "end": end.isoformat(), "bucket": "day"},
        )
        assert answer.status_code == 200, answer.text
        points = answer.json()["points"]
        totals[kpi] = (sum(p["count"] for p in points), sum(p["value"] or 0.0 for p in points))
    return totals


class Reader(TopicReader):
    """A `TopicReader` that can also read to the end of what the topic holds right now."""

    async def read_to_end(self, timeout_s: float = 30.0) -> None:
        consumer = self._consumer
        async with asyncio.timeout(timeout_s):
            while not consumer.assignment():
                await self.poll()
            ends = await consumer.end_offsets(list(consumer.assignment()))
            while True:
                positions = {tp: await consumer.position(tp) for tp in ends}
                if all(positions[tp] >= end for tp, end in ends.items()):
                    return
                await self.poll()


async def to_every_partition(
    bootstrap: str, topic: str, record: Callable[[int], tuple[str, bytes]]
) -> int:
    """Produce `record(p)` (key, value) to each partition p of `topic`: sentinels sent after
    a stream, one per partition, since order holds only within one. Returns how many."""
    producer = kafka.new_producer(bootstrap, acks="all")
    await _start(producer)
    try:
        partitions = sorted(await producer.partitions_for(topic))
        for partition in partitions:
            key, value = record(partition)
            await producer.send_and_wait(topic, value, key=key.encode(), partition=partition)
    finally:
        await producer.stop()
    return len(partitions)


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 4) -> None:
    """Create topics before a test reads them: a reader of a topic that does not exist yet
    only sees it at its next metadata refresh, seconds later. Existing ones are kept."""
    admin = kafka.new_admin(bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()
