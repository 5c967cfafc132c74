"""The clock (`Ticker`): it steps the alerts due (`alerts.due_at`), not every active alert,
and what only the clock can do still happens — a pending alert fires after `for`, a firing
held back by a silence is published when the silence runs out. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


async def test_a_tick_steps_the_alerts_due_and_no_others(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    settings.evaluation_interval_s = 3600.0  # the background ticker ticks once: these are ours
    values = topics.name(topics.kpi_values)
    kpis = [f"k{i:02d}" for i in range(20)]
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        ticker = app.app.state.ticker
        for kpi in [*kpis, "slow"]:
            hold = 1.0 if kpi == "slow" else 0.0
            rule = {"name": "High", "kpi": kpi, "threshold": 5.0, "for_seconds": hold}
            assert (await app.client.post("/v1/rules", json=rule)).status_code == 201
        await send(kafka_bootstrap, values, *(kpi_value(k, 9.0) for k in kpis))
        await alerts.wait_for(lambda _: len(of_type(alerts, "firing.v1")) == 20, what="firings")
        await ticker.tick_once()  # the definitions moved: every alert of the tenant, once

        # Twenty firing alerts, published, none due (their repeat is hours away).
        assert await ticker.tick_once() == 0

        await send(kafka_bootstrap, values, kpi_value("slow", 9.0))

        async def pending() -> bool:
            found = await app.client.get("/v1/alerts", params={"state": "pending"})
            return bool(found.json()["items"])

        await wait_until(pending, what="the pending alert")
        # Only the clock moves it past `for`; each tick looks at it alone, if at all.
        seen: list[int] = []

        async def fired() -> bool:
            seen.append(await ticker.tick_once())
            await alerts.poll()
            return any(e["data"]["labels"]["kpi"] == "slow" for e in of_type(alerts, "firing.v1"))

        await wait_until(fired, timeout_s=15, what="the firing of `slow`")
        assert set(seen) <= {0, 1}, seen
        assert 1 in seen
        assert await ticker.tick_once() == 0


async def test_a_silence_that_runs_out_publishes_the_firing_it_held_back(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    values = topics.name(topics.kpi_values)
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        rule = {"name": "High", "kpi": "churn", "threshold": 5.0}
        assert (await app.client.post("/v1/rules", json=rule)).status_code == 201
        ends = datetime.now(UTC) + timedelta(seconds=8)
        silence = await app.client.post(
            "/v1/silences",
            json={
                "matchers": [{"name": "kpi", "op": "=", "value": "churn"}],
                "endsAt": ends.isoformat(),
                "createdBy": "sre@acme",
                "comment": "a short one",
            },
        )
        assert silence.status_code == 201, silence.text
        await send(kafka_bootstrap, values, kpi_value("churn", 9.0))
        await sentinel(app.client, kafka_bootstrap, values, alerts, after="churn")
        if datetime.now(UTC) < ends:  # else the clock may have published it already
            assert not_sentinel(alerts) == [], "silenced"

        # No value, no API call: the silence's end alone makes the alert due.
        await alerts.wait_for(
            lambda _: len(of_type(alerts, "firing.v1")) == 1, timeout_s=20, what="the firing"
        )
        published = of_type(alerts, "firing.v1")[0]
        assert published["data"]["labels"]["kpi"] == "churn"
        assert datetime.fromisoformat(published["time"]) >= ends
