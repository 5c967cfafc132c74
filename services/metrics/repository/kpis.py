"""Queries on KPI definitions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.metrics.tables import Kpi
from shared.pagination import Sort
from shared.repository import page_of_tenant

BY_KEY = Sort("key", col(Kpi.key))  # type: ignore[arg-type]


async def count(session: AsyncSession, tenant: str) -> int:
    stmt = select(func.count()).select_from(Kpi).where(col(Kpi.tenant) == tenant)
    return int((await session.execute(stmt)).scalar_one())


async def get(session: AsyncSession, tenant: str, key: str) -> Kpi | None:
    return await session.get(Kpi, (tenant, key))


async def page(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> tuple[list[Kpi], str | None]:
    """One page of the tenant's KPIs by key (the key is also the tie-breaker: it is unique)."""
    return await page_of_tenant(
        session, Kpi, tenant, sort=BY_KEY, limit=limit, cursor=cursor, id_column="key"
    )


async def of_tenant(session: AsyncSession, tenant: str) -> Sequence[Kpi]:
    """Every KPI of the tenant, by key."""
    stmt = select(Kpi).where(col(Kpi.tenant) == tenant).order_by(col(Kpi.key))
    return (await session.execute(stmt)).scalars().all()


async def existing_kpi_keys(session: AsyncSession, tenant: str, keys: set[str]) -> set[str]:
    """Those of `keys` that name a KPI of the tenant."""
    result = await session.execute(
        select(col(Kpi.key)).where(col(Kpi.tenant) == tenant, col(Kpi.key).in_(keys))
    )
    return set(result.scalars())


async def delete(session: AsyncSession, kpi: Kpi) -> None:
    """The definition only: its points and rollups are the other repositories' to delete."""
    await session.delete(kpi)
