"""HTTP ingest: measurements validated against the tenant's KPIs and produced to
`kpi.measurements`, where the ingest path stores them like any other."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.metrics.errors import UnknownKpis
from services.metrics.repository import kpis as repository
from services.metrics.schemas import MeasurementIn, RetractionIn
from shared import ingest_proof
from shared.auth import Principal
from shared.db import AsyncSession
from shared.events import (
    MEASUREMENT_RETRACTED_V1,
    MEASUREMENT_V1,
    CloudEvent,
    MeasurementRetractedV1,
    MeasurementV1,
)
from shared.producer import EventProducer


async def _check_kpis(session: AsyncSession, caller: Principal, keys: set[str]) -> None:
    known = await repository.existing_kpi_keys(session, caller.tenant, keys)
    unknown = sorted(keys - known)
    if unknown:
        raise UnknownKpis(f"unknown KPI(s): {', '.join(unknown)}")


def _measurement_data(m: MeasurementIn) -> dict[str, Any]:
    """The event's `data`; `revision` only when it restates (the hot path then stays hot)."""
    data = MeasurementV1(value=m.value, dimensions=m.dimensions, revision=m.revision or 0)
    return data.model_dump(mode="json", exclude={"revision"} if not m.revision else None)


async def accept_measurements(
    session: AsyncSession,
    producer: EventProducer,
    topic: str,
    caller: Principal,
    items: Sequence[MeasurementIn],
    *,
    ack_timeout_s: float,
) -> list[CloudEvent]:
    """Validate HTTP measurements and produce them to `kpi.measurements` as CloudEvents, keyed
    `tenant/kpi`; returns them once the broker has acknowledged every one, and raises
    `BrokerUnavailable` if that takes longer than `ack_timeout_s`."""
    await _check_kpis(session, caller, {m.kpi for m in items})
    events = [
        CloudEvent(
            specversion="1.0",
            id=m.id or str(uuid.uuid4()),
            source=m.source or f"http/{caller.key_id}",
            type=MEASUREMENT_V1,
            time=m.time,
            subject=m.kpi,
            tenant=caller.tenant,
            data=_measurement_data(m),
        )
        for m in items
    ]
    await _send_signed(session, producer, topic, caller, events, ack_timeout_s)
    return events


async def accept_retractions(
    session: AsyncSession,
    producer: EventProducer,
    topic: str,
    caller: Principal,
    items: Sequence[RetractionIn],
    now: datetime,
    *,
    ack_timeout_s: float,
) -> list[CloudEvent]:
    """Produce `lodestar.kpi.measurement.retracted.v1` events to `kpi.measurements` (keyed
    `tenant/kpi`, so each is ordered with its KPI's measurements), as `accept_measurements`.
    An id never stored is not refused: its retraction may have overtaken it."""
    await _check_kpis(session, caller, {r.kpi for r in items})
    events = [
        CloudEvent(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=f"http/{caller.key_id}",
            type=MEASUREMENT_RETRACTED_V1,
            time=now,
            subject=r.kpi,
            tenant=caller.tenant,
            data=MeasurementRetractedV1(
                source=r.source or f"http/{caller.key_id}", id=r.id
            ).model_dump(mode="json"),
        )
        for r in items
    ]
    await _send_signed(session, producer, topic, caller, events, ack_timeout_s)
    return events


async def _send_signed(
    session: AsyncSession,
    producer: EventProducer,
    topic: str,
    caller: Principal,
    events: Sequence[CloudEvent],
    ack_timeout_s: float,
) -> None:
    """Produce `events`, each signed with the caller's key as an external producer signs
    (`shared.ingest_proof`: the consumer refuses an unsigned record where proofs are
    required, the production default), once the broker has acknowledged every one."""
    key = (await ingest_proof.load_keys(session, [caller.key_id]))[caller.key_id]
    await producer.send_all(
        topic,
        [(e.key, e.to_json()) for e in events],
        timeout_s=ack_timeout_s,
        headers=lambda value: [ingest_proof.signature(caller.key_id, key.secret_hash, value)],
    )
