"""Guardrails: KPIs whose key result graduated, by (tenant, KPI)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.tables import Guardrail
from shared.pagination import Sort
from shared.repository import page_of_tenant
from shared.sql import KeyLookup

BY_KPI = Sort("kpi", col(Guardrail.kpi))  # type: ignore[arg-type]


async def get(session: AsyncSession, tenant: str, kpi: str) -> Guardrail | None:
    """The KPI's row, a removed guardrail's tombstone included."""
    return await session.get(Guardrail, (tenant, kpi))


def add(session: AsyncSession, row: Guardrail) -> None:
    session.add(row)


# Built once (run per batch).
_OF_KPIS = KeyLookup(select(Guardrail), Guardrail.__table__, ("tenant", "kpi"))  # type: ignore[attr-defined]


async def of_kpis(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Guardrail]:
    """The guardrail rows of these (tenant, KPI) that exist, tombstones included."""
    rows = await _OF_KPIS.rows(
        session, list(set(keys)), key=lambda row: (row[0].tenant, row[0].kpi)
    )
    return {(row[0].tenant, row[0].kpi): row[0] for row in rows}


async def page(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> tuple[list[Guardrail], str | None]:
    """A page of the tenant's guardrails, the removed ones (tombstones) left out."""
    return await page_of_tenant(
        session,
        Guardrail,
        tenant,
        sort=BY_KPI,
        limit=limit,
        cursor=cursor,
        where=[col(Guardrail.removed_at).is_(None)],
        id_column="kpi",
    )
