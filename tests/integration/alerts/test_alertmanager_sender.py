"""Lodestar as an alert source of a real Prometheus Alertmanager: a threshold crossing reaches
Alertmanager and, through its own webhook receiver, a local HTTP server; the resolution
follows; a restarted Alertmanager gets the current state back; an Alertmanager that never
answers holds back neither evaluation nor the `alerts` topic; tenants pick their targets."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from services.alerts.am_sender import AlertmanagerSender
from services.alerts.app import create_app
from services.alerts.settings import AlertsSettings
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    Receiver,
    alerts_settings,
    kpi_value,
    send,
    webhook_receiver,
)
from tests.support.alertmanager import PrivateAlertmanager
from tests.support.apps import running
from tests.support.kafka import TopicReader, wait_until

pytestmark = pytest.mark.kafka

PUBLIC_URL = "http://lodestar.example:8003"


def rule(name: str, kpi: str) -> dict[str, object]:
    return {
        "name": name,
        "kpi": kpi,
        "threshold": 5.0,
        "severity": "critical",
        "labels": {"team": "growth"},
        "annotations": {"summary": f"{kpi} above 5", "runbook_url": "https://runbooks/x"},
    }


def with_alertmanagers(settings: AlertsSettings, *urls: str) -> AlertsSettings:
    settings.alertmanager_urls = list(urls)
    settings.alertmanager_resend_interval_s = 1.0
    settings.alertmanager_retry_s = 0.2
    settings.public_url = PUBLIC_URL
    return settings


def notifications(receiver: Receiver, status: str) -> list[dict[str, Any]]:
    """The webhook bodies Alertmanager sent the receiver with this status."""
    bodies = [json.loads(body) for _, body in receiver.posts]
    return [b for b in bodies if b["status"] == status]


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


async def test_a_crossing_reaches_alertmanager_and_its_receiver_and_so_does_the_resolution(
    kafka_bootstrap: str,
    topics: Topics,
    databases: DatabaseFactory,
    admin_key: str,
    tmp_path: Path,
) -> None:
    base = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    with webhook_receiver() as receiver, PrivateAlertmanager(tmp_path, receiver.url) as am:
        settings = with_alertmanagers(base, am.url)
        async with running(create_app(settings), admin_key) as app:
            assert (await app.client.post("/v1/rules", json=rule("ChurnHigh", "churn"))).is_success
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

            [firing] = (await wait_until(lambda: notifications(receiver, "firing"), 30))[0][
                "alerts"
            ]
            [lodestar] = (await app.client.get("/v1/alerts")).json()["items"]
            assert firing["labels"] == {
                "alertname": "ChurnHigh",
                "tenant": "acme",
                "severity": "critical",
                "kpi": "churn",
                "team": "growth",
            }
            assert firing["labels"] == lodestar["labels"]
            assert firing["annotations"]["summary"] == "churn above 5"
            assert firing["generatorURL"] == f"{PUBLIC_URL}/v1/alerts/{lodestar['fingerprint']}"
            assert parse(firing["startsAt"]) == parse(lodestar["starts_at"])
            [held] = await am.alerts()
            assert held["labels"] == lodestar["labels"]

            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 1.0))
            [resolved] = (await wait_until(lambda: notifications(receiver, "resolved"), 30))[0][
                "alerts"
            ]
            lodestar = (await app.client.get(f"/v1/alerts/{lodestar['fingerprint']}")).json()
            assert lodestar["state"] == "resolved"
            assert resolved["labels"] == lodestar["labels"]
            assert parse(resolved["endsAt"]) == parse(lodestar["ends_at"])
            assert await am.alerts() == []


async def test_a_restarted_alertmanager_gets_the_current_state_back(
    kafka_bootstrap: str,
    topics: Topics,
    sqlite_databases: DatabaseFactory,
    admin_key: str,
    tmp_path: Path,
) -> None:
    base = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    values = topics.name(topics.kpi_values)
    with webhook_receiver() as receiver, PrivateAlertmanager(tmp_path, receiver.url) as am:
        settings = with_alertmanagers(base, am.url)
        async with running(create_app(settings), admin_key) as app:
            for name, kpi in (("ChurnHigh", "churn"), ("MqlHigh", "mql"), ("NpsHigh", "nps")):
                assert (await app.client.post("/v1/rules", json=rule(name, kpi))).is_success
            await send(kafka_bootstrap, values, kpi_value("churn", 9.0), kpi_value("mql", 9.0))

            async def held() -> set[str]:
                return {a["labels"]["alertname"] for a in await am.alerts()}

            await wait_until(lambda: _equals(held, {"ChurnHigh", "MqlHigh"}), 30, "both held")

            am.stop()
            # While it is down: churn resolves, nps fires.
            await send(kafka_bootstrap, values, kpi_value("churn", 1.0), kpi_value("nps", 9.0))

            async def states() -> dict[str, str]:
                items = (await app.client.get("/v1/alerts")).json()["items"]
                return {a["labels"]["alertname"]: a["state"] for a in items}

            expected = {"ChurnHigh": "resolved", "MqlHigh": "firing", "NpsHigh": "firing"}
            await wait_until(lambda: _equals(states, expected), 30, "Lodestar's state")
            am.start()
            await wait_until(lambda: _equals(held, {"MqlHigh", "NpsHigh"}), 30, "state back")


async def _equals(check: Any, expected: object) -> bool:
    return bool(await check() == expected)


@contextmanager
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """An HTTP address that accepts connections and never answers: every post to it hangs
    until its timeout. Yields its URL and the connections it has accepted."""
    accepted: list[socket.socket] = []
    server = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        server.close()
        for connection in accepted:
            connection.close()
        thread.join(5)


async def test_an_alertmanager_that_never_answers_holds_back_nothing(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    base = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    with silent_server() as (url, connections):
        settings = with_alertmanagers(base, url)
        settings.alertmanager_timeout_s = 60.0
        async with (
            running(create_app(settings), admin_key) as app,
            TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
        ):
            sender: AlertmanagerSender = app.app.state.alertmanager
            assert (await app.client.post("/v1/rules", json=rule("ChurnHigh", "churn"))).is_success
            values = topics.name(topics.kpi_values)
            await send(kafka_bootstrap, values, kpi_value("churn", 9.0))
            await alerts.wait_for(lambda rs: len(rs) == 1, what="the firing event")
            await wait_until(lambda: connections, what="the sender posting the firing")
            stuck_at = sender.rounds

            await send(kafka_bootstrap, values, kpi_value("churn", 1.0))
            await alerts.wait_for(lambda rs: len(rs) == 2, what="the resolved event")
            assert [e["type"] for e in alerts.events()] == [
                "lodestar.alert.firing.v1",
                "lodestar.alert.resolved.v1",
            ]
            [alert] = (await app.client.get("/v1/alerts")).json()["items"]
            assert alert["state"] == "resolved"
            # The resolution went out while the sender still waited for an answer to its post.
            assert sender.rounds == stuck_at


async def test_a_tenant_names_its_own_alertmanager_or_opts_out(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    base = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    values = topics.name(topics.kpi_values)
    # Stand-ins for Alertmanagers: they take any POST with 200 and record its body.
    with webhook_receiver() as shared_am, webhook_receiver() as own_am:
        shared_url, own_url = (r.url.removesuffix("/hook") for r in (shared_am, own_am))
        settings = with_alertmanagers(base, shared_url)
        async with running(create_app(settings), admin_key) as app:
            sender: AlertmanagerSender = app.app.state.alertmanager
            default = (await app.client.get("/v1/settings/alertmanager")).json()
            assert default == {"mode": "default", "urls": [], "effective_urls": [shared_url]}

            own = {"mode": "own", "urls": [own_url]}
            answer = await app.client.put("/v1/settings/alertmanager", json=own)
            assert answer.json() == {**own, "effective_urls": [own_url]}
            no_urls = await app.client.put("/v1/settings/alertmanager", json={"mode": "own"})
            assert no_urls.status_code == 422

            for name, kpi in (("ChurnHigh", "churn"), ("MqlHigh", "mql")):
                assert (await app.client.post("/v1/rules", json=rule(name, kpi))).is_success
            await send(kafka_bootstrap, values, kpi_value("churn", 9.0))
            posted = await wait_until(lambda: own_am.posts, what="a post to the tenant's own")
            assert [a["labels"]["alertname"] for a in json.loads(posted[0][1])] == ["ChurnHigh"]
            # The round that posted there has ended, and the shared one got nothing from it.
            at = sender.rounds
            await wait_until(lambda: sender.rounds > at, what="the round to end")
            assert shared_am.posts == []

            await app.client.put("/v1/settings/alertmanager", json={"mode": "off"})
            sent_before = len(own_am.posts)
            await send(kafka_bootstrap, values, kpi_value("mql", 9.0))

            async def mql_firing() -> bool:
                items = (await app.client.get("/v1/alerts", params={"state": "firing"})).json()
                return any(a["labels"]["alertname"] == "MqlHigh" for a in items["items"])

            await wait_until(mql_firing, what="MqlHigh firing in Lodestar")
            at = sender.rounds
            # Two rounds: the second began after the firing above was committed.
            await wait_until(lambda: sender.rounds >= at + 2, what="two more rounds")
            assert len(own_am.posts) == sent_before
            assert shared_am.posts == []

            await app.client.put("/v1/settings/alertmanager", json={"mode": "default"})
            posted = await wait_until(lambda: shared_am.posts, what="a post to the shared one")
            names = {a["labels"]["alertname"] for a in json.loads(posted[0][1])}
            assert names == {"ChurnHigh", "MqlHigh"}
