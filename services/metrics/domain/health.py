"""KPI aggregation and health: the value of a period from its rollup, and its band."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True, slots=True)
class RollupValues:
    """What a period's rollup holds: enough to answer every aggregation."""

    count: int
    total: float
    minimum: float
    maximum: float
    last: float


def aggregate(rollup: RollupValues, aggregation: Aggregation) -> float:
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
            return rollup.last
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
