"""The security matrix (issue 18), generated from each service's routes and OpenAPI document,
on SQLite and PostgreSQL.

Every operation names what it needs (`x-lodestar-scope`: read, write, admin; public or
forwarded only where a route says so itself); a route that names nothing fails here. Then,
for every operation that needs a key:

    no key                     → 401
    a revoked key              → 401
    a key one scope too small  → 403 (read on write routes, write on admin routes)
    another tenant's id in the path → 404 (the ids are the tenant's real objects)

and another tenant's id in a body, or its cursor, is refused too (404: a cursor is signed
for the tenant and list it was made for; a genuine one of another tenant is that tenant's,
like its ids, while one made up or for another list is a malformed cursor, 400). An
operation with a path id and a body needs a valid sample body below, so that the 404 is the
tenant check and not a 422: a new such route fails until one is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.alerts.app import create_app as create_alerts
from services.goals.app import create_app as create_goals
from services.goals.settings import GoalsSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from shared.api import SCOPE_EXTENSION, operations
from shared.auth import Scope, generate_key, hash_secret, install_bootstrap_key, upsert_api_key
from shared.events import ApiKeyV1, utcnow
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import (
    alerts_settings,
    kpi_value,
    kr_graduated,
    send,
    webhook_receiver,
)
from tests.support.apps import RunningApp, running, service_settings
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka

KEYED = {"read", "write", "admin"}
NOT_KEYED = {"public", "forwarded"}
TOO_SMALL = {"write": "read", "admin": "write"}

# A valid body for each operation that has both a path id and a body.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/cycles/{cycle_id}"): {"name": "renamed"},
    ("PATCH", "/v1/teams/{team_id}"): {"name": "renamed"},
    ("PUT", "/v1/teams/{team_id}/members/{person}"): {},
    ("PATCH", "/v1/objectives/{objective_id}"): {"title": "renamed"},
    ("PUT", "/v1/objectives/{objective_id}/score"): {"score": 0.5, "note": "n"},
    ("POST", "/v1/objectives/{objective_id}/carry-over"): {"cycle_id": "<cycle_id>"},
    ("POST", "/v1/objectives/{objective_id}/key-results"): {
        "title": "t",
        "kind": "increase",
        "start": 0.0,
        "target": 10.0,
    },
    ("PATCH", "/v1/key-results/{kr_id}"): {"title": "renamed"},
    ("POST", "/v1/key-results/{kr_id}/check-ins"): {"value": 3.0},
    ("PUT", "/v1/key-results/{kr_id}/score"): {"score": 0.5, "note": "n"},
    ("POST", "/v1/key-results/{kr_id}/initiatives"): {"title": "t"},
    ("PATCH", "/v1/initiatives/{initiative_id}"): {"title": "renamed"},
    ("PATCH", "/v1/kpis/{key}"): {"name": "renamed"},
    ("PATCH", "/v1/rules/{rule_id}"): {"severity": "critical"},
    ("POST", "/v1/alerts/{fingerprint}/ack"): {"by": "ana"},
}


# Alertmanager's API v2 answers errors as Alertmanager does (its clients parse those).
ALERTMANAGER_API = "/api/v2/"
QUERY_SAMPLES = {"start": "2026-01-01T00:00:00Z"}


@dataclass
class Keys:
    admin: str
    write: str
    read: str
    revoked: str
    other_tenant: str

    def of_scope(self, scope: str) -> str:
        return {"read": self.read, "write": self.write, "admin": self.admin}[scope]


async def install_keys(app: RunningApp, admin_key: str) -> Keys:
    """Keys of tenant acme (write, read, a revoked admin one) and an admin key of globex,
    straight into the service's own key table."""
    keys = Keys(admin_key, generate_key()[0], generate_key()[0], generate_key()[0], "")
    keys.other_tenant = generate_key()[0]
    grants = [
        (keys.write, [Scope.WRITE, Scope.READ], None),
        (keys.read, [Scope.READ], None),
        (keys.revoked, [Scope.ADMIN, Scope.WRITE, Scope.READ], utcnow()),
    ]
    async with app.runtime.db.transaction() as session:
        for full, scopes, revoked_at in grants:
            _, key_id, secret = full.split("_", 2)
            record = ApiKeyV1(
                key_id=key_id,
                tenant="acme",
                name=f"matrix {scopes[0]}",
                secret_hash=hash_secret(secret),
                scopes=scopes,
                revoked_at=revoked_at,
            )
            assert await upsert_api_key(session, record)
        await install_bootstrap_key(session, "globex", keys.other_tenant)
    return keys


