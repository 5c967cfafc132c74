"""Removing a guardrail reaches alerts, on the real broker, metrics and alerts in-process, on
SQLite and PostgreSQL: `DELETE /v1/kpis/{key}/guardrail` in metrics publishes
`lodestar.kpi.guardrail.removed.v1` on `kpi.values` (keyed `tenant/kpi`, like the KPI's
values); alerts resolves the KPI's KpiGuardrailBreached on `alerts`, its guardrail is gone
(404), and a later breaching value fires nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord

from services.alerts.app import create_app
from services.alerts.handlers import evaluation_handler
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from shared.consumer import Inbound, decode_record
from shared.events import KpiGuardrailRemovedV1, new_event, utcnow
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    kr_graduated,
    not_sentinel,
    send,
    sentinel,
)
from tests.integration.alerts.test_guardrails import guardrail_alerts, guardrail_of
from tests.support.apps import running, service_settings
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

REMOVED = "lodestar.kpi.guardrail.removed.v1"


async def test_removing_the_guardrail_resolves_its_alert_and_ends_the_watch(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    alerts_db, metrics_db = await databases.new(), await databases.new()
    settings = alerts_settings(kafka_bootstrap, topics, alerts_db, admin_key)
    metrics_settings = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=metrics_db, admin_key=admin_key,
    )  # fmt: skip
    kpi_values, okr = topics.name(topics.kpi_values), topics.name(topics.okr_events)
    async with (
        running(create_metrics_app(metrics_settings), admin_key) as metrics,
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        TopicReader(kafka_bootstrap, kpi_values) as values,
    ):
        body = {"key": "churn", "name": "Churn", "direction": "lower", "green": 6.0}
        created = await metrics.client.post("/v1/kpis", json=body)
        assert created.status_code == 201, created.text
        graduation = kr_graduated("kr-7", "churn", target=4.0, id=str(uuid.uuid4()))
        await send(kafka_bootstrap, okr, graduation)
        await wait_until(lambda: guardrail_of(app, "churn"), what="alerts' guardrail")

        async def guarded() -> bool:
            kpi = (await metrics.client.get("/v1/kpis/churn")).json()
            return kpi["guardrail"] is not None

        await wait_until(guarded, what="metrics' guardrail")

        # The KPI leaves the guardrail's green: KpiGuardrailBreached fires.
        await send(kafka_bootstrap, kpi_values, kpi_value("churn", 4.6, health="amber"))
        await alerts.wait_for(lambda _: len(guardrail_alerts(alerts)) >= 1, what="the firing")
        [firing] = guardrail_alerts(alerts)
        assert firing["type"] == "lodestar.alert.firing.v1"
        assert firing["data"]["labels"]["graduated_from"] == "kr-7"

        before_removal = datetime.now(UTC)
        removed = await metrics.client.delete("/v1/kpis/churn/guardrail")
        assert removed.status_code == 200, removed.text
        assert (removed.json()["green"], removed.json()["guardrail"]) == (6.0, None)

        # metrics announced it on kpi.values, under the KPI's record key.
        await values.wait_for(
            lambda rs: any(json.loads(r.value)["type"] == REMOVED for r in rs if r.value),
            what=REMOVED,
        )
        [record] = [r for r in values.records if r.value and json.loads(r.value)["type"] == REMOVED]
        assert record.key == b"acme/churn"
        event = json.loads(record.value)
        assert (event["tenant"], event["subject"], event["source"]) == (
            "acme",
            "churn",
            "lodestar/metrics",
        )
        assert event["data"]["kpi"] == "churn"
        assert event["data"]["key_result_id"] == "kr-7"
        assert event["data"]["removed_at"]

        # alerts resolves the alert, an ordinary resolution on `alerts`, and drops the guardrail.
        await alerts.wait_for(lambda _: len(guardrail_alerts(alerts)) >= 2, what="the resolution")
        resolved = guardrail_alerts(alerts)[1]
        assert resolved["type"] == "lodestar.alert.resolved.v1"
        assert resolved["data"]["status"] == "resolved"
        assert resolved["data"]["fingerprint"] == firing["data"]["fingerprint"]
        assert resolved["data"]["endsAt"] is not None
        answer = await app.client.get("/v1/guardrails/churn")
        assert answer.status_code == 404, answer.text
        assert (await app.client.get("/v1/guardrails")).json()["items"] == []
        params = {"state": "firing", "label": "alertname=KpiGuardrailBreached"}
        assert (await app.client.get("/v1/alerts", params=params)).json()["items"] == []

        # A later breaching value fires nothing: the sentinel after it (a value of another KPI
        # whose rule fires, in the same partition) proves it was evaluated.
        await send(kafka_bootstrap, kpi_values, kpi_value("churn", 7.0, health="amber"))
        await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
        assert [e["type"] for e in guardrail_alerts(alerts)] == [
            "lodestar.alert.firing.v1",
            "lodestar.alert.resolved.v1",
        ], not_sentinel(alerts)
        assert (await app.client.get("/v1/guardrails/churn")).status_code == 404

        # The removed graduation delivered late (another id, from before the removal) does
        # not make the KPI a guardrail again; a later graduation does, and it fires again.
        await send(kafka_bootstrap, okr, graduated_at("kr-7", "churn", before_removal))
        await sentinel(app.client, kafka_bootstrap, okr, alerts, after="kr-7")
        assert (await app.client.get("/v1/guardrails/churn")).status_code == 404
        await send(kafka_bootstrap, okr, graduated_at("kr-8", "churn", datetime.now(UTC)))
        revived = await wait_until(lambda: guardrail_of(app, "churn"), what="the new guardrail")
        assert revived["key_result_id"] == "kr-8"
        await send(kafka_bootstrap, kpi_values, kpi_value("churn", 7.5, health="amber"))
        await alerts.wait_for(lambda _: len(guardrail_alerts(alerts)) >= 3, what="a new firing")
        await sentinel(app.client, kafka_bootstrap, kpi_values, alerts, after="churn")
        seen = [
            (e["type"].split(".")[-2], e["data"]["labels"]["graduated_from"])
            for e in guardrail_alerts(alerts)
        ]
        assert seen == [("firing", "kr-7"), ("resolved", "kr-7"), ("firing", "kr-8")]


def graduated_at(key_result: str, kpi: str, at: datetime) -> bytes:
    """A graduation of `key_result` made at `at` (a fresh event id)."""
    event = json.loads(kr_graduated(key_result, kpi, target=4.0))
    event["data"]["graduated_at"] = at.isoformat()
    return json.dumps(event).encode()


def inbound(raw: bytes) -> Inbound:
    """A record of `kpi.values` as the consumer hands it to the handler."""
    key = f"acme/{json.loads(raw)['subject']}".encode()
    return decode_record(ConsumerRecord("kpi.values", 0, 0, 0, 0, key, raw, None, 0, 0, []), 65536)


async def test_a_removal_in_the_batch_of_the_breach_resolves_it(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    """The breach and the removal in one consumer batch (handed to the service's own handler,
    so one batch for certain), where the firing is in memory only until the batch is written:
    the alert fires and resolves all the same."""
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    okr = topics.name(topics.okr_events)
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        await send(kafka_bootstrap, okr, kr_graduated("kr-7", "churn", target=4.0))
        await wait_until(lambda: guardrail_of(app, "churn"), what="a guardrail")
        removal = new_event(
            type=REMOVED, source="lodestar/metrics", tenant="acme", subject="churn",
            data=KpiGuardrailRemovedV1(kpi="churn", key_result_id="kr-7", removed_at=utcnow()),
        ).to_json()  # fmt: skip
        handle = evaluation_handler(app.runtime.db, settings)
        await handle([inbound(kpi_value("churn", 4.6, health="amber")), inbound(removal)])
        await alerts.wait_for(lambda _: len(guardrail_alerts(alerts)) >= 2, what="the resolution")
        assert [e["type"] for e in guardrail_alerts(alerts)] == [
            "lodestar.alert.firing.v1",
            "lodestar.alert.resolved.v1",
        ]
        assert (await app.client.get("/v1/guardrails/churn")).status_code == 404
        params = {"state": "firing", "label": "alertname=KpiGuardrailBreached"}
        assert (await app.client.get("/v1/alerts", params=params)).json()["items"] == []
