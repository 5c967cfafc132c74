"""The pure rules of a KPI-linked key result: its value over the window, the streak of met
periods, the periods elapsed, staleness and graduation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.goals.domain import kpi_link as link
from services.goals.domain.progress import KeyResultSpec, KrKind, Status, status
from shared.periods import period_bounds

T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day(i: int, value: float, count: int = 1, revision: int = 0) -> link.PeriodValue:
    start = T0 + i * DAY
    return link.PeriodValue(start, start + DAY, value, count, start + DAY / 2, revision)


INCREASE = KeyResultSpec(kind=KrKind.INCREASE, start=0.0, target=10.0)
DECREASE = KeyResultSpec(kind=KrKind.DECREASE, start=10.0, target=5.0)
ABOVE = KeyResultSpec(kind=KrKind.KEEP_ABOVE, target=99.5)
BELOW = KeyResultSpec(kind=KrKind.KEEP_BELOW, target=3.0)
BETWEEN = KeyResultSpec(kind=KrKind.KEEP_BETWEEN, bound_low=1.0, bound_high=2.0)


class TestWindowValue:
    PERIODS = (day(0, 4.0, 2), day(2, 1.0, 3), day(1, 7.0, 5))

    @pytest.mark.parametrize(
        ("aggregation", "expected"),
        [
            ("last", 1.0),  # the latest period's, not the last received
            ("sum", 12.0),
            ("avg", 4.0),
            ("min", 1.0),
            ("max", 7.0),
            ("count", 10.0),
        ],
    )
    def test_aggregations(self, aggregation: str, expected: float) -> None:
        got = link.window_value(self.PERIODS, link.WindowAggregation(aggregation))
        assert got == pytest.approx(expected)

    def test_no_periods_no_value(self) -> None:
        assert link.window_value([], link.WindowAggregation.SUM) is None

    def test_only_periods_overlapping_the_window_count(self) -> None:
        periods = [day(i, 1.0) for i in range(10)]
        start, end = T0 + 2 * DAY + timedelta(hours=12), T0 + 5 * DAY
        chosen = link.in_window(periods, start, end)
        # day 2 overlaps (half of it is inside); day 5 starts at the window's end: outside
        assert [p.start for p in chosen] == [T0 + i * DAY for i in (2, 3, 4)]

    @pytest.mark.parametrize(
        ("aggregation", "expected"),
        [("last", 7.0), ("sum", 11.0), ("avg", 5.5), ("min", 4.0), ("max", 7.0), ("count", 7.0)],
    )
    def test_a_period_emptied_by_retractions_has_no_value(
        self, aggregation: str, expected: float
    ) -> None:
        """Day 2 stored with count 0 (every measurement retracted, value 0): the window is
        days 0 and 1 alone, so `last` is day 1's, `min` is not 0."""
        periods = [day(0, 4.0, 2), day(2, 0.0, count=0, revision=3), day(1, 7.0, 5)]
        chosen = link.in_window(periods, T0, T0 + 10 * DAY)
        assert [p.start for p in chosen] == [T0, T0 + DAY]
        got = link.window_value(chosen, link.WindowAggregation(aggregation))
        assert got == pytest.approx(expected)

    def test_a_window_of_emptied_periods_has_no_value(self) -> None:
        chosen = link.in_window([day(0, 0.0, count=0, revision=1)], T0, T0 + DAY)
        assert chosen == []
        assert link.window_value(chosen, link.WindowAggregation.LAST) is None

    def test_a_late_value_replacing_its_period_changes_the_window_value(self) -> None:
        """The store keeps one value per period; a correction replaces it, never adds."""
        stored = {p.start: p for p in (day(0, 4.0), day(1, 6.0))}
        corrected = day(0, 9.0)
        stored[corrected.start] = corrected
        assert link.window_value(list(stored.values()), link.WindowAggregation.SUM) == 15.0
        assert link.window_value(list(stored.values()), link.WindowAggregation.LAST) == 6.0


