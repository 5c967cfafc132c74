"""Use cases of the metrics service: define KPIs, ingest measurements. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics import repository
from services.metrics.domain.health import (
    Aggregation,
    Bands,
    Direction,
    RollupValues,
    aggregate,
    health,
)
from services.metrics.domain.periods import Period, period_end, period_start
from services.metrics.errors import KpiConflict
from services.metrics.schemas import KpiCreate
from services.metrics.tables import Kpi, Rollup
from shared.consumer import Inbound, Rejection
from shared.events import KPI_VALUE_V1, KpiValueV1, MeasurementV1, new_event, utcnow
from shared.outbox import enqueue
from shared.settings import ServiceSettings


async def create_kpi(session: AsyncSession, tenant: str, body: KpiCreate) -> Kpi:
    if await repository.get_kpi(session, tenant, body.key) is not None:
        raise KpiConflict(f"KPI '{body.key}' already exists")
    kpi = Kpi(tenant=tenant, created_at=utcnow(), **body.model_dump())
    session.add(kpi)
    await session.flush()
    return kpi


def _value_event(kpi: Kpi, rollup: Rollup, source: str) -> KpiValueV1:
    period = Period(kpi.period)
    values = RollupValues(
        rollup.count, rollup.total, rollup.minimum, rollup.maximum, rollup.last_value
    )
    value = aggregate(values, Aggregation(kpi.aggregation))
    return KpiValueV1(
        kpi=kpi.key,
        period=period,
        period_start=rollup.period_start,
        period_end=period_end(rollup.period_start, period),
        aggregation=kpi.aggregation,
        value=value,
        count=rollup.count,
        last_value=rollup.last_value,
        last_at=rollup.last_at,
        health=health(value, Bands(kpi.green, kpi.amber), Direction(kpi.direction)),
        direction=kpi.direction,
        tags=list(kpi.tags),
    )


async def ingest(
    session: AsyncSession, batch: Sequence[Inbound], settings: ServiceSettings
) -> list[Rejection]:
    """Store a batch of measurement events; roll up only the newly stored points and emit one
    `kpi.values` event per touched KPI period. Unknown KPIs and wrong types are refused."""
    kpis = await repository.kpis_by_key(session, ((i.event.tenant, i.event.subject) for i in batch))
    rejected: list[Rejection] = []
    rows: list[dict[str, Any]] = []
    for item in batch:
        event, payload = item.event, item.payload
        if not isinstance(payload, MeasurementV1):
            rejected.append(Rejection(item.record, f"unexpected event type {event.type}"))
            continue
        kpi = kpis.get((event.tenant, event.subject))
        if kpi is None:
            reason = f"unknown KPI '{event.subject}' for tenant '{event.tenant}'"
            rejected.append(Rejection(item.record, reason))
            continue
        rows.append(
            {
                "tenant": event.tenant,
                "source": event.source,
                "event_id": event.id,
                "kpi": event.subject,
                "observed_at": event.time,
                "period_start": period_start(event.time, Period(kpi.period)),
                "value": payload.value,
            }
        )
    new_rows = await repository.insert_new_measurements(session, rows)
    touched = await _roll_up(session, new_rows)
    topic = settings.topics.name(settings.topics.kpi_values)
    for (tenant, key, _), rollup in touched.items():
        kpi = kpis[(tenant, key)]
        data = _value_event(kpi, rollup, settings.service_name)
        await enqueue(
            session,
            topic,
            new_event(
                type=KPI_VALUE_V1,
                source=f"lodestar/{settings.service_name}",
                tenant=tenant,
                subject=key,
                data=data,
            ),
        )
    return rejected


async def _roll_up(
    session: AsyncSession, new_rows: list[dict[str, Any]]
) -> dict[tuple[str, str, datetime], Rollup]:
    keys = {(r["tenant"], r["kpi"], r["period_start"]) for r in new_rows}
    existing = await repository.get_rollups(session, keys)
    for row in new_rows:
        key = (row["tenant"], row["kpi"], row["period_start"])
        rollup = existing.get(key)
        if rollup is None:
            rollup = existing[key] = Rollup(
                tenant=row["tenant"],
                kpi=row["kpi"],
                period_start=row["period_start"],
                count=0,
                total=0.0,
                minimum=row["value"],
                maximum=row["value"],
                last_value=row["value"],
                last_at=row["observed_at"],
            )
            session.add(rollup)
        rollup.count += 1
        rollup.total += row["value"]
        rollup.minimum = min(rollup.minimum, row["value"])
        rollup.maximum = max(rollup.maximum, row["value"])
        if row["observed_at"] >= rollup.last_at:
            rollup.last_value, rollup.last_at = row["value"], row["observed_at"]
    await session.flush()
    return {k: v for k, v in existing.items() if k in keys}
