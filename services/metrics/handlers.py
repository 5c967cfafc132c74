"""Inbound events of the metrics service: measurements from `kpi.measurements`."""

from __future__ import annotations

from collections.abc import Sequence

from services.metrics import service
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.runtime import Runtime


def measurements_handler(runtime: Runtime) -> BatchHandler:
    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        async with runtime.db.transaction() as session:
            return await service.ingest(session, batch, runtime.settings)

    return handle