def _fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str) and template.startswith("<") and template.endswith(">"):
        return ids[template[1:-1]]
    if isinstance(template, dict):
        return {k: _fill(v, ids) for k, v in template.items()}
    return template


def check_scopes_documented(app: RunningApp, ops: list[Any]) -> None:
    """Every operation has a scope, and the OpenAPI document says the same one."""
    unscoped = [f"{o.method} {o.path}" for o in ops if o.scope not in KEYED | NOT_KEYED]
    assert not unscoped, f"operations without {SCOPE_EXTENSION}: {unscoped}"
    document = app.app.openapi()["paths"]
    for op in ops:
        if op.documented:
            assert document[op.path][op.method.lower()][SCOPE_EXTENSION] == op.scope, op.path


async def check_matrix(app: RunningApp, keys: Keys, ids: dict[str, str]) -> int:
    """Every operation of `app` through the matrix; returns how many needed a key."""
    ops = operations(app.app.routes)
    check_scopes_documented(app, ops)
    client = app.client
    failures: list[str] = []

    async def call(op: Any, key: str | None, expected: int, what: str) -> None:
        params = [p.name for p in op.route.dependant.path_params]
        missing = [p for p in params if p not in ids]
        assert not missing, f"{op.method} {op.path}: give the test an id for {missing}"
        url = op.path.format(**{p: ids[p] for p in params})
        # Required query parameters: ids where they name objects, else a sample.
        query = {
            q.name: ids.get(q.name, QUERY_SAMPLES.get(q.name))
            for q in op.route.dependant.query_params
            if q.field_info.is_required()
        }
        assert None not in query.values(), f"{op.path}: give a sample for {query}"
        body = None
        if op.route.body_field is not None:
            if params:
                assert (op.method, op.path) in BODIES, f"add a sample body for {op.path}"
            body = _fill(BODIES.get((op.method, op.path), {}), ids)
        headers = {"Authorization": f"Bearer {key}" if key else ""}
        answer = await client.request(op.method, url, json=body, headers=headers, params=query)
        if answer.status_code != expected:
            failures.append(f"{what}: {op.method} {url} → {answer.status_code}, not {expected}")
        elif (
            not op.path.startswith(ALERTMANAGER_API)
            and answer.headers.get("content-type") != "application/problem+json"
        ):
            failures.append(f"{what}: {op.method} {url} answered {expected} without a problem")

    keyed = [op for op in ops if op.scope in KEYED]
    for op in keyed:
        await call(op, None, 401, "no key")
        await call(op, keys.revoked, 401, "revoked key")
        if op.scope in TOO_SMALL:
            await call(op, keys.of_scope(TOO_SMALL[op.scope]), 403, "scope too small")
        if op.route.dependant.path_params:
            await call(op, keys.other_tenant, 404, "another tenant's id")
    assert not failures, "\n".join(failures)
    return len(keyed)


async def foreign_cursor_refused(client: httpx.AsyncClient, path: str, keys: Keys) -> None:
    """Tenant acme's cursor for `path` is not found for globex (and still works for acme)."""
    first = await client.get(path, params={"limit": 1})
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor, f"{path} needs two items for a cursor"
    ours = await client.get(path, params={"limit": 1, "cursor": cursor})
    assert ours.status_code == 200, ours.text
    theirs = await client.get(
        path,
        params={"limit": 1, "cursor": cursor},
        headers={"Authorization": f"Bearer {keys.other_tenant}"},
    )
    assert theirs.status_code == 404, (path, theirs.text)
    assert theirs.headers["content-type"] == "application/problem+json"


def iso(delta: timedelta) -> str:
    return (utcnow() + delta).isoformat()


