"""Every ORM query of the metrics service; the caller passes the session and owns the commit.

(The ingest hot path writes with raw SQL in `ingest/`; these queries read what it wrote.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.metrics.tables import Kpi, Measurement, Rollup

measurements = Measurement.__table__  # type: ignore[attr-defined]
rollups = Rollup.__table__  # type: ignore[attr-defined]


async def get_kpi(session: AsyncSession, tenant: str, key: str) -> Kpi | None:
    return await session.get(Kpi, (tenant, key))


async def list_kpis(
    session: AsyncSession, tenant: str, *, after: str | None = None, limit: int | None = None
) -> Sequence[Kpi]:
    stmt = select(Kpi).where(col(Kpi.tenant) == tenant).order_by(col(Kpi.key))
    if after is not None:
        stmt = stmt.where(col(Kpi.key) > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def existing_kpi_keys(session: AsyncSession, tenant: str, keys: set[str]) -> set[str]:
    result = await session.execute(
        select(col(Kpi.key)).where(col(Kpi.tenant) == tenant, col(Kpi.key).in_(keys))
    )
    return set(result.scalars())


async def has_measurements(session: AsyncSession, tenant: str, key: str) -> bool:
    result = await session.execute(
        select(rollups.c.kpi).where(rollups.c.tenant == tenant, rollups.c.kpi == key).limit(1)
    )
    return result.first() is not None


async def delete_kpi(session: AsyncSession, kpi: Kpi) -> None:
    """The definition, its points and its rollups."""
    for table in (measurements, rollups):
        await session.execute(
            delete(table).where(table.c.tenant == kpi.tenant, table.c.kpi == kpi.key)
        )
    await session.delete(kpi)


async def latest_rollup(
    session: AsyncSession, tenant: str, kpi: str, *, before: datetime
) -> Rollup | None:
    """The rollup of the latest period starting before `before`."""
    result = await session.execute(
        select(Rollup)
        .where(
            col(Rollup.tenant) == tenant,
            col(Rollup.kpi) == kpi,
            col(Rollup.period_start) < before,
        )
        .order_by(col(Rollup.period_start).desc())
        .limit(1)
    )
    return result.scalars().first()


async def rollup_at(session: AsyncSession, tenant: str, kpi: str, start: datetime) -> Rollup | None:
    return await session.get(Rollup, (tenant, kpi, start))


async def rollups_between(
    session: AsyncSession, tenant: str, kpis: Sequence[str], start: datetime, end: datetime
) -> Sequence[Rollup]:
    """Rollups of the periods starting in [start, end), by KPI then time."""
    result = await session.execute(
        select(Rollup)
        .where(
            col(Rollup.tenant) == tenant,
            col(Rollup.kpi).in_(kpis),
            col(Rollup.period_start) >= start,
            col(Rollup.period_start) < end,
        )
        .order_by(col(Rollup.kpi), col(Rollup.period_start))
    )
    return result.scalars().all()


async def count_measurements(session: AsyncSession, tenant: str, kpi: str) -> int:
    result = await session.execute(
        select(func.count()).where(measurements.c.tenant == tenant, measurements.c.kpi == kpi)
    )
    return int(result.scalar_one())
