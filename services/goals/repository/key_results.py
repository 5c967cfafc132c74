"""Queries on key results, their check-ins and their initiatives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import CheckIn, Initiative, KeyResult
from shared.pagination import Sort, keyset_page

CHECK_IN_SORTS = {
    "-at": Sort("-at", col(CheckIn.at), descending=True),  # type: ignore[arg-type]
    "at": Sort("at", col(CheckIn.at)),  # type: ignore[arg-type]
}

_INSERT_CHECK_INS = insert(CheckIn.__table__)  # type: ignore[attr-defined]


async def get(session: AsyncSession, tenant: str, kr_id: str) -> KeyResult | None:
    result = await session.execute(
        select(KeyResult).where(col(KeyResult.tenant) == tenant, col(KeyResult.id) == kr_id)
    )
    return result.scalar_one_or_none()


async def of_objectives(
    session: AsyncSession, tenant: str, objective_ids: Sequence[str]
) -> list[KeyResult]:
    if not objective_ids:
        return []
    result = await session.execute(
        select(KeyResult)
        .where(
            col(KeyResult.tenant) == tenant, col(KeyResult.objective_id).in_(list(objective_ids))
        )
        .order_by(col(KeyResult.created_at), col(KeyResult.id))
    )
    return list(result.scalars().all())


async def in_cycle(session: AsyncSession, tenant: str, cycle_id: str) -> list[KeyResult]:
    """Every KR of the cycle, refreshed from the database (see objectives.in_cycle)."""
    result = await session.execute(
        select(KeyResult)
        .where(col(KeyResult.tenant) == tenant, col(KeyResult.cycle_id) == cycle_id)
        .order_by(col(KeyResult.created_at), col(KeyResult.id))
        .execution_options(populate_existing=True)
    )
    return list(result.scalars().all())


async def add_check_ins(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert check-ins in one statement; each row has every column of `check_ins`."""
    if rows:
        await session.execute(_INSERT_CHECK_INS, list(rows))


async def check_in_page(
    session: AsyncSession, tenant: str, kr_id: str, *, sort: str, limit: int, cursor: str | None
) -> tuple[list[CheckIn], str | None]:
    stmt = select(CheckIn).where(col(CheckIn.tenant) == tenant, col(CheckIn.key_result_id) == kr_id)
    return await keyset_page(
        session,
        stmt,
        model=CheckIn,
        sort=CHECK_IN_SORTS[sort],
        id_column=col(CheckIn.id),  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        datetime_sort=True,
    )


async def get_initiative(
    session: AsyncSession, tenant: str, initiative_id: str
) -> Initiative | None:
    result = await session.execute(
        select(Initiative).where(
            col(Initiative.tenant) == tenant, col(Initiative.id) == initiative_id
        )
    )
    return result.scalar_one_or_none()


async def initiatives(session: AsyncSession, tenant: str, kr_id: str) -> list[Initiative]:
    result = await session.execute(
        select(Initiative)
        .where(col(Initiative.tenant) == tenant, col(Initiative.key_result_id) == kr_id)
        .order_by(col(Initiative.created_at), col(Initiative.id))
    )
    return list(result.scalars().all())
