"""The KPI <-> OKR loop as a user expects it (issue 14), through the REST APIs and the real
broker, goals and metrics in-process, on SQLite and PostgreSQL:

- a cumulative KR (the README's "250 MQLs", `sum` over a daily KPI) graduates into a guardrail
  on the pace it needed per day, records what it changed, and can be removed;
- linking a KR to a KPI (create, PATCH, promote) backfills it from the KPI's stored periods;
- an older aggregate of a period re-published after a newer one does not replace it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.goals.metrics_client import KpiPeriodRead
from services.goals.service import backfill, kpi_values
from services.goals.service.kpi_values import KpiValue
from services.goals.settings import GoalsSettings
from shared.events import KpiValueV1
from tests.integration.goals.conftest import Loop, iso, kpi_value_event, now, today
from tests.integration.goals.test_kpi_loop import events_of, kpi_check_ins
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

DAY = timedelta(days=1)
NOON = timedelta(hours=12)


async def cycle_between(loop: Loop, starts: datetime, ends: datetime) -> dict[str, Any]:
    body = {"name": f"cycle-{starts.date()}", "starts_at": iso(starts), "ends_at": iso(ends)}
    cycle = await loop.ok(await loop.client.post("/v1/cycles", json=body), 201)
    return dict(await loop.ok(await loop.client.post(f"/v1/cycles/{cycle['id']}/activate")))


async def measure(loop: Loop, kpi: str, *points: tuple[datetime, float]) -> None:
    body = [{"kpi": kpi, "value": v, "time": iso(at)} for at, v in points]
    sent = await loop.metrics.post("/v1/measurements", json=body)
    assert sent.status_code == 202, sent.text


async def stored_in_metrics(loop: Loop, kpi: str, start: datetime, count: int) -> None:
    """Wait until metrics' series of `kpi` from `start` holds `count` measurements."""

    async def stored() -> bool:
        got = await loop.metrics.get(f"/v1/kpis/{kpi}/series", params={"start": iso(start)})
        assert got.status_code == 200, got.text
        return sum(p["count"] for p in got.json()["points"]) == count

    await wait_until(stored, what=f"metrics to store {count} measurements of {kpi}")


async def current_value(loop: Loop, kpi: str) -> dict[str, Any]:
    got = await loop.metrics.get(f"/v1/kpis/{kpi}/value")
    assert got.status_code == 200, got.text
    return dict(got.json())


