"""Queries on cycles."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, tuple_
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


async def lock_open(session: AsyncSession, keys: Collection[tuple[str, str]]) -> list[Cycle]:
    """The cycles of these (tenant, id) that are not closed, each row locked (PostgreSQL) in
    (tenant, id) order, the order every writer of several cycles locks them in, so no two
    writers ever wait for each other's locks at once (a deadlock); a copy the session holds is
    refreshed (as `get`)."""
    if not keys:
        return []
    stmt = (
        select(Cycle)
        .where(
            tuple_(col(Cycle.tenant), col(Cycle.id)).in_(sorted(keys)), col(Cycle.state) != "closed"
        )
        .order_by(col(Cycle.tenant), col(Cycle.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars().all())


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
