"""Queries on cycles."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Cycle
from shared.pagination import Sort, keyset_page

CYCLE_SORTS = {
    "starts_at": Sort("starts_at", col(Cycle.starts_at)),  # type: ignore[arg-type]
    "-starts_at": Sort("-starts_at", col(Cycle.starts_at), descending=True),  # type: ignore[arg-type]
    "name": Sort("name", col(Cycle.name)),  # type: ignore[arg-type]
}


async def get(
    session: AsyncSession, tenant: str, cycle_id: str, *, for_update: bool = False
) -> Cycle | None:
    """The cycle; `for_update` locks its row (PostgreSQL) so that writes in one cycle run one
    after the other and each re-evaluation sees the previous one's result."""
    stmt = select(Cycle).where(col(Cycle.tenant) == tenant, col(Cycle.id) == cycle_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def by_name(session: AsyncSession, tenant: str, name: str) -> Cycle | None:
    result = await session.execute(
        select(Cycle).where(col(Cycle.tenant) == tenant, col(Cycle.name) == name)
    )
    return result.scalar_one_or_none()


async def page(
    session: AsyncSession,
    tenant: str,
    *,
    state: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Cycle], str | None]:
    stmt = select(Cycle).where(col(Cycle.tenant) == tenant)
    if state is not None:
        stmt = stmt.where(col(Cycle.state) == state)
    return await keyset_page(
        session,
        stmt,
        model=Cycle,
        sort=CYCLE_SORTS[sort],
        id_column=col(Cycle.id),  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        tenant=tenant,
    )


async def open_ids(session: AsyncSession) -> list[tuple[str, str]]:
    """(tenant, id) of every cycle of every tenant that is not closed: the timer's work list."""
    result = await session.execute(
        select(col(Cycle.tenant), col(Cycle.id))
        .where(col(Cycle.state) != "closed")
        .order_by(col(Cycle.tenant), col(Cycle.id))
    )
    return [(tenant, cycle_id) for tenant, cycle_id in result.all()]
