"""A KPI's values: the current one (with health and trend) and its series over time."""

from __future__ import annotations

from datetime import datetime

from services.metrics.domain.health import Aggregation
from services.metrics.errors import SeriesInvalid
from services.metrics.mappers import series_points, value_read
from services.metrics.repository import rollups as rollup_repo
from services.metrics.schemas import KpiValueRead, SeriesRead
from services.metrics.service.kpis import load
from services.metrics.tables import Kpi
from shared.db import AsyncSession
from shared.periods import (
    Period,
    bucket_starts,
    more_buckets_than,
    nests_in,
    period_bounds,
    period_end,
    previous_start,
)
from shared.tenants import timezone_of

MAX_SERIES_POINTS = 1000


async def value_of(session: AsyncSession, kpi: Kpi, now: datetime, tz: str) -> KpiValueRead:
    """The latest period with data (not after now's period) and the period before it, in the
    tenant's timezone `tz`."""
    period = Period(kpi.period)
    current = await rollup_repo.latest(
        session, kpi.tenant, kpi.key, before=period_bounds(now, period, tz)[1]
    )
    previous = None
    if current is not None:
        previous = await rollup_repo.at(
            session, kpi.tenant, kpi.key, previous_start(current.period_start, period, tz)
        )
    return value_read(kpi, current, previous, now, tz)


async def current_value(
    session: AsyncSession, tenant: str, key: str, now: datetime
) -> KpiValueRead:
    kpi = await load(session, tenant, key)
    return await value_of(session, kpi, now, await timezone_of(session, tenant))


async def series(
    session: AsyncSession,
    tenant: str,
    key: str,
    start: datetime,
    end: datetime,
    bucket: Period | None,
) -> SeriesRead:
    """The KPI's values for the buckets overlapping [start, end), empty buckets as null.

    A bucket is merged from the KPI's period rollups, so it must be at least as coarse as the
    period and contain whole periods (a weekly KPI has no monthly series: weeks straddle
    months). Buckets follow the tenant's timezone, as the periods do."""
    kpi = await load(session, tenant, key)
    tz = await timezone_of(session, tenant)
    period = Period(kpi.period)
    bucket = bucket or period
    if end <= start:
        raise SeriesInvalid("'end' must be after 'start'")
    if not nests_in(period, bucket):
        raise SeriesInvalid(f"a {period} KPI has no {bucket} series: use a coarser bucket")
    if more_buckets_than(start, end, bucket, MAX_SERIES_POINTS, tz):
        raise SeriesInvalid(f"at most {MAX_SERIES_POINTS} buckets per series")
    starts = bucket_starts(start, end, bucket, tz)
    first, stop = starts[0], period_end(starts[-1], bucket, tz)
    rollups = await rollup_repo.between(session, kpi.tenant, [kpi.key], first, stop, emptied=True)
    return SeriesRead(
        kpi=kpi.key,
        bucket=bucket,
        aggregation=Aggregation(kpi.aggregation),
        points=series_points(kpi, rollups, start, end, bucket, tz),
    )
