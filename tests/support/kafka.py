"""Produce to and read from real topics in tests, waiting on conditions with a deadline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord


async def produce(
    bootstrap: str, topic: str, values: list[bytes], keys: list[str] | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            key = keys[i].encode() if keys else None
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def event_json(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


class TopicReader:
    """Reads a topic from its beginning and keeps every record it has seen."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def poll(self) -> None:
        fetched = await self._consumer.getmany(timeout_ms=100)
        for records in fetched.values():
            self.records.extend(records)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.records if r.value]

    async def wait_for(
        self,
        predicate: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
        timeout_s: float = 20.0,
        what: str = "condition",
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Poll until `predicate(records)` holds; fail with what was seen at the deadline."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self.records):
            if time.monotonic() > deadline:
                seen = [r.value[:200] if r.value else None for r in self.records[-5:]]
                raise AssertionError(f"timed out waiting for {what} on {self.topic}; last: {seen}")
            await self.poll()
        return self.records

    async def drain(self, timeout_s: float = 20.0) -> list[ConsumerRecord[bytes, bytes]]:
        """Read every partition up to its end as of now.

        After a sentinel: an event a service wrote before the sentinel went through the same
        producer first, so the broker holds it by now, in whichever partition; draining reads
        it. So what is absent after `wait_for(sentinel)` and `drain()` was never published."""
        partitions = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {self.topic} to its end")
            await self.poll()
        return self.records


async def wait_until(
    check: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition"
) -> Any:
    """Await `check()` (sync or async) until it returns something truthy, within a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
