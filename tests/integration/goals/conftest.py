"""The goals app on the real broker and a fresh database, and a small client for its API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.goals.app import create_app
from services.goals.settings import GoalsSettings
from shared.auth import generate_key, install_bootstrap_key
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import RunningApp, running, service_settings


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    return value.isoformat()


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
        key = generate_key()[0]
        async with self.app.runtime.db.transaction() as session:
            await install_bootstrap_key(session, tenant, key)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app.app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        )


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
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[Goals]:
    """The goals service on SQLite."""
    settings = await goals_settings(
        kafka_bootstrap, topics, await sqlite_databases.new(), admin_key
    )
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
