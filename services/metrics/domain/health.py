"""KPI aggregation, health and trend: the value of a period from its rollup, its band, and
how it moved against the previous period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.metrics.domain.rollups import Aggregate


class Aggregation(StrEnum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    LAST = "last"
    COUNT = "count"


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class Health(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    NO_DATA = "no_data"
    UNKNOWN = "unknown"


class Movement(StrEnum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"


def aggregate(rollup: Aggregate, aggregation: Aggregation) -> float:
    """The period's value under `aggregation` (avg is total / count)."""
    match aggregation:
        case Aggregation.SUM:
            return rollup.total
        case Aggregation.AVG:
            return rollup.total / rollup.count if rollup.count else 0.0
        case Aggregation.MIN:
            return rollup.minimum
        case Aggregation.MAX:
            return rollup.maximum
        case Aggregation.LAST:
            return rollup.last_value
        case Aggregation.COUNT:
            return float(rollup.count)


@dataclass(frozen=True, slots=True)
class Bands:
    """Health thresholds. For higher-is-better KPIs: green at or above `green`, amber at or
    above `amber`, red below. For lower-is-better: green at or below `green`, amber at or
    below `amber`, red above. Bounds are inclusive. No thresholds → health `unknown`."""

    green: float | None = None
    amber: float | None = None


def health(value: float, bands: Bands, direction: Direction) -> Health:
    if bands.green is None:
        return Health.UNKNOWN

    def better(v: float, threshold: float) -> bool:
        return v >= threshold if direction is Direction.HIGHER else v <= threshold

    if better(value, bands.green):
        return Health.GREEN
    if bands.amber is not None and better(value, bands.amber):
        return Health.AMBER
    return Health.RED


def current_health(
    value: float | None,
    last_at: datetime | None,
    *,
    bands: Bands,
    direction: Direction,
    cadence: timedelta | None,
    now: datetime,
) -> Health:
    """Health of a KPI now: `no_data` when nothing ever arrived, or when the latest point is
    older than the KPI's cadence (the interval it promised to report in); else its band."""
    if value is None or last_at is None:
        return Health.NO_DATA
    if cadence is not None and now - last_at > cadence:
        return Health.NO_DATA
    return health(value, bands, direction)


@dataclass(frozen=True, slots=True)
class Trend:
    """The move from the previous period's value to the current one."""

    previous: float
    delta: float
    delta_pct: float | None
    movement: Movement
    improving: bool | None


def trend(current: float, previous: float | None, direction: Direction) -> Trend | None:
    """None without a previous value. `delta_pct` is relative to |previous| (None when the
    previous value is 0); `improving` is None when flat."""
    if previous is None:
        return None
    delta = current - previous
    pct = None if previous == 0 else 100.0 * delta / abs(previous)
    if delta == 0:
        return Trend(previous, 0.0, pct, Movement.FLAT, None)
    movement = Movement.UP if delta > 0 else Movement.DOWN
    improving = (delta > 0) == (direction is Direction.HIGHER)
    return Trend(previous, delta, pct, movement, improving)
