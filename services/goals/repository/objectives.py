"""Queries on objectives."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Objective
from shared.pagination import Sort, keyset_page

OBJECTIVE_SORTS = {
    "created_at": Sort("created_at", col(Objective.created_at)),  # type: ignore[arg-type]
    "-created_at": Sort("-created_at", col(Objective.created_at), descending=True),  # type: ignore[arg-type]
    "title": Sort("title", col(Objective.title)),  # type: ignore[arg-type]
    "progress": Sort("progress", col(Objective.progress)),  # type: ignore[arg-type]
    "-progress": Sort("-progress", col(Objective.progress), descending=True),  # type: ignore[arg-type]
}


async def get(session: AsyncSession, tenant: str, objective_id: str) -> Objective | None:
    result = await session.execute(
        select(Objective).where(col(Objective.tenant) == tenant, col(Objective.id) == objective_id)
    )
    return result.scalar_one_or_none()


async def in_cycle(session: AsyncSession, tenant: str, cycle_id: str) -> list[Objective]:
    """Every objective of the cycle, as stored now (pending changes are flushed first, then
    rows read earlier in the session are refreshed, so a re-evaluation never works from a
    stale copy)."""
    result = await session.execute(
        select(Objective)
        .where(col(Objective.tenant) == tenant, col(Objective.cycle_id) == cycle_id)
        .order_by(col(Objective.created_at), col(Objective.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars().all())


async def children(session: AsyncSession, tenant: str, objective_id: str) -> list[Objective]:
    result = await session.execute(
        select(Objective)
        .where(col(Objective.tenant) == tenant, col(Objective.parent_id) == objective_id)
        .order_by(col(Objective.created_at), col(Objective.id))
    )
    return list(result.scalars().all())


async def of_teams(
    session: AsyncSession, tenant: str, cycle_id: str, team_ids: Sequence[str]
) -> list[Objective]:
    if not team_ids:
        return []
    result = await session.execute(
        select(Objective)
        .where(
            col(Objective.tenant) == tenant,
            col(Objective.cycle_id) == cycle_id,
            col(Objective.team_id).in_(list(team_ids)),
        )
        .order_by(col(Objective.created_at), col(Objective.id))
    )
    return list(result.scalars().all())


async def page(
    session: AsyncSession,
    tenant: str,
    *,
    cycle_id: str | None,
    team_id: str | None,
    owner: str | None,
    status: str | None,
    level: str | None,
    parent_id: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[Objective], str | None]:
    stmt = select(Objective).where(col(Objective.tenant) == tenant)
    for column, value in (
        (Objective.cycle_id, cycle_id),
        (Objective.team_id, team_id),
        (Objective.owner, owner),
        (Objective.status, status),
        (Objective.level, level),
        (Objective.parent_id, parent_id),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    return await keyset_page(
        session,
        stmt,
        model=Objective,
        sort=OBJECTIVE_SORTS[sort],
        id_column=col(Objective.id),  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        tenant=tenant,
    )
