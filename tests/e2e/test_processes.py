"""The three services as separate processes on the real broker, as `scripts/run.sh` runs them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from shared.settings import Topics
from tests.support.events import measurement
from tests.support.kafka import TopicReader, produce
from tests.support.processes import platform, sqlite_urls

pytestmark = pytest.mark.kafka


async def test_measurement_to_alert_across_processes(
    kafka_bootstrap: str, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    databases = sqlite_urls(tmp_path)
    headers = {"Authorization": f"Bearer {admin_key}"}
    with platform(
        bootstrap=kafka_bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls=databases,
        log_dir=tmp_path,
    ) as running:
        async with httpx.AsyncClient(headers=headers, timeout=10) as client:
            for name in ("goals", "metrics", "alerts"):
                ready = await client.get(f"{running.url(name)}/readyz")
                assert ready.json()["checks"] == {"database": "ok", "kafka": "ok", "loops": "ok"}
                exported = await client.get(f"{running.url(name)}/metrics")
                assert "lodestar_consumed_records_total" in exported.text
            kpi = await client.post(
                f"{running.url('metrics')}/v1/kpis",
                json={"key": "uptime", "name": "Uptime", "aggregation": "min"},
            )
            assert kpi.status_code == 201, kpi.text
            rule = await client.post(
                f"{running.url('alerts')}/v1/rules",
                json={
                    "name": "UptimeLow",
                    "kpi": "uptime",
                    "operator": "below",
                    "threshold": 99.5,
                },
            )
            assert rule.status_code == 201, rule.text

            async with TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts:
                await produce(
                    kafka_bootstrap,
                    topics.name(topics.measurements),
                    [measurement("acme", "uptime", 98.0)],
                    keys=["acme/uptime"],
                )
                records = await alerts.wait_for(lambda rs: len(rs) >= 1, what="a firing alert")
                event = json.loads(records[0].value)
                assert event["type"] == "lodestar.alert.firing.v1"
                assert event["data"]["labels"]["alertname"] == "UptimeLow"
                generator = event["data"]["generatorURL"]
                assert generator == f"{running.url('metrics')}/v1/kpis/uptime"
