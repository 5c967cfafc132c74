"""A `lodestar.kr.graduated.v1` on `okr.events` turns the KPI's health bands into a guardrail."""

from __future__ import annotations

import pytest

from services.metrics.app import create_app
from services.metrics.settings import MetricsSettings
from shared.events import KR_GRADUATED_V1, KrGraduatedV1, new_event
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import running, service_settings
from tests.support.kafka import produce, wait_until

pytestmark = pytest.mark.kafka


def graduation(kpi: str, target: float, *, kind: str = "increase", id: str | None = None) -> bytes:
    data = KrGraduatedV1(key_result_id="kr-1", kpi=kpi, kind=kind, target=target, periods_met=3)
    event = new_event(type=KR_GRADUATED_V1, source="lodestar/goals", tenant="acme",
                      subject="kr-1", data=data, id=id)  # fmt: skip
    return event.to_json()


async def test_graduation_sets_the_kpi_bands_once(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=await databases.new(), admin_key=admin_key,
    )  # fmt: skip
    okr_topic = topics.name(topics.okr_events)
    async with running(create_app(settings), admin_key) as metrics:
        client = metrics.client
        for key in ("mql", "churn"):
            created = await client.post("/v1/kpis", json={"key": key, "name": key})
            assert created.status_code == 201, created.text

        first = graduation("mql", 250.0, id="grad-1")
        await produce(kafka_bootstrap, okr_topic, [first], keys=["acme/kr-1"])

        async def green_is(key: str, value: float) -> bool:
            return (await client.get(f"/v1/kpis/{key}")).json()["green"] == value

        await wait_until(lambda: green_is("mql", 250.0), what="mql's green = the KR's target")
        kpi = (await client.get("/v1/kpis/mql")).json()
        assert kpi["direction"] == "higher"

        # Someone moves the band by hand; the same graduation delivered again changes nothing.
        patched = await client.patch("/v1/kpis/mql", json={"green": 300.0})
        assert patched.status_code == 200, patched.text
        sentinel = graduation("churn", 2.0, kind="decrease")
        await produce(kafka_bootstrap, okr_topic, [first, sentinel], keys=["acme/kr-1"] * 2)
        await wait_until(lambda: green_is("churn", 2.0), what="the later graduation applied")
        assert (await client.get("/v1/kpis/churn")).json()["direction"] == "lower"
        assert (await client.get("/v1/kpis/mql")).json()["green"] == 300.0
