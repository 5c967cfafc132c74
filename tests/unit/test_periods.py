"""The period arithmetic of `shared.periods` across timezones and clock changes.

The references are written here from the rules (DESIGN: a day runs from local midnight to
local midnight, weeks start on Monday, months and quarters on their first day, all in the
tenant's zone), stepping local calendar dates one day at a time and turning naive local
midnights into instants with `zoneinfo`; they call none of the module's helpers. The
properties also check the lengths against the zone's offsets: a period lasts its calendar
days minus however much the offset grew over it (a day in Europe/Berlin around a change is
23 or 25 hours).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.periods import (
    Period,
    UnknownTimezone,
    bucket_starts,
    is_timezone,
    period_bounds,
    period_index,
    previous_start,
    zone,
)

ZONES = sorted(available_timezones())
# Zones whose clocks change in unusual ways: half-hour DST (Lord_Howe), 45-minute offsets,
# changes at midnight (Havana, Santiago), a skipped calendar day (Apia, 2011-12-30), clocks
# going back over midnight (Goose_Bay, St_Johns before 2011), and the plain DST ones.
AWKWARD = [
    "Europe/Berlin",
    "America/Los_Angeles",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/Havana",
    "America/Santiago",
    "Pacific/Apia",
    "America/Goose_Bay",
    "America/St_Johns",
    "Asia/Beirut",
    "UTC",
]
zones = st.one_of(st.sampled_from(AWKWARD), st.sampled_from(ZONES))
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
periods = st.sampled_from(list(Period))
US = timedelta(microseconds=1)


def first_local_day(day: date, period: Period) -> date:
    """Step back one calendar day at a time to the period's first day."""
    while True:
        if period is Period.DAY:
            return day
        if period is Period.WEEK and day.isoweekday() == 1:
            return day
        if period is Period.MONTH and day.day == 1:
            return day
        if period is Period.QUARTER and day.day == 1 and day.month in (1, 4, 7, 10):
            return day
        day -= timedelta(days=1)


def next_first_day(first: date, period: Period) -> date:
    """Step forward one calendar day at a time to the next period's first day."""
    day = first + timedelta(days=1)
    while first_local_day(day, period) != day:
        day += timedelta(days=1)
    return day


def local_midnight(day: date, name: str) -> datetime:
    """The instant of the naive local midnight `day` 00:00 (the earlier reading when the
    clocks repeat it, the moment of the change when they skip it)."""
    naive = datetime(day.year, day.month, day.day)
    return naive.replace(tzinfo=ZoneInfo(name)).astimezone(UTC)


def reference(t: datetime, period: Period, name: str) -> tuple[datetime, datetime]:
    first = first_local_day(t.astimezone(ZoneInfo(name)).date(), period)
    start, end = local_midnight(first, name), local_midnight(next_first_day(first, period), name)
    if t >= end:  # the wall clock went back over midnight: the next period has begun
        start, end = (
            end,
            local_midnight(next_first_day(next_first_day(first, period), period), name),
        )
    return start, end


def offset(at: datetime, name: str) -> timedelta:
    got = at.astimezone(ZoneInfo(name)).utcoffset()
    assert got is not None
    return got


@settings(max_examples=400, deadline=None)
@given(t=instants, period=periods, name=zones)
def test_bounds_match_the_local_calendar(t: datetime, period: Period, name: str) -> None:
    start, end = period_bounds(t, period, name)
    assert (start, end) == reference(t, period, name)
    assert start <= t < end
    # Consecutive periods tile time: the next one starts where this one ends.
    assert period_bounds(end, period, name)[0] == end
    assert previous_start(start, period, name) < start
    assert period_bounds(start - US, period, name)[1] == start
    assert period_index(end, period, name) == period_index(t, period, name) + 1


