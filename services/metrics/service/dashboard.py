"""The dashboard: every KPI of a tenant with its value, health, trend and sparkline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.domain.periods import Period, period_end, period_start, previous_start
from services.metrics.mappers import kpi_read, series_points, value_read
from services.metrics.repository import kpis as kpi_repo
from services.metrics.repository import rollups as rollup_repo
from services.metrics.schemas import DashboardRead, DashboardTile
from services.metrics.service.values import value_of


async def dashboard(
    session: AsyncSession, tenant: str, now: datetime, points: int
) -> DashboardRead:
    """Every KPI of the tenant with its current value, health, trend and the sparkline of its
    last `points` periods (ending with now's): what a dashboard draws in one call."""
    kpis = await kpi_repo.of_tenant(session, tenant)
    tiles = []
    for kpi in kpis:
        period = Period(kpi.period)
        end = period_end(period_start(now, period), period)
        start = end
        for _ in range(points):
            start = previous_start(start, period)
        rollups = await rollup_repo.between(session, tenant, [kpi.key], start, end)
        by_start = {r.period_start: r for r in rollups}
        current = rollups[-1] if rollups else None
        if current is None:
            value = await value_of(session, kpi, now)
        else:
            previous = by_start.get(previous_start(current.period_start, period))
            value = value_read(kpi, current, previous, now)
        tiles.append(
            DashboardTile(
                kpi=kpi_read(kpi),
                current=value,
                sparkline=series_points(kpi, rollups, start, end, period),
            )
        )
    return DashboardRead(generated_at=now, tiles=tiles)
