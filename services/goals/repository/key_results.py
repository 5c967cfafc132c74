"""Queries on key results."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.domain.progress import KrKind
from services.goals.domain.states import KeyResultState, KrLight
from services.goals.tables import KeyResult
from shared.repository import all_of_tenant, columns_of, one_of_tenant


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


_KR = KeyResult.__table__  # type: ignore[attr-defined]
_STATE_COLUMNS = columns_of(_KR, KeyResultState)


_FOLLOWING = (
    select(*_STATE_COLUMNS)
    .where(
        _KR.c.tenant == bindparam("tenant"),
        _KR.c.kpi.in_(bindparam("kpis", expanding=True)),
        _KR.c.cycle_id == bindparam("cycle_id"),
        _KR.c.state == "open",
        _KR.c.kind != KrKind.MILESTONE.value,
    )
    .order_by(_KR.c.created_at, _KR.c.id)
)  # built once, like the statements below: they run on every batch of kpi.values


async def following(
    session: AsyncSession, tenant: str, cycle_id: str, kpis: Collection[str]
) -> list[Row[Any]]:
    """The cycle's open KRs linked to any of `kpis` (not milestones: they cannot follow a
    KPI), as plain rows of what a re-evaluation reads (`evaluation.KeyResultState`), in the
    cycle's order; by the (tenant, kpi) index, not the whole cycle."""
    if not kpis:
        return []
    params = {"tenant": tenant, "cycle_id": cycle_id, "kpis": list(kpis)}
    return list((await session.execute(_FOLLOWING, params)).all())


_LIGHT = select(
    _KR.c.id, _KR.c.objective_id, _KR.c.weight, _KR.c.progress, _KR.c.status, _KR.c.score
).where(
    _KR.c.tenant == bindparam("tenant"),
    _KR.c.objective_id.in_(bindparam("objective_ids", expanding=True)),
    _KR.c.cycle_id == bindparam("cycle_id"),
)


async def light_of_objectives(
    session: AsyncSession,
    tenant: str,
    cycle_id: str,
    objective_ids: Collection[str],
    excluding: Collection[str],
) -> list[KrLight]:
    """The stored numbers an objective reads of its KRs, for every KR of the cycle under
    `objective_ids` but those in `excluding` (light columns, no ORM objects)."""
    if not objective_ids:
        return []
    params = {"tenant": tenant, "cycle_id": cycle_id, "objective_ids": list(objective_ids)}
    skip = set(excluding)
    return [
        KrLight(*row) for row in (await session.execute(_LIGHT, params)).all() if row[0] not in skip
    ]
