"""What an operator sees of the consume loops, through a service's runtime on the real broker
and databases: topics created as configured, `/readyz` not ready while a consumer is stuck on a
database outage (and nothing dead-lettered for it), the loop's figures on `/metrics`, and the
inbox window applied where the inbox is the dedupe (goals) and not where it is not (metrics)."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import SecretStr
from sqlalchemy import insert
from sqlalchemy.engine import make_url

import services.goals
from services.goals.app import create_app as create_goals_app
from services.goals.settings import GoalsSettings
from services.metrics.app import create_app as create_metrics_app
from shared import inbox
from shared.app import build_service_app
from shared.consumer import REASON_HEADER
from shared.db import Database
from shared.events import utcnow
from shared.inbound import BatchHandler, Inbound, Rejection
from shared.outbox import OutboxRelay
from shared.producer import EventProducer
from shared.runtime import ConsumerSpec, Runtime
from shared.settings import ServiceSettings, Topics
from shared.tables import infra_metadata, outbox
from shared.topics import ensure_topics, topic_specs
from tests.conftest import DatabaseFactory
from tests.integration.metrics.support import create_kpi, stored_points
from tests.integration.metrics.support import settings as metrics_settings
from tests.support.apps import TEST_SECRET_KEY, RunningApp, running, service_settings
from tests.support.events import measurement
from tests.support.kafka import (
    TopicReader,
    auth,
    event_json,
    new_admin,
    produce,
    settings_for,
    wait_until,
)

pytestmark = pytest.mark.kafka

# Any service's migrations hold the shared tables (inbox, outbox, tenants): the probe service
# below uses goals', as it runs no consumer of goals'.
MIGRATIONS = Path(services.goals.__file__).parent / "migrations"


def note(id: str, *, time: datetime | None = None) -> bytes:
    """An event of a type no service knows (its payload is not validated), keyed `acme/n`."""
    return event_json(
        specversion="1.0",
        id=id,
        source="tests",
        type="tests.note.v1",
        time=(time or datetime.now(UTC)).isoformat(),
        subject="n",
        tenant="acme",
        data={},
    )


def inbox_handler(runtime: Runtime, committed: list[str], poison: str | None) -> BatchHandler:
    """Records each event's identity in the inbox (its only effect), refusing `poison`."""

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        events = [item.event for item in batch]
        async with runtime.db.transaction() as session:
            await inbox.first_deliveries(session, events, utcnow())
            if any(e.id == poison for e in events):
                raise ValueError("poisoned")
        committed.extend(e.id for e in events)
        return []

    return handle


@contextlib.asynccontextmanager
async def probe_service(
    kafka_bootstrap: str,
    topics: Topics,
    database_url: str,
    committed: list[str],
    poison: str | None = None,
) -> AsyncIterator[RunningApp]:
    """A service with one inbox-deduped consumer ("notes", on `okr.events`)."""
    settings = ServiceSettings(
        service_name="probe",
        **settings_for(kafka_bootstrap),
        secret_key=SecretStr(TEST_SECRET_KEY),
        topics=topics,
        database_url=database_url,
        consumer_poll_timeout_ms=50,
        consumer_stuck_after_s=1.0,
        log_json=False,
        gc_freeze=False,
    )
    app = build_service_app(
        title="probe",
        description="a service with one consumer",
        settings=settings,
        routers=[],
        migrations=MIGRATIONS,
        consumers=lambda runtime: [
            ConsumerSpec("notes", [topics.okr_events], inbox_handler(runtime, committed, poison))
        ],
        identity=False,
    )
    async with running(app) as service:
        yield service


