"""The tenant's row (the shared `tenants` table; goals writes it through
`shared.auth.upsert_tenant` and announces it on the `tenants` topic)."""

from __future__ import annotations

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.tables import tenants


async def get(session: AsyncSession, slug: str) -> Row[tuple[object, ...]] | None:
    result = await session.execute(select(tenants).where(tenants.c.slug == slug))
    return result.one_or_none()
