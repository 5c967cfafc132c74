"""Coalescing a batch of `kpi.values`: of one (tenant, KPI, period) only the newest aggregate
is stored (`kpi_link.newer_aggregate`, by (revision, count, last_at): an older one
re-published after it loses, a correction that lowers the count wins), and what
survives keeps the batch's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.goals.service.kpi_values import KpiValue, newest_aggregates, period_of
from shared.coalesce import newest
from shared.events import KpiValueV1

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 2, tzinfo=UTC)


def value(
    kpi: str,
    day: int,
    v: float,
    tenant: str = "acme",
    count: int = 1,
    last_at: timedelta = DAY / 2,
    revision: int = 0,
) -> KpiValue:
    start = T0 + day * DAY
    payload = KpiValueV1(
        kpi=kpi,
        period="day",
        period_start=start,
        period_end=start + DAY,
        aggregation="last",
        value=v,
        count=count,
        last_value=v,
        last_at=start + last_at,
        health="unknown" if count else "no_data",
        revision=revision,
    )
    return KpiValue(tenant, payload)


def seen(values: list[KpiValue]) -> list[tuple[str, str, int, float]]:
    return [
        (x.tenant, x.value.kpi, (x.value.period_start - T0) // DAY, x.value.value) for x in values
    ]


class TestNewest:
    def test_the_last_value_of_a_period_wins(self) -> None:
        batch = [value("nps", 0, 10.0), value("nps", 0, 20.0), value("nps", 0, 30.0)]
        assert seen(newest(batch, key=period_of)) == [("acme", "nps", 0, 30.0)]

    def test_other_periods_kpis_and_tenants_are_kept_apart_in_batch_order(self) -> None:
        batch = [
            value("nps", 0, 1.0),
            value("nps", 1, 2.0),
            value("mql", 0, 3.0),
            value("nps", 0, 4.0, tenant="globex"),
            value("nps", 0, 5.0),  # supersedes the first: takes its place at the end
        ]
        assert seen(newest(batch, key=period_of)) == [
            ("acme", "nps", 1, 2.0),
            ("acme", "mql", 0, 3.0),
            ("globex", "nps", 0, 4.0),
            ("acme", "nps", 0, 5.0),
        ]

    def test_nothing_in_nothing_out(self) -> None:
        assert newest([], key=period_of) == []


class TestNewestAggregates:
    def test_of_equal_aggregates_the_last_wins(self) -> None:
        batch = [value("nps", 0, 10.0), value("nps", 0, 20.0), value("nps", 0, 30.0)]
        assert seen(newest_aggregates(batch)) == [("acme", "nps", 0, 30.0)]

    def test_an_older_aggregate_after_a_newer_one_loses(self) -> None:
        hour = timedelta(hours=1)
        batch = [
            value("nps", 0, 30.0, count=3, last_at=15 * hour),
            value("nps", 1, 1.0),
            value("nps", 0, 20.0, count=2, last_at=16 * hour),  # fewer measurements
            value("nps", 0, 28.0, count=3, last_at=14 * hour),  # as many, an earlier last
        ]
        assert seen(newest_aggregates(batch)) == [("acme", "nps", 0, 30.0), ("acme", "nps", 1, 1.0)]

    def test_a_correction_wins_though_it_lowers_the_count(self) -> None:
        hour = timedelta(hours=1)
        batch = [
            value("nps", 0, 50.0, count=2, last_at=15 * hour),
            value("nps", 0, 10.0, count=1, last_at=12 * hour, revision=1),  # a retraction
            value("nps", 0, 0.0, count=0, last_at=-DAY, revision=2),  # the period emptied
            value("nps", 0, 50.0, count=2, last_at=15 * hour),  # the first, re-published
            value("nps", 0, 10.0, count=1, last_at=12 * hour, revision=1),  # and the second
        ]
        assert seen(newest_aggregates(batch)) == [("acme", "nps", 0, 0.0)]

    def test_a_newer_aggregate_takes_its_place_in_batch_order(self) -> None:
        batch = [value("nps", 0, 1.0), value("mql", 0, 2.0), value("nps", 0, 5.0, count=2)]
        assert seen(newest_aggregates(batch)) == [("acme", "mql", 0, 2.0), ("acme", "nps", 0, 5.0)]


class TestUnkeyed:
    def test_items_without_a_key_are_all_kept_in_place(self) -> None:
        batch = ["a1", "x", "a2", "y", "b1"]
        survivors = newest(batch, key=lambda s: None if len(s) == 1 else s[0])
        assert survivors == ["x", "a2", "y", "b1"]
