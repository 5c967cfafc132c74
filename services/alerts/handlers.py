"""Inbound events of the alerts service: KPI values and guardrail removals (`kpi.values`), KR
progress, graduations and objective changes (`okr.events`). Types it does not evaluate are
skipped, not dead-lettered: those topics carry other services' events too.

A batch is one transaction: its events' identities are recorded (re-deliveries are skipped) in
one statement, then the evaluator loads what the batch needs, each event goes to the handler
of its type (`EVENT_HANDLERS`), and the evaluator writes it all in bulk. Of several values of
one KPI period (or progress events of one key result, changes of one objective) in a batch
only the newest is evaluated: each carries the whole current state, so an alert follows the
KPI's current value, as goals' key results do (`shared.coalesce`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, cast

from services.alerts.service.definitions import DefinitionCache
from services.alerts.service.evaluator import Evaluator, Inputs
from services.alerts.settings import AlertsSettings
from shared.coalesce import newest
from shared.db import Database
from shared.events import (
    KPI_GUARDRAIL_REMOVED_V1,
    KPI_VALUE_V1,
    KR_GRADUATED_V1,
    KR_PROGRESS_V1,
    OBJECTIVE_CHANGED_V1,
    CloudEvent,
    KpiGuardrailRemovedV1,
    KpiValueV1,
    KrGraduatedV1,
    KrProgressV1,
    ObjectiveChangedV1,
    utcnow,
)
from shared.inbound import BatchHandler, Inbound, Rejection
from shared.inbox import first_deliveries


async def kpi_value(evaluator: Evaluator, event: CloudEvent, value: KpiValueV1) -> None:
    await evaluator.kpi_value(event, value)


async def kr_progress(evaluator: Evaluator, event: CloudEvent, progress: KrProgressV1) -> None:
    await evaluator.kr_progress(event, progress)


async def objective_changed(
    evaluator: Evaluator, event: CloudEvent, change: ObjectiveChangedV1
) -> None:
    await evaluator.objective_changed(event, change)


async def kr_graduated(evaluator: Evaluator, event: CloudEvent, graduated: KrGraduatedV1) -> None:
    await evaluator.kr_graduated(event, graduated)


async def guardrail_removed(
    evaluator: Evaluator, event: CloudEvent, removed: KpiGuardrailRemovedV1
) -> None:
    await evaluator.guardrail_removed(event, removed)


# The payload's class follows the event type (`shared.events.PAYLOADS`).
Handler = Callable[[Evaluator, CloudEvent, Any], Awaitable[None]]
EVENT_HANDLERS: dict[str, Handler] = {
    KPI_VALUE_V1: kpi_value,
    KR_PROGRESS_V1: kr_progress,
    OBJECTIVE_CHANGED_V1: objective_changed,
    KR_GRADUATED_V1: kr_graduated,
    KPI_GUARDRAIL_REMOVED_V1: guardrail_removed,
}

# What an event of each type is the current state of; a graduation or a removal replaces
# nothing (each is kept, in its place among the KPI's values).
STATE_KEYS: dict[str, Callable[[CloudEvent, Any], Hashable | None]] = {
    KPI_VALUE_V1: lambda e, p: (e.tenant, "kpi", p.kpi, p.period_start),
    KR_PROGRESS_V1: lambda e, p: (e.tenant, "key_result", p.key_result_id),
    OBJECTIVE_CHANGED_V1: lambda e, p: (e.tenant, "objective", p.objective_id),
    KR_GRADUATED_V1: lambda e, p: None,
    KPI_GUARDRAIL_REMOVED_V1: lambda e, p: None,
}


def state_of(item: tuple[CloudEvent, Inputs]) -> Hashable | None:
    event, payload = item
    return STATE_KEYS[event.type](event, payload)


def evaluation_handler(db: Database, settings: AlertsSettings) -> BatchHandler:
    """The handler of the inbound topics; its rules, silences and settings are cached between
    batches (`DefinitionCache`: reloaded for a tenant whose definitions version moved)."""
    definitions = DefinitionCache()

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        items: list[tuple[CloudEvent, Inputs]] = [
            (item.event, cast(Inputs, item.payload))
            for item in batch
            if item.event.type in EVENT_HANDLERS and item.payload is not None
        ]
        if not items:
            return []
        async with db.transaction() as session:
            first = await first_deliveries(session, [e for e, _ in items], utcnow())
            fresh = newest(
                [item for item, new in zip(items, first, strict=True) if new], key=state_of
            )
            evaluator = Evaluator(session, settings, utcnow, definitions)
            await evaluator.prepare(fresh)
            for event, payload in fresh:
                await EVENT_HANDLERS[event.type](evaluator, event, payload)
            await evaluator.flush()
        return []

    return handle
