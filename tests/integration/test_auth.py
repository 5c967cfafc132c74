"""Every call is authenticated and scoped to one tenant; a key issued by goals works on the
other services within seconds, and so does its revocation."""

from __future__ import annotations

import pytest

from services.goals.app import create_app as create_goals
from services.goals.settings import GoalsSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from shared.auth import generate_key, install_bootstrap_key, parse_key
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import running, service_settings
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka


async def test_keys_scopes_and_tenants(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    common = {"bootstrap": kafka_bootstrap, "topics": topics, "admin_key": admin_key}
    goals_settings = service_settings(GoalsSettings, database_url=await databases.new(), **common)
    metrics_settings = service_settings(
        MetricsSettings, database_url=await databases.new(), **common
    )
    async with (
        running(create_goals(goals_settings), admin_key) as goals,
        running(create_metrics(metrics_settings), admin_key) as metrics,
    ):
        client = metrics.client

        # No key, a malformed key, an unknown key: 401 problem+json with a challenge.
        for headers in (
            {"Authorization": ""},
            {"Authorization": "Bearer nonsense"},
            {"Authorization": f"Bearer {generate_key()[0]}"},
        ):
            answer = await client.get("/v1/kpis", headers=headers)
            assert answer.status_code == 401
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["status"] == 401

        # A read key issued by goals reaches metrics through the `tenants` topic.
        issued = await goals.client.post(
            "/v1/api-keys", json={"name": "dashboard", "scopes": ["read"]}
        )
        assert issued.status_code == 201, issued.text
        read_key = issued.json()["key"]
        as_reader = {"Authorization": f"Bearer {read_key}"}

        async def accepted() -> bool:
            return (await client.get("/v1/kpis", headers=as_reader)).status_code == 200

        await wait_until(accepted, timeout_s=15, what="the issued key to work on metrics")

        # Wrong scope: 403.
        denied = await client.post(
            "/v1/kpis", json={"key": "mql", "name": "MQLs"}, headers=as_reader
        )
        assert denied.status_code == 403
        assert denied.json()["type"].endswith("/forbidden")

        # Another tenant's object: 404, and absent from its lists.
        created = await client.post("/v1/kpis", json={"key": "mql", "name": "MQLs"})
        assert created.status_code == 201
        globex_key = generate_key()[0]
        async with metrics.runtime.db.transaction() as session:
            await install_bootstrap_key(session, "globex", globex_key)
        as_globex = {"Authorization": f"Bearer {globex_key}"}
        assert (await client.get("/v1/kpis/mql", headers=as_globex)).status_code == 404
        assert (await client.get("/v1/kpis", headers=as_globex)).json()["items"] == []
        assert (await client.get("/v1/kpis/mql", headers=as_reader)).status_code == 200

        # Revoked on goals: 401 on metrics within seconds.
        key_id = issued.json()["key_id"]
        revoked = await goals.client.delete(f"/v1/api-keys/{key_id}")
        assert revoked.status_code == 200

        async def refused() -> bool:
            return (await client.get("/v1/kpis", headers=as_reader)).status_code == 401

        await wait_until(refused, timeout_s=15, what="the revocation to reach metrics")

        # The bootstrap key belongs to the settings: it cannot be revoked through the API.
        bootstrap_id = parse_key(admin_key)[0]
        kept = await goals.client.delete(f"/v1/api-keys/{bootstrap_id}")
        assert kept.status_code == 409
        assert (await client.get("/v1/kpis")).status_code == 200
        assert (await goals.client.get("/v1/api-keys", headers=as_reader)).status_code == 401
