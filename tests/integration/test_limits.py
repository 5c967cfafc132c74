"""Limits of the REST APIs (issue 18): the body cap, per-key rate limits, per-tenant quotas,
ranges bounded before anything is allocated, bad parameters answered 4xx, and what
`/readyz` and `/metrics` show."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.alerts.app import create_app as create_alerts
from services.goals.app import create_app as create_goals
from services.goals.settings import GoalsSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.settings import MetricsSettings
from shared.auth import generate_key, install_bootstrap_key
from shared.events import utcnow
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings
from tests.support.apps import running, service_settings

pytestmark = pytest.mark.kafka

PROBLEM = "application/problem+json"


def metrics_settings(bootstrap: str, topics: Topics, url: str, key: str) -> MetricsSettings:
    return service_settings(
        MetricsSettings, bootstrap=bootstrap, topics=topics, database_url=url, admin_key=key
    )


async def test_bodies_over_the_cap_are_413(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = metrics_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.max_request_bytes = 4096
    async with running(create_metrics(settings), admin_key) as metrics:
        client = metrics.client
        fits = await client.post("/v1/kpis", json={"key": "mql", "name": "M" * 100})
        assert fits.status_code == 201, fits.text
        big = {"key": "big", "name": "n", "description": "d" * 5000}
        refused = await client.post("/v1/kpis", json=big)
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/payload-too-large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield b'{"key": "big", "name": "n", "description": "'
            for _ in range(10):
                yield b"d" * 1000
            yield b'"}'

        streamed = await client.post(
            "/v1/kpis", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413, streamed.text
        assert (await client.get("/v1/kpis/big")).status_code == 404


async def test_a_key_past_its_rate_gets_429_with_retry_after(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = metrics_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.rate_limit_burst = 5
    settings.rate_limit_per_s = 0.01  # a token every 100 s: none comes back during the test
    async with running(create_metrics(settings), admin_key) as metrics:
        other = generate_key()[0]
        async with metrics.runtime.db.transaction() as session:
            await install_bootstrap_key(session, "globex", other)
        answers = [(await metrics.client.get("/v1/kpis")).status_code for _ in range(7)]
        assert answers == [200] * 5 + [429] * 2
        limited = await metrics.client.get("/v1/kpis")
        assert limited.headers["content-type"] == PROBLEM
        assert 1 <= int(limited.headers["retry-after"]) <= 100
        # Another key has its own bucket.
        theirs = await metrics.client.get("/v1/kpis", headers={"Authorization": f"Bearer {other}"})
        assert theirs.status_code == 200


async def test_refused_keys_past_the_burst_get_429_and_valid_keys_go_on(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = metrics_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.rate_limit_burst = 5
    settings.rate_limit_per_s = 0.01  # a token every 100 s: none comes back during the test
    async with running(create_metrics(settings), admin_key) as metrics:
        wrong = {"Authorization": f"Bearer {generate_key()[0]}"}  # well formed, never issued
        answers = [
            (await metrics.client.get("/v1/kpis", headers=wrong)).status_code for _ in range(7)
        ]
        assert answers == [401] * 5 + [429] * 2
        limited = await metrics.client.get("/v1/kpis", headers={"Authorization": "Bearer x"})
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"] == PROBLEM
        assert 1 <= int(limited.headers["retry-after"]) <= 100
        # The address's valid key is not held back by the refused ones.
        assert (await metrics.client.get("/v1/kpis")).status_code == 200


async def test_kpi_quota_is_per_tenant(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = metrics_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    settings.max_kpis_per_tenant = 2
    async with running(create_metrics(settings), admin_key) as metrics:
        client = metrics.client
        for key in ("a", "b"):
            assert (
                await client.post("/v1/kpis", json={"key": key, "name": key})
            ).status_code == 201
        over = await client.post("/v1/kpis", json={"key": "c", "name": "c"})
        assert over.status_code == 409, over.text
        assert over.json()["type"].endswith("/quota-exceeded")
        other = generate_key()[0]
        async with metrics.runtime.db.transaction() as session:
            await install_bootstrap_key(session, "globex", other)
        theirs = await client.post(
            "/v1/kpis", json={"key": "c", "name": "c"}, headers={"Authorization": f"Bearer {other}"}
        )
        assert theirs.status_code == 201, theirs.text


async def test_rule_and_silence_quotas(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    settings.max_rules_per_tenant = 1
    settings.max_silences_per_tenant = 1
    async with running(create_alerts(settings), admin_key) as alerts:
        client = alerts.client
        rule = {"name": "R", "kpi": "churn", "threshold": 1.0}
        assert (await client.post("/v1/rules", json=rule)).status_code == 201
        over = await client.post("/v1/rules", json={**rule, "name": "S"})
        assert over.status_code == 409, over.text
        ends = (utcnow() + timedelta(hours=1)).isoformat()
        silence = {"matchers": [{"name": "a", "value": "b"}], "endsAt": ends, "createdBy": "ana"}
        made = await client.post("/v1/silences", json=silence)
        assert made.status_code == 201, made.text
        assert (await client.post("/v1/silences", json=silence)).status_code == 409
        am = {
            **silence,
            "startsAt": utcnow().isoformat(),
            "comment": "",
            "matchers": [{"name": "a", "value": "b", "isRegex": False}],
        }
        assert (await client.post("/api/v2/silences", json=am)).status_code == 409
        # An expired silence no longer counts.
        assert (await client.delete(f"/v1/silences/{made.json()['id']}")).status_code == 200
        assert (await client.post("/v1/silences", json=silence)).status_code == 201


async def test_key_quota_and_the_reserved_name(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = service_settings(
        GoalsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=await sqlite_databases.new(), admin_key=admin_key,
    )  # fmt: skip
    settings.max_api_keys_per_tenant = 2  # the bootstrap key and one more
    async with running(create_goals(settings), admin_key) as goals:
        client = goals.client
        reserved = await client.post(
            "/v1/api-keys", json={"name": "Bootstrap admin", "scopes": ["read"]}
        )
        assert reserved.status_code == 422, reserved.text
        first = await client.post("/v1/api-keys", json={"name": "dash", "scopes": ["read"]})
        assert first.status_code == 201, first.text
        over = await client.post("/v1/api-keys", json={"name": "more", "scopes": ["read"]})
        assert over.status_code == 409, over.text
        # A revoked key frees its place.
        assert (await client.delete(f"/v1/api-keys/{first.json()['key_id']}")).status_code == 200
        again = await client.post("/v1/api-keys", json={"name": "more", "scopes": ["read"]})
        assert again.status_code == 201, again.text


async def test_huge_ranges_and_bad_parameters_are_4xx_at_once(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = metrics_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    async with running(create_metrics(settings), admin_key) as metrics:
        client = metrics.client
        created = await client.post("/v1/kpis", json={"key": "mql", "name": "M", "period": "day"})
        assert created.status_code == 201, created.text
        for start, end in (
            ("1970-01-01T00:00:00Z", "2999-12-31T00:00:00Z"),  # 376,000 days
            ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"),
            ("1970-01-01T00:00:00Z", "1972-09-28T00:00:00Z"),  # 1,001 days
        ):
            started = time.perf_counter()
            answer = await client.get(
                "/v1/kpis/mql/series", params={"start": start, "end": end, "bucket": "day"}
            )
            # Prior code walked every day first: seconds for the first range. Now a division.
            assert time.perf_counter() - started < 2.0
            assert answer.status_code == 422, (start, answer.text)
            assert answer.headers["content-type"] == PROBLEM
        fits = await client.get(
            "/v1/kpis/mql/series",
            params={"start": "2026-01-01T00:00:00Z", "end": "2028-09-27T00:00:00Z"},
        )
        assert fits.status_code == 200, fits.text
        assert len(fits.json()["points"]) == 1000
        for path, params in (
            ("/v1/kpis", {"cursor": "W10"}),
            ("/v1/kpis", {"cursor": "x" * 600}),
            ("/v1/kpis", {"limit": "many"}),
            ("/v1/kpis", {"limit": "0"}),
            ("/v1/kpis/mql/series", {"start": "yesterday"}),
            ("/v1/kpis/mql/series", {"start": "2026-01-01T00:00:00Z", "bucket": "century"}),
        ):
            answer = await client.get(path, params=params)
            assert answer.status_code in (400, 422), (path, params, answer.text)
            assert answer.headers["content-type"] == PROBLEM


async def test_readyz_detail_and_metrics_exposure_follow_the_settings(
    kafka_bootstrap: str, topics: Topics, sqlite_databases: DatabaseFactory, admin_key: str
) -> None:
    settings = metrics_settings(kafka_bootstrap, topics, await sqlite_databases.new(), admin_key)
    settings.public_readyz_detail = False
    settings.public_metrics = False
    async with running(create_metrics(settings), admin_key) as metrics:
        client = metrics.client
        ready = await client.get("/readyz", headers={"Authorization": ""})
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"].values()) <= {"ok", "failing"}
        assert (await client.get("/metrics", headers={"Authorization": ""})).status_code == 401
        scraped = await client.get("/metrics")  # the admin key
        assert scraped.status_code == 200
        assert "lodestar_consumed_records" in scraped.text
