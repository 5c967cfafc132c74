"""The alerts service: rules over REST, evaluation of `kpi.values` and `okr.events`, alerts on
`alerts`, webhooks.

Run it: `uvicorn services.alerts.app:create_app --factory`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.alerts.am_sender import AlertmanagerSender
from services.alerts.handlers import evaluation_handler
from services.alerts.loops import Ticker, WebhookSender
from services.alerts.routes import (
    alerts,
    am_api,
    am_settings,
    deliveries,
    guardrails,
    rules,
    silences,
)
from services.alerts.routes import settings as settings_routes
from services.alerts.service.rules import seal_stored_secrets
from services.alerts.settings import AlertsSettings
from shared.app import build_service_app
from shared.runtime import ConsumerSpec, Runtime


def create_app(settings: AlertsSettings | None = None) -> FastAPI:
    settings = settings or AlertsSettings()
    topics = settings.topics

    def consumers(runtime: Runtime) -> list[ConsumerSpec]:
        handler = evaluation_handler(runtime.db, settings)
        return [ConsumerSpec("evaluation", [topics.kpi_values, topics.okr_events], handler)]

    app = build_service_app(
        title="Lodestar alerts",
        description=(
            "Alert rules, evaluation, the alert lifecycle (Alertmanager's shapes), silences, "
            "acknowledgements, webhooks, KPI guardrails (graduated key results) and the `alerts` "
            "topic."
        ),
        settings=settings,
        routers=[
            rules.router,
            alerts.router,
            silences.router,
            deliveries.router,
            guardrails.router,
            settings_routes.router,
            am_settings.router,
        ],
        migrations=Path(__file__).parent / "migrations",
        consumers=consumers,
    )
    app.include_router(am_api.router)  # Alertmanager's API v2, at /api/v2 (not under /v1)
    shared_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The shared lifespan migrates and starts the consumers; the timer and the senders
        # start after it, under the same supervisor (so /readyz reports them), each run by one
        # replica at a time (`Runtime.singleton`).
        async with shared_lifespan(app):
            runtime: Runtime = app.state.runtime
            async with runtime.db.transaction() as session:
                await seal_stored_secrets(session, settings)
            ticker = Ticker(runtime.db, settings)
            sender = WebhookSender(runtime.db, settings)
            alertmanager = AlertmanagerSender(runtime.db, settings)
            app.state.ticker, app.state.webhooks = ticker, sender
            app.state.alertmanager = alertmanager
            runtime.singleton("alert-timer", ticker)
            runtime.singleton("webhooks", sender, wake_on_outbox=True)
            runtime.singleton("alertmanager", alertmanager, wake_on_outbox=True)
            try:
                yield
            finally:
                ticker.request_stop()
                sender.request_stop()
                alertmanager.request_stop()

    app.router.lifespan_context = lifespan
    return app