class TestCumulativeGraduation:
    async def test_250_mqls_graduate_into_the_daily_pace(self, loop_db: Loop) -> None:
        loop = loop_db
        # The KPI had bands of its own: 40 a day is green, 30 amber (higher is better).
        await loop.kpi("mql", period="day", aggregation="sum", green=40.0, amber=30.0)
        starts, ends = today() - 7 * DAY, today() + 3 * DAY
        cycle = await cycle_between(loop, starts, ends)
        objective = await loop.objective(cycle["id"], title="Fill the funnel")
        # The README's example, as it stands there (the default 3 met periods graduate it).
        kr = await loop.kr(
            objective["id"],
            title="250 MQLs",
            kind="increase",
            start=0,
            target=250,
            kpi="mql",
            kpi_aggregation="sum",
        )
        days = (ends - starts) // DAY  # the cycle's daily periods, counted here: 10
        pace = 250 / days
        assert (days, pace) == (10, 25.0)

        okr_topic = loop.topics.name(loop.topics.okr_events)
        async with TopicReader(loop.bootstrap, okr_topic) as okr:
            # 100, then 160 (260 ≥ 250: met), then 10 and 10: three completed days met.
            await measure(
                loop,
                "mql",
                (today() - 4 * DAY + NOON, 100.0),
                (today() - 3 * DAY + NOON, 160.0),
                (today() - 2 * DAY + NOON, 10.0),
                (today() - DAY + NOON, 10.0),
            )

            async def graduated() -> Any:
                got = await loop.get(f"/v1/key-results/{kr['id']}")
                return got if got["state"] == "graduated" else None

            await wait_until(graduated, what="the KR to graduate")
            records = await okr.wait_for(
                lambda rs: bool(events_of(rs, "lodestar.kr.graduated.v1", kr["id"])),
                what="lodestar.kr.graduated.v1",
            )

        async def guarded() -> Any:
            got = (await loop.metrics.get("/v1/kpis/mql")).json()
            return got if got["green"] != 40.0 else None

        kpi = await wait_until(guarded, what="metrics to make mql a guardrail")
        assert (kpi["direction"], kpi["green"]) == ("higher", pytest.approx(pace))

        # Today, one short of the pace: red; at the pace: green.
        await measure(loop, "mql", (today() + timedelta(minutes=1), pace - 1))

        async def today_is(total: float) -> Any:
            got = await current_value(loop, "mql")
            fresh = datetime.fromisoformat(got["period_start"]) == today()
            return got if fresh and got["value"] == total else None

        below = await wait_until(lambda: today_is(pace - 1), what="today's first MQLs")
        assert below["health"] == "red"
        await measure(loop, "mql", (today() + timedelta(minutes=2), 1.0))
        at_pace = await wait_until(lambda: today_is(pace), what="today at the pace")
        assert at_pace["health"] == "green"

        [event] = events_of(records, "lodestar.kr.graduated.v1", kr["id"])
        data = event["data"]
        assert (data["target"], data["aggregation"], data["window_periods"]) == (250, "sum", 10)
        assert data["period_target"] == pytest.approx(pace)
        assert data["period_start_value"] == 0.0
        assert data["direction"] == "higher"

        # 30 a day no longer lies beyond a green of 25: dropped, and said so.
        assert kpi["amber"] is None
        rail = kpi["guardrail"]
        assert rail["key_result_id"] == kr["id"]
        assert (rail["kind"], rail["aggregation"], rail["window_periods"]) == (
            "increase",
            "sum",
            10,
        )
        assert rail["previous"] == {"direction": "higher", "green": 40.0, "amber": 30.0}
        assert rail["applied"] == {"direction": "higher", "green": pace, "amber": None}

        # The guardrail is a KPI setting like any other: removing it restores the bands.
        removed = await loop.metrics.delete("/v1/kpis/mql/guardrail")
        assert removed.status_code == 200, removed.text
        restored = removed.json()
        assert (restored["direction"], restored["green"], restored["amber"]) == (
            "higher",
            40.0,
            30.0,
        )
        assert restored["guardrail"] is None
        assert (await current_value(loop, "mql"))["health"] == "red"  # 25 < amber 30
        again = await loop.metrics.delete("/v1/kpis/mql/guardrail")
        assert again.status_code == 404
        assert again.json()["type"].endswith("/guardrail-not-found")


