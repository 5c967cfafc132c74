"""Key results linked to a KPI (DESIGN.md "KPI ↔ OKR"): the KR's value over its window, the
streak of met periods that leads to graduation, and staleness.

Pure: the caller passes the KPI periods it stored for the KR (one value per period, late and
corrected values already replacing their period) and `now`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from services.goals.domain.progress import (
    BOUND_KINDS,
    KeyResultSpec,
    KrKind,
    bound_holds,
)
from shared.periods import Period, period_index

KpiPeriod = Period
"""A KPI's period, as metrics rolls it up (`shared.periods`: in the tenant's timezone)."""


class WindowAggregation(StrEnum):
    """How a linked KR folds the KPI's period values over its window."""

    LAST = "last"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"


GRADUATING_KINDS = frozenset({KrKind.INCREASE, KrKind.DECREASE, *BOUND_KINDS})
"""Kinds that can graduate into a KPI guardrail (a milestone cannot even be linked)."""

NOMINAL_LENGTH = {
    KpiPeriod.DAY: timedelta(days=1, hours=1),
    KpiPeriod.WEEK: timedelta(days=7, hours=1),
    KpiPeriod.MONTH: timedelta(days=31, hours=1),
    KpiPeriod.QUARTER: timedelta(days=92, hours=1),
}
"""The longest a period lasts (periods follow the tenant's timezone: the day the clocks go
back has 25 hours): the staleness window of a KPI that declares no cadence."""


@dataclass(frozen=True, slots=True)
class PeriodValue:
    """One KPI period as the KR saw it: [start, end), its aggregate under the KPI's own
    aggregation, how many measurements made it, when the last one was observed, and how many
    times metrics recomputed it (corrections: `revision`). Count 0: every measurement of the
    period was retracted; the period has no data (see `in_window`)."""

    start: datetime
    end: datetime
    value: float
    count: int
    last_at: datetime
    revision: int = 0


class Aggregate(Protocol):
    """What tells two aggregates of one KPI period apart in time: a stored `PeriodValue`, an
    incoming `lodestar.kpi.value.v1` (or a period metrics answered for a backfill)."""

    @property
    def revision(self) -> int: ...

    @property
    def count(self) -> int: ...

    @property
    def last_at(self) -> datetime: ...


def newer_aggregate(stored: Aggregate, incoming: Aggregate) -> bool:
    """Whether `incoming` may replace `stored` (the same KPI period): unless it is older.

    Metrics orders the aggregates it publishes of one period by (revision, count, last_at):
    a correction (a restated or retracted measurement) recomputes the period and raises its
    revision, and may lower its count (a retraction) or its last observation time; between
    corrections the period only grows (a measurement is stored once, the last observation
    time only moves forward), so more measurements, then the later last observation, is the
    newer. An equal one replaces (a redelivery: the same state). An older aggregate
    re-published (a rebalance, a relay resending) loses, in whatever order the two arrive.
    The one place this rule lives: goals' consumer, its batch coalescing and the backfill of
    a newly linked KR all ask it."""
    return (incoming.revision, incoming.count, incoming.last_at) >= (
        stored.revision,
        stored.count,
        stored.last_at,
    )


def follows_kpi(kpi: str | None, state: str, kind: str) -> bool:
    """Whether a KR's value follows a KPI: linked to one, still open (not graduated), and not
    a milestone (a milestone cannot be linked: it is done or not)."""
    return kpi is not None and state == "open" and kind != KrKind.MILESTONE


def known_period(period: str) -> KpiPeriod | None:
    """The KPI's period when it is one a KR can count (`periods_elapsed`), else None."""
    return KpiPeriod(period) if period in set(KpiPeriod) else None


def quiet_limit_s(period: KpiPeriod | None, cadence: timedelta | None) -> int | None:
    """How long (whole seconds, at least 1) a linked KR's KPI may stay quiet before the KR is
    stale: the KPI's declared cadence, else its period's longest length; None when neither is
    known."""
    if cadence is None and period is not None:
        cadence = NOMINAL_LENGTH[period]
    return None if cadence is None else max(1, round(cadence.total_seconds()))


