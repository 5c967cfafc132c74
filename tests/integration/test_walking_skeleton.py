"""The whole pipe: a measurement on Kafka → metrics stores it → `kpi.values` → alerts evaluates
a threshold rule → a firing alert on `alerts`."""

from __future__ import annotations

import json

import pytest

from services.alerts.app import create_app as create_alerts
from services.alerts.settings import AlertsSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import running, service_settings
from tests.support.events import measurement
from tests.support.kafka import TopicReader, produce

pytestmark = pytest.mark.kafka


async def test_measurement_over_threshold_fires_one_alert(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    common = {"bootstrap": kafka_bootstrap, "topics": topics, "admin_key": admin_key}
    metrics_settings = service_settings(
        MetricsSettings, database_url=await databases.new(), **common
    )
    alerts_settings = service_settings(AlertsSettings, database_url=await databases.new(), **common)
    async with (
        running(create_metrics(metrics_settings), admin_key) as metrics,
        running(create_alerts(alerts_settings), admin_key) as alerts,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alert_topic,
    ):
        created = await metrics.client.post(
            "/v1/kpis", json={"key": "churn", "name": "Churn", "aggregation": "last"}
        )
        assert created.status_code == 201, created.text
        rule = await alerts.client.post(
            "/v1/rules",
            json={
                "name": "ChurnTooHigh",
                "kpi": "churn",
                "operator": "above",
                "threshold": 5.0,
                "severity": "critical",
                "annotations": {"summary": "Churn above 5 %"},
            },
        )
        assert rule.status_code == 201, rule.text

        await produce(
            kafka_bootstrap,
            topics.name(topics.measurements),
            [measurement("acme", "churn", 7.5)],
            keys=["acme/churn"],
        )

        records = await alert_topic.wait_for(lambda rs: len(rs) >= 1, what="a firing alert")
        event = json.loads(records[0].value)
        assert event["type"] == "lodestar.alert.firing.v1"
        assert event["tenant"] == "acme"
        assert event["data"]["status"] == "firing"
        assert event["data"]["labels"]["alertname"] == "ChurnTooHigh"
        assert event["data"]["labels"]["kpi"] == "churn"
        assert event["data"]["value"] == 7.5
        assert event["subject"] == event["data"]["fingerprint"]
        assert records[0].key == f"acme/{event['subject']}".encode()
        # The sentinel: back below the threshold (same key, so after the breach), the alert
        # resolves; between the two, one breach fired exactly one alert.
        await produce(
            kafka_bootstrap,
            topics.name(topics.measurements),
            [measurement("acme", "churn", 2.0)],
            keys=["acme/churn"],
        )
        await alert_topic.wait_for(lambda rs: len(rs) >= 2, what="the resolution")
        await alert_topic.drain()
        assert [e["type"] for e in alert_topic.events()] == [
            "lodestar.alert.firing.v1",
            "lodestar.alert.resolved.v1",
        ], "one breach fires exactly one alert"