class TestTopics:
    async def test_created_with_the_configured_partitions_and_cleanup_policies(
        self, kafka_bootstrap: str, topics: Topics
    ) -> None:
        settings = ServiceSettings(
            **settings_for(kafka_bootstrap),
            topics=topics,
            topic_partitions=3,
            topic_partitions_by_topic={"kpi.measurements": 6},
        )
        specs = topic_specs(settings, [topics.kpi_values, topics.tenants])
        created = await ensure_topics(kafka_bootstrap, specs, auth=auth(kafka_bootstrap))
        expected = {
            f"{topics.prefix}kpi.measurements": (6, "delete"),
            f"{topics.prefix}kpi.measurements.dlq": (3, "delete"),
            f"{topics.prefix}kpi.values": (3, "delete"),
            f"{topics.prefix}kpi.values.dlq": (3, "delete"),
            f"{topics.prefix}okr.events": (3, "delete"),
            f"{topics.prefix}alerts": (3, "delete"),
            f"{topics.prefix}tenants": (3, "compact"),
            f"{topics.prefix}tenants.dlq": (3, "delete"),
        }
        assert sorted(created) == sorted(expected)
        assert await ensure_topics(kafka_bootstrap, specs, auth=auth(kafka_bootstrap)) == [], (
            "idempotent"
        )

        admin = new_admin(kafka_bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(list(expected))
            configs = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in expected]
            )
        finally:
            await admin.close()
        partitions = {t["topic"]: len(t["partitions"]) for t in described}
        policies = {}
        for response in configs:
            for _code, _message, _type, name, entries in response.resources:
                policies[name] = {e[0]: e[1] for e in entries}["cleanup.policy"]
        assert {n: (partitions[n], policies[n]) for n in expected} == expected

    async def test_a_service_creates_them_at_start_up(
        self, kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory
    ) -> None:
        async with probe_service(kafka_bootstrap, topics, await sqlite_databases.new(), []):
            admin = new_admin(kafka_bootstrap)
            await admin.start()
            try:
                names = {t for t in await admin.list_topics() if t.startswith(topics.prefix)}
            finally:
                await admin.close()
        short = {n.removeprefix(topics.prefix) for n in names}
        assert short == {
            "kpi.measurements",
            "kpi.measurements.dlq",
            "kpi.values",
            "okr.events",
            "okr.events.dlq",
            "alerts",
            "tenants",
        }


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (labels in any order)."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return None


def lags(text: str, topic: str) -> list[float]:
    """The lag samples of `topic`, one per partition of it the consumer holds."""
    return [
        float(value)
        for labels, value in re.findall(r"^lodestar_consumer_lag\{(.*)\} (\S+)$", text, re.M)
        if f'topic="{topic}"' in labels
    ]


class TestMetrics:
    async def test_dead_letters_by_category_retries_lag_and_outbox_on_metrics(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory
    ) -> None:
        topic = topics.name(topics.okr_events)
        ids = [str(uuid.uuid4()) for _ in range(6)]
        committed: list[str] = []
        async with probe_service(
            kafka_bootstrap, topics, await databases.new(), committed, poison=ids[2]
        ) as service:
            sentinel = str(uuid.uuid4())
            records = [note(id) for id in ids] + [b"{not json", note(sentinel)]
            await produce(kafka_bootstrap, topic, records, keys=["acme/n"] * len(records))
            await wait_until(lambda: sentinel in committed, what="the sentinel stored")

            async def caught_up() -> str | None:
                text = (await service.client.get("/metrics")).text
                return text if lags(text, topic) == [0.0] * 4 else None

            text = await wait_until(caught_up, what="every partition's lag 0 on /metrics")
        assert committed == [id for id in ids if id != ids[2]] + [sentinel]
        dead = "lodestar_dead_lettered_records_total"
        assert metric(text, dead, service="probe", loop="notes", reason="handler_failed") == 1
        assert metric(text, dead, service="probe", loop="notes", reason="invalid_event") == 1
        retries = "lodestar_consumer_batch_retries_total"
        isolations = metric(text, retries, loop="notes", kind="isolate")
        assert isolations is not None
        assert isolations >= 1
        assert metric(text, "lodestar_consumer_stuck_seconds", loop="notes") == 0
        assert metric(text, "lodestar_outbox_backlog_rows", service="probe") == 0
        assert metric(text, "lodestar_outbox_oldest_unsent_age_seconds", service="probe") == 0

    async def test_outbox_backlog_counts_the_unsent_rows_and_the_oldest_age(
        self, kafka_bootstrap: str, databases: DatabaseFactory
    ) -> None:
        db = Database(await databases.new())
        producer = EventProducer(kafka_bootstrap, client_id="tests", auth=auth(kafka_bootstrap))
        await producer.start()
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(infra_metadata.create_all)
            relay = OutboxRelay(db, producer)  # not running: nothing is published
            assert await relay.backlog() == (0, 0.0)
            ages = [30.0, 10.0, 5.0]
            async with db.transaction() as session:
                for age in ages:
                    row = {
                        "event_id": str(uuid.uuid4()),
                        "topic": "t",
                        "key": "k",
                        "payload": b"{}",
                        "created_at": datetime.now(UTC) - timedelta(seconds=age),
                    }
                    await session.execute(insert(outbox).values(**row))
            rows, oldest = await relay.backlog()
        finally:
            await producer.stop()
            await db.dispose()
        assert rows == 3
        assert 30.0 <= oldest < 40.0


async def readyz(service: RunningApp) -> tuple[int, dict[str, str]]:
    answer = await service.client.get("/readyz")
    checks: dict[str, str] = answer.json()["checks"]
    return answer.status_code, checks


