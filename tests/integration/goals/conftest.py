"""The goals app on the real broker and a fresh database, and a small client for its API."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.goals.app import create_app
from services.goals.settings import GoalsSettings
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from shared.auth import generate_key, install_bootstrap_key
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import RunningApp, running, service_settings
from tests.support.kafka import produce


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.isoformat()


async def admin_client(app: RunningApp, tenant: str, key: str) -> httpx.AsyncClient:
    """A client of `app` holding `key`, installed there as an admin key of `tenant`."""
    async with app.runtime.db.transaction() as session:
        await install_bootstrap_key(session, tenant, key)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )


class Goals:
    """Shortcuts over the REST API; each asserts the status it expects."""

    def __init__(self, app: RunningApp) -> None:
        self.app = app
        self.client = app.client

    async def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    async def cycle(
        self, name: str = "2026-Q4", *, days_in: float = 50, days_left: float = 50, active=True
    ) -> dict[str, Any]:
        """A cycle around now: `days_in` elapsed, `days_left` to go (expected = in/(in+left))."""
        t = now()
        body = {
            "name": name,
            "starts_at": iso(t - timedelta(days=days_in)),
            "ends_at": iso(t + timedelta(days=days_left)),
        }
        cycle = await self.ok(await self.client.post("/v1/cycles", json=body), 201)
        if active:
            cycle = await self.ok(await self.client.post(f"/v1/cycles/{cycle['id']}/activate"))
        return cycle

    async def objective(self, cycle_id: str, title: str = "Delight customers", **extra: Any) -> Any:
        body = {"cycle_id": cycle_id, "title": title, "owner": "ada", **extra}
        return await self.ok(await self.client.post("/v1/objectives", json=body), 201)

    async def kr(self, objective_id: str, **body: Any) -> Any:
        body = {"title": "NPS to 50", "kind": "increase", "start": 0.0, "target": 100.0, **body}
        return await self.ok(
            await self.client.post(f"/v1/objectives/{objective_id}/key-results", json=body), 201
        )

    async def check_in(self, kr_id: str, **body: Any) -> Any:
        return await self.ok(
            await self.client.post(f"/v1/key-results/{kr_id}/check-ins", json=body), 201
        )

    async def get(self, path: str, **params: Any) -> Any:
        return await self.ok(await self.client.get(path, params=params))

    async def other_tenant_client(self, tenant: str = "globex") -> httpx.AsyncClient:
        """A client holding an admin key of another tenant."""
        return await admin_client(self.app, tenant, generate_key()[0])


async def goals_settings(
    kafka_bootstrap: str, topics: Topics, database_url: str, admin_key: str
) -> GoalsSettings:
    return service_settings(
        GoalsSettings,
        bootstrap=kafka_bootstrap,
        topics=topics,
        database_url=database_url,
        admin_key=admin_key,
    )


@pytest.fixture
async def goals(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[Goals]:
    """The goals service, once on SQLite and once on PostgreSQL (as `goals_db`)."""
    settings = await goals_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with running(create_app(settings), admin_key) as app:
        yield Goals(app)


@pytest.fixture
async def goals_db(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[Goals]:
    """The goals service, once on SQLite and once on PostgreSQL."""
    settings = await goals_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with running(create_app(settings), admin_key) as app:
        yield Goals(app)


# ---------------------------------------------------------------- the KPI <-> OKR loop


def kpi_value_event(
    kpi: str,
    period_start: datetime,
    value: float,
    *,
    tenant: str = "acme",
    period: str = "day",
    count: int = 1,
    last_at: datetime | None = None,
    id: str | None = None,
) -> bytes:
    """A `lodestar.kpi.value.v1` as metrics sends it: one KPI period's new aggregate."""
    lengths = {"day": timedelta(days=1), "week": timedelta(days=7)}
    period_end = period_start + lengths[period]
    last = last_at or min(period_end - timedelta(seconds=1), now())
    event = {
        "specversion": "1.0",
        "id": id or str(uuid.uuid4()),
        "source": "lodestar/metrics",
        "type": "lodestar.kpi.value.v1",
        "time": iso(now()),
        "subject": kpi,
        "tenant": tenant,
        "datacontenttype": "application/json",
        "data": {
            "kpi": kpi,
            "period": period,
            "period_start": iso(period_start),
            "period_end": iso(period_end),
            "aggregation": "last",
            "value": value,
            "count": count,
            "last_value": value,
            "last_at": iso(last),
            "health": "unknown",
            "direction": "higher",
            "tags": [],
        },
    }
    return json.dumps(event).encode()


