"""Queries on key results."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import KeyResult
from shared.repository import all_of_tenant, one_of_tenant


async def get(session: AsyncSession, tenant: str, kr_id: str) -> KeyResult | None:
    return await one_of_tenant(session, KeyResult, tenant, id=kr_id)


async def of_objectives(
    session: AsyncSession, tenant: str, objective_ids: Sequence[str]
) -> list[KeyResult]:
    if not objective_ids:
        return []
    return await all_of_tenant(
        session, KeyResult, tenant, col(KeyResult.objective_id).in_(list(objective_ids))
    )


async def in_cycle(session: AsyncSession, tenant: str, cycle_id: str) -> list[KeyResult]:
    """Every KR of the cycle, refreshed from the database (see objectives.in_cycle)."""
    return await all_of_tenant(session, KeyResult, tenant, fresh=True, cycle_id=cycle_id)
