"""The alert lifecycle on the real broker, on SQLite and PostgreSQL: one firing event per
breach, one resolved per recovery, nothing re-fired or lost across a restart."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    not_sentinel,
    of_type,
    send,
    sentinel,
)
from tests.support.apps import running
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

RULE = {
    "name": "ChurnTooHigh",
    "kpi": "churn",
    "operator": "above",
    "threshold": 5.0,
    "resolve_threshold": 4.0,
    "severity": "critical",
    "annotations": {"summary": "Churn is {{ $value }} %"},
}


class TestLifecycle:
    async def test_breach_fires_once_and_recovery_resolves_once(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values = topics.name(topics.kpi_values)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            created = await app.client.post("/v1/rules", json=RULE)
            assert created.status_code == 201, created.text

            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.0))
            # Breaching, then wobbling inside the hysteresis band, then breaching again.
            await send(
                kafka_bootstrap,
                kpi_values,
                *(kpi_value("churn", v) for v in (7.5, 4.5, 6.0, 4.2, 8.0)),
            )
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 1, what="a firing alert")
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            firing = of_type(alerts, "firing.v1")
            assert len(not_sentinel(alerts)) == 1, alerts.events()
            data = firing[0]["data"]
            assert data["labels"]["alertname"] == "ChurnTooHigh"
            assert data["labels"]["severity"] == "critical"
            assert data["value"] == 7.5
            assert data["annotations"]["summary"] == "Churn is 7.5 %"
            assert data["generatorURL"].endswith("/v1/kpis/churn")
            assert data["endsAt"] is None
            fp = data["fingerprint"]
            assert alerts.records[0].key == f"acme/{fp}".encode()

            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.5))
            await alerts.wait_for(lambda _: bool(of_type(alerts, "resolved.v1")), what="resolved")
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.0))
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            resolved = of_type(alerts, "resolved.v1")
            assert len(not_sentinel(alerts)) == 2
            assert len(resolved) == 1
            assert resolved[0]["data"]["fingerprint"] == fp
            assert resolved[0]["data"]["startsAt"] == data["startsAt"]
            assert resolved[0]["data"]["endsAt"] is not None

            detail = (await app.client.get(f"/v1/alerts/{fp}")).json()
            assert detail["state"] == "resolved"
            transitions = [
                (h["from_state"], h["to_state"])
                for h in detail["history"]
                if h["kind"] == "transition"
            ]
            assert transitions == [("inactive", "firing"), ("firing", "resolved")]
            assert [h["to_state"] for h in detail["history"] if h["kind"] == "notified"] == [
                "firing",
                "resolved",
            ]

    async def test_a_restart_neither_refires_nor_loses_the_alert(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values = topics.name(topics.kpi_values)
        async with TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts:
            async with running(create_app(settings), admin_key) as first:
                assert (await first.client.post("/v1/rules", json=RULE)).status_code == 201
                await send(kafka_bootstrap, kpi_values, kpi_value("churn", 9.0))
                await alerts.wait_for(
                    lambda _: len(not_sentinel(alerts)) >= 1, what="a firing alert"
                )
            fp = not_sentinel(alerts)[0]["data"]["fingerprint"]

            # A new process on the same database and topics: still firing, and a breach that
            # arrives now (plus the old events, should any be re-delivered) fires nothing new.
            async with running(create_app(settings), admin_key) as second:
                listed = (await second.client.get("/v1/alerts", params={"state": "firing"})).json()
                assert [a["fingerprint"] for a in listed["items"]] == [fp]
                await send(kafka_bootstrap, kpi_values, kpi_value("churn", 9.5))
                await sentinel(second.client, kafka_bootstrap, kpi_values, alerts, after="churn")
                assert len(not_sentinel(alerts)) == 1, alerts.events()

                await send(kafka_bootstrap, kpi_values, kpi_value("churn", 1.0))
                await alerts.wait_for(
                    lambda _: bool(of_type(alerts, "resolved.v1")), what="the resolution"
                )
                await sentinel(second.client, kafka_bootstrap, kpi_values, alerts, after="churn")
                assert [e["type"] for e in not_sentinel(alerts)] == [
                    "lodestar.alert.firing.v1",
                    "lodestar.alert.resolved.v1",
                ]
                assert not_sentinel(alerts)[1]["data"]["fingerprint"] == fp

    async def test_for_holds_the_alert_pending_until_the_timer_fires_it(
        self,
        kafka_bootstrap: str,
        topics: Topics,
        databases: DatabaseFactory,
        admin_key: str,
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            rule = {**RULE, "for_seconds": 2.0}
            assert (await app.client.post("/v1/rules", json=rule)).status_code == 201
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

            async def pending() -> bool:
                body = (await app.client.get("/v1/alerts", params={"state": "pending"})).json()
                return bool(body["items"])

            await wait_until(pending, what="a pending alert")
            # No further event arrives: only the timer can move it past `for`.
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 1, timeout_s=10, what="the firing"
            )
            event = not_sentinel(alerts)[0]
            assert event["type"] == "lodestar.alert.firing.v1"
            detail = (await app.client.get(f"/v1/alerts/{event['data']['fingerprint']}")).json()
            assert datetime.fromisoformat(event["data"]["startsAt"]) == datetime.fromisoformat(
                detail["starts_at"]
            )
            held = datetime.fromisoformat(detail["starts_at"]) - datetime.fromisoformat(
                detail["active_since"]
            )
            assert held >= timedelta(seconds=2)


async def test_a_no_data_rule_fires_on_silence_and_resolves_when_data_returns(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        rule = {"name": "NoSignups", "kpi": "signups", "condition": "no_data", "no_data_seconds": 1}
        assert (await app.client.post("/v1/rules", json=rule)).status_code == 201
        # Nothing ever arrives: the timer alone fires it, a second after the rule exists.
        await alerts.wait_for(
            lambda _: len(not_sentinel(alerts)) >= 1, timeout_s=10, what="the no-data alert"
        )
        assert not_sentinel(alerts)[0]["data"]["labels"]["alertname"] == "NoSignups"
        await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("signups", 3))
        await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 2, what="the resolution")
        assert not_sentinel(alerts)[1]["type"] == "lodestar.alert.resolved.v1"
