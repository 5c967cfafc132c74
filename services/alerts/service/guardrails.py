"""Guardrails: the KPIs whose linked key result graduated."""

from __future__ import annotations

from services.alerts.errors import GuardrailNotFound
from services.alerts.repository import guardrails as repository
from services.alerts.tables import Guardrail
from shared.db import AsyncSession
from shared.errors import found


async def get_guardrail(session: AsyncSession, tenant: str, kpi: str) -> Guardrail:
    """The KPI's guardrail; 404 when no key result graduated on it, or its guardrail was
    removed since."""
    row = await repository.get(session, tenant, kpi)
    return found(
        row if row is not None and row.removed_at is None else None,
        GuardrailNotFound(f"KPI '{kpi}' is not a guardrail (no key result graduated)"),
    )


async def list_guardrails(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> tuple[list[Guardrail], str | None]:
    """A page of guardrails in KPI order, and the next cursor."""
    return await repository.page(session, tenant, limit=limit, cursor=cursor)
