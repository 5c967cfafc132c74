"""Rules with thresholds past the bound, or text a column refuses (names, labels, annotations,
matchers), are answered 422 on SQLite and PostgreSQL; nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings
from tests.support.apps import running

pytestmark = pytest.mark.kafka


async def test_hostile_rules_and_silences_are_refused(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    base = {"name": "HighChurn", "kpi": "churn", "threshold": 5.0}
    rules: list[dict[str, Any]] = [
        {**base, "threshold": 2e15},
        {**base, "threshold": -1e300},
        {**base, "threshold": float("nan")},
        {**base, "resolve_threshold": float("-inf")},
        {**base, "labels": {"team": "a\x00b"}},
        {**base, "annotations": {"summary": "\ud800"}},
        {**base, "annotations": {"runbook_url": "x\x00"}},
        {**base, "webhook": {"url": "http://example.com/\x00", "secret": "whsec_" + "A" * 32}},
    ]
    silences: list[dict[str, Any]] = [
        {
            "matchers": [{"name": "team", "value": "\x00"}],
            "endsAt": "2030-01-01T00:00:00Z",
            "createdBy": "ada",
        },
        {
            "matchers": [{"name": "team", "value": "a"}],
            "endsAt": "9999-12-31T23:59:59-23:59",
            "createdBy": "ada",
        },
        {
            "matchers": [{"name": "team", "value": "a"}],
            "endsAt": "2030-01-01T00:00:00Z",
            "createdBy": "ada",
            "comment": "\udfff",
        },
    ]
    async with running(create_app(settings), admin_key) as app:
        for path, bodies in (("/v1/rules", rules), ("/v1/silences", silences)):
            for body in bodies:
                answer = await app.client.post(
                    path,
                    content=json.dumps(body).encode(),
                    headers={"content-type": "application/json"},
                )
                assert answer.status_code == 422, (body, answer.text)
                assert answer.headers["content-type"] == "application/problem+json"
        assert (await app.client.get("/v1/rules")).json()["items"] == []
        assert (await app.client.get("/v1/silences")).json()["items"] == []
        good = await app.client.post("/v1/rules", json={**base, "threshold": 1e15})
        assert good.status_code == 201, good.text
