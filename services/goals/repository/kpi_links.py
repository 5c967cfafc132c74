"""Queries of the KPI link: the KRs that follow a KPI, and the KPI periods each one stored."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.domain import kpi_link as link
from services.goals.tables import KeyResult, KrKpiPeriod
from shared.prepared import Prepared
from shared.sql import KeyLookup, insert_for

_KR = KeyResult.__table__  # type: ignore[attr-defined]
# Built once, like the statements below: they run on every batch of kpi.values. By the
# (tenant, kpi) index, on the driver's connection (`shared.sql.KeyLookup`).
_CYCLES_FOLLOWING = KeyLookup(
    select(_KR.c.tenant, _KR.c.cycle_id).where(_KR.c.state == "open"), _KR, ("tenant", "kpi")
)


async def cycles_following(
    session: AsyncSession, kpis: Collection[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (tenant, id) of the cycles with an open KR linked to any of these (tenant, KPI);
    whether a cycle is closed is for the caller to check, with the cycle locked."""
    return {(tenant, cycle_id) for tenant, cycle_id in await _CYCLES_FOLLOWING.fetch(session, kpis)}


_PERIODS = KrKpiPeriod.__table__  # type: ignore[attr-defined]
_KEY = ("key_result_id", "period_start")


def _upsert(dialect: str) -> Any:
    insert = insert_for(dialect, _PERIODS)
    stmt = insert.values({c.name: bindparam(c.name) for c in _PERIODS.columns})
    return stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={c.name: stmt.excluded[c.name] for c in _PERIODS.columns if c.name not in _KEY},
    )


# The statements of a batch of kpi.values, built once and run on the driver's connection
# (`shared.prepared`): through the session, compiling every row's parameters cost more than
# the database's work (`_init_compiled`, bench/goals_follow.py --profile).
_UPSERT = Prepared(_upsert)


def period_row(
    *,
    tenant: str,
    kr_id: str,
    period_start: datetime,
    period_end: datetime,
    value: float,
    count: int,
    last_value: float,
    last_at: datetime,
    revision: int,
    now: datetime,
) -> dict[str, Any]:
    """One KR's value of one KPI period, as `store_periods` takes it."""
    return {
        "tenant": tenant,
        "key_result_id": kr_id,
        "period_start": period_start,
        "period_end": period_end,
        "value": value,
        "count": count,
        "last_value": last_value,
        "last_at": last_at,
        "revision": revision,
        "updated_at": now,
    }


async def store_periods(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert each KR's value of a KPI period, or replace it (a late or corrected value), in
    one statement. Of several rows for one (KR, period start), the last wins."""
    unique = list({(r["key_result_id"], r["period_start"]): r for r in rows}.values())
    await _UPSERT.executemany(session, unique)


_VALUE_COLUMNS = (
    _PERIODS.c.key_result_id,
    _PERIODS.c.period_start,
    _PERIODS.c.period_end,
    _PERIODS.c.value,
    _PERIODS.c.count,
    _PERIODS.c.last_at,
    _PERIODS.c.revision,
)


def _period_value(row: Any) -> tuple[str, link.PeriodValue]:
    kr_id, start, end, value, count, last_at, revision = row
    return kr_id, link.PeriodValue(start, end, value, count, last_at, revision)


_STORED_OF = KeyLookup(
    select(*_VALUE_COLUMNS), _PERIODS, ("tenant", "key_result_id", "period_start")
)


async def stored_of(
    session: AsyncSession, keys: Collection[tuple[str, str, datetime]]
) -> dict[tuple[str, datetime], link.PeriodValue]:
    """What the KRs already stored of these (tenant, KR id, period start), by (KR id, period
    start): a lookup by the primary key per key."""
    rows = await _STORED_OF.fetch(session, keys)
    return {(kr_id, value.start): value for kr_id, value in map(_period_value, rows)}


async def store_newer(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]]
) -> set[tuple[str, datetime]]:
    """Store those of `rows` (of any tenants) that are no older than what their KR stored of
    their period (`kpi_link.newer_aggregate`) and differ from it; returns the (KR id, period
    start) of the rows stored. Run with the KRs' cycles locked: nothing writes them
    meanwhile."""
    if not rows:
        return set()
    stored = await stored_of(
        session, {(r["tenant"], r["key_result_id"], r["period_start"]) for r in rows}
    )
    kept: dict[tuple[str, datetime], Mapping[str, Any]] = {}
    for row in rows:
        key = (row["key_result_id"], row["period_start"])
        held = kept.get(key) or stored.get(key)
        if held is None or link.newer_aggregate(_stamp(held), _stamp(row)):
            kept[key] = row
    # A row equal to what is stored (the same state published again) changes nothing.
    moved = {k: r for k, r in kept.items() if k not in stored or stored[k] != _stamp(r)}
    await store_periods(session, list(moved.values()))
    return set(moved)


def _stamp(row: Mapping[str, Any] | link.PeriodValue) -> link.PeriodValue:
    if isinstance(row, link.PeriodValue):
        return row
    return link.PeriodValue(
        row["period_start"],
        row["period_end"],
        row["value"],
        row["count"],
        row["last_at"],
        row["revision"],
    )


_PERIODS_OF = KeyLookup(select(*_VALUE_COLUMNS), _PERIODS, ("tenant", "key_result_id"))


async def periods_of(
    session: AsyncSession, krs: Collection[tuple[str, str]]
) -> dict[str, list[link.PeriodValue]]:
    """The stored KPI periods of each of these (tenant, KR id), by KR id, oldest first (plain
    values: read on every re-evaluation, so no ORM objects)."""
    found: dict[str, list[link.PeriodValue]] = {kr_id: [] for _, kr_id in krs}
    rows = await _PERIODS_OF.fetch(session, krs)
    for kr_id, value in map(_period_value, rows):
        found[kr_id].append(value)
    for values in found.values():
        values.sort(key=lambda v: v.start)
    return found


async def forget_periods(session: AsyncSession, tenant: str, kr_id: str) -> None:
    """Drop what the KR stored of its KPI (it was unlinked, or linked to another KPI)."""
    await session.execute(
        delete(KrKpiPeriod).where(
            col(KrKpiPeriod.tenant) == tenant, col(KrKpiPeriod.key_result_id) == kr_id
        )
    )