class TestPeriodsMet:
    NOW = T0 + 10 * DAY

    def met(self, kr: KeyResultSpec, values: list[float], agg: str = "last") -> int:
        periods = [day(i, v) for i, v in enumerate(values)]
        return link.periods_met(kr, periods, link.WindowAggregation(agg), self.NOW)

    def test_counts_the_most_recent_streak(self) -> None:
        assert self.met(INCREASE, [11, 12, 3, 10, 10.5, 15]) == 3

    def test_a_miss_in_the_latest_period_breaks_the_streak(self) -> None:
        assert self.met(INCREASE, [11, 12, 13, 9.99]) == 0

    def test_a_gap_breaks_the_streak(self) -> None:
        periods = [day(0, 11), day(1, 11), day(3, 11), day(4, 11)]
        got = link.periods_met(INCREASE, periods, link.WindowAggregation.LAST, self.NOW)
        assert got == 2

    def test_a_period_emptied_by_retractions_is_a_gap(self) -> None:
        """A DECREASE KR would take the emptied period's 0 for met: it has no data, no value."""
        stored = [day(0, 4.0), day(1, 4.0), day(2, 0.0, count=0, revision=1), day(3, 4.0)]
        periods = link.in_window(stored, T0, self.NOW)
        got = link.periods_met(DECREASE, periods, link.WindowAggregation.LAST, self.NOW)
        assert got == 1

    def test_the_running_period_does_not_count(self) -> None:
        periods = [day(0, 11), day(1, 11)]
        during_day_1 = T0 + DAY + timedelta(hours=3)
        got = link.periods_met(INCREASE, periods, link.WindowAggregation.LAST, during_day_1)
        assert got == 1

    def test_target_reached_exactly_counts(self) -> None:
        assert self.met(INCREASE, [10.0]) == 1
        assert self.met(DECREASE, [5.0, 4.0]) == 2
        assert self.met(DECREASE, [5.0, 5.01]) == 0

    @pytest.mark.parametrize(
        ("kr", "values", "expected"),
        [
            (ABOVE, [99.5, 99.9, 99.6], 3),  # inclusive bound
            (ABOVE, [99.9, 99.4, 99.6], 1),
            (BELOW, [3.0, 2.0], 2),
            (BELOW, [2.0, 3.1], 0),
            (BETWEEN, [1.0, 2.0, 1.5], 3),
            (BETWEEN, [1.5, 2.5, 1.5], 1),
        ],
    )
    def test_bound_kinds_hold_their_bound(
        self, kr: KeyResultSpec, values: list[float], expected: int
    ) -> None:
        assert self.met(kr, values) == expected

    def test_a_cumulative_kr_is_met_from_the_period_it_crosses_its_target(self) -> None:
        # sum: 4, 8, 12, 16 → met as of the 3rd and 4th periods
        assert self.met(INCREASE, [4, 4, 4, 4], agg="sum") == 2


class TestPeriodsElapsed:
    def test_completed_periods_of_the_window(self) -> None:
        start, end = T0, T0 + 90 * DAY
        now = T0 + 5 * DAY + timedelta(hours=1)
        assert link.periods_elapsed(start, end, link.KpiPeriod.DAY, now, "UTC") == 5
        # 2026-10-01 is a Thursday: the weeks of Sep 28, Oct 5 and Oct 12 are over on Oct 21
        assert link.periods_elapsed(start, end, link.KpiPeriod.WEEK, T0 + 20 * DAY, "UTC") == 3

    def test_a_period_straddling_the_window_start_counts(self) -> None:
        start = T0 + timedelta(hours=12)
        assert (
            link.periods_elapsed(start, start + 9 * DAY, link.KpiPeriod.DAY, T0 + 2 * DAY, "UTC")
            == 2
        )

    def test_months_and_quarters(self) -> None:
        now = datetime(2027, 2, 15, tzinfo=UTC)
        assert link.periods_elapsed(T0, now, link.KpiPeriod.MONTH, now, "UTC") == 4  # Oct-Jan
        assert link.periods_elapsed(T0, now, link.KpiPeriod.QUARTER, now, "UTC") == 1

    def test_days_of_the_tenants_zone(self) -> None:
        # Los Angeles, 8 to 10 March 2026 (the clocks sprang forward on the 8th): at 06:30Z on
        # the 10th it is still the 9th there, so only the 8th is over (in UTC, two days were).
        start = datetime(2026, 3, 8, 8, tzinfo=UTC)
        now = datetime(2026, 3, 10, 6, 30, tzinfo=UTC)
        window_end = start + 9 * DAY
        la = "America/Los_Angeles"
        assert link.periods_elapsed(start, window_end, link.KpiPeriod.DAY, now, la) == 1
        assert link.periods_elapsed(start, window_end, link.KpiPeriod.DAY, now, "UTC") == 2


