"""Queries on teams and their members."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Team, TeamMember
from shared.pagination import PageQuery, Sort
from shared.repository import all_of_tenant, one_of_tenant, sorted_page_of_tenant

TEAM_SORTS = {
    "name": Sort("name", col(Team.name)),  # type: ignore[arg-type]
    "created_at": Sort("created_at", col(Team.created_at)),  # type: ignore[arg-type]
}


async def get(session: AsyncSession, tenant: str, team_id: str) -> Team | None:
    return await one_of_tenant(session, Team, tenant, id=team_id)


async def by_name(session: AsyncSession, tenant: str, name: str) -> Team | None:
    return await one_of_tenant(session, Team, tenant, name=name)


async def parent_links(session: AsyncSession, tenant: str) -> dict[str, str | None]:
    """Every team's parent, for the loop check and the walk down to sub-teams."""
    result = await session.execute(
        select(col(Team.id), col(Team.parent_id)).where(col(Team.tenant) == tenant)
    )
    return {row[0]: row[1] for row in result.all()}


async def all_of(session: AsyncSession, tenant: str, team_ids: Sequence[str]) -> list[Team]:
    if not team_ids:
        return []
    return await all_of_tenant(
        session, Team, tenant, col(Team.id).in_(list(team_ids)), order_by=("name",)
    )


async def page(
    session: AsyncSession, tenant: str, query: PageQuery, *, parent_id: str | None
) -> tuple[list[Team], str | None]:
    return await sorted_page_of_tenant(
        session, Team, tenant, TEAM_SORTS, query, parent_id=parent_id
    )


async def members(session: AsyncSession, tenant: str, team_id: str) -> list[TeamMember]:
    return await all_of_tenant(session, TeamMember, tenant, order_by=("person",), team_id=team_id)


async def get_member(
    session: AsyncSession, tenant: str, team_id: str, person: str
) -> TeamMember | None:
    return await one_of_tenant(session, TeamMember, tenant, team_id=team_id, person=person)


async def remove_member(session: AsyncSession, tenant: str, team_id: str, person: str) -> bool:
    result = await session.execute(
        delete(TeamMember).where(
            col(TeamMember.tenant) == tenant,
            col(TeamMember.team_id) == team_id,
            col(TeamMember.person) == person,
        )
    )
    return bool(getattr(result, "rowcount", 0))
