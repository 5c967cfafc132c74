"""Guardrails: KPIs whose key result graduated, by (tenant, KPI)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.repository import chunks
from services.alerts.tables import Guardrail
from shared.pagination import Sort
from shared.repository import page_of_tenant

BY_KPI = Sort("kpi", col(Guardrail.kpi))  # type: ignore[arg-type]


async def get(session: AsyncSession, tenant: str, kpi: str) -> Guardrail | None:
    """The KPI's row, a removed guardrail's tombstone included."""
    return await session.get(Guardrail, (tenant, kpi))


def add(session: AsyncSession, row: Guardrail) -> None:
    session.add(row)


# Built once (run per batch); IN lists are expanding parameters.
_OF_KPIS = select(Guardrail).where(
    col(Guardrail.tenant).in_(bindparam("tenants", expanding=True)),
    col(Guardrail.kpi).in_(bindparam("kpis", expanding=True)),
)


async def of_kpis(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Guardrail]:
    """The guardrail rows of these (tenant, KPI) that exist, tombstones included."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], Guardrail] = {}
    for chunk in chunks(wanted):
        params = {"tenants": sorted({t for t, _ in chunk}), "kpis": [k for _, k in chunk]}
        result = await session.execute(_OF_KPIS, params)
        for row in result.scalars().all():
            found[(row.tenant, row.kpi)] = row
    exact = set(wanted)
    return {k: v for k, v in found.items() if k in exact}


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
