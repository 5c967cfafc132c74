"""Graduation: a key result met long enough sets its KPI's health bands (a guardrail), and
the KPI records what that changed so it can be shown and undone."""

from __future__ import annotations

from datetime import datetime

from services.metrics.domain.guardrails import (
    Guardrail,
    KpiBands,
    guardrail_from_kr,
    pace_comparable,
    restored,
)
from services.metrics.domain.health import Direction
from services.metrics.errors import GuardrailNotFound
from services.metrics.mappers import kpi_read
from services.metrics.repository import kpis as repo
from services.metrics.schemas import BandsRead, GuardrailRead, KpiRead
from services.metrics.service.kpis import load
from services.metrics.tables import Kpi
from shared.db import AsyncSession
from shared.events import KPI_GUARDRAIL_REMOVED_V1, KpiGuardrailRemovedV1, KrGraduatedV1, new_event
from shared.mapping import read_of
from shared.outbox import enqueue
from shared.settings import ServiceSettings


def _bands(kpi: Kpi) -> KpiBands:
    return KpiBands(Direction(kpi.direction), kpi.green, kpi.amber)


def _read(bands: KpiBands | Guardrail) -> BandsRead:
    return read_of(BandsRead, bands)


def _rail(bands: BandsRead) -> KpiBands:
    return KpiBands(bands.direction, bands.green, bands.amber)


async def apply_graduation(
    session: AsyncSession, tenant: str, graduated: KrGraduatedV1, now: datetime
) -> bool:
    """Set the KPI's health bands from a graduated key result (per period for a cumulative
    one) and record the bands it replaced; false when the KPI is gone. Raises ValueError for
    a key result whose kind cannot be a guardrail, or whose pace the KPI's value cannot be
    read against (a `count` KR on a KPI not aggregated by count)."""
    kpi = await repo.get(session, tenant, graduated.kpi)
    if kpi is None:
        return False
    spread = graduated.window_periods is not None
    if spread and not pace_comparable(graduated.aggregation, kpi.aggregation):
        raise ValueError(
            f"a '{graduated.aggregation}' key result's pace cannot guard KPI "
            f"'{kpi.key}', whose value is its '{kpi.aggregation}'"
        )
    target = graduated.period_target if spread else graduated.target
    previous = _bands(kpi)
    rail = guardrail_from_kr(
        graduated.kind,
        graduated.target if target is None else target,
        graduated.period_bound_low if spread else graduated.bound_low,
        graduated.period_bound_high if spread else graduated.bound_high,
        previous.direction,
        previous.amber,
    )
    record = read_of(
        GuardrailRead,
        graduated,
        graduated_at=graduated.graduated_at or now,
        previous=_read(previous),
        applied=_read(rail),
    )
    kpi.direction, kpi.green, kpi.amber = str(rail.direction), rail.green, rail.amber
    kpi.guardrail = record.model_dump(mode="json")
    kpi.updated_at = now
    session.add(kpi)
    await session.flush()
    return True


async def remove_guardrail(
    session: AsyncSession, tenant: str, key: str, now: datetime, settings: ServiceSettings
) -> KpiRead:
    """Undo the graduation: the KPI is no guardrail any more, and gets back the bands and
    direction it had before (unless they were edited since: then the edit stays). 404 when
    the KPI is no guardrail.

    `lodestar.kpi.guardrail.removed.v1` goes to the outbox in the same transaction, on
    `kpi.values` (the topic metrics writes) under the KPI's record key, so it is ordered with
    the KPI's values: alerts then stops watching the guardrail and resolves its alert."""
    kpi = await load(session, tenant, key)
    if kpi.guardrail is None:
        raise GuardrailNotFound(f"KPI '{key}' is no guardrail")
    record = GuardrailRead.model_validate(kpi.guardrail)
    kept = restored(_bands(kpi), _rail(record.previous), _rail(record.applied))
    kpi.direction, kpi.green, kpi.amber = str(kept.direction), kept.green, kept.amber
    kpi.guardrail = None
    kpi.updated_at = now
    session.add(kpi)
    await session.flush()
    removed = KpiGuardrailRemovedV1(kpi=key, key_result_id=record.key_result_id, removed_at=now)
    event = new_event(
        type=KPI_GUARDRAIL_REMOVED_V1,
        source=f"lodestar/{settings.service_name}",
        tenant=tenant,
        subject=key,
        data=removed,
        time=now,
    )
    await enqueue(session, settings.topics.name(settings.topics.kpi_values), event)
    return kpi_read(kpi)
