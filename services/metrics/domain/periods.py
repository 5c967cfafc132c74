"""KPI periods: which period an observation falls in, and where that period ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


def period_start(at: datetime, period: Period) -> datetime:
    """The UTC start of the period containing `at` (weeks start on Monday, ISO 8601)."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTH:
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def period_end(start: datetime, period: Period) -> datetime:
    """The exclusive end of the period that begins at `start`."""
    if period is Period.DAY:
        return start + timedelta(days=1)
    if period is Period.WEEK:
        return start + timedelta(days=7)
    months = 1 if period is Period.MONTH else 3
    month_index = start.month - 1 + months
    return start.replace(year=start.year + month_index // 12, month=month_index % 12 + 1)


_ORDER = {Period.DAY: 0, Period.WEEK: 1, Period.MONTH: 2, Period.QUARTER: 3}


def nests_in(period: Period, bucket: Period) -> bool:
    """Whether every `period` lies wholly inside one `bucket` (weeks only nest in weeks)."""
    if period is bucket or period is Period.DAY:
        return True
    if period is Period.WEEK:
        return False
    return bucket is not Period.WEEK and _ORDER[bucket] >= _ORDER[period]


def previous_start(start: datetime, period: Period) -> datetime:
    """The start of the period before the one that begins at `start`."""
    return period_start(start - timedelta(microseconds=1), period)


# The longest each period can be: a span longer than `n` of them holds more than `n` buckets.
LONGEST = {
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(days=7),
    Period.MONTH: timedelta(days=31),
    Period.QUARTER: timedelta(days=92),
}


def more_buckets_than(start: datetime, end: datetime, bucket: Period, limit: int) -> bool:
    """Whether [start, end) overlaps more than `limit` buckets, decided by arithmetic alone
    when the span is that long (so 0001..9999 by day costs a division, not 3.6 million
    datetimes) and by counting at most about `limit` buckets otherwise."""
    if end - start > LONGEST[bucket] * limit:
        return True
    count, at = 0, period_start(start, bucket)
    while at < end:
        count += 1
        if count > limit:
            return True
        at = period_end(at, bucket)
    return False


def bucket_starts(start: datetime, end: datetime, bucket: Period) -> list[datetime]:
    """The starts of the buckets that overlap [start, end), in order."""
    starts: list[datetime] = []
    at = period_start(start, bucket)
    while at < end:
        starts.append(at)
        at = period_end(at, bucket)
    return starts
