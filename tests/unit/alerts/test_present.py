"""Which KPI values are about now (the rest is history)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.domain.present import CLOSING_GRACE, about_the_present

DAY = timedelta(days=1)
TODAY = datetime(2026, 12, 1, tzinfo=UTC)
NOON = TODAY + timedelta(hours=12)


def test_the_period_holding_now_is_the_present_whatever_came_before() -> None:
    assert about_the_present(TODAY, TODAY + DAY, None, NOON)
    assert about_the_present(TODAY, TODAY + DAY, TODAY + DAY, NOON)


def test_an_earlier_period_is_history() -> None:
    assert not about_the_present(TODAY - DAY, TODAY, TODAY, NOON)  # late, today exists
    assert not about_the_present(TODAY - DAY, TODAY, None, NOON)  # seeded, nothing newer


def test_the_newest_period_just_closed_is_still_the_present() -> None:
    just_after = TODAY + CLOSING_GRACE / 2
    assert about_the_present(TODAY - DAY, TODAY, TODAY - DAY, just_after)
    assert not about_the_present(TODAY - DAY, TODAY, TODAY, just_after)
    assert not about_the_present(TODAY - DAY, TODAY, TODAY - DAY, TODAY + CLOSING_GRACE)
