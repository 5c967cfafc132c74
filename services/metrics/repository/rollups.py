"""Queries on per-period rollups (the ingest hot path in `ingest/` maintains them).

A rollup with count 0 is a period whose every point was retracted (kept for its revision,
`tables.Rollup`): no query here returns it, unless asked for (a series shows its revision)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.metrics.tables import Rollup

rollups = Rollup.__table__  # type: ignore[attr-defined]


async def any_of_kpi(session: AsyncSession, tenant: str, kpi: str) -> bool:
    """Whether the KPI has data (every stored point is in a rollup), or had: a period emptied
    by retractions still counts (its points are stored, retracted, in that period)."""
    result = await session.execute(
        select(rollups.c.kpi).where(rollups.c.tenant == tenant, rollups.c.kpi == kpi).limit(1)
    )
    return result.first() is not None


async def latest(
    session: AsyncSession, tenant: str, kpi: str, *, before: datetime
) -> Rollup | None:
    """The rollup of the latest period starting before `before`."""
    result = await session.execute(
        select(Rollup)
        .where(
            col(Rollup.tenant) == tenant,
            col(Rollup.kpi) == kpi,
            col(Rollup.period_start) < before,
            col(Rollup.count) > 0,
        )
        .order_by(col(Rollup.period_start).desc())
        .limit(1)
    )
    return result.scalars().first()


async def at(session: AsyncSession, tenant: str, kpi: str, start: datetime) -> Rollup | None:
    rollup = await session.get(Rollup, (tenant, kpi, start))
    return rollup if rollup is not None and rollup.count > 0 else None


async def between(
    session: AsyncSession,
    tenant: str,
    kpis: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    emptied: bool = False,
) -> Sequence[Rollup]:
    """Rollups of the periods starting in [start, end), by KPI then time; with `emptied`,
    the emptied periods' too (for their revision)."""
    result = await session.execute(
        select(Rollup)
        .where(
            col(Rollup.tenant) == tenant,
            col(Rollup.kpi).in_(kpis),
            col(Rollup.period_start) >= start,
            col(Rollup.period_start) < end,
            *([] if emptied else [col(Rollup.count) > 0]),
        )
        .order_by(col(Rollup.kpi), col(Rollup.period_start))
    )
    return result.scalars().all()


async def delete_of_kpi(session: AsyncSession, tenant: str, kpi: str) -> None:
    await session.execute(delete(rollups).where(rollups.c.tenant == tenant, rollups.c.kpi == kpi))
