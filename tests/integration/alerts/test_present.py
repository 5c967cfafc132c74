"""Alerts are about the present: a value of an earlier KPI period (a late measurement, seeded
history) neither fires nor resolves them; on SQLite and PostgreSQL, through the real broker.

Each absence is proved by a sentinel: a value of today's period of the same KPI (same record
key, so same partition, read after it) whose own effect names its value."""

from __future__ import annotations

import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings, kpi_value, of_type, send
from tests.support.apps import running
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.kafka


def rule(kpi: str) -> dict[str, object]:
    return {"name": "TooHigh", "kpi": kpi, "threshold": 5.0}


class TestAlertsAboutThePresent:
    async def test_a_late_clear_value_of_yesterday_does_not_resolve_todays_alert(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        values = topics.name(topics.kpi_values)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            assert (await app.client.post("/v1/rules", json=rule("churn"))).is_success
            await send(kafka_bootstrap, values, kpi_value("churn", 9.0))
            await alerts.wait_for(lambda _: bool(of_type(alerts, "firing.v1")), what="firing")

            await send(kafka_bootstrap, values, kpi_value("churn", 2.0, days_ago=1))
            await send(kafka_bootstrap, values, kpi_value("churn", 1.0))  # the sentinel
            await alerts.wait_for(
                lambda _: bool(of_type(alerts, "resolved.v1")), what="the sentinel's resolved"
            )
            [resolved] = of_type(alerts, "resolved.v1")
            assert resolved["data"]["value"] == 1.0, "resolved by today's value, not yesterday's"
            fp = resolved["data"]["fingerprint"]
            shown = (await app.client.get(f"/v1/alerts/{fp}")).json()
            transitions = [h for h in shown["history"] if h["kind"] == "transition"]
            assert [(h["to_state"], h["value"]) for h in transitions] == [
                ("firing", 9.0),
                ("resolved", 1.0),
            ]

    async def test_seeded_history_fires_nothing_and_today_fires_once(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        values = topics.name(topics.kpi_values)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            assert (await app.client.post("/v1/rules", json=rule("nps"))).is_success
            history = [kpi_value("nps", 7.0 + d, days_ago=d) for d in (3, 2, 1)]
            await send(kafka_bootstrap, values, *history)
            await send(kafka_bootstrap, values, kpi_value("nps", 6.0))  # the sentinel
            await alerts.wait_for(
                lambda _: bool(of_type(alerts, "firing.v1")), what="the sentinel's firing"
            )
            [firing] = alerts.events()
            assert firing["type"] == "lodestar.alert.firing.v1"
            assert firing["data"]["value"] == 6.0, "fired by today's value, not the history"
            listed = (await app.client.get("/v1/alerts", params={"state": "firing"})).json()
            assert [a["value"] for a in listed["items"]] == [6.0]
