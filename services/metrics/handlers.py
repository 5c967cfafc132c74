"""Inbound events of the metrics service, by consumer.

`okr.events`: each event goes to its type's handler in `EVENT_HANDLERS` (only graduated key
results concern metrics; other types are skipped: that topic is goals' to fill), all of a
batch in one transaction with the record of what was processed.

`kpi.measurements`: the batch goes whole to the ingest writer, which stores it set-based in one
transaction (`ingest/`); per-event dispatch there would cost the hot path its speed. Its
corrections (a measurement with a `revision`, `lodestar.kpi.measurement.retracted.v1`) go in
the same transaction, after the new points (`ingest/corrections.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.codec import Decoded
from services.metrics.ingest import MeasurementWriter
from services.metrics.service import graduation
from shared import ingest_proof
from shared.events import KR_GRADUATED_V1, KrGraduatedV1, utcnow
from shared.inbound import BatchHandler, Inbound, Rejection
from shared.inbox import first_delivery
from shared.runtime import Runtime

EventHandler = Callable[[AsyncSession, Inbound, datetime], Awaitable[None]]
"""Applies one event inside the batch's transaction; a ValueError refuses the event."""


async def kr_graduated(session: AsyncSession, inbound: Inbound, now: datetime) -> None:
    """A graduated key result sets its KPI's health bands (the KPI becomes a guardrail)."""
    payload = inbound.payload
    assert isinstance(payload, KrGraduatedV1)  # the decoder gives each known type its model
    await graduation.apply_graduation(session, inbound.event.tenant, payload, now)


EVENT_HANDLERS: dict[str, EventHandler] = {KR_GRADUATED_V1: kr_graduated}


def okr_events_handler(runtime: Runtime) -> BatchHandler:
    """Dispatches each event of a known type once (a redelivery is skipped); an event its
    handler refuses with a ValueError (e.g. a kind that cannot be a guardrail) is rejected."""

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        handled = [item for item in batch if item.event.type in EVENT_HANDLERS]
        rejected: list[Rejection] = []
        if not handled:
            return rejected
        now = utcnow()
        async with runtime.db.transaction() as session:
            for item in handled:
                if not await first_delivery(session, item.event):
                    continue
                try:
                    await EVENT_HANDLERS[item.event.type](session, item, now)
                except ValueError as exc:
                    rejected.append(Rejection(item.record, str(exc)))
        return rejected

    return handle


async def unproven(runtime: Runtime, batch: Sequence[Inbound]) -> list[Rejection]:
    """The records of the batch without a valid proof of their tenant (`shared.ingest_proof`):
    the keys their headers name are loaded in one query."""
    claimed = [ingest_proof.claimed_key(item.record.headers) for item in batch]
    async with runtime.db.session() as session:
        keys = await ingest_proof.load_keys(session, [k for k in claimed if k])
    rejected = []
    for item in batch:
        decoded = item.decoded
        tenant = decoded.envelope.tenant if isinstance(decoded, Decoded) else item.event.tenant
        record = item.record
        reason = ingest_proof.refusal(tenant, record.value or b"", record.headers, keys)
        if reason is not None:
            rejected.append(Rejection(record, reason, "tenant_proof"))
    return rejected


def measurements_handler(
    runtime: Runtime, writer: MeasurementWriter, *, require_proof: bool = True
) -> BatchHandler:
    """Stores each batch in one transaction; the outbox relay is woken after the commit.
    With `require_proof`, records without a valid tenant proof are refused first."""
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
        refused: list[Rejection] = []
        if require_proof:
            refused = await unproven(runtime, batch)
            if refused:
                bad = {id(r.record) for r in refused}
                batch = [item for item in batch if id(item.record) not in bad]
        # SQLite has one writer: the API and the relay wait for the batch, not the reverse.
        async with runtime.db.write_lock():
            rejected = [*refused, *(await writer.store(batch) if batch else [])]
        for callback in runtime.db.after_commit:
            callback()
        last_batch.set_to_current_time()
        return rejected

    return handle
