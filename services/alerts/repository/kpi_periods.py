"""Each KPI's newest period: loaded for a batch, new ones added to the session."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.repository import chunks
from services.alerts.tables import KpiLatestPeriod


async def of(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], KpiLatestPeriod]:
    """(tenant, kpi) → its row, for those that have one; locked, as the batch updates them."""
    wanted = set(keys)
    found: dict[tuple[str, str], KpiLatestPeriod] = {}
    for part in chunks(sorted(wanted)):
        result = await session.execute(
            select(KpiLatestPeriod)
            .where(
                col(KpiLatestPeriod.tenant).in_({t for t, _ in part}),
                col(KpiLatestPeriod.kpi).in_([k for _, k in part]),
            )
            .with_for_update()
        )
        found.update(
            {(r.tenant, r.kpi): r for r in result.scalars() if (r.tenant, r.kpi) in wanted}
        )
    return found


def add(session: AsyncSession, row: KpiLatestPeriod) -> None:
    session.add(row)