@settings(max_examples=300, deadline=None)
@given(t=instants, period=periods, name=zones)
def test_a_period_lasts_its_days_less_the_offset_it_gained(
    t: datetime, period: Period, name: str
) -> None:
    """When both ends are real local midnights, the length is the calendar days between them
    less the change of offset: 23 h on a spring-forward day, 25 h on a fall-back one."""
    start, end = period_bounds(t, period, name)
    local_start, local_end = start.astimezone(ZoneInfo(name)), end.astimezone(ZoneInfo(name))
    if (local_start.hour, local_start.minute, local_end.hour, local_end.minute) == (0, 0, 0, 0):
        days = (local_end.date() - local_start.date()).days
        assert end - start == timedelta(days=days) - (offset(end, name) - offset(start, name))
        expected_days = {Period.DAY: [1], Period.WEEK: [7], Period.MONTH: [28, 29, 30, 31]}
        assert days in expected_days.get(period, [90, 91, 92])


@settings(max_examples=100, deadline=None)
@given(t=instants, span=st.integers(1, 60), bucket=periods, name=zones)
def test_buckets_are_the_periods_overlapping_a_range(
    t: datetime, span: int, bucket: Period, name: str
) -> None:
    end = t + timedelta(days=span)
    expected = []
    at, stop = reference(t, bucket, name)
    while at < end:
        expected.append(at)
        at, stop = stop, reference(stop, bucket, name)[1]
    assert bucket_starts(t, end, bucket, name) == expected


class TestExamples:
    """Boundaries a user of each zone would name (2026's changes)."""

    def test_a_berlin_day_is_23_hours_in_march_and_25_in_october(self) -> None:
        spring = period_bounds(datetime(2026, 3, 29, 12, tzinfo=UTC), Period.DAY, "Europe/Berlin")
        assert spring == (
            datetime(2026, 3, 28, 23, tzinfo=UTC),
            datetime(2026, 3, 29, 22, tzinfo=UTC),
        )
        autumn = period_bounds(datetime(2026, 10, 25, 12, tzinfo=UTC), Period.DAY, "Europe/Berlin")
        assert autumn[1] - autumn[0] == timedelta(hours=25)

    def test_los_angeles_evening_is_the_previous_utc_day(self) -> None:
        # 2026-03-10T06:30Z is 23:30 on Monday 9 March in Los Angeles (PDT since 8 March).
        at = datetime(2026, 3, 10, 6, 30, tzinfo=UTC)
        la = "America/Los_Angeles"
        assert period_bounds(at, Period.DAY, la) == (
            datetime(2026, 3, 9, 7, tzinfo=UTC),
            datetime(2026, 3, 10, 7, tzinfo=UTC),
        )
        # The week before began on Monday 2 March in PST: 167 hours long.
        assert previous_start(datetime(2026, 3, 9, 7, tzinfo=UTC), Period.WEEK, la) == datetime(
            2026, 3, 2, 8, tzinfo=UTC
        )
        assert period_bounds(at, Period.QUARTER, la) == (
            datetime(2026, 1, 1, 8, tzinfo=UTC),
            datetime(2026, 4, 1, 7, tzinfo=UTC),
        )

    def test_clocks_back_over_midnight_stay_in_the_day_begun(self) -> None:
        # Goose Bay, 1987-10-25: at 00:01 ADT the clocks went back to 23:01 AST on the 24th.
        at = datetime(1987, 10, 25, 3, 30, tzinfo=UTC)  # reads 23:30 on the 24th, again
        start, end = period_bounds(at, Period.DAY, "America/Goose_Bay")
        assert start == datetime(1987, 10, 25, 3, tzinfo=UTC)
        assert end - start == timedelta(hours=25)

    def test_utc_is_what_it_was(self) -> None:
        at = datetime(2026, 11, 24, 9, 59, tzinfo=UTC)
        assert period_bounds(at, Period.WEEK, "UTC") == (
            datetime(2026, 11, 23, tzinfo=UTC),
            datetime(2026, 11, 30, tzinfo=UTC),
        )

    @pytest.mark.parametrize(
        "name", ["", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "utc+2"]
    )
    def test_unknown_names_are_refused(self, name: str) -> None:
        assert not is_timezone(name)
        with pytest.raises(UnknownTimezone):
            zone(name)
