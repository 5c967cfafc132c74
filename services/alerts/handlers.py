"""Inbound events of the alerts service: KPI values (`kpi.values`), KR progress and objective
changes (`okr.events`). Types it does not evaluate are skipped, not dead-lettered: those topics
carry other services' events too."""

from __future__ import annotations

from collections.abc import Sequence

from services.alerts.service.evaluate import Evaluator
from services.alerts.settings import AlertsSettings
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.db import Database
from shared.events import KpiValueV1, KrProgressV1, ObjectiveChangedV1, utcnow
from shared.inbox import first_delivery


def evaluation_handler(db: Database, settings: AlertsSettings) -> BatchHandler:
    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        async with db.transaction() as session:
            evaluator = Evaluator(session, settings, utcnow())
            for item in batch:
                payload = item.payload
                if not isinstance(payload, KpiValueV1 | KrProgressV1 | ObjectiveChangedV1):
                    continue
                if not await first_delivery(session, item.event):
                    continue  # a re-delivery: already evaluated
                if isinstance(payload, KpiValueV1):
                    await evaluator.kpi_value(item.event, payload)
                elif isinstance(payload, KrProgressV1):
                    await evaluator.kr_progress(item.event, payload)
                else:
                    await evaluator.objective_changed(item.event, payload)
        return []

    return handle
