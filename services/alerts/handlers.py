"""Inbound events of the alerts service: KPI values (`kpi.values`), KR progress, graduations
and objective changes (`okr.events`). Types it does not evaluate are skipped, not
dead-lettered: those topics carry other services' events too.

A batch is one transaction: its events' identities are recorded (re-deliveries are skipped) in
one statement, then the evaluator loads what the batch needs and writes it in bulk.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.alerts.service.evaluate import INPUTS, Evaluator, Inputs
from services.alerts.settings import AlertsSettings
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.db import Database
from shared.events import CloudEvent, utcnow
from shared.inbox import first_deliveries


def evaluation_handler(db: Database, settings: AlertsSettings) -> BatchHandler:
    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        items: list[tuple[CloudEvent, Inputs]] = [
            (item.event, item.payload) for item in batch if isinstance(item.payload, INPUTS)
        ]
        if not items:
            return []
        async with db.transaction() as session:
            now = utcnow()
            first = await first_deliveries(session, [e for e, _ in items], now)
            fresh = [item for item, new in zip(items, first, strict=True) if new]
            await Evaluator(session, settings, now).evaluate(fresh)
        return []

    return handle