class TestLinkingBackfills:
    async def test_create_patch_and_promote_backfill_from_stored_periods(
        self, loop_db: Loop
    ) -> None:
        loop = loop_db
        await loop.kpi("signups", period="day", aggregation="sum")
        starts, ends = today() - 10 * DAY, today() + 20 * DAY
        # Before the cycle (not counted), then 10, 5 + 15 and 7 inside it: 37 from 4.
        await measure(
            loop,
            "signups",
            (starts - 5 * DAY + NOON, 1000.0),
            (today() - 5 * DAY + NOON, 10.0),
            (today() - 3 * DAY + NOON, 5.0),
            (today() - 3 * DAY + NOON + timedelta(hours=1), 15.0),
            (today() - DAY + NOON, 7.0),
        )
        await stored_in_metrics(loop, "signups", starts - 10 * DAY, 5)
        # A window longer than one series may draw (1,000 buckets) is read in slices.
        client = loop.app.app.state.metrics
        auth = loop.client.headers["Authorization"]
        long_ago = await client.periods("signups", ends - 2500 * DAY, ends, auth)
        assert [(p.value, p.count) for p in long_ago] == [(1000, 1), (10, 1), (20, 2), (7, 1)]
        cycle = await cycle_between(loop, starts, ends)
        objective = await loop.objective(cycle["id"])

        created = await loop.linked_kr(
            objective["id"], "signups", start=0.0, target=100.0, kpi_aggregation="sum"
        )
        assert created["current"] == 37.0
        assert created["raw_progress"] == pytest.approx(0.37)
        # Recorded in its history (a value consumed meanwhile may add one before it).
        entries = await kpi_check_ins(loop, created["id"])
        assert (entries[0]["value"], entries[0]["author"]) == (37.0, "kpi:signups")

        unlinked = await loop.kr(objective["id"], start=0.0, target=10.0)
        patched = await loop.ok(
            await loop.client.patch(
                f"/v1/key-results/{unlinked['id']}",
                json={"kpi": "signups", "kpi_aggregation": "count"},
            )
        )
        assert patched["current"] == 4.0

        promoted = await loop.ok(
            await loop.client.post(
                "/v1/key-results/promote",
                json={
                    "kpi": "signups",
                    "cycle_id": cycle["id"],
                    "objective_id": objective["id"],
                    "target": 100.0,
                    "kpi_aggregation": "sum",
                },
            ),
            201,
        )
        # Its start is the KPI's current value (yesterday's 7); its value, the window's sum.
        assert (promoted["start"], promoted["current"]) == (7.0, 37.0)

        # From then on each new aggregate replaces its period: nothing is counted twice.
        await measure(loop, "signups", (today() - DAY + NOON + timedelta(hours=2), 3.0))

        async def moved() -> Any:
            got = [await loop.get(f"/v1/key-results/{k['id']}") for k in (created, promoted)]
            return got if all(g["current"] == 40.0 for g in got) else None

        await wait_until(moved, what="the linked KRs to take the new aggregate")
        assert (await loop.get(f"/v1/key-results/{unlinked['id']}"))["current"] == 5.0


class TestStaleAggregatesLose:
    async def test_an_older_aggregate_republished_does_not_replace_a_newer(
        self, loop_db: Loop
    ) -> None:
        loop = loop_db
        await loop.kpi("leads", period="day", aggregation="sum")
        cycle = await loop.cycle(days_in=20, days_left=20)
        objective = await loop.objective(cycle["id"])
        kr = await loop.linked_kr(
            objective["id"], "leads", start=0.0, target=100.0, kpi_aggregation="sum"
        )
        yesterday = today() - DAY
        okr_topic = loop.topics.name(loop.topics.okr_events)
        async with TopicReader(loop.bootstrap, okr_topic) as okr:
            await loop.send_kpi_values(
                "leads",
                kpi_value_event(
                    "leads", yesterday, 30.0, count=3, last_at=yesterday + timedelta(hours=15)
                ),
            )

            async def newest() -> Any:
                got = await loop.get(f"/v1/key-results/{kr['id']}")
                return got["current"] == 30.0

            await wait_until(newest, what="the newer aggregate")
            # Re-published during a rebalance: fewer measurements; as many but an earlier last
            # one. Then the sentinel, another period after them in the same partition.
            await loop.send_kpi_values(
                "leads",
                kpi_value_event(
                    "leads", yesterday, 20.0, count=2, last_at=yesterday + timedelta(hours=10)
                ),
                kpi_value_event(
                    "leads", yesterday, 28.0, count=3, last_at=yesterday + timedelta(hours=14)
                ),
                kpi_value_event("leads", today(), 5.0, count=1),
            )
            records = await okr.wait_for(
                lambda rs: any(
                    e["data"]["source"] == "kpi" and e["data"]["current"] in (25.0, 33.0, 35.0)
                    for e in events_of(rs, "lodestar.kr.progress.v1", kr["id"])
                ),
                what="the sentinel's progress",
            )
        progress = [
            e["data"]["current"]
            for e in events_of(records, "lodestar.kr.progress.v1", kr["id"])
            if e["data"]["source"] == "kpi"
        ]
        assert progress == [30.0, 35.0]
        got = await loop.get(f"/v1/key-results/{kr['id']}")
        assert got["current"] == 35.0
        assert [c["value"] for c in await kpi_check_ins(loop, kr["id"])] == [35.0, 30.0]


