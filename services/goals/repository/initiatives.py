"""Queries on initiatives: the work attached to a key result."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.tables import Initiative
from shared.repository import all_of_tenant, one_of_tenant


async def get(session: AsyncSession, tenant: str, initiative_id: str) -> Initiative | None:
    return await one_of_tenant(session, Initiative, tenant, id=initiative_id)


async def of_key_result(session: AsyncSession, tenant: str, kr_id: str) -> list[Initiative]:
    return await all_of_tenant(session, Initiative, tenant, key_result_id=kr_id)
