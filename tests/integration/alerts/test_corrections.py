"""A correction moves the present period's alert: metrics and alerts in-process on the real
broker, each on SQLite and PostgreSQL. A restated measurement resolves the alert its original
fired; a retracted one takes its value back (the period's last value is the one before it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.alerts.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings, of_type
from tests.integration.metrics.support import create_kpi, metrics_service
from tests.support.apps import running
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.kafka


async def test_a_restatement_and_a_retraction_resolve_the_present_alert(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    metrics_url = await databases.new()
    async with (
        metrics_service(kafka_bootstrap, topics, metrics_url, admin_key) as metrics,
        running(create_app(settings), admin_key) as app,
        TopicReader(kafka_bootstrap, topics.name(topics.alerts)) as alerts,
    ):
        await create_kpi(metrics, "churn", aggregation="last", period="day")
        rule = {"name": "TooHigh", "kpi": "churn", "threshold": 5.0}
        assert (await app.client.post("/v1/rules", json=rule)).is_success

        # Two instants of today's period (the present), the second the later one (or the same,
        # just after midnight: then the larger value is the last, as it must be here too).
        now = datetime.now(UTC)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        earlier, later = max(today, now - timedelta(seconds=1)), now

        async def measure(value: float, id: str, at: datetime, **extra: Any) -> None:
            body = {"kpi": "churn", "value": value, "time": at.isoformat(), "id": id, **extra}
            answer = await metrics.client.post("/v1/measurements", json=body)
            assert answer.status_code == 202, answer.text

        def transitions() -> list[tuple[str, float]]:
            return [
                (e["type"].rsplit(".", 2)[-2], e["data"]["value"])
                for e in of_type(alerts, ".v1")
                if e["type"].endswith(("firing.v1", "resolved.v1"))
            ]

        async def seen(*expected: tuple[str, float]) -> None:
            await alerts.wait_for(lambda _: transitions() == list(expected), what=str(expected))

        await measure(9.0, "a", earlier)
        await seen(("firing", 9.0))
        await measure(2.0, "a", earlier, revision=1)  # 9 was wrong: it is 2
        await seen(("firing", 9.0), ("resolved", 2.0))
        await measure(8.0, "b", later)  # the latest: fires again
        await seen(("firing", 9.0), ("resolved", 2.0), ("firing", 8.0))
        answer = await metrics.client.post(
            "/v1/measurements/retractions", json={"kpi": "churn", "id": "b"}
        )
        assert answer.status_code == 202, answer.text
        await seen(("firing", 9.0), ("resolved", 2.0), ("firing", 8.0), ("resolved", 2.0))
