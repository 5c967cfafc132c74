"""The tenants a service knows of (its `tenants` table, fed by the `tenants` topic): the
timezone their KPI periods follow (`shared.periods`)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import utcnow
from shared.periods import DEFAULT_TIMEZONE
from shared.sql import dialect_insert
from shared.tables import tenants


async def timezone_of(session: AsyncSession, slug: str) -> str:
    """The tenant's timezone (UTC for a tenant this service has not heard of yet)."""
    return (await timezones_of(session, [slug]))[slug]


async def timezones_of(session: AsyncSession, slugs: Collection[str]) -> dict[str, str]:
    """Each tenant's timezone, by slug, in one statement (UTC for a tenant this service has
    not heard of yet)."""
    if not slugs:
        return {}
    stmt = select(tenants.c.slug, tenants.c.timezone).where(tenants.c.slug.in_(list(slugs)))
    found: dict[str, str] = dict((await session.execute(stmt)).all())
    return {slug: found.get(slug, DEFAULT_TIMEZONE) for slug in slugs}


async def ensure_tenant(session: AsyncSession, slug: str) -> None:
    """The tenant's row, added (named after its slug, in UTC) when missing; an existing one is
    left as its last `lodestar.tenant.v1` made it (a restart must not reset its timezone)."""
    stmt = dialect_insert(session, tenants).values(
        slug=slug, name=slug, timezone=DEFAULT_TIMEZONE, created_at=utcnow()
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["slug"]))
