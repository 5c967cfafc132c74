"""The dashboard: every KPI of a tenant with its value, health, trend and sparkline."""

from __future__ import annotations

from datetime import datetime

from services.metrics.mappers import kpi_read, series_points, value_read
from services.metrics.repository import kpis as kpi_repo
from services.metrics.repository import rollups as rollup_repo
from services.metrics.schemas import DashboardRead, DashboardTile
from services.metrics.service.values import value_of
from shared.db import AsyncSession
from shared.periods import Period, period_bounds, previous_start
from shared.tenants import timezone_of


async def dashboard(
    session: AsyncSession, tenant: str, now: datetime, points: int
) -> DashboardRead:
    """Every KPI of the tenant with its current value, health, trend and the sparkline of its
    last `points` periods (ending with now's): what a dashboard draws in one call."""
    kpis = await kpi_repo.of_tenant(session, tenant)
    tz = await timezone_of(session, tenant)
    tiles = []
    for kpi in kpis:
        period = Period(kpi.period)
        end = period_bounds(now, period, tz)[1]
        start = end
        for _ in range(points):
            start = previous_start(start, period, tz)
        rollups = await rollup_repo.between(session, tenant, [kpi.key], start, end)
        by_start = {r.period_start: r for r in rollups}
        current = rollups[-1] if rollups else None
        if current is None:
            value = await value_of(session, kpi, now, tz)
        else:
            previous = by_start.get(previous_start(current.period_start, period, tz))
            value = value_read(kpi, current, previous, now, tz)
        tiles.append(
            DashboardTile(
                kpi=kpi_read(kpi),
                current=value,
                sparkline=series_points(kpi, rollups, start, end, period, tz),
            )
        )
    return DashboardRead(generated_at=now, tiles=tiles)
