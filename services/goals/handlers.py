"""Inbound events of the goals service: `lodestar.kpi.value.v1` on `kpi.values` moves the key
results linked to that KPI. One transaction per batch; each event's identity is recorded in
the same transaction (`first_delivery`), so a re-delivered event changes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from services.goals.service import kpi_values
from services.goals.settings import GoalsSettings
from shared.consumer import Inbound, Rejection
from shared.events import KPI_VALUE_V1, KpiValueV1, utcnow
from shared.inbox import first_delivery
from shared.runtime import ConsumerSpec, Runtime


def kpi_values_handler(runtime: Runtime) -> ConsumerSpec:
    """The `kpi-values` consumer: other event types on the topic are skipped, not refused."""
    settings = runtime.settings
    assert isinstance(settings, GoalsSettings)

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        async with runtime.db.transaction() as session:
            fresh: list[kpi_values.KpiValue] = []
            for inbound in batch:
                if inbound.event.type != KPI_VALUE_V1 or not isinstance(
                    inbound.payload, KpiValueV1
                ):
                    continue
                if await first_delivery(session, inbound.event):
                    fresh.append(kpi_values.KpiValue(inbound.event.tenant, inbound.payload))
            if fresh:
                await kpi_values.apply(session, settings, fresh, utcnow())
        return []

    return ConsumerSpec("kpi-values", [settings.topics.kpi_values], handle)
