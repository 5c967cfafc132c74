"""Use cases of the metrics service: define KPIs, read their values, accept measurements over
HTTP. Never commits (the request boundary does)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics import repository
from services.metrics.domain.guardrails import guardrail_from_kr
from services.metrics.domain.health import (
    Aggregation,
    Bands,
    Direction,
    aggregate,
    current_health,
    trend,
)
from services.metrics.domain.periods import (
    Period,
    bucket_starts,
    nests_in,
    period_end,
    period_start,
    previous_start,
)
from services.metrics.domain.rollups import Aggregate, merge_all
from services.metrics.errors import (
    KpiConflict,
    KpiNotFound,
    KpiPeriodLocked,
    SeriesInvalid,
    UnknownKpis,
)
from services.metrics.schemas import (
    DashboardRead,
    DashboardTile,
    KpiCreate,
    KpiRead,
    KpiUpdate,
    KpiValueRead,
    MeasurementIn,
    SeriesPoint,
    SeriesRead,
    TrendRead,
    check_bands,
)
from services.metrics.tables import Kpi, Rollup
from shared.auth import Principal
from shared.errors import Unprocessable
from shared.events import MEASUREMENT_V1, CloudEvent, KrGraduatedV1, MeasurementV1, utcnow
from shared.producer import EventProducer

MAX_SERIES_POINTS = 1000
# Fields a PATCH may change but not clear (only cadence and the thresholds can be null).
NOT_NULLABLE = (
    "name", "unit", "description", "what", "why", "how", "owner",
    "aggregation", "period", "direction", "tags",
)  # fmt: skip


def kpi_read(kpi: Kpi) -> KpiRead:
    return KpiRead(
        key=kpi.key,
        name=kpi.name,
        unit=kpi.unit,
        description=kpi.description,
        what=kpi.what,
        why=kpi.why,
        how=kpi.how,
        owner=kpi.owner,
        cadence=None if kpi.cadence_s is None else timedelta(seconds=kpi.cadence_s),
        aggregation=Aggregation(kpi.aggregation),
        period=Period(kpi.period),
        direction=Direction(kpi.direction),
        green=kpi.green,
        amber=kpi.amber,
        tags=list(kpi.tags),
        created_at=kpi.created_at,
        updated_at=kpi.updated_at,
    )


async def get_kpi(session: AsyncSession, tenant: str, key: str) -> Kpi:
    kpi = await repository.get_kpi(session, tenant, key)
    if kpi is None:
        raise KpiNotFound(f"no KPI '{key}'")
    return kpi


async def create_kpi(session: AsyncSession, tenant: str, body: KpiCreate) -> Kpi:
    if await repository.get_kpi(session, tenant, body.key) is not None:
        raise KpiConflict(f"KPI '{body.key}' already exists")
    fields = body.model_dump(exclude={"cadence"})
    now = utcnow()
    kpi = Kpi(
        tenant=tenant,
        cadence_s=_seconds(body.cadence),
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(kpi)
    await session.flush()
    return kpi


def _seconds(cadence: timedelta | None) -> int | None:
    return None if cadence is None else max(1, round(cadence.total_seconds()))


async def update_kpi(session: AsyncSession, tenant: str, key: str, body: KpiUpdate) -> Kpi:
    """Change a definition. The period cannot change once data exists: its rollups are per
    period; delete and recreate the KPI instead."""
    kpi = await get_kpi(session, tenant, key)
    changes = body.model_dump(exclude_unset=True)
    for required in NOT_NULLABLE:
        if required in changes and changes[required] is None:
            raise Unprocessable(f"'{required}' cannot be null")
    period_changes = "period" in changes and changes["period"] != kpi.period
    if period_changes and await repository.has_measurements(session, tenant, key):
        raise KpiPeriodLocked("delete and recreate the KPI to change its period")
    if "cadence" in changes:
        cadence = changes.pop("cadence")
        if cadence is not None and cadence <= timedelta(0):
            raise Unprocessable("cadence must be positive")
        kpi.cadence_s = _seconds(cadence)
    for name, value in changes.items():
        setattr(kpi, name, str(value) if name in {"aggregation", "period", "direction"} else value)
    try:
        check_bands(kpi.green, kpi.amber, Direction(kpi.direction))
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    kpi.updated_at = utcnow()
    session.add(kpi)
    await session.flush()
    return kpi


async def delete_kpi(session: AsyncSession, tenant: str, key: str) -> None:
    await repository.delete_kpi(session, await get_kpi(session, tenant, key))


def _aggregate(rollup: Rollup) -> Aggregate:
    return Aggregate(
        rollup.count,
        rollup.total,
        rollup.minimum,
        rollup.maximum,
        rollup.last_value,
        rollup.last_at,
    )


def _value_read(
    kpi: Kpi, current: Rollup | None, previous: Rollup | None, now: datetime
) -> KpiValueRead:
    period, agg = Period(kpi.period), Aggregation(kpi.aggregation)
    direction = Direction(kpi.direction)
    cadence = None if kpi.cadence_s is None else timedelta(seconds=kpi.cadence_s)
    if current is None:
        return KpiValueRead(
            kpi=kpi.key,
            period=period,
            aggregation=agg,
            period_start=None,
            period_end=None,
            value=None,
            count=0,
            last_value=None,
            last_at=None,
            health=current_health(
                None, None, bands=Bands(), direction=direction, cadence=cadence, now=now
            ),
            trend=None,
        )
    value = aggregate(_aggregate(current), agg)
    before = None if previous is None else aggregate(_aggregate(previous), agg)
    moved = trend(value, before, direction)
    return KpiValueRead(
        kpi=kpi.key,
        period=period,
        aggregation=agg,
        period_start=current.period_start,
        period_end=period_end(current.period_start, period),
        value=value,
        count=current.count,
        last_value=current.last_value,
        last_at=current.last_at,
        health=current_health(
            value,
            current.last_at,
            bands=Bands(kpi.green, kpi.amber),
            direction=direction,
            cadence=cadence,
            now=now,
        ),
        trend=None
        if moved is None
        else TrendRead(
            previous=moved.previous,
            delta=moved.delta,
            delta_pct=moved.delta_pct,
            movement=moved.movement,
            improving=moved.improving,
        ),
    )


async def current_value(session: AsyncSession, kpi: Kpi, now: datetime) -> KpiValueRead:
    """The latest period with data (not after now's period) and the period before it."""
    period = Period(kpi.period)
    current = await repository.latest_rollup(
        session, kpi.tenant, kpi.key, before=period_end(period_start(now, period), period)
    )
    previous = None
    if current is not None:
        previous = await repository.rollup_at(
            session, kpi.tenant, kpi.key, previous_start(current.period_start, period)
        )
    return _value_read(kpi, current, previous, now)


def _series_points(
    kpi: Kpi, rollups: Sequence[Rollup], start: datetime, end: datetime, bucket: Period
) -> list[SeriesPoint]:
    agg = Aggregation(kpi.aggregation)
    grouped: dict[datetime, list[Aggregate]] = {}
    for rollup in rollups:
        grouped.setdefault(period_start(rollup.period_start, bucket), []).append(_aggregate(rollup))
    points = []
    for at in bucket_starts(start, end, bucket):
        merged = merge_all(grouped.get(at, []))
        points.append(
            SeriesPoint(
                start=at,
                end=period_end(at, bucket),
                value=None if merged is None else aggregate(merged, agg),
                count=0 if merged is None else merged.count,
            )
        )
    return points


async def series(
    session: AsyncSession, kpi: Kpi, start: datetime, end: datetime, bucket: Period | None
) -> SeriesRead:
    """The KPI's values for the buckets overlapping [start, end), empty buckets as null.

    A bucket is merged from the KPI's period rollups, so it must be at least as coarse as the
    period and contain whole periods (a weekly KPI has no monthly series: weeks straddle
    months)."""
    period = Period(kpi.period)
    bucket = bucket or period
    if end <= start:
        raise SeriesInvalid("'end' must be after 'start'")
    if not nests_in(period, bucket):
        raise SeriesInvalid(f"a {period} KPI has no {bucket} series: use a coarser bucket")
    starts = bucket_starts(start, end, bucket)
    if len(starts) > MAX_SERIES_POINTS:
        raise SeriesInvalid(f"at most {MAX_SERIES_POINTS} buckets per series")
    first, stop = starts[0], period_end(starts[-1], bucket)
    rollups = await repository.rollups_between(session, kpi.tenant, [kpi.key], first, stop)
    return SeriesRead(
        kpi=kpi.key,
        bucket=bucket,
        aggregation=Aggregation(kpi.aggregation),
        points=_series_points(kpi, rollups, start, end, bucket),
    )


async def dashboard(
    session: AsyncSession, tenant: str, now: datetime, points: int
) -> DashboardRead:
    """Every KPI of the tenant with its current value, health, trend and the sparkline of its
    last `points` periods (ending with now's): what a dashboard draws in one call."""
    kpis = await repository.list_kpis(session, tenant)
    tiles = []
    for kpi in kpis:
        period = Period(kpi.period)
        end = period_end(period_start(now, period), period)
        start = end
        for _ in range(points):
            start = previous_start(start, period)
        rollups = await repository.rollups_between(session, tenant, [kpi.key], start, end)
        by_start = {r.period_start: r for r in rollups}
        current = rollups[-1] if rollups else None
        if current is None:
            value = await current_value(session, kpi, now)
        else:
            previous = by_start.get(previous_start(current.period_start, period))
            value = _value_read(kpi, current, previous, now)
        tiles.append(
            DashboardTile(
                kpi=kpi_read(kpi),
                current=value,
                sparkline=_series_points(kpi, rollups, start, end, period),
            )
        )
    return DashboardRead(generated_at=now, tiles=tiles)


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
    keys = {m.kpi for m in items}
    known = await repository.existing_kpi_keys(session, caller.tenant, keys)
    unknown = sorted(keys - known)
    if unknown:
        raise UnknownKpis(f"unknown KPI(s): {', '.join(unknown)}")
    events = [
        CloudEvent(
            specversion="1.0",
            id=m.id or str(uuid.uuid4()),
            source=m.source or f"http/{caller.key_id}",
            type=MEASUREMENT_V1,
            time=m.time,
            subject=m.kpi,
            tenant=caller.tenant,
            data=MeasurementV1(value=m.value, dimensions=m.dimensions).model_dump(mode="json"),
        )
        for m in items
    ]
    await producer.send_all(topic, [(e.key, e.to_json()) for e in events], timeout_s=ack_timeout_s)
    return events


async def apply_graduation(session: AsyncSession, tenant: str, graduated: KrGraduatedV1) -> bool:
    """Set the KPI's health bands from a graduated key result; false when the KPI is gone."""
    kpi = await repository.get_kpi(session, tenant, graduated.kpi)
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
    kpi.updated_at = utcnow()
    session.add(kpi)
    await session.flush()
    return True
