"""`kpi.values` → linked key results: each KPI period's value lands on every open KR that
follows that KPI and whose window the period overlaps; then, in each touched cycle, the KRs that
stored a new value and the objectives above them are re-evaluated once (`reevaluate_touched`:
the events a full re-evaluation would emit) and every touched KR gets a check-in with source
`kpi`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.goals.domain import kpi_link as link
from services.goals.domain.evaluation import KeyResultState
from services.goals.repository import check_ins as check_in_repo
from services.goals.repository import cycles as cycle_repo
from services.goals.repository import key_results as kr_repo
from services.goals.repository import kpi_links as link_repo
from services.goals.service.evaluation import Change, reevaluate_touched
from services.goals.settings import GoalsSettings
from services.goals.tables import new_id
from shared.db import AsyncSession
from shared.events import KpiValueV1


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One `lodestar.kpi.value.v1` of a tenant."""

    tenant: str
    value: KpiValueV1


def period_of(item: KpiValue) -> tuple[str, str, datetime]:
    """What a value replaces: an earlier value of the same (tenant, KPI, period start) — the
    one a KR stores anyway (a later value of a period replaces an earlier one)."""
    return (item.tenant, item.value.kpi, item.value.period_start)


def newest_aggregates(values: Sequence[KpiValue]) -> list[KpiValue]:
    """Of the batch's values of one KPI period, the newest aggregate (`newer_aggregate`, by
    (revision, count, last_at): an older one re-published after it loses, a correction that
    lowers the count wins); the survivors keep the batch's order."""
    best: dict[tuple[str, str, datetime], tuple[int, KpiValue]] = {}
    for i, item in enumerate(values):
        key = period_of(item)
        held = best.get(key)
        if held is None or link.newer_aggregate(held[1].value, item.value):
            best[key] = (i, item)
    return [item for _, item in sorted(best.values(), key=lambda pair: pair[0])]


def _note(payload: KpiValueV1) -> str:
    return (
        f"{payload.kpi} {payload.period} from {payload.period_start.isoformat()}: "
        f"{payload.value:g} ({payload.aggregation} of {payload.count})"
    )


async def apply(
    session: AsyncSession, settings: GoalsSettings, values: Sequence[KpiValue], now: datetime
) -> int:
    """Store the batch's KPI period values on the KRs that follow them and re-evaluate the
    cycles touched; returns how many KR check-ins were recorded. Never commits.

    Set-based: per cycle, one statement stores every period value, one partial re-evaluation
    follows, and one statement records one check-in per touched KR (for the last of its
    values)."""
    by_tenant: dict[str, list[KpiValueV1]] = defaultdict(list)
    for item in newest_aggregates(values):
        by_tenant[item.tenant].append(item.value)
    check_ins = 0
    for tenant, payloads in sorted(by_tenant.items()):
        kpis = {v.kpi for v in payloads}
        cycle_ids = await link_repo.cycles_following(session, tenant, kpis)
        # Cycle after cycle in a fixed order, each locked before anything in it is written
        # (API writes lock their cycle first too): the locks never cross.
        for cycle_id in cycle_ids:
            cycle = await cycle_repo.get(session, tenant, cycle_id, for_update=True)
            if cycle is None or cycle.state == "closed":
                continue
            # Read under the lock: a KR may have been unlinked or moved meanwhile. Only the
            # KRs that follow the batch's KPIs, by index, not the whole cycle.
            followers = await kr_repo.following(session, tenant, cycle.id, kpis)
            rows, candidates = _period_rows(tenant, payloads, followers, now)
            # Only what is newer than the stored periods moves a KR (an older aggregate
            # re-published during a rebalance loses).
            stored = await link_repo.store_newer(session, rows)
            # KR id → the last of its values in the batch that it stored
            last_value = {
                kr.id: payload
                for kr, payload in candidates
                if (kr.id, payload.period_start) in stored
            }
            if not last_value:
                continue
            judged = await reevaluate_touched(
                session,
                settings,
                cycle,
                [kr for kr in followers if kr.id in last_value],
                now,
                Change(source="kpi"),
            )
            entries = [
                check_in_repo.row(
                    id=new_id(),
                    tenant=tenant,
                    kr=judged[kr_id],
                    note=_note(payload),
                    author=f"kpi:{payload.kpi}",
                    source="kpi",
                    at=now,
                )
                for kr_id, payload in last_value.items()
            ]
            await check_in_repo.add_many(session, entries)
            check_ins += len(entries)
    return check_ins


def _period_rows(
    tenant: str, payloads: Sequence[KpiValueV1], in_cycle: Sequence[KeyResultState], now: datetime
) -> tuple[list[dict[str, Any]], list[tuple[KeyResultState, KpiValueV1]]]:
    """The period rows to store for the KRs of `in_cycle` that follow the values' KPIs and
    whose window each period overlaps; and each (KR, value) a row was made of, in order."""
    followers: dict[str, list[KeyResultState]] = defaultdict(list)
    for kr in in_cycle:
        if link.follows_kpi(kr.kpi, kr.state, kr.kind):
            assert kr.kpi is not None
            followers[kr.kpi].append(kr)
    rows: list[dict[str, Any]] = []
    candidates: list[tuple[KeyResultState, KpiValueV1]] = []
    for payload in payloads:
        for kr in followers.get(payload.kpi, ()):
            if not link.overlaps(payload.period_start, payload.period_end, kr.starts_at, kr.due_at):
                continue
            rows.append(
                link_repo.period_row(
                    tenant=tenant,
                    kr_id=kr.id,
                    period_start=payload.period_start,
                    period_end=payload.period_end,
                    value=payload.value,
                    count=payload.count,
                    last_value=payload.last_value,
                    last_at=payload.last_at,
                    revision=payload.revision,
                    now=now,
                )
            )
            candidates.append((kr, payload))
    return rows, candidates
