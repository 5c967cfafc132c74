"""Webhooks to a real HTTP server on 127.0.0.1: Alertmanager's body, a Standard Webhooks
signature computed here from its definition, retries with backoff visible through the API,
and evaluation never held back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from services.alerts.app import create_app
from services.alerts.tables import AlertRule
from shared.crypto import unseal
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings, kpi_value, send, webhook_receiver
from tests.support.apps import RunningApp, running
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def expected_signature(headers: dict[str, str], body: bytes) -> str:
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()


def rule(url: str) -> dict[str, object]:
    return {
        "name": "ChurnTooHigh",
        "kpi": "churn",
        "threshold": 5.0,
        "annotations": {"summary": "churn high", "runbook_url": "https://runbooks/churn"},
        "webhook": {"url": url, "secret": SECRET},
    }


async def test_the_receiver_gets_a_signed_alertmanager_post(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    with webhook_receiver() as receiver:
        async with running(create_app(settings), admin_key) as app:
            created = await app.client.post("/v1/rules", json=rule(receiver.url))
            assert created.status_code == 201, created.text
            assert created.json()["webhook"] == {"url": receiver.url, "has_secret": True}
            assert SECRET not in created.text

            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))
            await wait_until(lambda: receiver.posts, what="a webhook post")
            headers, body = receiver.posts[0]
            assert headers["webhook-signature"] == expected_signature(headers, body)
            assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
            payload = json.loads(body)
            assert payload["version"] == "4"
            assert payload["status"] == "firing"
            assert payload["receiver"] == "ChurnTooHigh"
            [alert] = payload["alerts"]
            assert alert["labels"]["alertname"] == "ChurnTooHigh"
            assert alert["annotations"]["runbook_url"] == "https://runbooks/churn"
            assert alert["endsAt"] == "0001-01-01T00:00:00Z"

            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 1.0))
            await wait_until(lambda: len(receiver.posts) >= 2, what="the resolved post")
            resolved = json.loads(receiver.posts[1][1])
            assert resolved["status"] == "resolved"
            assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]

            async def delivered() -> list[dict[str, object]] | None:
                page = (await app.client.get("/v1/webhook-deliveries")).json()
                items: list[dict[str, object]] = page["items"]
                return items if all(d["status"] == "delivered" for d in items) else None

            items = await wait_until(delivered, what="deliveries recorded as delivered")
            assert len(items) == 2
            assert {d["last_status_code"] for d in items} == {200}


async def test_a_delivery_is_posted_when_it_commits_not_at_the_next_poll(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    settings.webhook_poll_interval_s = 120.0  # longer than the test may take
    with webhook_receiver() as receiver:
        async with running(create_app(settings), admin_key) as app:
            created = await app.client.post("/v1/rules", json=rule(receiver.url))
            assert created.status_code == 201, created.text
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))
            await wait_until(lambda: receiver.posts, timeout_s=30, what="the firing post")
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 1.0))
            await wait_until(lambda: len(receiver.posts) >= 2, timeout_s=30, what="the resolved")
    assert [json.loads(body)["status"] for _, body in receiver.posts] == ["firing", "resolved"]


async def test_a_failing_receiver_is_retried_and_never_blocks_the_topic(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    with webhook_receiver(statuses=[500, 503]) as receiver:
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            assert (await app.client.post("/v1/rules", json=rule(receiver.url))).status_code == 201
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))
            await alerts.wait_for(lambda rs: len(rs) == 1, what="the firing event")

            async def failed_once() -> dict[str, object] | None:
                items = (await app.client.get("/v1/webhook-deliveries")).json()["items"]
                return items[0] if items and items[0]["last_status_code"] == 500 else None

            failing = await wait_until(failed_once, what="a failed attempt on record")
            assert failing["status"] == "pending"
            assert failing["last_error"] == "HTTP 500"

            async def delivered() -> dict[str, object] | None:
                items = (await app.client.get("/v1/webhook-deliveries")).json()["items"]
                return items[0] if items[0]["status"] == "delivered" else None

            done = await wait_until(delivered, what="delivery after retries")
            assert done["attempts"] == 3
            assert len(receiver.posts) == 3
            bodies = {body for _, body in receiver.posts}
            assert len(bodies) == 1, "a retry posts the same body"


async def test_an_unreachable_receiver_ends_failed_after_the_last_attempt(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    settings.webhook_max_attempts = 2
    with webhook_receiver() as receiver:
        dead_url = receiver.url  # the server stops when this block ends: nobody listens there
    async with running(create_app(settings), admin_key) as app:
        assert (await app.client.post("/v1/rules", json=rule(dead_url))).status_code == 201
        await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

        async def failed() -> dict[str, object] | None:
            page = await app.client.get("/v1/webhook-deliveries", params={"status": "failed"})
            items = page.json()["items"]
            return items[0] if items else None

        done = await wait_until(failed, what="a failed delivery")
        assert done["attempts"] == 2
        assert done["last_error"] == "connect"  # the kind, never the transport's message
        firing = (await app.client.get("/v1/alerts", params={"state": "firing"})).json()
        assert len(firing["items"]) == 1


def by_tag(url: str) -> dict[str, object]:
    """One rule over every KPI tagged `retention`: its alerts share an alertname."""
    return {
        "name": "RetentionTooHigh",
        "selector": {"tags": ["retention"]},
        "threshold": 5.0,
        "webhook": {"url": url, "secret": SECRET},
    }


def retention(kpi: str, value: float) -> bytes:
    return kpi_value(kpi, value, tags=["retention"])


def printed(labels: dict[str, str]) -> str:
    """A label set as Prometheus prints it (sorted, values quoted)."""
    return "{" + ", ".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


class TestGrouping:
    async def test_each_body_is_the_group_of_the_one_alert_it_carries(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        values = topics.name(topics.kpi_values)
        with webhook_receiver() as receiver:
            async with running(create_app(settings), admin_key) as app:
                assert (await app.client.post("/v1/rules", json=by_tag(receiver.url))).is_success
                await send(kafka_bootstrap, values, retention("churn", 9.0), retention("nps", 9.0))
                await wait_until(lambda: len(receiver.posts) >= 2, what="two firing posts")
                await send(kafka_bootstrap, values, retention("churn", 1.0))
                await wait_until(lambda: receiver.bodies("churn")[1:], what="churn resolved")

        [churn_firing, churn_resolved] = receiver.bodies("churn")
        [nps_firing] = receiver.bodies("nps")
        for body in (churn_firing, churn_resolved, nps_firing):
            [alert] = body["alerts"]
            assert body["groupLabels"] == alert["labels"] == body["commonLabels"]
            assert body["groupKey"] == "{}:" + printed(alert["labels"])
        assert churn_firing["groupKey"] == churn_resolved["groupKey"]
        assert churn_firing["groupKey"] != nps_firing["groupKey"]
        assert churn_resolved["status"] == "resolved"


class TestOrderPerAlert:
    async def test_a_resolved_waits_for_its_firing_and_other_alerts_go_on(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
        values = topics.name(topics.kpi_values)
        with webhook_receiver() as receiver:
            receiver.held.add("churn")
            async with running(create_app(settings), admin_key) as app:
                assert (await app.client.post("/v1/rules", json=by_tag(receiver.url))).is_success

                async def deliveries(**params: str) -> list[dict[str, object]]:
                    page = await app.client.get("/v1/webhook-deliveries", params=params)
                    items: list[dict[str, object]] = page.json()["items"]
                    return items

                await send(kafka_bootstrap, values, retention("churn", 9.0))
                await wait_until(lambda: receiver.bodies("churn"), what="a refused firing")
                fingerprint = receiver.bodies("churn")[0]["alerts"][0]["fingerprint"]
                await send(kafka_bootstrap, values, retention("churn", 1.0))

                async def resolved_written() -> bool:
                    return len(await deliveries(fingerprint=fingerprint)) == 2

                await wait_until(resolved_written, what="the resolved delivery on record")
                await send(kafka_bootstrap, values, retention("nps", 9.0))
                await wait_until(lambda: receiver.bodies("nps"), what="nps, not held back")

                async def retried_since() -> bool:
                    [firing] = [
                        d
                        for d in await deliveries(fingerprint=fingerprint)
                        if d["alert_status"] == "firing"
                    ]
                    return int(str(firing["attempts"])) >= 3

                await wait_until(retried_since, what="the firing retried while resolved waits")
                receiver.held.discard("churn")
                await wait_until(
                    lambda: any(b["status"] == "resolved" for b in receiver.bodies("churn")),
                    what="the resolved post",
                )

        churn = receiver.answered("churn")
        assert churn[-2:] == [("firing", 200), ("resolved", 200)]
        assert set(churn[:-2]) == {("firing", 503)}


async def test_secrets_are_sealed_at_rest_and_plain_ones_sealed_at_start(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)

    async def stored(app: RunningApp) -> str:
        async with app.runtime.db.session() as session:
            secret = (await session.execute(select(col(AlertRule.webhook_secret)))).scalar_one()
        assert isinstance(secret, str)
        return secret

    async with running(create_app(settings), admin_key) as app:
        made = await app.client.post("/v1/rules", json=rule("http://127.0.0.1:9/hook"))
        assert made.status_code == 201, made.text
        sealed = await stored(app)
        assert SECRET not in sealed
        assert unseal(settings.secret_key, sealed) == SECRET
        # As a database from before sealing holds it.
        async with app.runtime.db.transaction() as session:
            await session.execute(update(AlertRule).values(webhook_secret=SECRET))
    async with running(create_app(settings), admin_key) as app:
        resealed = await stored(app)
        assert SECRET not in resealed
        assert unseal(settings.secret_key, resealed) == SECRET


async def test_a_service_without_a_secret_key_refuses_to_start(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.secret_key = None
    with pytest.raises(RuntimeError, match="LODESTAR_SECRET_KEY is not set"):
        async with running(create_app(settings), admin_key):
            pass
