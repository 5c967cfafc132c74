"""KPI periods in a tenant's timezone: which day, week, month or quarter an instant falls in,
as UTC instants [start, end).

A period is a stretch of the tenant's local calendar: a day runs from local midnight to the
next (23 or 25 hours on the days the clocks change), a week from Monday's local midnight
(ISO 8601), a month and a quarter from the local midnight of their first day. Every service
(metrics' rollups and reads, goals' KR windows, the present period of alerts) does its period
arithmetic here, so the three agree on every boundary. Pure: `zoneinfo` and the calendar.

A local midnight the clocks skip (a zone that springs forward at 00:00) starts its day at the
first instant the day has, the moment of the change; the one a zone repeats, at the first of
the two; a zone whose clocks went back over midnight starts the next day at its first
midnight (the wall clock shows the previous date for a while: the instant still belongs to
the day that has begun).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "UTC"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


class UnknownTimezone(ValueError):
    """Not an IANA timezone name this machine's tz database knows."""


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The timezone named `name` (an IANA name such as `Europe/Berlin`)."""
    # ZoneInfo also takes paths relative to the tz database; a name is what a tenant gives.
    if not name or name.startswith(("/", ".")) or ".." in name or "\\" in name:
        raise UnknownTimezone(f"unknown timezone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise UnknownTimezone(f"unknown timezone {name!r}") from error


def is_timezone(name: str) -> bool:
    try:
        zone(name)
    except UnknownTimezone:
        return False
    return True


def _first_day(day: date, period: Period) -> date:
    """The first local date of the period that holds `day`."""
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _following_day(first: date, period: Period) -> date:
    """The first local date of the period after the one that starts on `first`."""
    if period is Period.DAY:
        return first + timedelta(days=1)
    if period is Period.WEEK:
        return first + timedelta(days=7)
    index = first.month - 1 + (1 if period is Period.MONTH else 3)
    return date(first.year + index // 12, index % 12 + 1, 1)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # fold=0: a skipped midnight maps to the instant of the change, a repeated one to the first.
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


@functools.lru_cache(maxsize=8192)
def _period_of(t: datetime, period: Period, tz: ZoneInfo) -> tuple[date, datetime, datetime]:
    """(first local date, UTC start, UTC end) of the period holding `t`.

    Remembered: goals asks it for the same instants on every batch (each linked KR's window
    start and end, each value's period start), ~4 µs each through the zone's rules. Equal
    instants in different zones are one key, and have one answer."""
    first = _first_day(t.astimezone(tz).date(), period)
    start, end = _midnight(first, tz), _midnight(_following_day(first, period), tz)
    if t >= end:
        # The clocks went back over midnight (America/Goose_Bay, 00:01 -> 23:01, until 2010):
        # the local date steps back for a while, but the next period began at its midnight.
        first = _following_day(first, period)
        start, end = end, _midnight(_following_day(first, period), tz)
    return first, start, end


def period_bounds(t: datetime, period: Period, tz: str) -> tuple[datetime, datetime]:
    """The period of the tenant's timezone `tz` holding the instant `t` (aware), as UTC
    instants [start, end)."""
    _, start, end = _period_of(t, period, zone(tz))
    return start, end


def period_start(t: datetime, period: Period, tz: str) -> datetime:
    """The UTC start of the period holding `t`."""
    return period_bounds(t, period, tz)[0]


def period_end(start: datetime, period: Period, tz: str) -> datetime:
    """The exclusive UTC end of the period holding `start` (usually its start)."""
    return period_bounds(start, period, tz)[1]


def previous_start(start: datetime, period: Period, tz: str) -> datetime:
    """The start of the period before the one that begins at `start`."""
    return period_start(start - timedelta(microseconds=1), period, tz)


def period_index(t: datetime, period: Period, tz: str) -> int:
    """A number for the period holding `t` that grows by one from each period to the next
    (for counting periods without walking them)."""
    first, _, _ = _period_of(t, period, zone(tz))
    if period is Period.DAY:
        return first.toordinal()
    if period is Period.WEEK:
        return (first.toordinal() - 1) // 7  # ordinal 1, 0001-01-01, is a Monday
    if period is Period.MONTH:
        return first.year * 12 + first.month - 1
    return first.year * 4 + (first.month - 1) // 3


# The longest each period can be (a local day of 25 hours; a quarter of 92 days and a clock
# change): a span longer than `n` of them overlaps more than `n` periods.
LONGEST = {
    Period.DAY: timedelta(hours=25),
    Period.WEEK: timedelta(days=7, hours=1),
    Period.MONTH: timedelta(days=31, hours=1),
    Period.QUARTER: timedelta(days=92, hours=1),
}


def more_buckets_than(start: datetime, end: datetime, bucket: Period, limit: int, tz: str) -> bool:
    """Whether [start, end) overlaps more than `limit` buckets, by arithmetic alone (so
    0001..9999 by day costs a comparison, not 3.6 million datetimes): too long a span is
    refused outright, a shorter one counted by the periods' numbers."""
    if end <= start:
        return False
    if end - start > LONGEST[bucket] * limit:
        return True
    last = period_index(end - timedelta(microseconds=1), bucket, tz)
    return last - period_index(start, bucket, tz) + 1 > limit


def bucket_starts(start: datetime, end: datetime, bucket: Period, tz: str) -> list[datetime]:
    """The starts of the buckets that overlap [start, end), in order."""
    starts: list[datetime] = []
    at, following = period_bounds(start, bucket, tz)
    while at < end:
        starts.append(at)
        at, following = following, period_end(following, bucket, tz)
    return starts


_ORDER = {Period.DAY: 0, Period.WEEK: 1, Period.MONTH: 2, Period.QUARTER: 3}


def nests_in(period: Period, bucket: Period) -> bool:
    """Whether every `period` lies wholly inside one `bucket` (weeks only nest in weeks); in
    any one timezone, as both follow the same local calendar."""
    if period is bucket or period is Period.DAY:
        return True
    if period is Period.WEEK:
        return False
    return bucket is not Period.WEEK and _ORDER[bucket] >= _ORDER[period]
