"""Each KPI's newest period: read for a batch as plain tuples, written back in one upsert, on
the driver's connection (`shared.prepared`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts.tables import AlertsTable, KpiLatestPeriod
from shared.prepared import Prepared
from shared.sql import KeyLookup, insert_for

_periods: Table = AlertsTable.metadata.tables[KpiLatestPeriod.__tablename__]

Period = tuple[datetime, datetime]  # start, end


# Built once (run per batch).
_OF = KeyLookup(
    select(
        _periods.c.tenant, _periods.c.kpi, _periods.c.period_start, _periods.c.period_end
    ).with_for_update(of=_periods),
    _periods,
    ("tenant", "kpi"),
)


async def of(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Period]:
    """(tenant, kpi) → its newest period, for those that have one; locked, as the batch
    updates them."""
    return {(t, k): (s, e) for t, k, s, e in await _OF.fetch(session, list(set(keys)))}


async def write(
    session: AsyncSession, rows: Sequence[tuple[str, str, datetime, datetime]], now: datetime
) -> None:
    """Set these (tenant, kpi, period start, period end) as the KPIs' newest, one executemany."""
    params = [
        {"tenant": t, "kpi": k, "period_start": s, "period_end": e, "updated_at": now}
        for t, k, s, e in rows
    ]
    await _WRITE.executemany(session, params)


def _upsert(dialect: str) -> Any:
    names = ("tenant", "kpi", "period_start", "period_end", "updated_at")
    stmt = insert_for(dialect, _periods).values({n: bindparam(n) for n in names})
    return stmt.on_conflict_do_update(
        index_elements=["tenant", "kpi"],
        set_={n: stmt.excluded[n] for n in ("period_start", "period_end", "updated_at")},
    )


_WRITE = Prepared(_upsert)
