"""The goals service: OKRs over REST; the issuer of API keys; the goals side of the KPI ↔ OKR
loop (KRs linked to KPIs follow `kpi.values`, graduate, and are promoted from KPIs).

Run it: `uvicorn services.goals.app:create_app --factory`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.goals import console
from services.goals.handlers import kpi_values_consumer
from services.goals.loops import StatusTimer
from services.goals.metrics_client import MetricsClient
from services.goals.routes import (
    api_keys,
    cycles,
    initiatives,
    key_results,
    objectives,
    teams,
    tenant,
)
from services.goals.settings import GoalsSettings
from shared.app import build_service_app
from shared.events import utcnow
from shared.runtime import Runtime


def create_app(
    settings: GoalsSettings | None = None,
    metrics_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app; `metrics_transport` points the metrics client elsewhere (tests pass an
    `httpx.ASGITransport` over an in-process metrics app)."""
    settings = settings or GoalsSettings()
    app = build_service_app(
        title="Lodestar goals",
        description="Cycles, teams, objectives, key results, check-ins and scoring; key "
        "results linked to KPIs, promoted from KPIs, graduated into KPI guardrails.",
        settings=settings,
        routers=[
            cycles.router,
            teams.router,
            objectives.router,
            key_results.router,
            initiatives.router,
            api_keys.router,
            tenant.router,
        ],
        migrations=Path(__file__).parent / "migrations",
        consumers=lambda runtime: [kpi_values_consumer(runtime)],
        # goals issues the keys the others learn from `tenants`; it needs no copy of them.
        identity=False,
    )
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        metrics = MetricsClient(
            settings.metrics_url, timeout_s=settings.metrics_timeout_s, transport=metrics_transport
        )
        app.state.metrics = metrics
        try:
            async with runtime_lifespan(app):
                runtime: Runtime = app.state.runtime
                timer = StatusTimer(runtime.db, settings, utcnow)
                runtime.singleton("status-timer", timer)  # one replica at a time
                try:
                    yield
                finally:
                    # Stopped before the runtime waits for its loops, so shutdown is prompt.
                    timer.request_stop()
        finally:
            await metrics.aclose()

    app.router.lifespan_context = lifespan
    app.include_router(console.router)  # after the lifespan: its own runs inside that one
    return app
