"""The alerts service: rules over REST, evaluation of `kpi.values`, alerts on `alerts`.

Run it: `uvicorn services.alerts.app:create_app --factory`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.alerts.handlers import kpi_values_handler
from services.alerts.routes import alerts, rules
from services.alerts.settings import AlertsSettings
from shared.app import build_service_app
from shared.runtime import ConsumerSpec, Runtime


def create_app(settings: AlertsSettings | None = None) -> FastAPI:
    settings = settings or AlertsSettings()

    def consumers(runtime: Runtime) -> list[ConsumerSpec]:
        return [
            ConsumerSpec("kpi-values", [settings.topics.kpi_values], kpi_values_handler(runtime))
        ]

    return build_service_app(
        title="Lodestar alerts",
        description="Alert rules, evaluation, the alert lifecycle and the `alerts` topic.",
        settings=settings,
        routers=[rules.router, alerts.router],
        migrations=Path(__file__).parent / "migrations",
        consumers=consumers,
    )