def overlaps(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> bool:
    """Whether the period [start, end) overlaps the KR's window [window_start, window_end):
    a KR counts every KPI period that shares any time with its window."""
    return start < window_end and end > window_start


def in_window(
    periods: Sequence[PeriodValue], window_start: datetime, window_end: datetime
) -> list[PeriodValue]:
    """The periods with data overlapping the window, oldest first. A period stored with count
    0 (all its measurements retracted) has no data any more: it is left out, as if never
    received (its value, 0, is no value), but stays stored, its revision ordering what comes
    next for it."""
    chosen = [
        p for p in periods if p.count > 0 and overlaps(p.start, p.end, window_start, window_end)
    ]
    return sorted(chosen, key=lambda p: p.start)


def emptied_window(
    periods: Sequence[PeriodValue], window_start: datetime, window_end: datetime
) -> bool:
    """Whether the KR stored periods of its window and every one was since emptied by
    retractions (count 0): its KPI has no data there any more, the KR no value (as before
    its first `kpi.value`), rather than the one the retracted measurements made."""
    inside = [p for p in periods if overlaps(p.start, p.end, window_start, window_end)]
    return bool(inside) and all(p.count == 0 for p in inside)


def window_value(periods: Sequence[PeriodValue], aggregation: WindowAggregation) -> float | None:
    """The KR's value from the periods of its window (None when there are none).

    `last`: the latest period's value; `sum`, `avg`, `min`, `max`: over the period values;
    `count`: the number of measurements behind them (the sum of the periods' counts).
    """
    if not periods:
        return None
    values = [p.value for p in periods]
    match aggregation:
        case WindowAggregation.LAST:
            return max(periods, key=lambda p: p.start).value
        case WindowAggregation.SUM:
            return math.fsum(values)
        case WindowAggregation.AVG:
            return math.fsum(values) / len(values)
        case WindowAggregation.MIN:
            return min(values)
        case WindowAggregation.MAX:
            return max(values)
        case WindowAggregation.COUNT:
            return float(sum(p.count for p in periods))


def meets(kr: KeyResultSpec, value: float) -> bool:
    """Whether `value` meets the KR: reaching the target in its direction (increase: ≥,
    decrease: ≤) or holding its bound (keep-above/below/between, inclusive)."""
    if kr.kind is KrKind.INCREASE:
        assert kr.target is not None
        return value >= kr.target
    if kr.kind is KrKind.DECREASE:
        assert kr.target is not None
        return value <= kr.target
    if kr.kind in BOUND_KINDS:
        held = bound_holds(
            KeyResultSpec(
                kind=kr.kind,
                target=kr.target,
                bound_low=kr.bound_low,
                bound_high=kr.bound_high,
                current=value,
            )
        )
        return bool(held)
    return False


def periods_met(
    kr: KeyResultSpec,
    periods: Sequence[PeriodValue],
    aggregation: WindowAggregation,
    now: datetime,
) -> int:
    """How many consecutive most recent completed periods met the KR.

    A period is completed once its end has passed (`end ≤ now`). Each completed period is
    judged by the KR's value as of that period (the window aggregation over the periods up to
    and including it; for `last` that is the period's own value), so a cumulative KR (`sum`)
    is met from the period it crossed its target on. The streak counts back from the latest
    completed period with data and stops at the first period not met, and at a gap (a
    period without data is not met). `periods` are the window's periods (see `in_window`).
    """
    ordered = sorted(periods, key=lambda p: p.start)
    completed = [i for i, p in enumerate(ordered) if p.end <= now]
    streak = 0
    following: PeriodValue | None = None
    for i in reversed(completed):
        period = ordered[i]
        if following is not None and period.end != following.start:
            break
        value = window_value(ordered[: i + 1], aggregation)
        if value is None or not meets(kr, value):
            break
        streak += 1
        following = period
    return streak


def periods_elapsed(
    window_start: datetime, window_end: datetime, period: KpiPeriod, now: datetime, tz: str
) -> int:
    """How many KPI periods (of the tenant's timezone `tz`) overlapping the window have
    completed by `now` (with data or not): the denominator a user reads `periods_met` against.

    Counted by the periods' numbers, not by walking them (this runs for every linked KR on
    every batch of `kpi.values`; walking a quarter day by day was a tenth of the goals
    service's batch): from the period holding `window_start`, those that began before the
    window ends, and of those, the ones ended by `now`."""
    first = period_index(window_start, period, tz)
    begun = period_index(window_end - timedelta(microseconds=1), period, tz) - first + 1
    ended = period_index(now, period, tz) - first
    return max(0, min(begun, ended))


def periods_in_window(
    window_start: datetime, window_end: datetime, period: KpiPeriod, tz: str
) -> int:
    """How many KPI periods (of the tenant's timezone `tz`) overlap the window
    [window_start, window_end), at least 1: the periods a cumulative KR's target is spread
    over when it graduates (a 10-day cycle of a daily KPI: 10; one starting mid-day: 11)."""
    if window_end <= window_start:
        return 1
    last = period_index(window_end - timedelta(microseconds=1), period, tz)
    return max(1, last - period_index(window_start, period, tz) + 1)


CUMULATIVE = frozenset({WindowAggregation.SUM, WindowAggregation.COUNT})
"""Window aggregations that add the periods up: a KR on them measures a total over its
window, so its guardrail is the pace per period that reaches the total."""


@dataclass(frozen=True, slots=True)
class Pace:
    """A graduated KR's numbers as a per-period guardrail: its target, bounds and start spread
    over the `periods` of its window (for a cumulative KR), or as they are (periods: None)."""

    periods: int | None
    target: float | None
    bound_low: float | None
    bound_high: float | None
    start: float | None


def graduation_pace(
    kr: KeyResultSpec,
    aggregation: WindowAggregation,
    period: KpiPeriod | None,
    window_start: datetime,
    window_end: datetime,
    tz: str,
) -> Pace:
    """What a graduating KR asks of each KPI period. A `sum` or `count` KR met its total at
    the pace total / periods-of-its-window, so a period at that pace is green; any other
    aggregation is judged per period already, and keeps its numbers."""
    if aggregation not in CUMULATIVE or period is None:
        return Pace(None, kr.target, kr.bound_low, kr.bound_high, kr.start)
    n = periods_in_window(window_start, window_end, period, tz)

    def spread(value: float | None) -> float | None:
        return None if value is None else value / n

    return Pace(n, spread(kr.target), spread(kr.bound_low), spread(kr.bound_high), spread(kr.start))


def is_stale(last_at: datetime | None, cadence: timedelta | None, now: datetime) -> bool:
    """A linked KR is stale when its KPI has had no data for longer than its cadence.

    `last_at`: when the KPI's last measurement was observed (None: never — not stale, the KR
    is simply not started); `cadence`: the KPI's declared cadence, else its period's length.
    """
    if last_at is None or cadence is None:
        return False
    return now - last_at > cadence


def graduates(kind: KrKind, met: int, needed: int) -> bool:
    """A linked KR graduates once `met` consecutive periods reached `needed` (≥ 1); only
    increase/decrease and keep-above/below/between KRs can."""
    return kind in GRADUATING_KINDS and needed >= 1 and met >= needed


def default_kind(direction: str) -> KrKind:
    """The kind of a KR promoted from a KPI: higher is better → increase, lower → decrease."""
    return KrKind.DECREASE if direction == "lower" else KrKind.INCREASE


def graduation_direction(kind: KrKind) -> str | None:
    """Which way is good for the guardrail a graduated KR becomes (None: between bounds)."""
    if kind in (KrKind.INCREASE, KrKind.KEEP_ABOVE):
        return "higher"
    if kind in (KrKind.DECREASE, KrKind.KEEP_BELOW):
        return "lower"
    return None
