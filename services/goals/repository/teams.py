"""Queries on teams and their members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Team, TeamMember
from shared.pagination import Sort, keyset_page

TEAM_SORTS = {
    "name": Sort("name", col(Team.name)),  # type: ignore[arg-type]
    "created_at": Sort("created_at", col(Team.created_at)),  # type: ignore[arg-type]
}


async def get(session: AsyncSession, tenant: str, team_id: str) -> Team | None:
    result = await session.execute(
        select(Team).where(col(Team.tenant) == tenant, col(Team.id) == team_id)
    )
    return result.scalar_one_or_none()


async def by_name(session: AsyncSession, tenant: str, name: str) -> Team | None:
    result = await session.execute(
        select(Team).where(col(Team.tenant) == tenant, col(Team.name) == name)
    )
    return result.scalar_one_or_none()


async def parent_links(session: AsyncSession, tenant: str) -> dict[str, str | None]:
    """Every team's parent, for the loop check and the walk down to sub-teams."""
    result = await session.execute(
        select(col(Team.id), col(Team.parent_id)).where(col(Team.tenant) == tenant)
    )
    return {row[0]: row[1] for row in result.all()}


async def all_of(session: AsyncSession, tenant: str, team_ids: Sequence[str]) -> list[Team]:
    if not team_ids:
        return []
    result = await session.execute(
        select(Team)
        .where(col(Team.tenant) == tenant, col(Team.id).in_(list(team_ids)))
        .order_by(col(Team.name))
    )
    return list(result.scalars().all())


async def page(
    session: AsyncSession,
    tenant: str,
    *,
    parent_id: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[Team], str | None]:
    stmt = select(Team).where(col(Team.tenant) == tenant)
    if parent_id is not None:
        stmt = stmt.where(col(Team.parent_id) == parent_id)
    return await keyset_page(
        session,
        stmt,
        model=Team,
        sort=TEAM_SORTS[sort],
        id_column=col(Team.id),  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        tenant=tenant,
    )


async def members(session: AsyncSession, tenant: str, team_id: str) -> list[TeamMember]:
    result = await session.execute(
        select(TeamMember)
        .where(col(TeamMember.tenant) == tenant, col(TeamMember.team_id) == team_id)
        .order_by(col(TeamMember.person))
    )
    return list(result.scalars().all())


async def get_member(
    session: AsyncSession, tenant: str, team_id: str, person: str
) -> TeamMember | None:
    result = await session.execute(
        select(TeamMember).where(
            col(TeamMember.tenant) == tenant,
            col(TeamMember.team_id) == team_id,
            col(TeamMember.person) == person,
        )
    )
    return result.scalar_one_or_none()


async def remove_member(session: AsyncSession, tenant: str, team_id: str, person: str) -> bool:
    result = await session.execute(
        delete(TeamMember).where(
            col(TeamMember.tenant) == tenant,
            col(TeamMember.team_id) == team_id,
            col(TeamMember.person) == person,
        )
    )
    return bool(getattr(result, "rowcount", 0))
