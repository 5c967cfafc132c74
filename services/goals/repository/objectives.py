"""Queries on objectives."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.domain.states import ObjectiveState
from services.goals.tables import Objective
from shared.pagination import PageQuery, Sort
from shared.repository import all_of_tenant, columns_of, one_of_tenant, sorted_page_of_tenant
from shared.sql import KeyLookup

OBJECTIVE_SORTS = {
    "created_at": Sort("created_at", col(Objective.created_at)),  # type: ignore[arg-type]
    "-created_at": Sort("-created_at", col(Objective.created_at), descending=True),  # type: ignore[arg-type]
    "title": Sort("title", col(Objective.title)),  # type: ignore[arg-type]
    "progress": Sort("progress", col(Objective.progress)),  # type: ignore[arg-type]
    "-progress": Sort("-progress", col(Objective.progress), descending=True),  # type: ignore[arg-type]
}


async def get(session: AsyncSession, tenant: str, objective_id: str) -> Objective | None:
    return await one_of_tenant(session, Objective, tenant, id=objective_id)


async def in_cycle(session: AsyncSession, tenant: str, cycle_id: str) -> list[Objective]:
    """Every objective of the cycle, as stored now (pending changes are flushed first, then
    rows read earlier in the session are refreshed, so a re-evaluation never works from a
    stale copy)."""
    return await all_of_tenant(session, Objective, tenant, fresh=True, cycle_id=cycle_id)


async def children(session: AsyncSession, tenant: str, objective_id: str) -> list[Objective]:
    return await all_of_tenant(session, Objective, tenant, parent_id=objective_id)


async def of_teams(
    session: AsyncSession, tenant: str, cycle_id: str, team_ids: Sequence[str]
) -> list[Objective]:
    if not team_ids:
        return []
    return await all_of_tenant(
        session, Objective, tenant, col(Objective.team_id).in_(list(team_ids)), cycle_id=cycle_id
    )


async def page(
    session: AsyncSession, tenant: str, query: PageQuery, **equal: str | None
) -> tuple[list[Objective], str | None]:
    """A page of objectives, keeping those whose columns equal each non-None filter."""
    return await sorted_page_of_tenant(session, Objective, tenant, OBJECTIVE_SORTS, query, **equal)


_OBJECTIVES = Objective.__table__  # type: ignore[attr-defined]
_STATE_COLUMNS = columns_of(_OBJECTIVES, ObjectiveState)


# Built once: it runs on every batch of kpi.values. By the (tenant, cycle_id) index, on the
# driver's connection (`shared.sql.KeyLookup`).
_STATES_IN_CYCLES = KeyLookup(
    select(*_STATE_COLUMNS, _OBJECTIVES.c.created_at),
    _OBJECTIVES,
    ("tenant", "cycle_id"),
)


async def states_in_cycles(
    session: AsyncSession, cycles: Collection[tuple[str, str]]
) -> dict[str, list[ObjectiveState]]:
    """Every objective of these (tenant, cycle id), by cycle id, as a re-evaluation reads it,
    each cycle's in its order (created, then id): plain values, no ORM objects."""
    found: dict[str, list[ObjectiveState]] = {cycle_id: [] for _, cycle_id in cycles}
    rows = sorted(await _STATES_IN_CYCLES.fetch(session, cycles), key=lambda r: (r[-1], r[0]))
    for row in rows:
        state = ObjectiveState(*row[:-1])
        found[state.cycle_id].append(state)
    return found


async def of_ids(session: AsyncSession, tenant: str, ids: Sequence[str]) -> list[Objective]:
    """The tenant's objectives `ids` (those the session holds already, as it holds them)."""
    if not ids:
        return []
    return await all_of_tenant(session, Objective, tenant, col(Objective.id).in_(list(ids)))
