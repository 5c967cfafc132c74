"""Linking backfills: a KR newly linked to a KPI (created linked, linked by PATCH, promoted
from the KPI) takes the KPI's stored periods inside its window, so a `sum` KR linked mid-cycle
counts what happened before the link.

The order closes the race with `kpi.values`: the link is committed first, then metrics is
asked for the periods, then they are stored in a second transaction, each only where it is no
older than what the KR stored meanwhile (`kpi_link.newer_aggregate`). A value goals consumed
before the link committed was in metrics' rollups before metrics published it, so the series
read after the commit holds it; one consumed after the commit is stored on the KR by the
consumer, and whichever of the two is newer stays. Either way the KR converges on metrics'
aggregates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from services.goals import mappers
from services.goals.domain import kpi_link as link
from services.goals.errors import MetricsUnavailable, UnknownKpi
from services.goals.metrics_client import KpiPeriodRead, MetricsClient
from services.goals.repository import check_ins as check_in_repo
from services.goals.repository import cycles as cycle_repo
from services.goals.repository import key_results as kr_repo
from services.goals.repository import kpi_links as link_repo
from services.goals.schemas import KeyResultRead
from services.goals.service.evaluation import Change, reevaluate_write
from services.goals.settings import GoalsSettings
from services.goals.tables import new_id
from shared.db import AsyncSession, Database

log = structlog.get_logger(__name__)


async def backfill(
    db: Database,
    metrics: MetricsClient,
    authorization: str | None,
    settings: GoalsSettings,
    tenant: str,
    kr: KeyResultRead,
    now: datetime,
) -> KeyResultRead:
    """Backfill the linked KR `kr` (as its linking write committed it) from its KPI's
    periods; the KR as it then stands. Metrics failing to answer leaves the KR as linked
    (logged as `kr_backfill_failed`): the next value of each period still lands on it."""
    if kr.kpi is None:
        return kr
    try:
        periods = await metrics.periods(kr.kpi, kr.starts_at, kr.due_at, authorization)
    except (MetricsUnavailable, UnknownKpi) as exc:
        log.warning("kr_backfill_failed", key_result=kr.id, kpi=kr.kpi, reason=str(exc))
        return kr
    async with db.transaction() as session:
        return await store(session, settings, tenant, kr.id, kr.kpi, periods, now) or kr


async def store(
    session: AsyncSession,
    settings: GoalsSettings,
    tenant: str,
    kr_id: str,
    kpi: str,
    periods: Sequence[KpiPeriodRead],
    now: datetime,
) -> KeyResultRead | None:
    """Store on the KR the periods of `kpi` inside its window that are newer than what it
    holds, re-evaluate its cycle and record one check-in (source `kpi`) when anything moved;
    None when the KR is gone, follows another KPI or no longer follows one."""
    kr = await kr_repo.get(session, tenant, kr_id)
    if kr is None:
        return None
    cycle = await cycle_repo.get(session, tenant, kr.cycle_id, for_update=True)
    await session.refresh(kr)  # re-read under the cycle's lock
    if cycle is None or cycle.state == "closed" or kr.kpi != kpi:
        return None
    if not link.follows_kpi(kr.kpi, kr.state, kr.kind):
        return None
    rows = [
        link_repo.period_row(
            tenant=tenant,
            kr_id=kr.id,
            period_start=p.start,
            period_end=p.end,
            # An emptied period is stored as no data (count 0), for its revision.
            value=p.value if p.value is not None else 0.0,
            count=p.count,
            last_value=p.last_value if p.last_value is not None else (p.value or 0.0),
            # An older metrics sends no last_at: the period's start makes any value consumed
            # for that period count as newer.
            last_at=p.last_at or p.start,
            revision=p.revision,
            now=now,
        )
        for p in periods
        if (p.value is not None or p.emptied)
        and link.overlaps(p.start, p.end, kr.starts_at, kr.due_at)
    ]
    stored = await link_repo.store_newer(session, rows)
    if not stored:
        return mappers.kr_read(kr)
    await reevaluate_write(session, settings, cycle, now, Change(source="kpi"), key_results=[kr])
    note = f"{kpi}: backfilled {len(stored)} stored period(s) of the KR's window"
    entry = check_in_repo.row(
        id=new_id(), tenant=tenant, kr=kr, note=note, author=f"kpi:{kpi}", source="kpi", at=now
    )
    await check_in_repo.add_many(session, [entry])
    return mappers.kr_read(kr)
