"""Table → Read mappers of the metrics service, in one place: a KPI's definition, its value
(with health and trend, as of `now`) and the points of its series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.metrics.domain.health import (
    Aggregation,
    Bands,
    Direction,
    aggregate,
    current_health,
    trend,
)
from services.metrics.domain.rollups import Aggregate, merge_all
from services.metrics.schemas import (
    GuardrailRead,
    KpiRead,
    KpiValueRead,
    SeriesPoint,
    TrendRead,
)
from services.metrics.tables import Kpi, Rollup
from shared.mapping import read_of
from shared.periods import Period, bucket_starts, period_end, period_start


def cadence_of(kpi: Kpi) -> timedelta | None:
    return None if kpi.cadence_s is None else timedelta(seconds=kpi.cadence_s)


def kpi_read(kpi: Kpi) -> KpiRead:
    return read_of(
        KpiRead,
        kpi,
        cadence=cadence_of(kpi),
        aggregation=Aggregation(kpi.aggregation),
        period=Period(kpi.period),
        direction=Direction(kpi.direction),
        tags=list(kpi.tags),
        guardrail=None if kpi.guardrail is None else GuardrailRead.model_validate(kpi.guardrail),
    )


def aggregate_of(rollup: Rollup) -> Aggregate:
    return Aggregate(
        rollup.count,
        rollup.total,
        rollup.minimum,
        rollup.maximum,
        rollup.last_value,
        rollup.last_at,
    )


def value_read(
    kpi: Kpi, current: Rollup | None, previous: Rollup | None, now: datetime, tz: str
) -> KpiValueRead:
    """The KPI's value in the `current` period's rollup, its health as of `now` and its trend
    against the `previous` period's (no rollup: no data); periods of the tenant's zone `tz`."""
    period, agg = Period(kpi.period), Aggregation(kpi.aggregation)
    direction = Direction(kpi.direction)
    cadence = cadence_of(kpi)
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
    value = aggregate(aggregate_of(current), agg)
    before = None if previous is None else aggregate(aggregate_of(previous), agg)
    moved = trend(value, before, direction)
    return KpiValueRead(
        kpi=kpi.key,
        period=period,
        aggregation=agg,
        period_start=current.period_start,
        period_end=period_end(current.period_start, period, tz),
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
        trend=None if moved is None else read_of(TrendRead, moved),
        revision=current.revision,
    )


def series_points(
    kpi: Kpi,
    rollups: Sequence[Rollup],
    start: datetime,
    end: datetime,
    bucket: Period,
    tz: str,
) -> list[SeriesPoint]:
    """One point per bucket overlapping [start, end), merged from the period rollups in it;
    a bucket without points is a null point. `rollups` may hold emptied periods (count 0:
    every point retracted): their neutral aggregates change no merge, only the revision."""
    agg = Aggregation(kpi.aggregation)
    grouped: dict[datetime, list[Aggregate]] = {}
    revisions: dict[datetime, int] = {}
    for rollup in rollups:
        at = period_start(rollup.period_start, bucket, tz)
        revisions[at] = revisions.get(at, 0) + rollup.revision
        if rollup.count:
            grouped.setdefault(at, []).append(aggregate_of(rollup))
    points = []
    for at in bucket_starts(start, end, bucket, tz):
        merged = merge_all(grouped.get(at, []))
        points.append(
            SeriesPoint(
                start=at,
                end=period_end(at, bucket, tz),
                value=None if merged is None else aggregate(merged, agg),
                count=0 if merged is None else merged.count,
                last_value=None if merged is None else merged.last_value,
                last_at=None if merged is None else merged.last_at,
                revision=revisions.get(at, 0),
            )
        )
    return points