async def test_goals_matrix(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = service_settings(
        GoalsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=await databases.new(), admin_key=admin_key,
    )  # fmt: skip
    async with running(create_goals(settings), admin_key) as goals:
        keys = await install_keys(goals, admin_key)
        client = goals.client

        async def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await client.post(path, json=body)
            assert answer.status_code == 201, answer.text
            created: dict[str, Any] = answer.json()
            return created

        window = {"starts_at": iso(-timedelta(days=10)), "ends_at": iso(timedelta(days=80))}
        cycle = await made("/v1/cycles", {"name": "2026-Q4", **window})
        await made("/v1/cycles", {"name": "2027-Q1", **window})
        assert (await client.post(f"/v1/cycles/{cycle['id']}/activate")).status_code == 200
        team = await made("/v1/teams", {"name": "Acme", "kind": "company"})
        await made("/v1/teams", {"name": "Sales", "kind": "department"})
        objective = await made(
            "/v1/objectives", {"cycle_id": cycle["id"], "title": "Delight", "owner": "ada"}
        )
        await made("/v1/objectives", {"cycle_id": cycle["id"], "title": "Grow", "owner": "ada"})
        new_kr = BODIES[("POST", "/v1/objectives/{objective_id}/key-results")]
        kr = await made(f"/v1/objectives/{objective['id']}/key-results", new_kr)
        initiative = await made(f"/v1/key-results/{kr['id']}/initiatives", {"title": "Calls"})
        assert (await client.put(f"/v1/teams/{team['id']}/members/ada", json={})).is_success
        issued = await made("/v1/api-keys", {"name": "dash", "scopes": ["read"]})
        ids = {
            "cycle_id": cycle["id"],
            "team_id": team["id"],
            "person": "ada",
            "objective_id": objective["id"],
            "kr_id": kr["id"],
            "initiative_id": initiative["id"],
            "key_id": issued["key_id"],
        }
        assert await check_matrix(goals, keys, ids) >= 40

        # Another tenant's id in a body: an objective in acme's cycle, as globex.
        as_globex = {"Authorization": f"Bearer {keys.other_tenant}"}
        body = {"cycle_id": cycle["id"], "title": "Steal", "owner": "eve"}
        stolen = await client.post("/v1/objectives", json=body, headers=as_globex)
        assert stolen.status_code == 404, stolen.text
        body = {"cycle_id": cycle["id"], "title": "Steal", "owner": "eve", "team_id": team["id"]}
        stolen = await client.post("/v1/objectives", json=body, headers=as_globex)
        assert stolen.status_code == 404, stolen.text
        for path in ("/v1/cycles", "/v1/teams", "/v1/objectives"):
            await foreign_cursor_refused(client, path, keys)


async def test_metrics_matrix(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=await databases.new(), admin_key=admin_key,
    )  # fmt: skip
    async with running(create_metrics(settings), admin_key) as metrics:
        keys = await install_keys(metrics, admin_key)
        for key in ("churn", "nps"):
            created = await metrics.client.post("/v1/kpis", json={"key": key, "name": key})
            assert created.status_code == 201, created.text
        assert await check_matrix(metrics, keys, {"key": "churn"}) >= 9
        await foreign_cursor_refused(metrics.client, "/v1/kpis", keys)


async def test_alerts_matrix(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    secret = "whsec_" + "A" * 32
    with webhook_receiver() as receiver:
        async with running(create_alerts(settings), admin_key) as alerts:
            keys = await install_keys(alerts, admin_key)
            client = alerts.client
            rule = {
                "kpi": "churn",
                "threshold": 5.0,
                "webhook": {"url": receiver.url, "secret": secret},
            }
            created = await client.post("/v1/rules", json={"name": "ChurnHigh", **rule})
            assert created.status_code == 201, created.text
            other = await client.post(
                "/v1/rules", json={"name": "NpsLow", "kpi": "nps", "threshold": 1}
            )
            assert other.status_code == 201, other.text
            silence = {
                "matchers": [{"name": "alertname", "value": "Nothing"}],
                "endsAt": iso(timedelta(hours=1)),
                "createdBy": "ana",
            }
            for _ in range(2):
                made = await client.post("/v1/silences", json=silence)
                assert made.status_code == 201, made.text
            await send(kafka_bootstrap, topics.name(topics.kpi_values), kpi_value("churn", 9.0))
            await send(kafka_bootstrap, topics.name(topics.okr_events), kr_graduated("kr-1", "nps"))

            async def firing() -> Any:
                items = (await client.get("/v1/alerts")).json()["items"]
                deliveries = (await client.get("/v1/webhook-deliveries")).json()["items"]
                guardrails = (await client.get("/v1/guardrails")).json()["items"]
                found = items and deliveries and guardrails
                return (items, deliveries, guardrails) if found else None

            alerts_, deliveries, guardrails = await wait_until(firing, what="the objects")
            ids = {
                "rule_id": created.json()["id"],
                "fingerprint": alerts_[0]["fingerprint"],
                "silence_id": made.json()["id"],
                "delivery_id": deliveries[0]["id"],
                "kpi": guardrails[0]["kpi"],
            }
            assert await check_matrix(alerts, keys, ids) >= 28
            for path in ("/v1/rules", "/v1/silences"):
                await foreign_cursor_refused(client, path, keys)
