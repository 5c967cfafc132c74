"""Rollup maths: a period's aggregate from points, the merge of two aggregates, and the
rule for the "last" value. Pure: the same rules the SQL of the ingest path implements.

The last value is the one with the latest observation time; between observations at the same
instant the larger value wins. With that tie-break an aggregate depends only on the set of
points, never on the order they arrived in, so late and redelivered events change nothing
they should not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Aggregate:
    """What a rollup holds: enough to answer every aggregation, and to merge."""

    count: int
    total: float
    minimum: float
    maximum: float
    last_value: float
    last_at: datetime


def of_points(points: Iterable[Point]) -> Aggregate | None:
    """The aggregate of `points` computed from scratch (None when there are none)."""
    result: Aggregate | None = None
    for p in points:
        one = Aggregate(1, p.value, p.value, p.value, p.value, p.at)
        result = one if result is None else merge(result, one)
    return result


def merge(a: Aggregate, b: Aggregate) -> Aggregate:
    """The aggregate of the union of two disjoint sets of points."""
    later = (b.last_at, b.last_value) > (a.last_at, a.last_value)
    return Aggregate(
        count=a.count + b.count,
        total=a.total + b.total,
        minimum=min(a.minimum, b.minimum),
        maximum=max(a.maximum, b.maximum),
        last_value=b.last_value if later else a.last_value,
        last_at=b.last_at if later else a.last_at,
    )


def merge_all(aggregates: Iterable[Aggregate]) -> Aggregate | None:
    result: Aggregate | None = None
    for agg in aggregates:
        result = agg if result is None else merge(result, agg)
    return result
