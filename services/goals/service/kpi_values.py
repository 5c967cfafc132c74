"""`kpi.values` → linked key results: each KPI period's value lands on every open KR that
follows that KPI and whose window the period overlaps; then the KRs that stored a new value and
the objectives above them are re-evaluated once, in every touched cycle of every tenant of the
batch at once (`reevaluate_touched`: the events a full re-evaluation of each cycle would emit),
and every touched KR gets a check-in with source `kpi`."""

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
from services.goals.service.evaluation import Change, Part, reevaluate_touched
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

    Set-based across the batch's tenants and cycles: one statement finds the cycles, one
    locks them, one reads their KRs that follow the batch's KPIs, one stores every period
    value, one partial re-evaluation follows, and one statement records one check-in per
    touched KR (for the last of its values)."""
    by_tenant: dict[str, list[KpiValueV1]] = defaultdict(list)
    for item in newest_aggregates(values):
        by_tenant[item.tenant].append(item.value)
    kpis = {(tenant, v.kpi) for tenant, payloads in by_tenant.items() for v in payloads}
    # Every cycle locked before anything in it is written, in (tenant, id) order, as API
    # writes lock theirs (one each): the locks never cross.
    cycles = await cycle_repo.lock_open(session, await link_repo.cycles_following(session, kpis))
    # Read under the locks: a KR may have been unlinked or moved meanwhile. Only the KRs that
    # follow the batch's KPIs, by index, not whole cycles.
    followers = await kr_repo.following(session, kpis)
    in_cycles = [(cycle, followers.get((cycle.tenant, cycle.id), [])) for cycle in cycles]
    candidates = [
        (cycle, kr, payload)
        for cycle, in_cycle in in_cycles
        for kr, payload in _candidates(by_tenant[cycle.tenant], in_cycle)
    ]
    # Only what is newer than the stored periods moves a KR (an older aggregate re-published
    # during a rebalance loses).
    stored = await link_repo.store_newer(
        session, [_period_row(cycle.tenant, kr, payload, now) for cycle, kr, payload in candidates]
    )
    # KR id → the last of its values in the batch that it stored
    last_value = {
        kr.id: (cycle.tenant, payload)
        for cycle, kr, payload in candidates
        if (kr.id, payload.period_start) in stored
    }
    parts = [
        Part(cycle, moved)
        for cycle, in_cycle in in_cycles
        if (moved := [kr for kr in in_cycle if kr.id in last_value])
    ]
    if not parts:
        return 0
    judged = await reevaluate_touched(session, settings, parts, now, Change(source="kpi"))
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
        for kr_id, (tenant, payload) in last_value.items()
    ]
    await check_in_repo.add_many(session, entries)
    return len(entries)


def _candidates(
    payloads: Sequence[KpiValueV1], in_cycle: Sequence[KeyResultState]
) -> list[tuple[KeyResultState, KpiValueV1]]:
    """Each (KR, value) of the KRs of `in_cycle` that follow the value's KPI and whose window
    its period overlaps, in the values' order."""
    followers: dict[str, list[KeyResultState]] = defaultdict(list)
    for kr in in_cycle:
        if link.follows_kpi(kr.kpi, kr.state, kr.kind):
            assert kr.kpi is not None
            followers[kr.kpi].append(kr)
    return [
        (kr, payload)
        for payload in payloads
        for kr in followers.get(payload.kpi, ())
        if link.overlaps(payload.period_start, payload.period_end, kr.starts_at, kr.due_at)
    ]


def _period_row(
    tenant: str, kr: KeyResultState, payload: KpiValueV1, now: datetime
) -> dict[str, Any]:
    return link_repo.period_row(
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
