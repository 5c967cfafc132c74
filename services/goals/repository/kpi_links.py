"""Queries of the KPI link: the KRs that follow a KPI, and the KPI periods each one stored."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import Cycle, KeyResult, KrKpiPeriod
from shared.sql import dialect_insert


async def following(session: AsyncSession, tenant: str, kpis: Collection[str]) -> list[KeyResult]:
    """The tenant's open KRs linked to any of `kpis`, in cycles that are not closed."""
    if not kpis:
        return []
    result = await session.execute(
        select(KeyResult)
        .join(
            Cycle,
            (col(Cycle.id) == col(KeyResult.cycle_id)) & (col(Cycle.tenant) == tenant),
        )
        .where(
            col(KeyResult.tenant) == tenant,
            col(KeyResult.kpi).in_(list(kpis)),
            col(KeyResult.state) == "open",
            col(Cycle.state) != "closed",
        )
        .order_by(col(KeyResult.id))
    )
    return list(result.scalars().all())


async def store_period(
    session: AsyncSession,
    *,
    tenant: str,
    kr_id: str,
    period_start: datetime,
    period_end: datetime,
    value: float,
    count: int,
    last_value: float,
    last_at: datetime,
    now: datetime,
) -> None:
    """Insert the KR's value of one KPI period, or replace it (a late or corrected value)."""
    row = {
        "tenant": tenant,
        "key_result_id": kr_id,
        "period_start": period_start,
        "period_end": period_end,
        "value": value,
        "count": count,
        "last_value": last_value,
        "last_at": last_at,
        "updated_at": now,
    }
    table = KrKpiPeriod.__table__  # type: ignore[attr-defined]
    stmt = dialect_insert(session, table).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key_result_id", "period_start"],
        set_={k: stmt.excluded[k] for k in row if k not in ("key_result_id", "period_start")},
    )
    await session.execute(stmt)


async def periods_of(
    session: AsyncSession, tenant: str, kr_ids: Collection[str]
) -> dict[str, list[KrKpiPeriod]]:
    """The stored KPI periods of each KR, oldest first."""
    found: dict[str, list[KrKpiPeriod]] = {kr_id: [] for kr_id in kr_ids}
    if not kr_ids:
        return found
    result = await session.execute(
        select(KrKpiPeriod)
        .where(
            col(KrKpiPeriod.tenant) == tenant,
            col(KrKpiPeriod.key_result_id).in_(list(kr_ids)),
        )
        .order_by(col(KrKpiPeriod.key_result_id), col(KrKpiPeriod.period_start))
        .execution_options(populate_existing=True)
    )
    for row in result.scalars().all():
        found[row.key_result_id].append(row)
    return found


async def forget_periods(session: AsyncSession, tenant: str, kr_id: str) -> None:
    """Drop what the KR stored of its KPI (it was unlinked, or linked to another KPI)."""
    await session.execute(
        delete(KrKpiPeriod).where(
            col(KrKpiPeriod.tenant) == tenant, col(KrKpiPeriod.key_result_id) == kr_id
        )
    )