class TestStale:
    def test_stale_after_the_cadence(self) -> None:
        last = T0
        assert not link.is_stale(last, DAY, T0 + DAY)
        assert link.is_stale(last, DAY, T0 + DAY + timedelta(seconds=1))

    def test_never_stale_without_data_or_cadence(self) -> None:
        assert not link.is_stale(None, DAY, T0 + 100 * DAY)
        assert not link.is_stale(T0, None, T0 + 100 * DAY)

    def test_stale_is_never_on_track(self) -> None:
        kr = KeyResultSpec(kind=KrKind.INCREASE, start=0.0, target=10.0, current=9.0)
        start, end, now = T0, T0 + 10 * DAY, T0 + 5 * DAY
        assert status(kr, start, end, now) is Status.ON_TRACK
        assert status(kr, start, end, now, stale=True) is Status.STALE
        held = KeyResultSpec(kind=KrKind.KEEP_ABOVE, target=1.0, current=2.0)
        assert status(held, start, end, now, stale=True) is Status.STALE


class TestGraduation:
    @pytest.mark.parametrize(
        "kind",
        [
            KrKind.INCREASE,
            KrKind.DECREASE,
            KrKind.KEEP_ABOVE,
            KrKind.KEEP_BELOW,
            KrKind.KEEP_BETWEEN,
        ],
    )
    def test_met_long_enough_graduates(self, kind: KrKind) -> None:
        assert link.graduates(kind, 3, 3)
        assert link.graduates(kind, 4, 3)
        assert not link.graduates(kind, 2, 3)

    def test_every_kind_but_milestone_can_graduate(self) -> None:
        assert set(KrKind) - link.GRADUATING_KINDS == {KrKind.MILESTONE}

    def test_a_milestone_never_graduates(self) -> None:
        assert not link.graduates(KrKind.MILESTONE, 10, 3)

    def test_direction_of_the_guardrail(self) -> None:
        assert link.graduation_direction(KrKind.INCREASE) == "higher"
        assert link.graduation_direction(KrKind.KEEP_BELOW) == "lower"
        assert link.graduation_direction(KrKind.KEEP_BETWEEN) is None

    def test_promoted_kind_follows_the_kpi_direction(self) -> None:
        assert link.default_kind("higher") is KrKind.INCREASE
        assert link.default_kind("lower") is KrKind.DECREASE


def elapsed_by_walking(
    start: datetime, end: datetime, period: link.KpiPeriod, now: datetime, tz: str
) -> int:
    """The definition, period after period: the reference for the arithmetic."""
    count = 0
    cursor = period_bounds(start, period, tz)[0]
    while cursor < end:
        following = period_bounds(cursor, period, tz)[1]
        if following > now:
            break
        if following > start:
            count += 1
        cursor = following
    return count


class TestPeriodsElapsedArithmetic:
    @given(
        start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)),
        length=st.timedeltas(min_value=timedelta(hours=1), max_value=timedelta(days=200)),
        now_offset=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=300)),
        period=st.sampled_from(list(link.KpiPeriod)),
        tz=st.sampled_from(["UTC", "Europe/Berlin", "America/Los_Angeles", "Australia/Lord_Howe"]),
    )
    def test_counts_what_walking_the_periods_counts(
        self,
        start: datetime,
        length: timedelta,
        now_offset: timedelta,
        period: link.KpiPeriod,
        tz: str,
    ) -> None:
        start = start.replace(tzinfo=UTC)
        end, now = start + length, start + now_offset
        assert link.periods_elapsed(start, end, period, now, tz) == elapsed_by_walking(
            start, end, period, now, tz
        )


