"""The KPI ↔ OKR loop with goals, metrics and alerts as separate processes on the real broker:
a measurement moves a linked key result and fires an alert; a KPI is promoted into a key result;
a key result met for three periods graduates into the KPI's guardrail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Topics
from tests.support.events import measurement
from tests.support.kafka import TopicReader, produce, wait_until
from tests.support.processes import Platform, platform, sqlite_urls

pytestmark = pytest.mark.kafka


@dataclass
class Loop:
    running: Platform
    client: httpx.AsyncClient
    bootstrap: str
    topics: Topics
    cycle_id: str
    objective_id: str

    def url(self, service: str, path: str) -> str:
        return f"{self.running.url(service)}/v1{path}"

    async def post(self, service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.client.post(self.url(service, path), json=body)
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def get(self, service: str, path: str) -> dict[str, Any]:
        answer = await self.client.get(self.url(service, path))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def measure(self, kpi: str, *values: tuple[float, datetime]) -> None:
        await produce(
            self.bootstrap,
            self.topics.name(self.topics.measurements),
            [measurement("acme", kpi, v, time=at) for v, at in values],
            keys=[f"acme/{kpi}"] * len(values),
        )


@pytest.fixture
async def loop(
    kafka_bootstrap: str, topics: Topics, admin_key: str, tmp_path: Path
) -> AsyncIterator[Loop]:
    databases = sqlite_urls(tmp_path)
    headers = {"Authorization": f"Bearer {admin_key}"}
    with platform(
        bootstrap=kafka_bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls=databases,
        log_dir=tmp_path,
    ) as running:
        async with httpx.AsyncClient(headers=headers, timeout=15) as client:
            now = datetime.now(UTC)
            setup = Loop(running, client, kafka_bootstrap, topics, "", "")
            cycle = await setup.post(
                "goals",
                "/cycles",
                {
                    "name": "Q",
                    "starts_at": (now - timedelta(days=10)).isoformat(),
                    "ends_at": (now + timedelta(days=80)).isoformat(),
                },
            )
            activated = await client.post(setup.url("goals", f"/cycles/{cycle['id']}/activate"))
            assert activated.status_code == 200, activated.text
            objective = await setup.post(
                "goals",
                "/objectives",
                {"cycle_id": cycle["id"], "title": "Grow", "owner": "ceo", "level": "company"},
            )
            setup.cycle_id, setup.objective_id = cycle["id"], objective["id"]
            yield setup


async def test_a_measurement_moves_a_linked_key_result_and_fires_an_alert(loop: Loop) -> None:
    await loop.post("metrics", "/kpis", {"key": "mql", "name": "MQLs", "aggregation": "sum"})
    await loop.post(
        "alerts", "/rules", {"name": "MqlSurge", "kpi": "mql", "operator": "above", "threshold": 20}
    )
    kr = await loop.post(
        "goals",
        f"/objectives/{loop.objective_id}/key-results",
        {
            "title": "250 MQLs",
            "kind": "increase",
            "start": 0,
            "target": 250,
            "kpi": "mql",
            "kpi_aggregation": "sum",
        },
    )

    async with (
        TopicReader(loop.bootstrap, loop.topics.name(loop.topics.alerts)) as alerts,
        TopicReader(loop.bootstrap, loop.topics.name(loop.topics.okr_events)) as okr,
    ):
        now = datetime.now(UTC)
        # Yesterday's 20 is history for alerts; today's 30 is what MqlSurge (above 20) sees.
        await loop.measure("mql", (20.0, now - timedelta(days=1)), (30.0, now))

        async def moved() -> bool:
            found = await loop.get("goals", f"/key-results/{kr['id']}")
            return bool(found["current"] == 50.0)

        await wait_until(moved, what="the KR to follow the KPI (30 + 20 over the cycle)")
        found = await loop.get("goals", f"/key-results/{kr['id']}")
        assert found["progress"] == pytest.approx(0.2)
        history = await loop.get("goals", f"/key-results/{kr['id']}/check-ins")
        assert {c["source"] for c in history["items"]} == {"kpi"}

        await okr.wait_for(
            lambda rs: any(
                json.loads(r.value)["type"] == "lodestar.kr.progress.v1"
                and json.loads(r.value)["data"]["current"] == 50.0
                for r in rs
            ),
            what="the KR progress event",
        )
        records = await alerts.wait_for(lambda rs: len(rs) >= 1, what="the MqlSurge alert")
        fired = json.loads(records[0].value)
        assert fired["type"] == "lodestar.alert.firing.v1"
        assert fired["data"]["labels"]["alertname"] == "MqlSurge"
        assert fired["data"]["value"] == 30.0, "fired by today's period"


async def test_a_kpi_is_promoted_into_a_key_result_that_then_follows_it(loop: Loop) -> None:
    await loop.post(
        "metrics",
        "/kpis",
        {"key": "churn", "name": "Churn", "aggregation": "last", "direction": "lower"},
    )
    await loop.measure("churn", (4.0, datetime.now(UTC)))

    async def has_value() -> bool:
        return bool((await loop.get("metrics", "/kpis/churn/value"))["value"] == 4.0)

    await wait_until(has_value, what="metrics to store the churn value")
    kr = await loop.post(
        "goals",
        "/key-results/promote",
        {
            "kpi": "churn",
            "cycle_id": loop.cycle_id,
            "objective_id": loop.objective_id,
            "target": 2.0,
        },
    )
    assert kr["kind"] == "decrease"
    assert kr["start"] == 4.0
    assert kr["promoted_from_kpi"] == "churn"

    await loop.measure("churn", (3.0, datetime.now(UTC)))

    async def halfway() -> bool:
        return bool((await loop.get("goals", f"/key-results/{kr['id']}"))["progress"] == 0.5)

    await wait_until(halfway, what="the promoted KR to follow churn down to 3.0")


async def test_a_key_result_met_for_three_periods_graduates_into_a_guardrail(loop: Loop) -> None:
    await loop.post("metrics", "/kpis", {"key": "uptime", "name": "Uptime", "aggregation": "avg"})
    kr = await loop.post(
        "goals",
        f"/objectives/{loop.objective_id}/key-results",
        {
            "title": "Uptime ≥ 99.5",
            "kind": "keep_above",
            "target": 99.5,
            "kpi": "uptime",
            "graduation_periods": 3,
        },
    )
    async with TopicReader(loop.bootstrap, loop.topics.name(loop.topics.okr_events)) as okr:
        today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
        await loop.measure("uptime", *[(99.9, today - timedelta(days=d)) for d in (3, 2, 1)])

        def graduated(records: list[Any]) -> bool:
            return any(json.loads(r.value)["type"] == "lodestar.kr.graduated.v1" for r in records)

        records = await okr.wait_for(graduated, what="the graduation event")
        event = next(
            json.loads(r.value)
            for r in records
            if json.loads(r.value)["type"] == "lodestar.kr.graduated.v1"
        )
        assert event["data"]["key_result_id"] == kr["id"]
        assert event["data"]["periods_met"] == 3

    found = await loop.get("goals", f"/key-results/{kr['id']}")
    assert found["state"] == "graduated"
    assert found["status"] == "achieved"

    async def guardrail() -> bool:
        return bool((await loop.get("metrics", "/kpis/uptime"))["green"] == 99.5)

    await wait_until(guardrail, what="metrics to take the KR's target as the KPI's green band")

    # The KPI later drops out of its band: alerts fires and suggests promoting it again.
    async with TopicReader(loop.bootstrap, loop.topics.name(loop.topics.alerts)) as alerts:
        await loop.measure("uptime", (97.0, datetime.now(UTC)))

        def breached(records: list[Any]) -> bool:
            return any(
                json.loads(r.value)["data"]["labels"]["alertname"] == "KpiGuardrailBreached"
                for r in records
            )

        records = await alerts.wait_for(breached, what="the guardrail alert")
    alert = next(
        json.loads(r.value)["data"]
        for r in records
        if json.loads(r.value)["data"]["labels"]["alertname"] == "KpiGuardrailBreached"
    )
    assert alert["status"] == "firing"
    assert alert["labels"]["kpi"] == "uptime"
    assert alert["labels"]["graduated_from"] == kr["id"]
    assert alert["annotations"]["promote_url"] == loop.url("goals", "/key-results/promote")
    assert "promot" in alert["annotations"]["description"]
