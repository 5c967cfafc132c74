"""The tenants' settings rows (which built-in rules are on)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.tables import TenantSettings


async def get(session: AsyncSession, tenant: str) -> TenantSettings | None:
    return await session.get(TenantSettings, tenant)


def add(session: AsyncSession, row: TenantSettings) -> None:
    session.add(row)


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded rows (inside the caller's transaction)."""
    await session.flush()


async def of_tenants(session: AsyncSession, tenants: Iterable[str]) -> dict[str, TenantSettings]:
    result = await session.execute(
        select(TenantSettings).where(col(TenantSettings.tenant).in_(sorted(set(tenants))))
    )
    return {row.tenant: row for row in result.scalars().all()}
