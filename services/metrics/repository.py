"""Every query of the metrics service; the caller passes the session and owns the commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.metrics.tables import Kpi, Measurement, Rollup
from shared.sql import dialect_insert

measurements = Measurement.__table__  # type: ignore[attr-defined]
rollups = Rollup.__table__  # type: ignore[attr-defined]


async def get_kpi(session: AsyncSession, tenant: str, key: str) -> Kpi | None:
    return await session.get(Kpi, (tenant, key))


async def list_kpis(session: AsyncSession, tenant: str) -> Sequence[Kpi]:
    result = await session.execute(
        select(Kpi).where(col(Kpi.tenant) == tenant).order_by(col(Kpi.key))
    )
    return result.scalars().all()


async def kpis_by_key(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Kpi]:
    wanted = list(set(pairs))
    if not wanted:
        return {}
    result = await session.execute(select(Kpi).where(tuple_(Kpi.tenant, Kpi.key).in_(wanted)))
    return {(k.tenant, k.key): k for k in result.scalars()}


async def insert_new_measurements(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Insert rows, skipping event identities already stored; returns the rows that were new."""
    if not rows:
        return []
    stmt = (
        dialect_insert(session, measurements)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["tenant", "source", "event_id"])
        .returning(measurements.c.tenant, measurements.c.source, measurements.c.event_id)
    )
    inserted = {tuple(r) for r in (await session.execute(stmt)).all()}
    return [r for r in rows if (r["tenant"], r["source"], r["event_id"]) in inserted]


async def get_rollups(
    session: AsyncSession, keys: Iterable[tuple[str, str, datetime]]
) -> dict[tuple[str, str, datetime], Rollup]:
    wanted = list(set(keys))
    if not wanted:
        return {}
    result = await session.execute(
        select(Rollup).where(tuple_(Rollup.tenant, Rollup.kpi, Rollup.period_start).in_(wanted))
    )
    return {(r.tenant, r.kpi, r.period_start): r for r in result.scalars()}


async def count_measurements(session: AsyncSession, tenant: str, kpi: str) -> int:
    result = await session.execute(
        select(func.count()).where(measurements.c.tenant == tenant, measurements.c.kpi == kpi)
    )
    return int(result.scalar_one())
