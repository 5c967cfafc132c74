"""The metrics service: KPI definitions, queries and HTTP ingest over REST; measurements from
`kpi.measurements` stored by the hot path in `ingest/`.

Run it: `uvicorn services.metrics.app:create_app --factory`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from services.metrics.codec import measurement_decoder
from services.metrics.handlers import measurements_handler, okr_events_handler
from services.metrics.ingest import MeasurementWriter
from services.metrics.ingest.postgres import PostgresWriter
from services.metrics.ingest.sqlite import SqliteWriter
from services.metrics.okr_codec import skipping_decoder
from services.metrics.routes import dashboard, kpis, measurements
from services.metrics.settings import MetricsSettings
from shared.app import build_service_app
from shared.consumer import UNHURRIED
from shared.runtime import ConsumerSpec, Runtime


def open_writer(settings: MetricsSettings) -> MeasurementWriter:
    """The hot-path writer for the service's database (connects on first use)."""
    topic = settings.topics.name(settings.topics.kpi_values)
    source = f"lodestar/{settings.service_name}"
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("the metrics service needs a SQLite file, not an in-memory database")
        return SqliteWriter(url.database, topic=topic, source=source)
    return PostgresWriter(settings.database_url, topic=topic, source=source)


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    writers: list[MeasurementWriter] = []

    def consumers(runtime: Runtime) -> list[ConsumerSpec]:
        writer = open_writer(settings)
        writers.append(writer)
        return [
            ConsumerSpec(
                "measurements",
                [settings.topics.measurements],
                measurements_handler(runtime, writer, require_proof=settings.ingest_require_proof),
                decoder=measurement_decoder(settings.max_event_bytes, settings.max_future_skew_s),
                inbox_window=False,  # deduplicated for ever on the stored (tenant, source, id)
            ),
            ConsumerSpec(
                "okr-events",
                [settings.topics.okr_events],
                okr_events_handler(runtime),
                decoder=skipping_decoder(settings.max_event_bytes),
                fetch=UNHURRIED,
            ),
        ]

    app = build_service_app(
        title="Lodestar metrics",
        description="KPI definitions, measurement ingestion, rollups, queries and dashboard.",
        settings=settings,
        routers=[kpis.router, measurements.router, dashboard.router],
        migrations=Path(__file__).parent / "migrations",
        consumers=consumers,
    )
    runtime_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with runtime_lifespan(app):
                yield
        finally:
            # After the runtime stopped its consumers: no batch is using the writer any more.
            while writers:
                await writers.pop().close()

    app.router.lifespan_context = lifespan
    return app
