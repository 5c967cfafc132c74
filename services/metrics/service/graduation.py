"""Graduation: a key result met long enough sets its KPI's health bands (a guardrail)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.domain.guardrails import guardrail_from_kr
from services.metrics.domain.health import Direction
from services.metrics.repository import kpis as repo
from shared.events import KrGraduatedV1


async def apply_graduation(
    session: AsyncSession, tenant: str, graduated: KrGraduatedV1, now: datetime
) -> bool:
    """Set the KPI's health bands from a graduated key result; false when the KPI is gone.
    Raises ValueError for a key result whose kind cannot be a guardrail."""
    kpi = await repo.get(session, tenant, graduated.kpi)
    if kpi is None:
        return False
    rail = guardrail_from_kr(
        graduated.kind,
        graduated.target,
        graduated.bound_low,
        graduated.bound_high,
        Direction(kpi.direction),
        kpi.amber,
    )
    kpi.direction, kpi.green, kpi.amber = str(rail.direction), rail.green, rail.amber
    kpi.updated_at = now
    session.add(kpi)
    await session.flush()
    return True
