"""Queries on stored measurements (the ingest hot path in `ingest/` writes them)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.tables import Measurement

measurements = Measurement.__table__  # type: ignore[attr-defined]


async def delete_of_kpi(session: AsyncSession, tenant: str, kpi: str) -> None:
    await session.execute(
        delete(measurements).where(measurements.c.tenant == tenant, measurements.c.kpi == kpi)
    )
