"""The metrics service: KPI definitions over REST, measurements from `kpi.measurements`.

Run it: `uvicorn services.metrics.app:create_app --factory`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.metrics.handlers import measurements_handler
from services.metrics.routes import kpis
from services.metrics.settings import MetricsSettings
from shared.app import build_service_app
from shared.runtime import ConsumerSpec, Runtime


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()

    def consumers(runtime: Runtime) -> list[ConsumerSpec]:
        return [
            ConsumerSpec(
                "measurements", [settings.topics.measurements], measurements_handler(runtime)
            )
        ]

    return build_service_app(
        title="Lodestar metrics",
        description="KPI definitions, measurement ingestion, rollups and queries.",
        settings=settings,
        routers=[kpis.router],
        migrations=Path(__file__).parent / "migrations",
        consumers=consumers,
    )
