"""KPI periods follow the tenant's timezone, in metrics, goals and alerts alike: the three
services in-process on the real broker, each on its own database, once on SQLite and once on
PostgreSQL. The tenant's zone is set through goals' API and reaches metrics and alerts on the
`tenants` topic.

Expected bounds are written here from the local calendar (a naive local midnight placed in
the zone with `zoneinfo`), not taken from `shared.periods`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from services.alerts.app import create_app as create_alerts_app
from services.goals.app import create_app as create_goals_app
from services.goals.settings import GoalsSettings
from services.goals.tables import KrKpiPeriod
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from shared.settings import Topics
from shared.tenants import timezone_of
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings
from tests.support.apps import RunningApp, running, service_settings
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

LA = "America/Los_Angeles"


def local_midnight(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def local_day(at: datetime, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day holding `at`, in UTC."""
    day = at.astimezone(ZoneInfo(zone)).date()
    return local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)


@dataclass
class Services:
    goals: RunningApp
    metrics: RunningApp
    alerts: RunningApp

    async def set_timezone(self, zone: str) -> None:
        """Set the zone in goals, then wait until metrics and alerts have heard of it."""
        answer = await self.goals.client.patch("/v1/tenant", json={"timezone": zone})
        assert answer.status_code == 200, answer.text
        assert answer.json()["timezone"] == zone
        for service in (self.metrics, self.alerts):

            async def heard(service: RunningApp = service) -> bool:
                async with service.runtime.db.session() as session:
                    return await timezone_of(session, "acme") == zone

            await wait_until(heard, what=f"the zone to reach {service.runtime.settings}")

    async def measure(self, kpi: str, value: float, at: datetime, id: str) -> None:
        body = {"kpi": kpi, "value": value, "time": at.isoformat(), "id": id}
        answer = await self.metrics.client.post("/v1/measurements", json=body)
        assert answer.status_code == 202, answer.text


