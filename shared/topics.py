"""Kafka topics created at start-up with the partitions, replication and cleanup policy of the
settings, instead of whatever the broker's auto-creation would give them.

Every service creates every topic of the deployment (the table in DESIGN.md, plus the DLQ of
each topic consumed): a consumer that starts before the service producing its topic then finds
the topic as it should be. Creating a topic that exists is not an error; an existing topic is
left as it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError, for_code

from shared.kafka_auth import KafkaAuth
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str  # with the deployment prefix
    partitions: int
    replication_factor: int
    cleanup_policy: str  # "delete" or "compact"


def topic_specs(settings: ServiceSettings, consumed: Iterable[str] = ()) -> list[TopicSpec]:
    """The deployment's topics: each of `Topics` and the DLQ of each topic in `consumed`
    (unprefixed names). `tenants` is compacted: each tenant's and API key's latest record is
    kept for ever, so a service started later learns every one of them."""
    topics = settings.topics
    names = [
        topics.measurements,
        topics.measurements_dlq,
        topics.kpi_values,
        topics.okr_events,
        topics.alerts,
        topics.tenants,
    ]
    specs: dict[str, TopicSpec] = {}
    for short in names:
        specs[topics.name(short)] = _spec(settings, short, topics.name(short))
    for short in consumed:
        dlq = topics.dlq_for(topics.name(short))
        # A DLQ keeps every bad record (never compacted: two of one key are both kept).
        specs.setdefault(dlq, _spec(settings, dlq.removeprefix(topics.prefix), dlq, "delete"))
    return list(specs.values())


def _spec(settings: ServiceSettings, short: str, name: str, policy: str | None = None) -> TopicSpec:
    if policy is None:
        policy = "compact" if short == settings.topics.tenants else "delete"
    return TopicSpec(
        name=name,
        partitions=settings.topic_partitions_by_topic.get(short, settings.topic_partitions),
        replication_factor=settings.topic_replication_factor,
        cleanup_policy=policy,
    )


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    auth: KafkaAuth | None = None,
    authorization_wait_s: float = 10.0,
) -> list[str]:
    """Create the topics that do not exist yet; returns the names created now.

    A refusal for lack of authorisation is retried for `authorization_wait_s`: ACLs granted
    just before a service starts take a moment to reach the brokers' authorizers (the tests,
    which grant each test's ACLs right before starting its services, met that refusal on a
    loaded machine); after that it is an error naming the topic (grant the deployment's ACLs:
    `lodestar kafka-grant`)."""
    wanted = list(specs)
    deadline = time.monotonic() + authorization_wait_s
    while True:
        try:
            return await _create_missing(bootstrap, wanted, auth or KafkaAuth())
        except TopicAuthorizationFailedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _create_missing(bootstrap: str, wanted: list[TopicSpec], auth: KafkaAuth) -> list[str]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="lodestar-topics", **auth.client_options()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in wanted if s.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    s.name,
                    s.partitions,
                    s.replication_factor,
                    topic_configs={"cleanup.policy": s.cleanup_policy},
                )
                for s in missing
            ]
        )
    finally:
        await admin.close()
    created = []
    for name, code, *message in response.topic_errors:
        if code == 0:
            created.append(name)
        elif code != TopicAlreadyExistsError.errno:  # made meanwhile by another service
            raise for_code(code)(f"cannot create topic {name}: {message[0] if message else ''}")
    if created:
        log.info("topics_created", topics=created)
    return created