class TestBackfillRace:
    async def test_consumer_and_backfill_converge_in_either_order(self, loop_db: Loop) -> None:
        """A `kpi.value` consumed between the link's commit and the backfill's store, or
        after it: of the two aggregates of a period, the newer stays either way."""
        loop = loop_db
        await loop.kpi("trials", period="day", aggregation="sum")
        cycle = await loop.cycle(days_in=20, days_left=20)
        objective = await loop.objective(cycle["id"])
        kr = await loop.linked_kr(
            objective["id"], "trials", start=0.0, target=100.0, kpi_aggregation="sum"
        )
        runtime = loop.app.runtime
        settings = runtime.settings
        assert isinstance(settings, GoalsSettings)
        hour = timedelta(hours=1)

        def consumed(
            start: datetime, value: float, count: int, at: timedelta, revision: int = 0
        ) -> KpiValue:
            payload = KpiValueV1(
                kpi="trials",
                period="day",
                period_start=start,
                period_end=start + DAY,
                aggregation="sum",
                value=value,
                count=count,
                last_value=value,
                last_at=start + at,
                health="unknown" if count else "no_data",
                revision=revision,
            )
            return KpiValue("acme", payload)

        def answered(
            start: datetime, value: float | None, count: int, at: timedelta, revision: int = 0
        ) -> KpiPeriodRead:
            return KpiPeriodRead(
                start=start,
                end=start + DAY,
                value=value,
                count=count,
                last_value=value,
                last_at=None if value is None else start + at,
                revision=revision,
            )

        async def consume(item: KpiValue) -> None:
            async with runtime.db.transaction() as session:
                await kpi_values.apply(session, settings, [item], now())

        async def backfill_with(*periods: KpiPeriodRead) -> None:
            async with runtime.db.transaction() as session:
                await backfill.store(session, settings, "acme", kr["id"], "trials", periods, now())

        first, second = today() - 2 * DAY, today() - DAY
        # The consumer first (a newer aggregate), then a backfill read before it: 9 stays.
        await consume(consumed(second, 9.0, 3, 15 * hour))
        await backfill_with(answered(second, 6.0, 2, 10 * hour))
        # The backfill first, then an older value consumed late (loses), then a newer one.
        await backfill_with(answered(first, 6.0, 2, 10 * hour))
        await consume(consumed(first, 1.0, 1, 9 * hour))
        got = await loop.get(f"/v1/key-results/{kr['id']}")
        assert got["current"] == 15.0
        await consume(consumed(first, 8.0, 3, 11 * hour))
        got = await loop.get(f"/v1/key-results/{kr['id']}")
        assert got["current"] == 17.0

        # Corrections: the backfill read the first day restated down to one measurement
        # (revision 1) and the second emptied by retractions (revision 2, a null point); the
        # consumer then gets the values from before the corrections, re-published: they lose.
        await backfill_with(
            answered(first, 4.0, 1, 8 * hour, 1), answered(second, None, 0, hour, 2)
        )
        got = await loop.get(f"/v1/key-results/{kr['id']}")
        assert got["current"] == 4.0
        await consume(consumed(first, 8.0, 3, 11 * hour))
        await consume(consumed(second, 9.0, 3, 15 * hour))
        got = await loop.get(f"/v1/key-results/{kr['id']}")
        assert got["current"] == 4.0
        # A value after the corrections (the next revision) wins, however few it counts.
        await consume(consumed(second, 2.0, 1, 16 * hour, 3))
        got = await loop.get(f"/v1/key-results/{kr['id']}")
        assert got["current"] == 6.0
