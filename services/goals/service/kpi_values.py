"""`kpi.values` → linked key results: each KPI period's value lands on every open KR that
follows that KPI and whose window the period overlaps; then each touched cycle is re-evaluated
once (the same path as a manual check-in, so the same events come out) and every touched KR
gets a check-in with source `kpi`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.domain import kpi_link as link
from services.goals.repository import cycles as cycle_repo
from services.goals.repository import key_results as kr_repo
from services.goals.repository import kpi_links as link_repo
from services.goals.service.evaluation import is_linked, new_id, reevaluate
from services.goals.settings import GoalsSettings
from services.goals.tables import CheckIn
from shared.events import KpiValueV1


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One `lodestar.kpi.value.v1` of a tenant."""

    tenant: str
    value: KpiValueV1


async def apply(
    session: AsyncSession, settings: GoalsSettings, values: Sequence[KpiValue], now: datetime
) -> int:
    """Store the batch's KPI period values on the KRs that follow them and re-evaluate the
    cycles touched; returns how many KR check-ins were recorded. Never commits."""
    by_tenant: dict[str, list[KpiValueV1]] = defaultdict(list)
    for item in values:
        by_tenant[item.tenant].append(item.value)
    check_ins = 0
    for tenant, payloads in sorted(by_tenant.items()):
        krs = await link_repo.following(session, tenant, {v.kpi for v in payloads})
        cycle_ids = sorted({kr.cycle_id for kr in krs})
        # Cycle after cycle in a fixed order, each locked before anything in it is written
        # (API writes lock their cycle first too): the locks never cross.
        for cycle_id in cycle_ids:
            cycle = await cycle_repo.get(session, tenant, cycle_id, for_update=True)
            if cycle is None or cycle.state == "closed":
                continue
            # Re-read under the lock: a KR may have been unlinked or moved meanwhile.
            fresh = await kr_repo.in_cycle(session, tenant, cycle.id)
            touched: dict[str, KpiValueV1] = {}  # KR → the last of its values in the batch
            for payload in payloads:
                for kr in fresh:
                    if kr.kpi != payload.kpi or not is_linked(kr):
                        continue
                    if not link.overlaps(
                        payload.period_start, payload.period_end, kr.starts_at, kr.due_at
                    ):
                        continue
                    await link_repo.store_period(
                        session,
                        tenant=tenant,
                        kr_id=kr.id,
                        period_start=payload.period_start,
                        period_end=payload.period_end,
                        value=payload.value,
                        count=payload.count,
                        last_value=payload.last_value,
                        last_at=payload.last_at,
                        now=now,
                    )
                    touched[kr.id] = payload
            if not touched:
                continue
            evaluation = await reevaluate(session, settings, cycle, now, kr_source="kpi")
            for kr_id, payload in touched.items():
                kr = evaluation.key_results[kr_id]
                session.add(
                    CheckIn(
                        id=new_id(),
                        tenant=tenant,
                        key_result_id=kr.id,
                        value=kr.current,
                        note=(
                            f"{payload.kpi} {payload.period} from "
                            f"{payload.period_start.isoformat()}: {payload.value:g} "
                            f"({payload.aggregation} of {payload.count})"
                        ),
                        author=f"kpi:{payload.kpi}",
                        source="kpi",
                        at=now,
                        progress=kr.progress,
                        raw_progress=kr.raw_progress,
                        status=kr.status,
                    )
                )
                check_ins += 1
    await session.flush()
    return check_ins
