"""Queries on cycles."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Cycle
from shared.pagination import PageQuery, Sort
from shared.repository import one_of_tenant, sorted_page_of_tenant

CYCLE_SORTS = {
    "starts_at": Sort("starts_at", col(Cycle.starts_at)),  # type: ignore[arg-type]
    "-starts_at": Sort("-starts_at", col(Cycle.starts_at), descending=True),  # type: ignore[arg-type]
    "name": Sort("name", col(Cycle.name)),  # type: ignore[arg-type]
}


async def get(
    session: AsyncSession, tenant: str, cycle_id: str, *, for_update: bool = False
) -> Cycle | None:
    """The cycle; `for_update` locks its row (PostgreSQL): writes in one cycle run one after
    the other and each re-evaluation sees the previous one's result."""
    return await one_of_tenant(session, Cycle, tenant, for_update=for_update, id=cycle_id)


async def by_name(session: AsyncSession, tenant: str, name: str) -> Cycle | None:
    return await one_of_tenant(session, Cycle, tenant, name=name)


async def page(
    session: AsyncSession, tenant: str, query: PageQuery, *, state: str | None
) -> tuple[list[Cycle], str | None]:
    return await sorted_page_of_tenant(session, Cycle, tenant, CYCLE_SORTS, query, state=state)


async def open_ids(session: AsyncSession) -> list[tuple[str, str]]:
    """(tenant, id) of every cycle of every tenant that is not closed: the timer's work list."""
    result = await session.execute(
        select(col(Cycle.tenant), col(Cycle.id))
        .where(col(Cycle.state) != "closed")
        .order_by(col(Cycle.tenant), col(Cycle.id))
    )
    return [(tenant, cycle_id) for tenant, cycle_id in result.all()]
