"""Inbound events of the metrics service: measurements from `kpi.measurements`, and graduated
key results from `okr.events` (other OKR events are skipped: that topic is goals' to fill)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Gauge
from sqlalchemy.engine import make_url

from services.metrics import service
from services.metrics.ingest import MeasurementWriter
from services.metrics.ingest.postgres import PostgresWriter
from services.metrics.ingest.sqlite import SqliteWriter
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.events import KrGraduatedV1
from shared.inbox import first_delivery
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


def okr_events_handler(runtime: Runtime) -> BatchHandler:
    """A graduated key result sets its KPI's health bands (the KPI becomes a guardrail)."""

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        graduations = [i for i in batch if isinstance(i.payload, KrGraduatedV1)]
        rejected: list[Rejection] = []
        if not graduations:
            return rejected
        async with runtime.db.transaction() as session:
            for item in graduations:
                assert isinstance(item.payload, KrGraduatedV1)
                if not await first_delivery(session, item.event):
                    continue
                try:
                    await service.apply_graduation(session, item.event.tenant, item.payload)
                except ValueError as exc:  # e.g. a kind that cannot be a guardrail
                    rejected.append(Rejection(item.record, str(exc)))
        return rejected

    return handle
