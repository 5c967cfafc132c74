"""Queries on key results."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.domain.progress import KrKind
from services.goals.domain.states import KeyResultState, KrLight
from services.goals.tables import KeyResult
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


# Built once: they run on every batch of kpi.values. By an index of their key, on the
# driver's connection (`shared.sql.KeyLookup`): an objective of a thousand KRs is read on every
# batch that moves one of them, and SQLAlchemy's result rows cost several times the read.
_FOLLOWING = KeyLookup(
    select(*_STATE_COLUMNS, _KR.c.created_at, _KR.c.tenant).where(
        _KR.c.state == "open", _KR.c.kind != KrKind.MILESTONE.value
    ),
    _KR,
    ("tenant", "kpi"),
)
_LIGHT = KeyLookup(
    select(*(_KR.c[name] for name in KrLight._fields), _KR.c.cycle_id, _KR.c.tenant),
    _KR,
    ("tenant", "objective_id"),
)


async def following(
    session: AsyncSession, kpis: Collection[tuple[str, str]]
) -> dict[tuple[str, str], list[KeyResultState]]:
    """The open KRs linked to any of these (tenant, KPI) (not milestones: they cannot follow a
    KPI), as a re-evaluation reads them, by their (tenant, cycle id), each cycle's in its
    order (created, then id); by the (tenant, kpi) index, not whole cycles."""
    rows = sorted(await _FOLLOWING.fetch(session, kpis), key=_cycle_order)
    found: dict[tuple[str, str], list[KeyResultState]] = {}
    for row in rows:
        state = KeyResultState(*row[:-2])
        found.setdefault((row[-1], state.cycle_id), []).append(state)
    return found


def _cycle_order(row: tuple[object, ...]) -> tuple[Any, ...]:
    return row[-2], row[0]  # created_at, id


async def light_of_objectives(
    session: AsyncSession,
    objectives: Collection[tuple[str, str, str]],
    excluding: Collection[str],
) -> dict[str, list[KrLight]]:
    """The stored numbers an objective reads of its KRs, by objective id, for these (tenant,
    cycle id, objective id): every KR of the cycle under the objective but those in
    `excluding` (light columns, no ORM objects). Read past the session: a KR changed in it but
    not flushed is one of `excluding` (the batch's own)."""
    found: dict[str, list[KrLight]] = {oid: [] for _, _, oid in objectives}
    wanted = {(tenant, cycle_id, oid) for tenant, cycle_id, oid in objectives}
    skip = set(excluding)
    keys = {(tenant, oid) for tenant, _, oid in objectives}
    for row in await _LIGHT.fetch(session, keys):
        light = KrLight._make(row[:-2])
        if (row[-1], row[-2], light.objective_id) in wanted and light.id not in skip:
            found[light.objective_id].append(light)
    return found