@pytest.fixture
async def services(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> AsyncIterator[Services]:
    def settings(cls: Any, url: str) -> Any:
        return service_settings(
            cls, bootstrap=kafka_bootstrap, topics=topics, database_url=url, admin_key=admin_key
        )

    metrics_settings = settings(MetricsSettings, await databases.new())
    goals_settings = settings(GoalsSettings, await databases.new())
    alert_settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with contextlib.AsyncExitStack() as stack:
        metrics = await stack.enter_async_context(
            running(create_metrics_app(metrics_settings), admin_key)
        )
        transport = httpx.ASGITransport(app=metrics.app)
        goals = await stack.enter_async_context(
            running(create_goals_app(goals_settings, metrics_transport=transport), admin_key)
        )
        alerts = await stack.enter_async_context(
            running(create_alerts_app(alert_settings), admin_key)
        )
        yield Services(goals, metrics, alerts)


class TestTheTenantsZone:
    async def test_an_unknown_zone_is_refused_and_utc_stays(self, services: Services) -> None:
        for name in ["Mars/Olympus", "../../etc/passwd", "", "UTC+2"]:
            answer = await services.goals.client.patch("/v1/tenant", json={"timezone": name})
            assert answer.status_code == 422, (name, answer.text)
        shown = (await services.goals.client.get("/v1/tenant")).json()
        assert shown == {"slug": "acme", "name": "acme", "timezone": "UTC"}

    async def test_a_los_angeles_evening_is_its_own_day_in_metrics_and_goals(
        self, services: Services
    ) -> None:
        await services.set_timezone(LA)
        goals, metrics = services.goals.client, services.metrics.client
        answer = await metrics.post(
            "/v1/kpis", json={"key": "mql", "name": "MQL", "aggregation": "sum", "period": "day"}
        )
        assert answer.status_code == 201, answer.text
        cycle = (
            await goals.post(
                "/v1/cycles",
                json={
                    "name": "2026",
                    "starts_at": "2026-03-01T08:00:00Z",
                    "ends_at": "2027-01-01T08:00:00Z",
                },
            )
        ).json()
        assert (await goals.post(f"/v1/cycles/{cycle['id']}/activate")).is_success
        objective = (
            await goals.post(
                "/v1/objectives",
                json={"cycle_id": cycle["id"], "title": "Pipeline", "owner": "ada"},
            )
        ).json()
        answer = await goals.post(
            f"/v1/objectives/{objective['id']}/key-results",
            json={
                "title": "MQLs",
                "kind": "increase",
                "start": 0.0,
                "target": 250.0,
                "kpi": "mql",
                "kpi_aggregation": "sum",
            },
        )
        assert answer.status_code == 201, answer.text
        kr = answer.json()

        # 06:30Z on 10 March is 23:30 on 9 March in Los Angeles (PDT since the 8th).
        at = datetime(2026, 3, 10, 6, 30, tzinfo=UTC)
        start, end = local_day(at, LA)
        assert (start, end) == (
            datetime(2026, 3, 9, 7, tzinfo=UTC),
            datetime(2026, 3, 10, 7, tzinfo=UTC),
        )
        await services.measure("mql", 3.0, at, "m-1")
        await services.measure("mql", 4.0, end, "m-2")  # the first instant of 10 March

        async def series() -> Any:
            answer = await metrics.get(
                "/v1/kpis/mql/series",
                params={"start": "2026-03-09T12:00:00Z", "end": "2026-03-10T12:00:00Z"},
            )
            points = answer.json()["points"]
            return points if sum(p["value"] or 0 for p in points) == 7.0 else None

        points = await wait_until(series, what="both measurements in the series")
        assert [(p["start"], p["end"], p["value"]) for p in points] == [
            ("2026-03-09T07:00:00Z", "2026-03-10T07:00:00Z", 3.0),
            ("2026-03-10T07:00:00Z", "2026-03-11T07:00:00Z", 4.0),
        ]

        async def stored() -> Any:
            async with services.goals.runtime.db.session() as session:
                rows = (
                    await session.execute(
                        select(KrKpiPeriod.period_start, KrKpiPeriod.period_end, KrKpiPeriod.value)
                        .where(KrKpiPeriod.key_result_id == kr["id"])
                        .order_by(KrKpiPeriod.period_start)
                    )
                ).all()
            return rows if len(rows) == 2 else None

        rows = await wait_until(stored, what="the KR to store both periods")
        assert [tuple(r) for r in rows] == [
            (start, end, 3.0),
            (end, local_midnight(date(2026, 3, 11), LA), 4.0),
        ]
        shown = (await goals.get(f"/v1/key-results/{kr['id']}")).json()
        assert shown["current"] == 7.0
        # Local days of the window (from 1 March local midnight) completed by now.
        before = datetime.now(UTC)
        elapsed = (before.astimezone(ZoneInfo(LA)).date() - date(2026, 3, 1)).days
        assert shown["periods_elapsed"] in (elapsed - 1, elapsed)


# Zones from far east to far west: at any time of day but the first MARGIN of the UTC day,
# one of them has a local day that began before the UTC day, or after it, by 2 x MARGIN.
ZONES = [
    "Pacific/Kiritimati",
    "Asia/Tokyo",
    "Europe/Moscow",
    "Africa/Johannesburg",
    "Europe/Berlin",
    "Atlantic/Cape_Verde",
    "America/Sao_Paulo",
    LA,
    "Pacific/Pago_Pago",
]
MARGIN = timedelta(minutes=3)  # more than alerts' closing grace (a minute)


def straddling(now: datetime) -> tuple[str, datetime, bool] | None:
    """A zone and an instant earlier today that lies in today's period by one calendar (the
    zone's, or UTC's) and in the day before by the other, with MARGIN to every boundary;
    and whether it is today's in the zone. None in the first MARGIN of the UTC day."""
    utc_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for zone in ZONES:
        zone_start, _ = local_day(now, zone)
        if zone_start < utc_start - 2 * MARGIN and now - utc_start > MARGIN:
            return zone, utc_start - MARGIN, True  # today's in the zone, yesterday's in UTC
        if zone_start > utc_start + 2 * MARGIN and now - zone_start > MARGIN:
            return zone, zone_start - MARGIN, False  # yesterday's in the zone, today's in UTC
    return None


def firings(reader: TopicReader) -> list[dict[str, Any]]:
    events = [json.loads(r.value) for r in reader.records if r.value]
    return [e for e in events if e["type"] == "lodestar.alert.firing.v1"]


class TestAlertsWatchTheLocalDay:
    async def test_the_present_is_the_tenants_day(
        self, services: Services, topics: Topics, kafka_bootstrap: str
    ) -> None:
        """A value from earlier today, today's by one calendar and yesterday's by the other:
        alerts move for it exactly when it is today's in the tenant's zone. Its absence is
        proved by a sentinel of now (same KPI: same partition, read after it), and `max`
        makes the two values one period's 9 if they shared a period."""
        picked = straddling(datetime.now(UTC))
        if picked is None:  # 00:00-00:03 UTC: no instant of today is yesterday's anywhere yet
            await asyncio.sleep(MARGIN.total_seconds() + 1)
            picked = straddling(datetime.now(UTC))
        assert picked is not None
        zone, earlier, todays = picked
        await services.set_timezone(zone)
        answer = await services.metrics.client.post(
            "/v1/kpis", json={"key": "churn", "name": "Churn", "aggregation": "max"}
        )
        assert answer.status_code == 201, answer.text
        rule = {"name": "TooHigh", "kpi": "churn", "threshold": 5.0}
        assert (await services.alerts.client.post("/v1/rules", json=rule)).is_success

        async with TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts:
            await services.measure("churn", 9.0, earlier, "earlier")
            if not todays:
                await services.measure("churn", 7.0, datetime.now(UTC), "sentinel")
            await alerts.wait_for(lambda _: bool(firings(alerts)), what="a firing")
            [firing] = firings(alerts)
            assert firing["data"]["value"] == (9.0 if todays else 7.0), (zone, earlier)
