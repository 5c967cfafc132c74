"""An acknowledgement is published: on `alerts` (keyed by fingerprint) and to the rule's
webhook when it is put on, taken off, or when it lapses; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.alerts.app import create_app
from shared.events import utcnow
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    of_type,
    send,
    webhook_receiver,
)
from tests.support.apps import running
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka


def rule(webhook_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "ChurnTooHigh", "kpi": "churn", "threshold": 5.0}
    if webhook_url is not None:
        body["webhook"] = {"url": webhook_url, "secret": "whsec_" + "A" * 32}
    return body


def keyed(reader: TopicReader, suffix: str) -> list[tuple[str, dict[str, Any]]]:
    """(record key, event) of the events of that type read so far."""
    return [
        ((r.key or b"").decode(), json.loads(r.value))
        for r in reader.records
        if json.loads(r.value)["type"].endswith(suffix)
    ]


async def test_ack_and_unack_are_published_on_the_topic_and_to_the_webhook(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    with webhook_receiver() as receiver:
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            assert (await app.client.post("/v1/rules", json=rule(receiver.url))).is_success
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))
            await alerts.wait_for(lambda _: bool(of_type(alerts, "firing.v1")), what="the firing")
            fp = of_type(alerts, "firing.v1")[0]["data"]["fingerprint"]
            await wait_until(lambda: receiver.posts, what="the firing post")

            acked = await app.client.post(
                f"/v1/alerts/{fp}/ack", json={"by": "ana", "note": "on it"}
            )
            assert acked.status_code == 200, acked.text
            await alerts.wait_for(lambda _: bool(keyed(alerts, ".acknowledged.v1")), what="the ack")
            [(key, ack)] = keyed(alerts, ".acknowledged.v1")
            assert key == f"acme/{fp}"
            assert ack["subject"] == fp
            assert ack["data"]["by"] == "ana"
            assert ack["data"]["note"] == "on it"
            assert ack["data"]["labels"]["alertname"] == "ChurnTooHigh"
            assert ack["data"]["expired"] is False

            gone = await app.client.delete(f"/v1/alerts/{fp}/ack")
            assert gone.status_code == 200, gone.text
            assert gone.json()["acknowledged"] is None
            await alerts.wait_for(
                lambda _: bool(keyed(alerts, "unacknowledged.v1")), what="the un-ack"
            )
            [(key, unack)] = keyed(alerts, "unacknowledged.v1")
            assert key == f"acme/{fp}"
            assert unack["data"]["by"].startswith("key:")
            assert unack["data"]["expired"] is False
            assert (await app.client.delete(f"/v1/alerts/{fp}/ack")).status_code == 409

            await wait_until(lambda: len(receiver.posts) >= 3, what="the ack and un-ack posts")
            firing, ack_post, unack_post = receiver.bodies()
            assert [p.get("lodestar", {}).get("event") for p in receiver.bodies()] == [
                None,
                "acknowledged",
                "unacknowledged",
            ]
            assert ack_post["lodestar"]["by"] == "ana"
            for post in (ack_post, unack_post):  # what an Alertmanager receiver sees
                assert post["status"] == "firing"
                assert post["groupKey"] == firing["groupKey"]
                assert post["alerts"][0]["fingerprint"] == fp
            history = (await app.client.get(f"/v1/alerts/{fp}")).json()["history"]
            assert [h["kind"] for h in history][-2:] == ["acknowledged", "unacknowledged"]


async def test_an_ack_lapses_at_its_expiry_and_the_lapse_is_published(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with (
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        assert (await app.client.post("/v1/rules", json=rule())).is_success
        await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))
        await alerts.wait_for(lambda _: bool(of_type(alerts, "firing.v1")), what="the firing")
        fp = of_type(alerts, "firing.v1")[0]["data"]["fingerprint"]

        both = {"ttl": 60, "expires_at": (utcnow() + timedelta(hours=1)).isoformat()}
        assert (await app.client.post(f"/v1/alerts/{fp}/ack", json=both)).status_code == 422
        before = utcnow()
        acked = await app.client.post(f"/v1/alerts/{fp}/ack", json={"ttl": 1.0})
        assert acked.status_code == 200, acked.text
        expires_at = acked.json()["acknowledged"]["expires_at"]
        assert expires_at is not None
        await alerts.wait_for(
            lambda _: bool(keyed(alerts, "unacknowledged.v1")), what="the lapse, from the ticker"
        )
        [(key, lapse)] = keyed(alerts, "unacknowledged.v1")
        assert key == f"acme/{fp}"
        assert lapse["data"]["expired"] is True
        assert lapse["data"]["by"] is None
        assert lapse["data"]["expires_at"].replace("Z", "+00:00") == expires_at.replace(
            "Z", "+00:00"
        )
        assert utcnow() - before >= timedelta(seconds=1), "not before its expiry"
        shown = (await app.client.get(f"/v1/alerts/{fp}")).json()
        assert shown["acknowledged"] is None
        assert shown["history"][-1]["kind"] == "unacknowledged"
        assert shown["history"][-1]["detail"] == "expired"
