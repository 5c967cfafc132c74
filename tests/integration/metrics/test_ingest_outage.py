"""HTTP ingest with the broker away: answered 503 with Retry-After within the configured bound,
not hung; once the broker is back the same ids resent are stored exactly once.

The broker is this test's own (`PrivateBroker`), never the shared one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.metrics.app import create_app
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.e2e.test_broker_outage import PrivateBroker
from tests.integration.metrics.support import create_kpi, settings, stored_points
from tests.support.apps import running
from tests.support.kafka import wait_until

pytestmark = pytest.mark.kafka

ACK_TIMEOUT_S = 2.0
DAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    private = PrivateBroker(tmp_path / "cache")
    try:
        yield private
    finally:
        private.stop()


def body(*values: float) -> list[dict[str, Any]]:
    return [
        {"kpi": "mql", "value": v, "time": DAY.isoformat(), "id": str(uuid.uuid4())} for v in values
    ]


async def _equals(count: Any, expected: int) -> bool:
    return bool(await count == expected)


async def test_a_stopped_broker_is_a_bounded_503_and_the_resent_ids_are_stored_once(
    broker: PrivateBroker, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    bootstrap = broker.start()
    url = await databases.new()
    config = settings(bootstrap, topics, url, admin_key).model_copy(
        update={"ingest_ack_timeout_s": ACK_TIMEOUT_S, "ingest_retry_after_s": 3}
    )
    async with running(create_app(config), admin_key) as service:
        await create_kpi(service, "mql", aggregation="sum")
        first = await service.client.post("/v1/measurements", json=body(1.0))
        assert first.status_code == 202, first.text
        await wait_until(lambda: _equals(stored_points(service), 1), what="the first point")

        broker.stop()
        during = body(2.0, 4.0, 8.0)
        for _ in range(2):  # each attempt is bounded, not only the first
            started = time.monotonic()
            answer = await service.client.post("/v1/measurements", json=during, timeout=30)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "3"
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["status"] == 503
            assert elapsed < ACK_TIMEOUT_S + 2.0, f"answered after {elapsed:.1f} s"

        assert broker.start() == bootstrap

        async def resent() -> bool:
            answer = await service.client.post("/v1/measurements", json=during, timeout=30)
            assert answer.status_code in (202, 503), answer.text
            return answer.status_code == 202

        await wait_until(resent, timeout_s=60, what="a 202 once the broker is back")
        sentinel = await service.client.post("/v1/measurements", json=body(16.0))
        assert sentinel.status_code == 202, sentinel.text
        await wait_until(lambda: _equals(stored_points(service), 5), timeout_s=60, what="all")
        value = (await service.client.get("/v1/kpis/mql/value")).json()
        assert (value["value"], value["count"]) == (31.0, 5)
