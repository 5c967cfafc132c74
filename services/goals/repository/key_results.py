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
from shared.db import driver_connection
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


# The light columns of a batch's objectives, on the driver's connection
# (`shared.db.driver_connection`): an objective of a thousand KRs is read on every batch that
# moves one of them, and SQLAlchemy's result rows cost several times the read itself. The
# same statement as `select(...).where(tenant, objective_id IN ..., cycle_id)`, so the same
# plan and row order.
_LIGHT_COLUMNS = "id, objective_id, weight, progress, status, score"
_LIGHT_POSTGRES = (
    f"SELECT {_LIGHT_COLUMNS} FROM key_results "
    "WHERE tenant = $1 AND objective_id = ANY($2::varchar[]) AND cycle_id = $3"
)


def _light_sqlite(objectives: int) -> str:
    marks = ", ".join("?" * objectives)
    return (
        f"SELECT {_LIGHT_COLUMNS} FROM key_results "
        f"WHERE tenant = ? AND objective_id IN ({marks}) AND cycle_id = ?"
    )


async def light_of_objectives(
    session: AsyncSession,
    tenant: str,
    cycle_id: str,
    objective_ids: Collection[str],
    excluding: Collection[str],
) -> list[KrLight]:
    """The stored numbers an objective reads of its KRs, for every KR of the cycle under
    `objective_ids` but those in `excluding` (light columns, no ORM objects). Read past the
    session: a KR changed in it but not flushed is one of `excluding` (the batch's own)."""
    if not objective_ids:
        return []
    ids = list(objective_ids)
    conn = await driver_connection(session)
    if session.get_bind().dialect.name == "postgresql":
        rows = await conn.fetch(_LIGHT_POSTGRES, tenant, ids, cycle_id)
    else:
        cursor = await conn.cursor().execute(_light_sqlite(len(ids)), (tenant, *ids, cycle_id))
        rows = await cursor.fetchall()
    skip = set(excluding)
    return [KrLight._make(row) for row in rows if row[0] not in skip]
