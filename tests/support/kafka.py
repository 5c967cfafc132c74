"""Produce to and read from real topics in tests, waiting on conditions with a deadline.

Every Kafka client a test builds gets its credentials here (`client_options`): the broker
authenticates everyone (deploy/kafka/kafka.sh), and tests' own clients act as its admin, a
superuser. A broker's credentials are those kafka.sh generated into its cache
(`register_broker`; the shared broker's are found from LODESTAR_CACHE).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from shared.kafka_acls import deployment_acls, grant, revoke
from shared.kafka_auth import KafkaAuth
from shared.settings import Topics

ROOT = Path(__file__).resolve().parents[2]
_CREDENTIALS: dict[str, Path] = {}  # bootstrap address -> its broker's credentials.json


def credentials_file(cache: Path | str) -> Path:
    """Where kafka.sh keeps the passwords of the broker of a cache directory."""
    return Path(cache) / "kafka/run/credentials.json"


def register_broker(bootstrap: str, cache: Path | str) -> str:
    """Remember whose credentials a broker takes (kafka.sh started it in `cache`)."""
    _CREDENTIALS[bootstrap] = credentials_file(cache)
    return bootstrap


def _credentials(bootstrap: str) -> Path:
    default = credentials_file(os.environ.get("LODESTAR_CACHE") or ROOT / ".cache")
    return _CREDENTIALS.get(bootstrap, default)


def passwords(bootstrap: str) -> dict[str, str]:
    """The broker's users and their passwords (admin, goals, metrics, alerts, producer, ...)."""
    found: dict[str, str] = json.loads(_credentials(bootstrap).read_text())
    return found


def auth(bootstrap: str, user: str = "admin") -> KafkaAuth:
    """The credentials of `user` on the broker at `bootstrap`."""
    return KafkaAuth("SASL_PLAINTEXT", username=user, password=passwords(bootstrap)[user])


def client_options(bootstrap: str, user: str = "admin") -> dict[str, Any]:
    """Keyword arguments for any AIOKafka client of a test: the address and credentials."""
    return {"bootstrap_servers": bootstrap, **auth(bootstrap, user).client_options()}


def settings_for(bootstrap: str, user: str = "admin") -> dict[str, Any]:
    """`ServiceSettings` fields connecting as `user`: `ServiceSettings(**settings_for(b), ...)`."""
    return {
        "kafka_bootstrap": bootstrap,
        "kafka_username": user,
        "kafka_password": SecretStr(passwords(bootstrap)[user]),
    }


def new_producer(bootstrap: str, *, user: str = "admin", **options: Any) -> AIOKafkaProducer:
    """An (unstarted) producer as `user` (the admin unless told)."""
    return AIOKafkaProducer(**client_options(bootstrap, user), **options)


def new_consumer(
    bootstrap: str, *topics: str, user: str = "admin", **options: Any
) -> AIOKafkaConsumer:
    """An (unstarted) consumer as `user` (the admin unless told)."""
    return AIOKafkaConsumer(*topics, **client_options(bootstrap, user), **options)


def new_admin(bootstrap: str, **options: Any) -> AIOKafkaAdminClient:
    """An (unstarted) admin client with the admin's credentials."""
    return AIOKafkaAdminClient(**client_options(bootstrap), **options)


# (bootstrap, credentials file) -> topic prefixes whose ACLs were granted on that broker (a
# private broker of a later test may get the port of an earlier one).
_GRANTED: dict[tuple[str, Path], set[str]] = {}


def grant_deployment(bootstrap: str, topics: Topics) -> None:
    """Grant the services' principals their ACLs on the test's topics (`shared.kafka_acls`),
    once per broker and prefix. Synchronous (settings are built outside the event loop too):
    the request runs on a thread of its own."""
    granted = _GRANTED.setdefault((bootstrap, _credentials(bootstrap)), set())
    if topics.prefix in granted:
        return
    acls = deployment_acls(topics)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, grant(bootstrap, auth(bootstrap), acls)).result()
    granted.add(topics.prefix)


async def revoke_deployments(bootstrap: str) -> None:
    """Delete the ACLs `grant_deployment` made on this broker (at the end of the session)."""
    acls = [
        acl
        for prefix in sorted(_GRANTED.pop((bootstrap, _credentials(bootstrap)), set()))
        for acl in deployment_acls(Topics(prefix=prefix))
    ]
    # A few large requests: one request (and one authenticated connection) per test's prefix
    # made this teardown take over a minute and a half for a whole suite.
    for start in range(0, len(acls), 5000):
        await revoke(bootstrap, auth(bootstrap), acls[start : start + 5000])


async def produce(
    bootstrap: str, topic: str, values: list[bytes], keys: list[str] | None = None
) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap), acks="all")
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
            **client_options(bootstrap),
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
