"""Editing KPI definitions through the API: what can change, what cannot be cleared."""

from __future__ import annotations

import pytest

from services.metrics.app import create_app
from services.metrics.settings import MetricsSettings
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.support.apps import running, service_settings

pytestmark = pytest.mark.kafka


async def test_patch_changes_fields_and_refuses_to_clear_required_ones(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = service_settings(
        MetricsSettings, bootstrap=kafka_bootstrap, topics=topics,
        database_url=await databases.new(), admin_key=admin_key,
    )  # fmt: skip
    async with running(create_app(settings), admin_key) as metrics:
        client = metrics.client
        assert (
            await client.post("/v1/kpis", json={"key": "nps", "name": "NPS"})
        ).status_code == 201

        edit = {"description": "Net promoter score", "cadence": "P7D", "green": 40}
        changed = await client.patch("/v1/kpis/nps", json=edit)
        assert changed.status_code == 200, changed.text
        assert changed.json()["description"] == "Net promoter score"
        assert changed.json()["cadence"] == "P7D"

        for field in ("description", "what", "owner", "name", "unit"):
            refused = await client.patch("/v1/kpis/nps", json={field: None})
            assert refused.status_code == 422, (field, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        cleared = await client.patch("/v1/kpis/nps", json={"cadence": None, "green": None})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["cadence"] is None

        missing = await client.patch("/v1/kpis/nope", json={"name": "x"})
        assert missing.status_code == 404