def today() -> datetime:
    return now().replace(hour=0, minute=0, second=0, microsecond=0)


class Loop(Goals):
    """Goals wired to an in-process metrics app (the `metrics_transport` seam), on the real
    broker and the test's topics; `metrics` is a client of the metrics API."""

    def __init__(
        self, app: RunningApp, metrics: RunningApp, bootstrap: str, topics: Topics
    ) -> None:
        super().__init__(app)
        self.metrics = metrics.client
        self.metrics_app = metrics
        self.bootstrap = bootstrap
        self.topics = topics

    async def kpi(self, key: str, **body: Any) -> Any:
        body = {"key": key, "name": key.upper(), "aggregation": "last", **body}
        return await self.ok(await self.metrics.post("/v1/kpis", json=body), 201)

    async def send_kpi_values(self, kpi: str, *events: bytes, tenant: str = "acme") -> None:
        """Produce to the test's kpi.values, keyed as metrics keys them (tenant/kpi)."""
        topic = self.topics.name(self.topics.kpi_values)
        await produce(self.bootstrap, topic, list(events), [f"{tenant}/{kpi}"] * len(events))

    async def linked_kr(self, objective_id: str, kpi: str, **body: Any) -> Any:
        return await self.kr(objective_id, kpi=kpi, **body)

    @contextlib.asynccontextmanager
    async def other_tenant(self, tenant: str = "globex") -> AsyncIterator[Loop]:
        """The loop as an admin of another tenant sees it: one key, valid on goals and on
        metrics (goals forwards it when a KR is linked to a KPI)."""
        key = generate_key()[0]
        other = Loop(self.app, self.metrics_app, self.bootstrap, self.topics)
        async with contextlib.AsyncExitStack() as stack:
            other.client, other.metrics = [
                await stack.enter_async_context(await admin_client(app, tenant, key))
                for app in (self.app, self.metrics_app)
            ]
            yield other


@contextlib.asynccontextmanager
async def loop_apps(
    kafka_bootstrap: str,
    topics: Topics,
    goals_url: str,
    metrics_url: str,
    admin_key: str,
    **goals_overrides: Any,
) -> AsyncIterator[Loop]:
    metrics_settings = service_settings(
        MetricsSettings,
        bootstrap=kafka_bootstrap,
        topics=topics,
        database_url=metrics_url,
        admin_key=admin_key,
    )
    settings = await goals_settings(kafka_bootstrap, topics, goals_url, admin_key)
    for name, value in goals_overrides.items():
        setattr(settings, name, value)
    async with running(create_metrics_app(metrics_settings), admin_key) as metrics:
        transport = httpx.ASGITransport(app=metrics.app)
        async with running(create_app(settings, metrics_transport=transport), admin_key) as app:
            yield Loop(app, metrics, kafka_bootstrap, topics)


@pytest.fixture
async def loop(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[Loop]:
    """Goals and metrics in-process, once on SQLite and once on PostgreSQL (as `loop_db`)."""
    async with loop_apps(
        kafka_bootstrap,
        topics,
        await databases.new(),
        await databases.new(),
        admin_key,
    ) as both:
        yield both


@pytest.fixture
async def loop_db(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[Loop]:
    """Goals and metrics in-process, goals once on SQLite and once on PostgreSQL."""
    async with loop_apps(
        kafka_bootstrap, topics, await databases.new(), await databases.new(), admin_key
    ) as both:
        yield both