@pytest.mark.postgres
class TestDatabaseOutage:
    async def test_not_ready_while_stuck_nothing_dead_lettered_everything_stored_after(
        self, kafka_bootstrap: str, topics: Topics, postgres_server: str
    ) -> None:
        factory_url, name = await _new_database(postgres_server)
        topic = topics.name(topics.okr_events)
        committed: list[str] = []
        try:
            async with probe_service(kafka_bootstrap, topics, factory_url, committed) as service:
                before = [str(uuid.uuid4()) for _ in range(3)]
                await produce(kafka_bootstrap, topic, [note(i) for i in before], ["acme/n"] * 3)
                await wait_until(lambda: len(committed) == 3, what="stored before the outage")
                assert (await readyz(service))[0] == 200

                await _allow_connections(postgres_server, name, allow=False)
                during = [str(uuid.uuid4()) for _ in range(3)]
                await produce(kafka_bootstrap, topic, [note(i) for i in during], ["acme/n"] * 3)

                async def stuck() -> dict[str, str] | None:
                    status, checks = await readyz(service)
                    return checks if status == 503 and "notes" in checks["loops"] else None

                checks = await wait_until(stuck, what="/readyz naming the stuck consumer")
                assert "stuck: consumer:notes (" in checks["loops"]
                assert committed == before

                await _allow_connections(postgres_server, name, allow=True)
                await wait_until(lambda: len(committed) == 6, what="stored after the outage")

                async def ready() -> bool:
                    return (await readyz(service))[0] == 200

                await wait_until(ready, what="ready again")
                # Nothing was dead-lettered for the outage: the first dead letter is this one.
                async with TopicReader(kafka_bootstrap, f"{topic}.dlq") as dlq:
                    await produce(kafka_bootstrap, topic, [b"{not json"], ["acme/n"])
                    await dlq.wait_for(lambda rs: len(rs) >= 1, what="the sentinel dead letter")
                    await dlq.drain()
                assert [r.value for r in dlq.records] == [b"{not json"]
                assert committed == before + during
        finally:
            await _allow_connections(postgres_server, name, allow=True)
            await _admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _new_database(server_url: str) -> tuple[str, str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name)
    return url.render_as_string(hide_password=False), name


async def _allow_connections(server_url: str, name: str, *, allow: bool) -> None:
    """A database outage on the shared server, without stopping it: new connections to the
    database refused, and the open ones cut."""
    await _admin(server_url, f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allow).lower()}')
    if not allow:
        await _admin(
            server_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )


async def _admin(server_url: str, statement: str) -> None:
    url = make_url(server_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class TestInboxWindowPerService:
    async def test_goals_refuses_a_kpi_value_older_than_its_inbox_window(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        sqlite_databases: DatabaseFactory,
        admin_key: str,
    ) -> None:
        settings = service_settings(
            GoalsSettings,
            bootstrap=kafka_bootstrap,
            topics=topics,
            database_url=await sqlite_databases.new(),
            admin_key=admin_key,
        ).model_copy(update={"inbox_retention_s": 3600.0})
        old_at = datetime.now(UTC) - timedelta(hours=2)
        old = note(str(uuid.uuid4()), time=old_at)
        topic = topics.name(topics.kpi_values)
        async with (
            running(create_goals_app(settings)),
            TopicReader(kafka_bootstrap, f"{topic}.dlq") as dlq,
        ):
            await produce(kafka_bootstrap, topic, [old, b"{not json"], ["acme/n"] * 2)
            await dlq.wait_for(lambda rs: len(rs) >= 2, what="two dead letters")
            await dlq.drain()
        assert [r.value for r in dlq.records] == [old, b"{not json"]
        reason = dict(dlq.records[0].headers)[REASON_HEADER].decode()
        assert reason.startswith("outside the deduplication window: event time ")

    async def test_metrics_stores_a_measurement_however_late(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        sqlite_databases: DatabaseFactory,
        admin_key: str,
    ) -> None:
        settings = metrics_settings(
            kafka_bootstrap, topics, await sqlite_databases.new(), admin_key
        ).model_copy(update={"inbox_retention_s": 3600.0})
        async with running(create_metrics_app(settings), admin_key) as service:
            await create_kpi(service, "mql")
            late = measurement("acme", "mql", 5.0, time=datetime.now(UTC) - timedelta(days=30))
            await produce(kafka_bootstrap, topics.name(topics.measurements), [late])

            async def one_stored() -> bool:
                return await stored_points(service) == 1

            await wait_until(one_stored, what="the late measurement stored")
