"""KPI definitions: create, read, page, change and delete them."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.metrics.domain.health import Direction
from services.metrics.errors import KpiConflict, KpiNotFound, KpiPeriodLocked, QuotaExceeded
from services.metrics.mappers import kpi_read
from services.metrics.repository import kpis as repo
from services.metrics.repository import measurements as measurement_repo
from services.metrics.repository import rollups as rollup_repo
from services.metrics.schemas import KpiCreate, KpiRead, KpiUpdate, check_bands
from services.metrics.tables import Kpi
from shared.db import AsyncSession
from shared.errors import Unprocessable, found
from shared.pagination import Page, page_of

# Fields a PATCH may change but not clear (only cadence and the thresholds can be null).
NOT_NULLABLE = (
    "name", "unit", "description", "what", "why", "how", "owner",
    "aggregation", "period", "direction", "tags",
)  # fmt: skip


async def load(session: AsyncSession, tenant: str, key: str) -> Kpi:
    return found(await repo.get(session, tenant, key), KpiNotFound(f"no KPI '{key}'"))


async def get(session: AsyncSession, tenant: str, key: str) -> KpiRead:
    return kpi_read(await load(session, tenant, key))


async def page(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> Page[KpiRead]:
    return page_of(await repo.page(session, tenant, limit=limit, cursor=cursor), kpi_read)


async def create(
    session: AsyncSession, tenant: str, body: KpiCreate, now: datetime, *, quota: int
) -> KpiRead:
    """A new KPI; a tenant may have at most `quota` (409 past it)."""
    if await repo.get(session, tenant, body.key) is not None:
        raise KpiConflict(f"KPI '{body.key}' already exists")
    if await repo.count(session, tenant) >= quota:
        raise QuotaExceeded(f"a tenant may have {quota} KPIs")
    fields = body.model_dump(exclude={"cadence"})
    kpi = Kpi(
        tenant=tenant,
        cadence_s=_seconds(body.cadence),
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(kpi)
    await session.flush()
    return kpi_read(kpi)


def _seconds(cadence: timedelta | None) -> int | None:
    return None if cadence is None else max(1, round(cadence.total_seconds()))


async def update(
    session: AsyncSession, tenant: str, key: str, body: KpiUpdate, now: datetime
) -> KpiRead:
    """Change a definition. The period cannot change once data exists: its rollups are per
    period; delete and recreate the KPI instead."""
    kpi = await load(session, tenant, key)
    changes = body.model_dump(exclude_unset=True)
    for required in NOT_NULLABLE:
        if required in changes and changes[required] is None:
            raise Unprocessable(f"'{required}' cannot be null")
    period_changes = "period" in changes and changes["period"] != kpi.period
    if period_changes and await rollup_repo.any_of_kpi(session, tenant, key):
        raise KpiPeriodLocked("delete and recreate the KPI to change its period")
    if "cadence" in changes:
        cadence = changes.pop("cadence")
        if cadence is not None and cadence <= timedelta(0):
            raise Unprocessable("cadence must be positive")
        kpi.cadence_s = _seconds(cadence)
    for name, value in changes.items():
        setattr(kpi, name, str(value) if name in {"aggregation", "period", "direction"} else value)
    try:
        check_bands(kpi.green, kpi.amber, Direction(kpi.direction))
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    kpi.updated_at = now
    session.add(kpi)
    await session.flush()
    return kpi_read(kpi)


async def delete(session: AsyncSession, tenant: str, key: str) -> None:
    """The definition, its points and its rollups."""
    kpi = await load(session, tenant, key)
    await measurement_repo.delete_of_kpi(session, tenant, key)
    await rollup_repo.delete_of_kpi(session, tenant, key)
    await repo.delete(session, kpi)
