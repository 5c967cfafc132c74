"""Helpers of the metrics integration tests: run the service, create KPIs, read its tables."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from services.metrics.app import create_app
from services.metrics.repository.measurements import measurements
from services.metrics.repository.rollups import rollups
from services.metrics.settings import MetricsSettings
from shared.settings import Topics
from tests.support.apps import RunningApp, running, service_settings


def settings(
    bootstrap: str,
    topics: Topics,
    database_url: str,
    admin_key: str,
    *,
    require_proof: bool = False,
) -> MetricsSettings:
    return service_settings(
        MetricsSettings,
        bootstrap=bootstrap,
        topics=topics,
        database_url=database_url,
        admin_key=admin_key,
        require_proof=require_proof,
    )


@contextlib.asynccontextmanager
async def metrics_service(
    bootstrap: str,
    topics: Topics,
    database_url: str,
    admin_key: str,
    *,
    require_proof: bool = False,
) -> AsyncIterator[RunningApp]:
    """The service; `require_proof`: refusing unsigned records, as in production."""
    app = create_app(
        settings(bootstrap, topics, database_url, admin_key, require_proof=require_proof)
    )
    async with running(app, admin_key) as service:
        yield service


async def create_kpi(service: RunningApp, key: str, **fields: Any) -> dict[str, Any]:
    body = {"key": key, "name": key.upper(), **fields}
    answer = await service.client.post("/v1/kpis", json=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def stored_points(service: RunningApp, tenant: str = "acme") -> int:
    async with service.runtime.db.session() as session:
        stmt = select(func.count()).select_from(measurements).where(measurements.c.tenant == tenant)
        return int((await session.execute(stmt)).scalar_one())


async def rolled_up_points(service: RunningApp, tenant: str = "acme") -> int:
    async with service.runtime.db.session() as session:
        stmt = select(func.coalesce(func.sum(rollups.c.count), 0)).where(rollups.c.tenant == tenant)
        return int((await session.execute(stmt)).scalar_one())