class TestNewerAggregate:
    def test_more_measurements_then_a_later_last_one_are_newer(self) -> None:
        base = day(0, 10.0, count=3)
        later = link.PeriodValue(base.start, base.end, 9.0, 3, base.last_at + DAY / 8)
        assert link.newer_aggregate(base, day(0, 1.0, count=4))
        assert not link.newer_aggregate(base, day(0, 99.0, count=2))
        assert link.newer_aggregate(base, later)
        assert not link.newer_aggregate(later, base)

    def test_an_equal_aggregate_replaces(self) -> None:
        assert link.newer_aggregate(day(0, 10.0, count=3), day(0, 10.0, count=3))

    def test_a_correction_wins_though_it_lowers_the_count(self) -> None:
        """A retraction recomputes the period: fewer measurements, a higher revision."""
        before = day(0, 50.0, count=2)
        retracted = day(0, 10.0, count=1, revision=1)
        assert link.newer_aggregate(before, retracted)
        assert not link.newer_aggregate(retracted, before)  # the old one re-published

    def test_an_emptied_period_wins_and_an_older_value_of_it_loses(self) -> None:
        emptied = link.PeriodValue(T0, T0 + DAY, 0.0, 0, T0 - timedelta(microseconds=1), 2)
        assert link.newer_aggregate(day(0, 10.0, count=1, revision=1), emptied)
        assert not link.newer_aggregate(emptied, day(0, 10.0, count=1, revision=1))
        assert not link.newer_aggregate(emptied, day(0, 50.0, count=9))

    def test_the_revision_decides_before_the_last_observation(self) -> None:
        """A restatement may carry an earlier last observation: its revision still wins."""
        late = link.PeriodValue(T0, T0 + DAY, 5.0, 3, T0 + DAY - timedelta(seconds=1), 0)
        restated = link.PeriodValue(T0, T0 + DAY, 4.0, 3, T0 + timedelta(seconds=1), 1)
        assert link.newer_aggregate(late, restated)
        assert not link.newer_aggregate(restated, late)

    @given(
        st.lists(
            st.tuples(st.integers(0, 5), st.integers(0, 50), st.integers(0, 1000)),
            min_size=1,
            max_size=8,
        )
    )
    def test_any_arrival_order_converges_on_the_newest(
        self, stamps: list[tuple[int, int, int]]
    ) -> None:
        """Folding the aggregates in any order keeps the one with the largest stamp
        (revision, count, last_at): metrics' order of a period's values."""
        periods = [
            link.PeriodValue(T0, T0 + DAY, float(i), c, T0 + timedelta(seconds=s), r)
            for i, (r, c, s) in enumerate(stamps)
        ]
        newest = max(stamps)
        for order in (periods, list(reversed(periods))):
            held = order[0]
            for incoming in order[1:]:
                held = incoming if link.newer_aggregate(held, incoming) else held
            assert (held.revision, held.count, (held.last_at - T0).seconds) == newest


class TestGraduationPace:
    KR = KeyResultSpec(kind=KrKind.INCREASE, start=0.0, target=250.0)

    def test_a_sum_kr_spreads_its_target_over_the_window_days(self) -> None:
        pace = link.graduation_pace(
            self.KR, link.WindowAggregation.SUM, link.KpiPeriod.DAY, T0, T0 + 10 * DAY, "UTC"
        )
        assert (pace.periods, pace.target, pace.start) == (10, 25.0, 0.0)

    def test_count_spreads_and_bounds_spread_too(self) -> None:
        between = KeyResultSpec(kind=KrKind.KEEP_BETWEEN, bound_low=70.0, bound_high=140.0)
        pace = link.graduation_pace(
            between, link.WindowAggregation.COUNT, link.KpiPeriod.WEEK, T0, T0 + 70 * DAY, "UTC"
        )
        # 2026-10-01 is a Thursday: the 10 weeks of the window touch 11 ISO weeks.
        assert (pace.periods, pace.bound_low, pace.bound_high, pace.target) == (
            11,
            70 / 11,
            140 / 11,
            None,
        )

    @pytest.mark.parametrize("aggregation", ["last", "avg", "min", "max"])
    def test_per_period_aggregations_keep_their_numbers(self, aggregation: str) -> None:
        pace = link.graduation_pace(
            self.KR,
            link.WindowAggregation(aggregation),
            link.KpiPeriod.DAY,
            T0,
            T0 + 10 * DAY,
            "UTC",
        )
        assert (pace.periods, pace.target, pace.start) == (None, 250.0, 0.0)

    def test_periods_in_window(self) -> None:
        noon = T0 + DAY / 2
        assert link.periods_in_window(T0, T0 + 10 * DAY, link.KpiPeriod.DAY, "UTC") == 10
        assert link.periods_in_window(noon, noon + 10 * DAY, link.KpiPeriod.DAY, "UTC") == 11
        q4_start, q4_end = T0, datetime(2027, 1, 1, tzinfo=UTC)
        assert link.periods_in_window(q4_start, q4_end, link.KpiPeriod.MONTH, "UTC") == 3
        assert link.periods_in_window(q4_start, q4_end, link.KpiPeriod.QUARTER, "UTC") == 1
        assert link.periods_in_window(T0, T0, link.KpiPeriod.DAY, "UTC") == 1
        # Los Angeles: a 10-day window from UTC midnight touches 11 local days
        assert (
            link.periods_in_window(T0, T0 + 10 * DAY, link.KpiPeriod.DAY, "America/Los_Angeles")
            == 11
        )
