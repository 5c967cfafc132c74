"""Which KPI values speak of now: alerts are about the present, history is not theirs."""

from __future__ import annotations

from datetime import datetime, timedelta

# How long after its end the newest period still counts as the present: a value published as
# its period closed and read a moment later is not history.
CLOSING_GRACE = timedelta(minutes=1)


def about_the_present(
    period_start: datetime, period_end: datetime, newest_start: datetime | None, now: datetime
) -> bool:
    """Whether a value of the KPI period [period_start, period_end) may move the KPI's alerts
    at `now`: the period holds now (or lies ahead), or it is the newest period the KPI has had
    (`newest_start`, None when none was seen) and ended less than `CLOSING_GRACE` ago.
    Anything else is history (a late measurement of an earlier period, a backfill, seeded
    history): it updates series and key results, not the alerts about now."""
    if period_end > now:
        return True
    is_newest = newest_start is None or period_start >= newest_start
    return is_newest and now - period_end < CLOSING_GRACE
