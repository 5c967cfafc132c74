"""A broker outage loses nothing and doubles nothing: the three services as processes on a
broker of their own, which is stopped and started again in the middle of the stream.

Measurements stored before the outage stay stored once; those produced after it are stored
once the services reconnect; an objective created through the REST API while the broker is
down (its event waits in the goals outbox) is published when the broker is back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.settings import Topics
from tests.support.events import measurement
from tests.support.kafka import TopicReader, produce, wait_until
from tests.support.private import PrivateBroker
from tests.support.processes import platform, sqlite_urls

pytestmark = pytest.mark.kafka


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    private = PrivateBroker(tmp_path / "cache")
    try:
        yield private
    finally:
        private.stop()


# Its own deadlines (two broker starts, three service start-ups of up to 60 s each, then waits
# of 30, 90 and 60 s) fire before this one.
@pytest.mark.timeout(600)
async def test_nothing_lost_or_doubled_across_a_broker_restart(
    broker: PrivateBroker, topics: Topics, admin_key: str, tmp_path: Path
) -> None:
    bootstrap = broker.start()
    databases = sqlite_urls(tmp_path)
    headers = {"Authorization": f"Bearer {admin_key}"}
    measurements = topics.name(topics.measurements)

    def batch(n: int) -> list[bytes]:
        return [measurement("acme", "orders", 1.0) for _ in range(n)]

    with platform(
        bootstrap=bootstrap,
        topics=topics,
        admin_key=admin_key,
        database_urls=databases,
        log_dir=tmp_path,
    ) as running:
        async with httpx.AsyncClient(headers=headers, timeout=15) as client:

            async def post(service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
                answer = await client.post(f"{running.url(service)}/v1{path}", json=body)
                assert answer.status_code == 201, answer.text
                result: dict[str, Any] = answer.json()
                return result

            async def stored() -> tuple[int, float]:
                value = (await client.get(f"{running.url('metrics')}/v1/kpis/orders/value")).json()
                return value["count"], value["value"] or 0.0

            orders = {"key": "orders", "name": "Orders", "aggregation": "sum"}
            await post("metrics", "/kpis", orders)
            await produce(bootstrap, measurements, batch(100), keys=["acme/orders"] * 100)
            await wait_until(
                lambda: _is(stored(), (100, 100.0)), timeout_s=30, what="100 points before"
            )

            broker.stop()
            now = datetime.now(UTC)
            cycle = await post(
                "goals",
                "/cycles",
                {
                    "name": "Outage",
                    "starts_at": now.isoformat(),
                    "ends_at": (now + timedelta(days=90)).isoformat(),
                },
            )
            survive = {"cycle_id": cycle["id"], "title": "Survive", "owner": "sre"}
            objective = await post("goals", "/objectives", survive)

            assert broker.start() == bootstrap  # the same address: clients reconnect to it
            await produce(bootstrap, measurements, batch(100), keys=["acme/orders"] * 100)
            await wait_until(
                lambda: _is(stored(), (200, 200.0)), timeout_s=90, what="200 points after"
            )
            async with TopicReader(bootstrap, topics.name(topics.okr_events)) as okr:
                await okr.wait_for(
                    lambda records: any(
                        json.loads(r.value or b"{}").get("data", {}).get("objective_id")
                        == objective["id"]
                        for r in records
                    ),
                    timeout_s=60,
                    what="the objective created during the outage",
                )
            assert await stored() == (200, 200.0)  # and nothing more: no batch stored twice


async def _is(current: Any, expected: tuple[int, float]) -> bool:
    return bool(await current == expected)
