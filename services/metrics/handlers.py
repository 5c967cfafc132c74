"""Inbound events of the metrics service: measurements from `kpi.measurements`."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Gauge
from sqlalchemy.engine import make_url

from services.metrics.ingest import MeasurementWriter
from services.metrics.ingest.postgres import PostgresWriter
from services.metrics.ingest.sqlite import SqliteWriter
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.runtime import Runtime


def open_writer(runtime: Runtime) -> MeasurementWriter:
    """The hot-path writer for the service's database (connects on first use)."""
    settings = runtime.settings
    topic = settings.topics.name(settings.topics.kpi_values)
    source = f"lodestar/{settings.service_name}"
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("the metrics service needs a SQLite file, not an in-memory database")
        return SqliteWriter(url.database, topic=topic, source=source)
    return PostgresWriter(settings.database_url, topic=topic, source=source)


def measurements_handler(runtime: Runtime, writer: MeasurementWriter) -> BatchHandler:
    """Stores each batch in one transaction; the outbox relay is woken after the commit."""
    registry = runtime.metrics.registry
    first_batch = Gauge(
        "lodestar_metrics_first_batch_timestamp_seconds",
        "When this process received its first measurement batch (Unix time)",
        registry=registry,
    )
    last_batch = Gauge(
        "lodestar_metrics_last_batch_timestamp_seconds",
        "When this process last stored a measurement batch (Unix time)",
        registry=registry,
    )
    started = False

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        nonlocal started
        if not started:
            started = True
            first_batch.set_to_current_time()
        # SQLite has one writer: the API and the relay wait for the batch, not the reverse.
        async with runtime.db.write_lock():
            rejected = await writer.store(batch)
        for callback in runtime.db.after_commit:
            callback()
        last_batch.set_to_current_time()
        return rejected

    return handle
