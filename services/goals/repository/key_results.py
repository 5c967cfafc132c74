"""Queries on key results."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.domain.progress import KrKind
from services.goals.domain.states import KeyResultState, KrLight
from services.goals.tables import KeyResult
from shared.db import driver_connection
from shared.repository import all_of_tenant, columns_of, one_of_tenant
from shared.sql import KeyLookup


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


# Built once, like the statements below: they run on every batch of kpi.values. By the
# (tenant, kpi) index, on the driver's connection (`shared.sql.KeyLookup`).
_FOLLOWING = KeyLookup(
    select(*_STATE_COLUMNS, _KR.c.created_at).where(
        _KR.c.state == "open", _KR.c.kind != KrKind.MILESTONE.value
    ),
    _KR,
    ("tenant", "kpi"),
)


async def following(
    session: AsyncSession, tenant: str, cycle_id: str, kpis: Collection[str]
) -> list[KeyResultState]:
    """The cycle's open KRs linked to any of `kpis` (not milestones: they cannot follow a
    KPI), as a re-evaluation reads them, in the cycle's order (created, then id); by the
    (tenant, kpi) index, not the whole cycle."""
    rows = await _FOLLOWING.fetch(session, [(tenant, kpi) for kpi in kpis])
    states = [(KeyResultState(*row[:-1]), row[-1]) for row in rows]
    mine = sorted((pair for pair in states if pair[0].cycle_id == cycle_id), key=_cycle_order)
    return [state for state, _ in mine]


def _cycle_order(pair: tuple[KeyResultState, datetime]) -> tuple[datetime, str]:
    return pair[1], pair[0].id


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
