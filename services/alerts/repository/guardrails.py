"""Guardrails: KPIs whose key result graduated, by (tenant, KPI)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.repository import chunks
from services.alerts.tables import Guardrail
from shared.pagination import Sort, keyset_page

BY_KPI = Sort("kpi", col(Guardrail.kpi))  # type: ignore[arg-type]


async def get(session: AsyncSession, tenant: str, kpi: str) -> Guardrail | None:
    return await session.get(Guardrail, (tenant, kpi))


def add(session: AsyncSession, row: Guardrail) -> None:
    session.add(row)


async def of_kpis(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Guardrail]:
    """The guardrails of these (tenant, KPI) that exist."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], Guardrail] = {}
    for chunk in chunks(wanted):
        result = await session.execute(
            select(Guardrail).where(
                col(Guardrail.tenant).in_(sorted({t for t, _ in chunk})),
                col(Guardrail.kpi).in_([k for _, k in chunk]),
            )
        )
        for row in result.scalars().all():
            found[(row.tenant, row.kpi)] = row
    exact = set(wanted)
    return {k: v for k, v in found.items() if k in exact}


async def page(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> tuple[list[Guardrail], str | None]:
    return await keyset_page(
        session,
        select(Guardrail).where(col(Guardrail.tenant) == tenant),
        model=Guardrail,
        sort=BY_KPI,
        id_column=col(Guardrail.kpi),  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        tenant=tenant,
    )
