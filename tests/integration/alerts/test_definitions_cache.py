"""The evaluator's cache of rules, silences and settings (`service.definitions`) never serves a
stale definition: a change made through the API takes effect on the very next value, whether
it was made through the instance that evaluates or through a second instance on the same
PostgreSQL database (a replica: its writes reach the first's cache only through the shared
definitions version). Absences are proved with sentinel events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    not_sentinel,
    send,
    sentinel,
)
from tests.support.accounting import create_topics
from tests.support.apps import RunningApp, running
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.kafka


class Scenario:
    """Values of one KPI against a rule changed through `writer`, evaluated by `app`."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        app: RunningApp,
        writer: httpx.AsyncClient,
        alerts: TopicReader,
    ) -> None:
        self.bootstrap, self.topics, self.app, self.writer = bootstrap, topics, app, writer
        self.alerts = alerts
        self.kpi = f"k-{uuid.uuid4().hex[:6]}"
        self.values = topics.name(topics.kpi_values)

    def about(self, kpi: str | None = None) -> list[tuple[str, str, Any]]:
        """(firing/resolved, alertname, value) of each event about `kpi`, in order."""
        wanted = kpi or self.kpi
        return [
            (e["type"].split(".")[-2], e["data"]["labels"]["alertname"], e["data"].get("value"))
            for e in not_sentinel(self.alerts)
            if e["data"]["labels"].get("kpi") == wanted
        ]

    async def value(self, value: float, *, kpi: str | None = None, health: str = "green") -> None:
        await send(self.bootstrap, self.values, kpi_value(kpi or self.kpi, value, health=health))

    async def settled(self, kpi: str | None = None) -> None:
        """Everything the service would publish about the values sent so far is read."""
        await sentinel(
            self.app.client, self.bootstrap, self.values, self.alerts, after=kpi or self.kpi
        )

    async def alert(self) -> dict[str, Any]:
        found = await self.app.client.get("/v1/alerts", params={"label": f"kpi={self.kpi}"})
        items: list[dict[str, Any]] = found.json()["items"]
        assert len(items) == 1, items
        return items[0]

    async def run(self) -> None:
        kpi, writer = self.kpi, self.writer
        # Prime the cache at the version before the rule exists.
        await self.value(5)
        await self.settled()
        assert self.about() == []

        # A rule created: the next value fires.
        made = await writer.post(
            "/v1/rules", json={"name": "High", "kpi": kpi, "operator": "above", "threshold": 10}
        )
        assert made.status_code == 201, made.text
        rule = made.json()["id"]
        await self.value(20)
        await self.alerts.wait_for(lambda _: self.about() == [("firing", "High", 20)])

        # Disabled: its alert is closed, and the next value fires nothing.
        off = await writer.patch(f"/v1/rules/{rule}", json={"enabled": False})
        assert off.status_code == 200, off.text
        await self.value(30)
        await self.settled()
        assert ("firing", "High", 30) not in self.about()
        assert (await self.alert())["state"] == "resolved"

        # Enabled again: the next value fires.
        on = await writer.patch(f"/v1/rules/{rule}", json={"enabled": True})
        assert on.status_code == 200, on.text
        await self.value(40)
        await self.alerts.wait_for(lambda _: self.about()[-1:] == [("firing", "High", 40)])

        # A silence added: the next firing is silenced (firing, not published).
        await self.value(1)
        await self.alerts.wait_for(lambda _: self.about()[-1:] == [("resolved", "High", 1)])
        ends = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        silence = await writer.post(
            "/v1/silences",
            json={
                "matchers": [{"name": "kpi", "op": "=", "value": kpi}],
                "ends_at": ends,
                "created_by": "test",
                "comment": "cache",
            },
        )
        assert silence.status_code == 201, silence.text
        await self.value(50)
        await self.settled()
        assert self.about()[-1:] == [("resolved", "High", 1)]
        alert = await self.alert()
        assert (alert["state"], alert["silenced_by"]) == ("firing", [silence.json()["id"]])

        # The silence expired: the firing is published, by the next value or by the clock's
        # tick if it comes first (the ticker's cache must see the expiry too).
        expired = await writer.delete(f"/v1/silences/{silence.json()['id']}")
        assert expired.status_code == 200, expired.text
        await self.value(60)
        await self.alerts.wait_for(
            lambda _: self.about()[-1:] in ([("firing", "High", 50)], [("firing", "High", 60)])
        )
        await self.settled()
        assert len([e for e in self.about() if e[0] == "firing"]) == 3, "published once"

        # The rule patched to hold an hour before firing: the next breach stays pending.
        await self.value(2)
        await self.alerts.wait_for(lambda _: self.about()[-1:] == [("resolved", "High", 2)])
        held = await writer.patch(f"/v1/rules/{rule}", json={"for_seconds": 3600})
        assert held.status_code == 200, held.text
        await self.value(70)
        await self.settled()
        assert self.about()[-1:] == [("resolved", "High", 2)]
        assert (await self.alert())["state"] == "pending"

        # A setting: KpiRed switched off, then on; each takes effect on the next value.
        red = f"r-{uuid.uuid4().hex[:6]}"
        await self.value(1, kpi=red, health="green")
        await self.settled(red)  # the cache holds KpiRed on
        switched = await writer.patch("/v1/settings", json={"kpi_red": False})
        assert switched.status_code == 200, switched.text
        await self.value(9, kpi=red, health="red")
        await self.settled(red)
        assert self.about(red) == []
        switched = await writer.patch("/v1/settings", json={"kpi_red": True})
        assert switched.status_code == 200, switched.text
        await self.value(8, kpi=red, health="red")
        await self.alerts.wait_for(lambda _: self.about(red) == [("firing", "KpiRed", 8)])


async def test_api_changes_take_effect_on_the_next_value(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        await Scenario(kafka_bootstrap, topics, app, app.client, alerts).run()


@pytest.mark.postgres
async def test_changes_through_a_second_instance_take_effect_on_the_next_value(
    kafka_bootstrap: str,
    topics: Topics,
    postgres_databases: DatabaseFactory,
    admin_key: str,
    request: pytest.FixtureRequest,
) -> None:
    """The second instance shares the database, not the topics (its consumers read topics
    nobody writes to), so every value is evaluated by the first, from its cache."""
    other = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    request.getfixturevalue("_test_topic_prefixes").add(other.prefix)  # deleted at the end
    second = alerts_settings(kafka_bootstrap, other, await postgres_databases.new(), admin_key)
    # Made by the admin: the replica's own creation can race its just-granted ACLs.
    names = [other.name(t) for t in (other.kpi_values, other.okr_events, other.tenants)]
    await create_topics(
        kafka_bootstrap, [*names, *map(other.dlq_for, names), other.name(other.alerts)]
    )
    first = alerts_settings(kafka_bootstrap, topics, second.database_url, admin_key)
    async with (
        running(create_app(first), admin_key) as app,
        running(create_app(second), admin_key) as replica,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        await Scenario(kafka_bootstrap, topics, app, replica.client, alerts).run()
