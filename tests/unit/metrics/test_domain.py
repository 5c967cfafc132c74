"""The metrics domain: health bands, no-data, trend, periods and bucket nesting, rollup merge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.metrics.domain.health import (
    Bands,
    Direction,
    Health,
    Movement,
    current_health,
    health,
    trend,
)
from services.metrics.domain.rollups import Point, merge, of_points
from shared.periods import Period, nests_in, period_start, previous_start

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


class TestHealth:
    @pytest.mark.parametrize(
        ("value", "direction", "expected"),
        [
            (10.0, Direction.HIGHER, Health.GREEN),
            (5.0, Direction.HIGHER, Health.AMBER),
            (4.9, Direction.HIGHER, Health.RED),
            (2.0, Direction.LOWER, Health.GREEN),
            (5.0, Direction.LOWER, Health.AMBER),
            (5.1, Direction.LOWER, Health.RED),
        ],
    )
    def test_bands_are_inclusive(
        self, value: float, direction: Direction, expected: Health
    ) -> None:
        bands = Bands(10.0, 5.0) if direction is Direction.HIGHER else Bands(2.0, 5.0)
        assert health(value, bands, direction) is expected

    def test_no_data_past_the_cadence(self) -> None:
        kw = {"bands": Bands(1.0), "direction": Direction.HIGHER, "now": NOW}
        fresh = current_health(5.0, NOW - timedelta(hours=1), cadence=timedelta(days=1), **kw)
        stale = current_health(5.0, NOW - timedelta(days=2), cadence=timedelta(days=1), **kw)
        assert (fresh, stale) == (Health.GREEN, Health.NO_DATA)
        assert current_health(None, None, cadence=None, **kw) is Health.NO_DATA


class TestTrend:
    def test_lower_is_better_improves_when_it_falls(self) -> None:
        moved = trend(8.0, 10.0, Direction.LOWER)
        assert moved is not None
        assert (moved.movement, moved.improving, moved.delta_pct) == (Movement.DOWN, True, -20.0)

    def test_no_previous_no_trend(self) -> None:
        assert trend(1.0, None, Direction.HIGHER) is None


class TestPeriods:
    def test_week_starts_on_monday_quarter_on_its_first_month(self) -> None:
        assert period_start(NOW, Period.WEEK, "UTC") == datetime(2026, 11, 23, tzinfo=UTC)
        assert period_start(NOW, Period.QUARTER, "UTC") == datetime(2026, 10, 1, tzinfo=UTC)
        assert previous_start(datetime(2026, 1, 1, tzinfo=UTC), Period.QUARTER, "UTC") == datetime(
            2025, 10, 1, tzinfo=UTC
        )

    def test_weeks_only_nest_in_weeks(self) -> None:
        assert nests_in(Period.DAY, Period.MONTH)
        assert nests_in(Period.MONTH, Period.QUARTER)
        assert not nests_in(Period.WEEK, Period.MONTH)
        assert not nests_in(Period.MONTH, Period.DAY)


points = st.lists(
    st.builds(
        Point,
        st.integers(0, 50).map(lambda m: NOW + timedelta(minutes=m)),
        st.floats(-1e3, 1e3, allow_nan=False),
    ),
    min_size=1,
    max_size=30,
)


@given(points, st.randoms())
def test_an_aggregate_does_not_depend_on_arrival_order(ps: list[Point], rnd: object) -> None:
    shuffled = list(ps)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = of_points(ps), of_points(shuffled)
    assert a is not None
    assert b is not None
    assert (a.count, a.minimum, a.maximum, a.last_value, a.last_at) == (
        b.count,
        b.minimum,
        b.maximum,
        b.last_value,
        b.last_at,
    )
    assert a.total == pytest.approx(b.total)


@given(points, points)
def test_merging_equals_aggregating_the_union(xs: list[Point], ys: list[Point]) -> None:
    left, right, union = of_points(xs), of_points(ys), of_points(xs + ys)
    assert left is not None
    assert right is not None
    assert union is not None
    merged = merge(left, right)
    assert (merged.count, merged.last_value, merged.last_at) == (
        union.count,
        union.last_value,
        union.last_at,
    )
