"""Of several values of one KPI period in one consumer batch, alerts evaluate the newest: the
alert follows the KPI's current value, each KPI its own. The batch is handed to the service's
own handler, so it is one batch for certain."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.structs import ConsumerRecord

from services.alerts.app import create_app
from services.alerts.handlers import evaluation_handler
from shared.inbound import Inbound, decode_record
from shared.settings import Topics
from tests.conftest import DatabaseFactory
from tests.integration.alerts.helpers import alerts_settings
from tests.support.apps import running

pytestmark = pytest.mark.kafka

DAY = timedelta(days=1)


def value_of(kpi: str, value: float, period_start: datetime) -> Inbound:
    now = datetime.now(UTC)
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "lodestar/metrics",
        "type": "lodestar.kpi.value.v1",
        "time": now.isoformat(),
        "subject": kpi,
        "tenant": "acme",
        "datacontenttype": "application/json",
        "data": {
            "kpi": kpi,
            "period": "day",
            "period_start": period_start.isoformat(),
            "period_end": (period_start + DAY).isoformat(),
            "aggregation": "last",
            "value": value,
            "count": 1,
            "last_value": value,
            "last_at": now.isoformat(),
            "health": "green",
        },
    }
    raw = json.dumps(event).encode()
    record = ConsumerRecord("kpi.values", 0, 0, 0, 0, b"acme/" + kpi.encode(), raw, None, 0, 0, [])
    return decode_record(record, 64 * 1024)


async def test_the_newest_value_of_a_period_decides_the_alert(
    kafka_bootstrap: str, topics: Topics, databases: DatabaseFactory, admin_key: str
) -> None:
    settings = alerts_settings(kafka_bootstrap, topics, await databases.new(), admin_key)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with running(create_app(settings), admin_key) as app:
        for kpi in ("churn", "nps"):
            rule = {"name": f"{kpi}High", "kpi": kpi, "operator": "above", "threshold": 5.0}
            created = await app.client.post("/v1/rules", json=rule)
            assert created.status_code == 201, created.text
        handle = evaluation_handler(app.runtime.db, settings)

        # churn breaches and recovers within the batch: its newest value is clear.
        # nps recovers then breaches: its newest value breaches.
        await handle(
            [
                value_of("churn", 9.0, today),
                value_of("nps", 1.0, today),
                value_of("churn", 2.0, today),
                value_of("nps", 8.0, today),
            ]
        )
        listed = (await app.client.get("/v1/alerts")).json()["items"]
        by_name = {a["labels"]["alertname"]: a for a in listed}
        assert "churnHigh" not in by_name  # 9.0 was superseded in the batch: never fired
        assert by_name["npsHigh"]["state"] == "firing"
        assert by_name["npsHigh"]["value"] == 8.0
