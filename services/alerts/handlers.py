"""Inbound events of the alerts service: KPI values from `kpi.values`."""

from __future__ import annotations

from collections.abc import Sequence

from services.alerts import service
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.events import KpiValueV1
from shared.inbox import first_delivery
from shared.runtime import Runtime


def kpi_values_handler(runtime: Runtime) -> BatchHandler:
    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        rejected: list[Rejection] = []
        async with runtime.db.transaction() as session:
            for item in batch:
                if not isinstance(item.payload, KpiValueV1):
                    rejected.append(Rejection(item.record, f"unexpected type {item.event.type}"))
                    continue
                if await first_delivery(session, item.event):
                    await service.evaluate_kpi_value(
                        session, item.event, item.payload, runtime.settings
                    )
        return rejected

    return handle
