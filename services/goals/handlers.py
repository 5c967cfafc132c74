"""Inbound events of the goals service: `lodestar.kpi.value.v1` on `kpi.values` moves the key
results linked to that KPI. One transaction per batch; the identities of the batch's events
are recorded in the same transaction (one statement), so a re-delivered event changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from services.goals.service import kpi_values
from services.goals.settings import GoalsSettings
from shared import inbox
from shared.consumer import Inbound, Rejection
from shared.events import KPI_VALUE_V1, KpiValueV1, utcnow
from shared.runtime import ConsumerSpec, Runtime


def kpi_values_handler(runtime: Runtime) -> ConsumerSpec:
    """The `kpi-values` consumer: other event types on the topic are skipped, not refused."""
    settings = runtime.settings
    assert isinstance(settings, GoalsSettings)

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        values = [
            (inbound.event, inbound.payload)
            for inbound in batch
            if inbound.event.type == KPI_VALUE_V1 and isinstance(inbound.payload, KpiValueV1)
        ]
        if not values:
            return []
        async with runtime.db.transaction() as session:
            now = utcnow()
            firsts = await inbox.first_deliveries(session, [e for e, _ in values], now)
            fresh = [
                kpi_values.KpiValue(event.tenant, payload)
                for (event, payload), first in zip(values, firsts, strict=True)
                if first
            ]
            if fresh:
                await kpi_values.apply(session, settings, fresh, now)
        return []

    return ConsumerSpec("kpi-values", [settings.topics.kpi_values], handle)
