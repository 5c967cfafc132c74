"""Silences: by id, pages newest first, the ones ending after a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.tables import Silence
from shared.pagination import Sort
from shared.repository import page_of_tenant

NEWEST_FIRST = Sort("-created_at", col(Silence.created_at), descending=True)  # type: ignore[arg-type]


async def count_unexpired(session: AsyncSession, tenant: str, now: datetime) -> int:
    stmt = (
        select(func.count())
        .select_from(Silence)
        .where(col(Silence.tenant) == tenant, col(Silence.ends_at) > now)
    )
    return int((await session.execute(stmt)).scalar_one())


async def get(session: AsyncSession, tenant: str, silence_id: str) -> Silence | None:
    silence = await session.get(Silence, silence_id)
    return silence if silence is not None and silence.tenant == tenant else None


async def add(session: AsyncSession, silence: Silence) -> None:
    session.add(silence)
    await session.flush()


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded silences (inside the caller's transaction)."""
    await session.flush()


async def page(
    session: AsyncSession,
    tenant: str,
    *,
    not_expired_at: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Silence], str | None]:
    live = [] if not_expired_at is None else [col(Silence.ends_at) > not_expired_at]
    return await page_of_tenant(
        session, Silence, tenant, sort=NEWEST_FIRST, limit=limit, cursor=cursor, where=live
    )


async def ended_after(session: AsyncSession, tenant: str, since: datetime) -> Sequence[Silence]:
    """The tenant's silences that end at or after `since` (expired ones too), newest first."""
    result = await session.execute(
        select(Silence)
        .where(col(Silence.tenant) == tenant, col(Silence.ends_at) >= since)
        .order_by(col(Silence.created_at).desc(), col(Silence.id))
    )
    return result.scalars().all()
