"""Lodestar as an Alertmanager for its readers: the real amtool queries alerts, adds, lists and
expires silences over Lodestar's `/api/v2` with an API key, the silence mutes the alert in
Lodestar's own API, and errors come back as Alertmanager's `application/json`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from services.alerts.app import create_app
from shared.auth import (
    Scope,
    generate_key,
    hash_secret,
    install_bootstrap_key,
    parse_key,
    upsert_api_key,
)
from shared.events import ApiKeyV1
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings, kpi_value, send
from tests.support.alertmanager import amtool, bearer_config
from tests.support.apps import running
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app (lifespan already entered) on a real loopback port, for amtool; its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, what="uvicorn to listen")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


RULE = {
    "name": "ChurnHigh",
    "kpi": "churn",
    "threshold": 5.0,
    "annotations": {"summary": "churn above 5"},
}


async def test_amtool_reads_alerts_and_silences_one_that_lodestar_then_mutes(
    kafka_bootstrap: str,
    topics: Topics,
    databases: DatabaseFactory,
    admin_key: str,
    tmp_path: Path,
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    http = bearer_config(tmp_path / "http.yml", admin_key)
    async with running(create_app(settings), admin_key) as app, served(app.app) as url:
        assert (await app.client.post("/v1/rules", json=RULE)).is_success
        await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))

        async def queried() -> list[dict[str, object]]:
            found: list[dict[str, object]] = json.loads(
                await amtool(url, http, "-o", "json", "alert", "query")
            )
            return found

        [alert] = await wait_until(queried, what="amtool to see the firing alert")
        [lodestar] = (await app.client.get("/v1/alerts")).json()["items"]
        assert alert["labels"] == lodestar["labels"]
        assert alert["fingerprint"] == lodestar["fingerprint"]
        assert alert["status"] == {
            "state": "active",
            "silencedBy": [],
            "inhibitedBy": [],
            "mutedBy": [],
        }
        by_filter = json.loads(
            await amtool(url, http, "-o", "json", "alert", "query", 'alertname="ChurnHigh"')
        )
        assert [a["fingerprint"] for a in by_filter] == [lodestar["fingerprint"]]
        assert json.loads(await amtool(url, http, "-o", "json", "alert", "query", "kpi=mql")) == []

        comment = f"maintenance {uuid.uuid4()}"
        added = await amtool(
            url, http, "silence", "add", "alertname=ChurnHigh", "kpi=~ch.*",
            "--author=sre@example.com", f"--comment={comment}", "--duration=1h",
        )  # fmt: skip
        silence_id = added.strip()
        [listed] = json.loads(await amtool(url, http, "-o", "json", "silence", "query"))
        assert listed["id"] == silence_id
        assert listed["comment"] == comment
        assert listed["createdBy"] == "sre@example.com"
        assert listed["status"] == {"state": "active"}
        assert {(m["name"], m["value"], m["isRegex"]) for m in listed["matchers"]} == {
            ("alertname", "ChurnHigh", False),
            ("kpi", "ch.*", True),
        }
        # It is a Lodestar silence, the same one /v1 shows.
        [v1_silence] = (await app.client.get("/v1/silences")).json()["items"]
        assert v1_silence["id"] == silence_id
        assert {(m["name"], m["op"]) for m in v1_silence["matchers"]} == {
            ("alertname", "="),
            ("kpi", "=~"),
        }

        # The next evaluation mutes the alert in Lodestar.
        async def silenced() -> bool:
            found = (await app.client.get(f"/v1/alerts/{lodestar['fingerprint']}")).json()
            return bool(found["silenced_by"] == [silence_id])

        await wait_until(silenced, what="Lodestar to mark the alert silenced")
        assert json.loads(await amtool(url, http, "-o", "json", "alert", "query")) == []
        [muted] = json.loads(await amtool(url, http, "-o", "json", "alert", "query", "--silenced"))
        assert muted["status"]["state"] == "suppressed"
        assert muted["status"]["silencedBy"] == [silence_id]

        await amtool(url, http, "silence", "expire", silence_id)
        assert json.loads(await amtool(url, http, "-o", "json", "silence", "query")) == []
        [expired] = json.loads(
            await amtool(url, http, "-o", "json", "silence", "query", "--expired")
        )
        assert expired["id"] == silence_id
        assert expired["status"] == {"state": "expired"}
        v1_expired = (await app.client.get(f"/v1/silences/{silence_id}")).json()
        assert v1_expired["state"] == "expired"


async def test_keys_scopes_and_tenants_hold_on_api_v2(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with running(create_app(settings), admin_key) as app:
        read_key, globex_key = generate_key()[0], generate_key()[0]
        async with app.runtime.db.transaction() as session:
            key_id, secret = parse_key(read_key)
            await upsert_api_key(
                session,
                ApiKeyV1(key_id=key_id, tenant="acme", name="dash", secret_hash=hash_secret(secret),
                         scopes=[Scope.READ]),
            )  # fmt: skip
            await install_bootstrap_key(session, "globex", globex_key)
        as_reader = {"Authorization": f"Bearer {read_key}"}
        as_globex = {"Authorization": f"Bearer {globex_key}"}
        body = {
            "matchers": [{"name": "alertname", "value": "X", "isRegex": False}],
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "createdBy": "sre",
            "comment": "",
        }
        denied = await app.client.post("/api/v2/silences", json=body, headers=as_reader)
        assert denied.status_code == 403
        assert denied.headers["content-type"] == "application/json"

        made = await app.client.post("/api/v2/silences", json=body)
        silence_id = made.json()["silenceID"]
        shown = (await app.client.get(f"/api/v2/silence/{silence_id}", headers=as_reader)).json()
        assert shown["status"]["state"] == "active"
        one = f"/api/v2/silence/{silence_id}"
        assert (await app.client.delete(one, headers=as_reader)).status_code == 403
        assert (await app.client.get(one, headers=as_globex)).status_code == 404
        assert (await app.client.get("/api/v2/silences", headers=as_globex)).json() == []
        assert (await app.client.delete(one, headers=as_globex)).status_code == 404
        assert (await app.client.delete(one)).status_code == 200
        [expired] = (await app.client.get("/api/v2/silences")).json()
        assert expired["status"]["state"] == "expired"


async def test_errors_are_alertmanager_json_not_problem_json(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    async with running(create_app(settings), admin_key) as app:
        client = app.client
        no_key = await client.get("/api/v2/alerts", headers={"Authorization": ""})
        assert no_key.status_code == 401
        assert no_key.headers["content-type"] == "application/json"
        assert isinstance(no_key.json(), str)

        missing = await client.get(f"/api/v2/silence/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"

        bad_filter = await client.get("/api/v2/alerts", params={"filter": "not a matcher"})
        assert bad_filter.status_code == 400
        assert bad_filter.headers["content-type"] == "application/json"

        no_matchers = await client.post(
            "/api/v2/silences",
            json={"matchers": [], "startsAt": "2026-01-01T00:00:00Z",
                  "endsAt": "2099-01-01T00:00:00Z", "createdBy": "x", "comment": ""},
        )  # fmt: skip
        assert no_matchers.status_code == 400
        assert no_matchers.headers["content-type"] == "application/json"

        assert (await client.get("/api/v2/receivers")).json() == [{"name": "lodestar"}]
        status = (await client.get("/api/v2/status")).json()
        assert status["cluster"]["status"] == "disabled"
        assert "/api/v2/alerts" not in (await client.get("/openapi.json")).json()["paths"]
