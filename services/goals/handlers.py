"""Inbound events of the goals service, dispatched by type (`EVENT_HANDLERS`): today
`lodestar.kpi.value.v1` on `kpi.values`, which moves the key results linked to that KPI. Other
types on the topic are skipped, not refused: it carries other services' events too.

A batch is one transaction: the identities of its events are recorded in the same transaction
(one statement), so a re-delivered event changes nothing; then each handler gets the fresh
events of its type, all at once, since the use cases are set-based (one statement per step of a
batch, not per event, cycle or tenant).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.service import kpi_values
from services.goals.settings import GoalsSettings
from shared import inbox
from shared.events import KPI_VALUE_V1, CloudEvent, utcnow
from shared.inbound import Inbound, Rejection
from shared.runtime import ConsumerSpec, Runtime

Received = tuple[CloudEvent, Any]
"""An event and its payload, whose class follows the event type (`shared.events.PAYLOADS`)."""


async def kpi_value(
    session: AsyncSession, settings: GoalsSettings, events: Sequence[Received], now: datetime
) -> None:
    values = [kpi_values.KpiValue(e.tenant, payload) for e, payload in events]
    await kpi_values.apply(session, settings, values, now)


Handler = Callable[[AsyncSession, GoalsSettings, Sequence[Received], datetime], Awaitable[None]]
EVENT_HANDLERS: dict[str, Handler] = {
    KPI_VALUE_V1: kpi_value,
}
"""Event type → the handler of that type's events."""


def kpi_values_consumer(runtime: Runtime) -> ConsumerSpec:
    """The `kpi-values` consumer."""
    settings = runtime.settings
    assert isinstance(settings, GoalsSettings)

    async def handle(batch: Sequence[Inbound]) -> Sequence[Rejection]:
        received: list[Received] = [
            (inbound.event, inbound.payload)
            for inbound in batch
            if inbound.event.type in EVENT_HANDLERS and inbound.payload is not None
        ]
        if not received:
            return []
        async with runtime.db.transaction() as session:
            now = utcnow()
            firsts = await inbox.first_deliveries(session, [e for e, _ in received], now)
            by_type: dict[str, list[Received]] = defaultdict(list)
            for item, first in zip(received, firsts, strict=True):
                if first:
                    by_type[item[0].type].append(item)
            for type_, events in by_type.items():
                await EVENT_HANDLERS[type_](session, settings, events, now)
        return []

    return ConsumerSpec("kpi-values", [settings.topics.kpi_values], handle)
