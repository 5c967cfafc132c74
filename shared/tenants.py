"""The tenants a service knows of (its `tenants` table, fed by the `tenants` topic): the
timezone their KPI periods follow (`shared.periods`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.periods import DEFAULT_TIMEZONE
from shared.tables import tenants


async def timezone_of(session: AsyncSession, slug: str) -> str:
    """The tenant's timezone (UTC for a tenant this service has not heard of yet)."""
    stmt = select(tenants.c.timezone).where(tenants.c.slug == slug)
    found = (await session.execute(stmt)).scalar_one_or_none()
    return found if found is not None else DEFAULT_TIMEZONE
