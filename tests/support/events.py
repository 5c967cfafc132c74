"""Build the events business systems send, as raw JSON, the way they would."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any


def measurement(
    tenant: str,
    kpi: str,
    value: Any,
    *,
    time: datetime | None = None,
    id: str | None = None,
    source: str = "tests/producer",
    **overrides: Any,
) -> bytes:
    event = {
        "specversion": "1.0",
        "type": "lodestar.kpi.measurement.v1",
        "id": id or str(uuid.uuid4()),
        "source": source,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "subject": kpi,
        "tenant": tenant,
        "datacontenttype": "application/json",
        "data": {"value": value},
    }
    event.update(overrides)
    return json.dumps(event).encode()
