"""Kafka as a trust boundary, on the real authenticated broker (issue 18): who may write and
read which topic is the broker's to enforce (SASL/SCRAM principals and ACLs), and which tenant a
measurement belongs to is proven by a signature that metrics checks.

The expected permissions are written out here, not derived from `shared.kafka_acls`, and the
expected signatures are computed here with hashlib/hmac, not with `shared.ingest_proof`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from services.alerts.app import create_app as create_alerts
from services.alerts.settings import AlertsSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from shared.auth import generate_key
from shared.consumer import REASON_HEADER
from shared.events import API_KEY_V1, TENANT_V1, ApiKeyV1, TenantV1, new_event
from shared.settings import ServiceSettings, Topics
from shared.topics import ensure_topics, topic_specs
from tests.conftest import DatabaseFactory
from tests.support.apps import RunningApp, running, service_settings
from tests.support.events import measurement
from tests.support.kafka import (
    TopicReader,
    auth,
    grant_deployment,
    new_consumer,
    new_producer,
    wait_until,
)

pytestmark = pytest.mark.kafka

# What each principal may write, by unprefixed topic (README "Security", "### Kafka").
WRITES = {
    "goals": {"tenants", "okr.events", "kpi.values.dlq"},
    "metrics": {
        "kpi.values",
        "kpi.measurements",
        "kpi.measurements.dlq",
        "okr.events.dlq",
        "tenants.dlq",
    },
    "alerts": {"alerts", "kpi.values.dlq", "okr.events.dlq", "tenants.dlq"},
    "producer": {"kpi.measurements"},
}
TOPICS = sorted(set().union(*WRITES.values()))
ATTEMPT_S = 15.0  # a refusal comes at once; an allowed write is acknowledged within this


async def _all_topics(bootstrap: str, topics: Topics) -> None:
    """Create the deployment's topics (as the admin) and grant the services' ACLs on them."""
    grant_deployment(bootstrap, topics)
    consumed = ["kpi.measurements", "kpi.values", "okr.events", "tenants"]
    await ensure_topics(
        bootstrap, topic_specs(ServiceSettings(topics=topics), consumed), auth=auth(bootstrap)
    )


async def _write(producer: AIOKafkaProducer, topic: str, value: bytes) -> str:
    """'ok' when the broker acknowledged the record, else the refusal's class name."""
    try:
        # A key: `tenants` is compacted, and the broker refuses keyless records there.
        await asyncio.wait_for(producer.send_and_wait(topic, value, key=b"probe"), ATTEMPT_S)
    except TopicAuthorizationFailedError:
        return "refused"
    return "ok"


async def _start_and_fetch(consumer: AIOKafkaConsumer) -> None:
    await consumer.start()
    await consumer.getmany(timeout_ms=ATTEMPT_S * 1000)


class TestBrokerAuthorisation:
    async def test_each_principal_writes_only_its_own_topics(
        self, kafka_bootstrap: str, topics: Topics
    ) -> None:
        await _all_topics(kafka_bootstrap, topics)
        seen: dict[tuple[str, str], str] = {}
        for user in WRITES:
            producer = new_producer(kafka_bootstrap, user=user, acks="all")
            await producer.start()
            try:
                for short in TOPICS:
                    seen[user, short] = await _write(producer, topics.name(short), b"probe")
            finally:
                await producer.stop()
        expected = {
            (user, short): "ok" if short in WRITES[user] else "refused"
            for user in WRITES
            for short in TOPICS
        }
        assert seen == expected

    async def test_a_producer_cannot_read_the_keys_nor_any_topic(
        self, kafka_bootstrap: str, topics: Topics
    ) -> None:
        """The `tenants` topic holds the keys' secret hashes, which are the keys of the tenant
        proofs: an external producer must not read it (nor anything else)."""
        await _all_topics(kafka_bootstrap, topics)
        for short in ("tenants", "kpi.measurements"):
            consumer = new_consumer(
                kafka_bootstrap,
                topics.name(short),
                user="producer",
                group_id=None,
                auto_offset_reset="earliest",
            )
            try:
                with pytest.raises(TopicAuthorizationFailedError):  # at start, or at the fetch
                    await asyncio.wait_for(_start_and_fetch(consumer), 30)
            finally:
                await consumer.stop()

    async def test_a_client_without_credentials_is_disconnected(
        self, kafka_bootstrap: str, topics: Topics
    ) -> None:
        anonymous = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=5000)
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(anonymous.start(), 30)
        await anonymous.stop()

    async def test_a_wrong_password_is_refused(self, kafka_bootstrap: str) -> None:
        options = auth(kafka_bootstrap, "goals").client_options()
        options["sasl_plain_password"] = "not-the-password"
        impostor = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **options)
        with pytest.raises(KafkaError):
            await asyncio.wait_for(impostor.start(), 30)
        await impostor.stop()


