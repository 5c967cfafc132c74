"""Paging through `GET /v1/kpis`: every KPI once, in key order; a cursor that is not one of
this list's is a 400 problem, never a 5xx."""

from __future__ import annotations

import base64
import json

import pytest

from services.metrics.app import create_app
from services.metrics.settings import MetricsSettings
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import running, service_settings

pytestmark = pytest.mark.kafka


def cursor_of(values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


class TestKpiPages:
    async def test_pages_cover_every_kpi_once_in_key_order_and_bad_cursors_are_400(
        self, kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
    ) -> None:
        settings = service_settings(
            MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
            database_url=await databases.new(), admin_key=admin_key,
        )  # fmt: skip
        keys = ["nps", "arr", "churn", "mau", "dau"]
        async with running(create_app(settings), admin_key) as metrics:
            client = metrics.client
            for key in keys:
                created = await client.post("/v1/kpis", json={"key": key, "name": key.upper()})
                assert created.status_code == 201, created.text

            seen: list[str] = []
            cursors: list[str] = []
            pages = 0
            params: dict[str, str | int] = {"limit": 2}
            while True:
                answer = await client.get("/v1/kpis", params=params)
                assert answer.status_code == 200, answer.text
                page = answer.json()
                pages += 1
                assert len(page["items"]) <= 2
                seen += [item["key"] for item in page["items"]]
                if page["next_cursor"] is None:
                    break
                params = {"limit": 2, "cursor": page["next_cursor"]}
                cursors.append(page["next_cursor"])
            assert seen == ["arr", "churn", "dau", "mau", "nps"]
            assert pages == 3

            bad = [
                "W10",  # `[]`
                "!!not-base64!!",
                cursor_of({"key": "arr"}),
                cursor_of(["created_at", "2026-01-01T00:00:00+00:00", "x"]),  # another sort
                cursor_of(["key", 5, "arr"]),  # a number where PostgreSQL compares text
                cursor_of(["key", "arr", "arr"]) + ".AAAAAAAAAAAAAAAAAAAAAAAA",  # unsigned
                # Ours with its values changed (`arr` → `aaa`): the signature no longer holds.
                cursor_of(["key", "aaa", "aaa"]) + "." + cursors[0].split(".")[1],
            ]
            for cursor in bad:
                refused = await client.get("/v1/kpis", params={"cursor": cursor})
                assert refused.status_code == 400, (cursor, refused.text)
                assert refused.headers["content-type"] == "application/problem+json"
