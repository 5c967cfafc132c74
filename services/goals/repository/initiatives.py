"""Queries on initiatives: the work attached to a key result."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Initiative
from shared.repository import one_of_tenant


async def get(session: AsyncSession, tenant: str, initiative_id: str) -> Initiative | None:
    return await one_of_tenant(session, Initiative, tenant, id=initiative_id)


async def of_key_result(session: AsyncSession, tenant: str, kr_id: str) -> list[Initiative]:
    result = await session.execute(
        select(Initiative)
        .where(col(Initiative.tenant) == tenant, col(Initiative.key_result_id) == kr_id)
        .order_by(col(Initiative.created_at), col(Initiative.id))
    )
    return list(result.scalars().all())
