"""KPI guardrails on the real broker, on SQLite and PostgreSQL: a graduated key result makes
its KPI a guardrail; the KPI leaving green fires one KpiGuardrailBreached that suggests
promoting it again, green resolves it; KPIs that never graduated, a switched-off tenant and a
re-delivered graduation fire nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    kr_graduated,
    not_sentinel,
    of_type,
    send,
    sentinel,
)
from tests.support.apps import RunningApp, running
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

GOALS_URL = "http://goals.example:8001"


async def guardrail_of(app: RunningApp, kpi: str) -> dict[str, Any] | None:
    answer = await app.client.get(f"/v1/guardrails/{kpi}")
    return answer.json() if answer.status_code == 200 else None


def guardrail_alerts(reader: TopicReader) -> list[dict[str, Any]]:
    return [
        e for e in reader.events() if e["data"]["labels"]["alertname"] == "KpiGuardrailBreached"
    ]


class TestGuardrailBreached:
    async def test_graduation_makes_a_guardrail_that_fires_once_and_resolves_once(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        settings.goals_url = GOALS_URL
        kpi_values, okr = topics.name(topics.kpi_values), topics.name(topics.okr_events)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            assert await guardrail_of(app, "churn") is None
            graduation = kr_graduated("kr-7", "churn", target=4.0, id=str(uuid.uuid4()))
            await send(kafka_bootstrap, okr, graduation)
            guardrail = await wait_until(lambda: guardrail_of(app, "churn"), what="a guardrail")
            assert guardrail["key_result_id"] == "kr-7"
            assert guardrail["target"] == 4.0
            assert guardrail["periods_met"] == 3
            listed = (await app.client.get("/v1/guardrails")).json()
            assert [g["kpi"] for g in listed["items"]] == ["churn"]

            # Green: nothing. Amber: one firing, and staying amber fires nothing more.
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.0, health="green"))
            await send(
                kafka_bootstrap,
                kpi_values,
                kpi_value("churn", 4.6, health="amber"),
                kpi_value("churn", 4.8, health="amber"),
            )
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 1, what="KpiGuardrailBreached"
            )
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            assert len(not_sentinel(alerts)) == 1, alerts.events()
            event = not_sentinel(alerts)[0]
            assert event["type"] == "lodestar.alert.firing.v1"
            data = event["data"]
            assert data["labels"]["alertname"] == "KpiGuardrailBreached"
            assert data["labels"]["severity"] == "warning"
            assert data["labels"]["kpi"] == "churn"
            assert data["labels"]["graduated_from"] == "kr-7"
            assert data["value"] == 4.6
            annotations = data["annotations"]
            assert annotations["promote_url"] == f"{GOALS_URL}/v1/key-results/promote"
            assert "churn" in annotations["summary"]
            description = annotations["description"]
            assert "promoting churn back to a key result" in description
            assert "kr-7" in description
            assert f"{GOALS_URL}/v1/key-results/promote" in description
            assert data["generatorURL"].endswith("/v1/kpis/churn")

            # A re-delivered graduation (same event) changes nothing.
            await send(kafka_bootstrap, okr, graduation)
            await sentinel(app.client, kafka_bootstrap, okr, alerts, after="kr-7")
            assert await guardrail_of(app, "churn") == guardrail
            assert len(not_sentinel(alerts)) == 1

            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.5, health="green"))
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 2, what="the resolution")
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.1, health="green"))
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            assert [e["type"] for e in guardrail_alerts(alerts)] == [
                "lodestar.alert.firing.v1",
                "lodestar.alert.resolved.v1",
            ]
            resolved = of_type(alerts, "resolved.v1")[0]["data"]
            assert resolved["fingerprint"] == data["fingerprint"]
            assert resolved["endsAt"] is not None

    async def test_red_fires_the_guardrail_beside_kpi_red(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values, okr = topics.name(topics.kpi_values), topics.name(topics.okr_events)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            await send(kafka_bootstrap, okr, kr_graduated("kr-1", "uptime", kind="keep_above"))
            await wait_until(lambda: guardrail_of(app, "uptime"), what="a guardrail")
            await send(kafka_bootstrap, kpi_values, kpi_value("uptime", 97.0, health="red"))
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 2, what="both alerts")
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="uptime")
            names = sorted(e["data"]["labels"]["alertname"] for e in not_sentinel(alerts))
            assert names == ["KpiGuardrailBreached", "KpiRed"]

    async def test_a_kpi_that_never_graduated_gets_no_guardrail_alert(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values, okr = topics.name(topics.kpi_values), topics.name(topics.okr_events)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            await send(kafka_bootstrap, okr, kr_graduated("kr-1", "churn"))
            await wait_until(lambda: guardrail_of(app, "churn"), what="a guardrail")
            await send(kafka_bootstrap, kpi_values, kpi_value("nps", 20.0, health="amber"))
            # Other tenants' graduations do not make this tenant's KPI a guardrail either.
            await send(kafka_bootstrap, okr, kr_graduated("kr-9", "mqls", tenant="other"))
            await send(kafka_bootstrap, kpi_values, kpi_value("mqls", 20.0, health="amber"))
            # A marker afterwards: once it fired, everything before it was evaluated.
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 9.0, health="amber"))
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 1, what="the marker's alert"
            )
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="nps")
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="mqls")
            assert [e["data"]["labels"]["kpi"] for e in not_sentinel(alerts)] == ["churn"]
            assert await guardrail_of(app, "nps") is None
            assert await guardrail_of(app, "mqls") is None

    async def test_the_switch_turns_it_off_and_resolves_what_it_held(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values, okr = topics.name(topics.kpi_values), topics.name(topics.okr_events)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            await send(kafka_bootstrap, okr, kr_graduated("kr-1", "churn"))
            await wait_until(lambda: guardrail_of(app, "churn"), what="a guardrail")
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 6.0, health="amber"))
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 1, what="the firing")

            off = await app.client.patch("/v1/settings", json={"guardrail_breached": False})
            assert off.status_code == 200, off.text
            assert off.json()["guardrail_breached"] is False
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 2, what="the resolution on switch-off"
            )
            assert not_sentinel(alerts)[1]["type"] == "lodestar.alert.resolved.v1"

            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 3.0, health="green"))
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 7.0, health="amber"))
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            assert len(not_sentinel(alerts)) == 2, alerts.events()
            params = {"state": "firing", "label": "alertname=KpiGuardrailBreached"}
            firing = (await app.client.get("/v1/alerts", params=params)).json()
            assert firing["items"] == []

    async def test_a_later_graduation_from_another_kr_takes_over(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        kpi_values, okr = topics.name(topics.kpi_values), topics.name(topics.okr_events)
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            await send(kafka_bootstrap, okr, kr_graduated("kr-1", "churn", target=5.0))
            await wait_until(lambda: guardrail_of(app, "churn"), what="a guardrail")
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 6.0, health="amber"))
            await alerts.wait_for(lambda _: len(not_sentinel(alerts)) >= 1, what="the firing")

            await send(kafka_bootstrap, okr, kr_graduated("kr-2", "churn", target=4.0))

            async def taken_over() -> bool:
                found = await guardrail_of(app, "churn")
                return found is not None and found["key_result_id"] == "kr-2"

            await wait_until(taken_over, what="the new guardrail")
            # The old KR's alert ends; the KPI, still amber, fires for the new one.
            await send(kafka_bootstrap, kpi_values, kpi_value("churn", 6.5, health="amber"))
            await alerts.wait_for(
                lambda _: len(not_sentinel(alerts)) >= 3, what="resolved, then firing"
            )
            await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
            seen = [
                (e["type"].split(".")[-2], e["data"]["labels"]["graduated_from"])
                for e in not_sentinel(alerts)
            ]
            assert seen == [("firing", "kr-1"), ("resolved", "kr-1"), ("firing", "kr-2")]
