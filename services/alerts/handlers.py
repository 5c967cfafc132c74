"""Inbound events of the alerts service: KPI values (`kpi.values`), KR progress, graduations
and objective changes (`okr.events`). Types it does not evaluate are skipped, not
dead-lettered: those topics carry other services' events too.

A batch is one transaction: its events' identities are recorded (re-deliveries are skipped) in
one statement, then the evaluator loads what the batch needs and writes it in bulk. Of several
values of one KPI period (or progress events of one key result, changes of one objective) in a
batch only the newest is evaluated: each carries the whole current state, so an alert follows
the KPI's current value, as goals' key results do (`shared.coalesce`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from services.alerts.service.evaluate import INPUTS, Evaluator, Inputs
from services.alerts.settings import AlertsSettings
from shared.coalesce import newest
from shared.consumer import BatchHandler, Inbound, Rejection
from shared.db import Database
from shared.events import (
    CloudEvent,
    KpiValueV1,
    KrProgressV1,
    ObjectiveChangedV1,
    utcnow,
)
from shared.inbox import first_deliveries


def state_of(item: tuple[CloudEvent, Inputs]) -> Hashable | None:
    """What an event is the current state of (None: a graduation, which replaces nothing)."""
    event, payload = item
    if isinstance(payload, KpiValueV1):
        return (event.tenant, "kpi", payload.kpi, payload.period_start)
    if isinstance(payload, KrProgressV1):
        return (event.tenant, "key_result", payload.key_result_id)
    if isinstance(payload, ObjectiveChangedV1):
        return (event.tenant, "objective", payload.objective_id)
    return None


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
            await Evaluator(session, settings, now).evaluate(newest(fresh, key=state_of))
        return []

    return handle