def _key_event(
    tenant: str, full_key: str, scopes: list[str], revoked_at: datetime | None = None
) -> tuple[str, bytes]:
    """A `lodestar.apikey.v1` record as goals would write it: (record key, value)."""
    key_id = full_key.split("_")[1]
    secret_hash = hashlib.sha256(full_key.split("_", 2)[2].encode()).hexdigest()
    event = new_event(
        type=API_KEY_V1,
        source="lodestar/goals",
        tenant=tenant,
        subject=f"key/{key_id}",
        data=ApiKeyV1(
            key_id=key_id,
            tenant=tenant,
            name="k",
            secret_hash=secret_hash,
            scopes=scopes,
            revoked_at=revoked_at,
        ),
    )
    return event.key, event.to_json()


def _tenant_event(slug: str) -> tuple[str, bytes]:
    event = new_event(
        type=TENANT_V1,
        source="lodestar/goals",
        tenant=slug,
        subject=f"tenant/{slug}",
        data=TenantV1(slug=slug, name=slug),
    )
    return event.key, event.to_json()


async def _as_goals(bootstrap: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    """Write to `tenants` as goals does (with goals' credentials)."""
    producer = new_producer(bootstrap, user="goals", acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def _status(service: RunningApp, path: str, key: str) -> int:
    answer = await service.client.get(path, headers={"Authorization": f"Bearer {key}"})
    return answer.status_code


async def _until_status(service: RunningApp, path: str, key: str, status: int) -> None:
    await wait_until(lambda: _is(_status(service, path, key), status), what=f"{path} {status}")


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


@pytest.fixture
async def metrics_and_alerts(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[tuple[RunningApp, RunningApp]]:
    """metrics (tenant proofs required) and alerts, each as its own principal."""
    metrics_settings = service_settings(
        MetricsSettings,
        bootstrap=kafka_bootstrap,
        topics=topics,
        database_url=await databases.new(),
        admin_key=admin_key,
        require_proof=True,
    )
    alerts_settings = service_settings(
        AlertsSettings,
        bootstrap=kafka_bootstrap,
        topics=topics,
        database_url=await databases.new(),
        admin_key=admin_key,
    )
    async with (
        running(create_metrics(metrics_settings), admin_key) as metrics,
        running(create_alerts(alerts_settings), admin_key) as alerts,
    ):
        yield metrics, alerts


class TestForgedKeys:
    async def test_a_forged_key_event_is_refused_by_the_broker_and_accepted_by_no_service(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        metrics_and_alerts: tuple[RunningApp, RunningApp],
    ) -> None:
        metrics, alerts = metrics_and_alerts
        tenants = topics.name(topics.tenants)
        forged = generate_key()[0]
        forged_record = _key_event("acme", forged, ["admin", "write", "read"])
        # Every principal but goals (and the admin), and no principal at all, is refused.
        for user in ("producer", "metrics", "alerts"):
            producer = new_producer(kafka_bootstrap, user=user, acks="all")
            await producer.start()
            try:
                with pytest.raises(TopicAuthorizationFailedError):
                    await asyncio.wait_for(
                        producer.send_and_wait(tenants, forged_record[1], key=b"acme/k"), 30
                    )
            finally:
                await producer.stop()
        anonymous = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=5000)
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(anonymous.start(), 30)
        await anonymous.stop()

        # Sentinel: a key goals really issues, after the attempts, reaches both services.
        sentinel = generate_key()[0]
        await _as_goals(kafka_bootstrap, tenants, [_key_event("acme", sentinel, ["read"])])
        await _until_status(metrics, "/v1/kpis", sentinel, 200)
        await _until_status(alerts, "/v1/rules", sentinel, 200)
        async with TopicReader(kafka_bootstrap, tenants) as reader:
            await reader.wait_for(
                lambda rs: any(sentinel.split("_")[1].encode() in (r.value or b"") for r in rs),
                what="the sentinel key",
            )
            records = await reader.drain()
        forged_id = forged.split("_")[1].encode()
        assert not [r for r in records if forged_id in (r.value or b"")], "never on the topic"
        assert await _status(metrics, "/v1/kpis", forged) == 401
        assert await _status(alerts, "/v1/rules", forged) == 401

    async def test_a_key_event_smuggled_into_measurements_is_dead_lettered_not_applied(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        admin_key: str,
        metrics_and_alerts: tuple[RunningApp, RunningApp],
    ) -> None:
        """The producer may write `kpi.measurements`: a key event there, even one signed with
        a real admin key, is no key (key events count only on `tenants`)."""
        metrics, alerts = metrics_and_alerts
        smuggled = generate_key()[0]
        key, value = _key_event("acme", smuggled, ["admin", "write", "read"])
        sentinel = measurement("acme", "orders", 1.0)
        await _create_kpi(metrics, admin_key, "orders")
        producer = new_producer(kafka_bootstrap, user="producer", acks="all")
        await producer.start()
        try:
            topic = topics.name(topics.measurements)
            await producer.send_and_wait(
                topic, value, key=key.encode(), headers=[_signature(admin_key, value)]
            )
            await producer.send_and_wait(
                topic, sentinel, key=b"acme/orders", headers=[_signature(admin_key, sentinel)]
            )
        finally:
            await producer.stop()
        await wait_until(lambda: _is(_sum(metrics, admin_key, "orders"), 1.0), what="sentinel")
        async with TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq:
            await dlq.wait_for(lambda rs: len(rs) >= 1, what="the dead letter")
            records = await dlq.drain()
        assert [r.value for r in records] == [value]
        assert "unexpected event type" in dict(records[0].headers)[REASON_HEADER].decode()
        assert await _status(metrics, "/v1/kpis", smuggled) == 401
        assert await _status(alerts, "/v1/rules", smuggled) == 401


def _signature(full_key: str, value: bytes) -> tuple[str, bytes]:
    """The `lodestar-signature` header, computed from its definition (README "### Kafka")."""
    key_id, secret = full_key.split("_")[1], full_key.split("_", 2)[2]
    hmac_key = hashlib.sha256(secret.encode()).hexdigest().encode()
    mac = base64.b64encode(hmac.new(hmac_key, value, hashlib.sha256).digest()).decode()
    return "lodestar-signature", f"v1,{key_id},{mac}".encode()


async def _create_kpi(service: RunningApp, key: str, kpi: str) -> None:
    answer = await service.client.post(
        "/v1/kpis",
        json={"key": kpi, "name": kpi, "aggregation": "sum"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 201, answer.text


async def _sum(service: RunningApp, key: str, kpi: str) -> float | None:
    answer = await service.client.get(
        f"/v1/kpis/{kpi}/value", headers={"Authorization": f"Bearer {key}"}
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    value = answer.json().get("value")
    return None if value is None else float(value)


class TestTenantProofs:
    async def test_a_measurement_for_another_tenant_is_dead_lettered_with_the_reason(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        admin_key: str,
        metrics_and_alerts: tuple[RunningApp, RunningApp],
    ) -> None:
        metrics, _ = metrics_and_alerts
        tenants = topics.name(topics.tenants)
        globex = generate_key()[0]  # tenant B's write key, issued by "goals"
        acme_read = generate_key()[0]  # a read key of tenant A: no ingest
        revoked = generate_key()[0]  # a write key of tenant B, revoked below
        await _as_goals(
            kafka_bootstrap,
            tenants,
            [
                _tenant_event("globex"),
                _key_event("globex", globex, ["write", "read"]),
                _key_event("acme", acme_read, ["read"]),
                _key_event("globex", revoked, ["write", "read"]),
            ],
        )
        await _until_status(metrics, "/v1/kpis", globex, 200)
        await _until_status(metrics, "/v1/kpis", acme_read, 200)
        await _until_status(metrics, "/v1/kpis", revoked, 200)
        revocation = _key_event("globex", revoked, ["write", "read"], datetime.now(UTC))
        await _as_goals(kafka_bootstrap, tenants, [revocation])
        await _until_status(metrics, "/v1/kpis", revoked, 401)
        await _create_kpi(metrics, admin_key, "orders")
        await _create_kpi(metrics, globex, "orders")

        def for_globex(value: float) -> bytes:
            return measurement("globex", "orders", value, id=str(uuid.uuid4()))

        forged = for_globex(1000.0)  # tenant A's producer, writing for tenant B
        unsigned = for_globex(2000.0)
        tampered = for_globex(3000.0)
        read_only = measurement("acme", "orders", 4000.0)
        after_revocation = for_globex(6000.0)
        bad: list[tuple[bytes, list[tuple[str, bytes]], str]] = [
            (forged, [_signature(admin_key, forged)], "not a key of tenant 'globex'"),
            (unsigned, [], "no tenant proof"),
            (tampered, [_signature(globex, for_globex(3.0))], "does not match"),
            (read_only, [_signature(acme_read, read_only)], "no write scope"),
            (after_revocation, [_signature(revoked, after_revocation)], "unknown or revoked"),
        ]
        good_b = for_globex(7.0)
        good_a = measurement("acme", "orders", 5.0)
        topic = topics.name(topics.measurements)
        producer = new_producer(kafka_bootstrap, user="producer", acks="all")
        await producer.start()
        try:
            for value, headers, _ in bad:
                await producer.send_and_wait(topic, value, key=b"globex/orders", headers=headers)
            await producer.send_and_wait(
                topic, good_b, key=b"globex/orders", headers=[_signature(globex, good_b)]
            )
            await producer.send_and_wait(  # the sentinel, last
                topic, good_a, key=b"acme/orders", headers=[_signature(admin_key, good_a)]
            )
        finally:
            await producer.stop()

        await wait_until(lambda: _is(_sum(metrics, admin_key, "orders"), 5.0), what="sentinel")
        assert await _sum(metrics, globex, "orders") == 7.0, "only B's own signed value"
        async with TopicReader(kafka_bootstrap, topics.name(topics.measurements_dlq)) as dlq:
            records = await dlq.wait_for(lambda rs: len(rs) >= len(bad), what="the dead letters")
            records = await dlq.drain()
        reasons = {r.value: dict(r.headers)[REASON_HEADER].decode() for r in records if r.value}
        assert sorted(reasons) == sorted(value for value, _, _ in bad)
        for value, _, reason in bad:
            assert reason in reasons[value], (json.loads(value)["data"], reasons[value])

    async def test_http_ingest_signs_with_the_callers_key(
        self, admin_key: str, metrics_and_alerts: tuple[RunningApp, RunningApp]
    ) -> None:
        metrics, _ = metrics_and_alerts
        await _create_kpi(metrics, admin_key, "orders")
        answer = await metrics.client.post(
            "/v1/measurements",
            json={"kpi": "orders", "value": 3.0, "time": datetime.now(UTC).isoformat()},
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        assert answer.status_code == 202, answer.text
        await wait_until(lambda: _is(_sum(metrics, admin_key, "orders"), 3.0), what="stored")
