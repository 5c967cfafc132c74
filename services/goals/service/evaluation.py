"""Re-evaluate a cycle after any change: every KR's progress and status, every objective's own
and rolled-up values, and one event per thing that changed, through the outbox.

Every write that can move a number goes through `reevaluate`, so "every change of a KR's
progress or status emits `lodestar.kr.progress.v1`" holds by construction, in the same
transaction as the change. Time alone also moves a status (pace, a KPI gone quiet, a KPI period
completing): the status timer (service/timer.py) re-evaluates every open cycle, as does
`POST /v1/cycles/{id}/refresh`.

A KR linked to a KPI takes its current value from the KPI periods it stored (domain.kpi_link),
is `stale` once its KPI is quiet for longer than its cadence, counts its met periods, and
graduates — closed as achieved, `lodestar.kr.graduated.v1` in the same outbox — once met for
enough consecutive periods.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.domain import kpi_link as link
from services.goals.domain import progress as p
from services.goals.domain import scoring
from services.goals.repository import key_results as kr_repo
from services.goals.repository import kpi_links as link_repo
from services.goals.repository import objectives as objective_repo
from services.goals.settings import GoalsSettings
from services.goals.tables import Cycle, KeyResult, Objective
from shared.events import (
    KR_GRADUATED_V1,
    KR_PROGRESS_V1,
    OBJECTIVE_CHANGED_V1,
    CloudEvent,
    KrGraduatedV1,
    KrProgressV1,
    ObjectiveChangedV1,
    new_event,
)
from shared.outbox import enqueue


def new_id() -> str:
    return str(uuid.uuid4())


def spec_of(kr: KeyResult) -> p.KeyResultSpec:
    return p.KeyResultSpec(
        kind=p.KrKind(kr.kind),
        start=kr.start,
        target=kr.target,
        bound_low=kr.bound_low,
        bound_high=kr.bound_high,
        current=kr.current,
        done=kr.done,
    )


def _graduate(kr: KeyResult, now: datetime) -> None:
    """Close the KR as achieved: met long enough, it becomes the KPI's guardrail."""
    kr.state = "graduated"
    kr.graduated_at = now
    kr.status = p.Status.ACHIEVED.value
    kr.raw_progress = max(kr.raw_progress, 1.0)
    kr.progress = 1.0
    if not kr.score_overridden:
        kr.score = 1.0


@dataclass
class Evaluation:
    """What a re-evaluation saw: the cycle's objectives and KRs, as now stored."""

    objectives: dict[str, Objective] = field(default_factory=dict)
    key_results: dict[str, KeyResult] = field(default_factory=dict)

    def krs_of(self, objective_id: str) -> list[KeyResult]:
        return [kr for kr in self.key_results.values() if kr.objective_id == objective_id]


def _kr_values(kr: KeyResult) -> tuple[object, ...]:
    return (
        kr.current,
        kr.done,
        kr.progress,
        kr.raw_progress,
        kr.status,
        kr.state,
        kr.periods_met,
        kr.periods_elapsed,
    )


def is_linked(kr: KeyResult) -> bool:
    """An open KR whose value follows a KPI (milestones cannot be linked)."""
    return kr.kpi is not None and kr.state == "open" and kr.kind != p.KrKind.MILESTONE


def cadence_of(kr: KeyResult) -> timedelta | None:
    return None if kr.kpi_cadence_s is None else timedelta(seconds=kr.kpi_cadence_s)


def _follow_kpi(kr: KeyResult, stored: list[link.PeriodValue], at: datetime) -> bool:
    """Bring a linked KR's numbers in line with the KPI periods it stored; returns whether
    its KPI is stale."""
    periods = link.in_window(stored, kr.starts_at, kr.due_at)
    aggregation = link.WindowAggregation(kr.kpi_aggregation or "last")
    value = link.window_value(periods, aggregation)
    if value is not None:
        kr.current = value
        kr.kpi_last_at = max(period.last_at for period in periods)
    kr.periods_met = link.periods_met(spec_of(kr), periods, aggregation, at)
    kr.periods_elapsed = (
        link.periods_elapsed(kr.starts_at, kr.due_at, link.KpiPeriod(kr.kpi_period), at)
        if kr.kpi_period is not None
        else len([period for period in periods if period.end <= at])
    )
    return link.is_stale(kr.kpi_last_at, cadence_of(kr), at)


def _objective_values(o: Objective) -> tuple[object, ...]:
    return (o.progress, o.status, o.rollup_progress, o.rollup_status, o.state, o.score)


async def reevaluate(
    session: AsyncSession,
    settings: GoalsSettings,
    cycle: Cycle,
    now: datetime,
    *,
    closing: bool = False,
    changed_krs: Mapping[str, tuple[object, ...] | None] | None = None,
    changed_objectives: Mapping[str, tuple[object, ...] | None] | None = None,
    kr_source: str = "manual",
    force: Collection[str] = (),
    key_results: Sequence[KeyResult] | None = None,
) -> Evaluation:
    """Recompute the cycle's numbers at `now` and enqueue an event for each change.

    `changed_krs` / `changed_objectives` give, for things the caller already modified in this
    transaction, their values before the change (None: new), so a change the caller made
    itself is still detected. Ids in `force` emit an event even if no number moved (creation,
    re-parenting, an edited target). A closed cycle's numbers are frozen: only its scores move.
    `key_results`: every KR of the cycle, as the caller just read it in this transaction with
    the cycle locked and left it unchanged (spares reading them again).
    """
    tenant = cycle.tenant
    closed = closing or cycle.state == "closed"
    at = now if not closed or cycle.closed_at is None else cycle.closed_at
    objectives = {o.id: o for o in await objective_repo.in_cycle(session, tenant, cycle.id)}
    if key_results is None:
        key_results = await kr_repo.in_cycle(session, tenant, cycle.id)
    krs = {kr.id: kr for kr in key_results}
    before_kr: dict[str, tuple[object, ...] | None] = {k: _kr_values(v) for k, v in krs.items()}
    before_kr.update(changed_krs or {})
    before_status = {k: v.status for k, v in krs.items()}
    before_obj: dict[str, tuple[object, ...] | None] = {
        k: _objective_values(v) for k, v in objectives.items()
    }
    before_obj.update(changed_objectives or {})
    previous_obj_status = {k: v.status for k, v in objectives.items()}
    thresholds = settings.thresholds

    frozen = cycle.state == "closed" and not closing
    linked = [kr.id for kr in krs.values() if is_linked(kr)] if not frozen else []
    stored = await link_repo.periods_of(session, tenant, linked)
    graduated: list[KeyResult] = []
    for kr in krs.values():
        if frozen:
            continue
        if kr.state == "graduated":
            # Closed as achieved when it graduated: its numbers stay as they were then.
            kr.expected = p.expected(kr.starts_at, kr.due_at, at)
            continue
        stale = _follow_kpi(kr, stored[kr.id], at) if kr.id in stored else False
        spec = spec_of(kr)
        kr.raw_progress = p.raw_progress(spec)
        kr.progress = p.clamp01(kr.raw_progress)
        kr.expected = p.expected(kr.starts_at, kr.due_at, at)
        kr.status = p.status(
            spec, kr.starts_at, kr.due_at, at, closed=closed, stale=stale, thresholds=thresholds
        ).value
        needed = kr.graduation_periods or settings.graduation_periods
        if (
            not closed
            and kr.id in stored
            and link.graduates(p.KrKind(kr.kind), kr.periods_met or 0, needed)
        ):
            _graduate(kr, now)
            graduated.append(kr)
        elif closing and not kr.score_overridden:
            kr.score = scoring.suggested_kr_score(spec)

    by_objective: dict[str, list[KeyResult]] = {o: [] for o in objectives}
    for kr in krs.values():
        by_objective.setdefault(kr.objective_id, []).append(kr)
    children: dict[str, list[str]] = {o: [] for o in objectives}
    for o in objectives.values():
        if o.parent_id in children:
            children[o.parent_id].append(o.id)

    for o in objectives.values():
        own = by_objective.get(o.id, [])
        weights = [kr.weight for kr in own]
        if not frozen:
            o.progress = p.objective_progress([kr.progress for kr in own], weights)
            o.status = p.objective_status([p.Status(kr.status) for kr in own]).value
            if closing:
                o.state = "closed"
        if closed and not o.score_overridden:
            scores = [kr.score if kr.score is not None else 0.0 for kr in own]
            o.score = scoring.objective_score(scores, weights)

    done: set[str] = set()

    def roll(oid: str, path: frozenset[str]) -> None:
        if oid in done or oid in path:  # `path`: a loop (refused on write) cannot recurse
            return
        for child in children[oid]:
            roll(child, path | {oid})
        o = objectives[oid]
        own_krs = bool(by_objective.get(oid))
        kids = [objectives[c] for c in children[oid]]
        o.rollup_progress = p.rollup_progress(
            o.progress if own_krs else None, [k.rollup_progress for k in kids]
        )
        o.rollup_status = p.rollup_status(
            p.Status(o.status) if own_krs else None, [p.Status(k.rollup_status) for k in kids]
        ).value
        done.add(oid)

    if not frozen:
        for oid in objectives:
            roll(oid, frozenset())

    events: list[CloudEvent] = []
    source = f"lodestar/{settings.service_name}"
    for kr in krs.values():
        if kr.id in force or before_kr.get(kr.id) != _kr_values(kr):
            kr.updated_at = now
            previous = before_status.get(kr.id)
            if changed_krs is not None and changed_krs.get(kr.id, ()) is None:
                previous = None
            events.append(
                new_event(
                    type=KR_PROGRESS_V1,
                    source=source,
                    tenant=tenant,
                    subject=kr.id,
                    time=now,
                    data=KrProgressV1(
                        key_result_id=kr.id,
                        objective_id=kr.objective_id,
                        cycle_id=kr.cycle_id,
                        title=kr.title,
                        kind=kr.kind,
                        current=kr.current,
                        progress=kr.progress,
                        raw_progress=kr.raw_progress,
                        expected=kr.expected,
                        status=kr.status,
                        previous_status=previous,
                        kpi=kr.kpi,
                        source=kr_source,
                        periods_met=kr.periods_met,
                        periods_elapsed=kr.periods_elapsed,
                    ),
                )
            )
    for kr in graduated:
        assert kr.kpi is not None
        events.append(
            new_event(
                type=KR_GRADUATED_V1,
                source=source,
                tenant=tenant,
                subject=kr.id,
                time=now,
                data=KrGraduatedV1(
                    key_result_id=kr.id,
                    kpi=kr.kpi,
                    kind=kr.kind,
                    # keep_between has no single target: its guardrail is the two bounds.
                    target=kr.target if kr.target is not None else kr.bound_low or 0.0,
                    bound_low=kr.bound_low,
                    bound_high=kr.bound_high,
                    periods_met=kr.periods_met or 0,
                    direction=link.graduation_direction(p.KrKind(kr.kind)),
                    objective_id=kr.objective_id,
                    cycle_id=kr.cycle_id,
                ),
            )
        )
    for o in objectives.values():
        if o.id in force or before_obj.get(o.id) != _objective_values(o):
            o.updated_at = now
            previous = previous_obj_status.get(o.id)
            if changed_objectives is not None and changed_objectives.get(o.id, ()) is None:
                previous = None
            events.append(
                new_event(
                    type=OBJECTIVE_CHANGED_V1,
                    source=source,
                    tenant=tenant,
                    subject=o.id,
                    time=now,
                    data=ObjectiveChangedV1(
                        objective_id=o.id,
                        cycle_id=o.cycle_id,
                        title=o.title,
                        progress=o.progress,
                        status=o.status,
                        previous_status=previous,
                        state=o.state,
                        rollup_progress=o.rollup_progress,
                        rollup_status=o.rollup_status,
                        score=o.score,
                        parent_id=o.parent_id,
                        team_id=o.team_id,
                    ),
                )
            )
    if events:
        await enqueue(session, settings.topics.name(settings.topics.okr_events), *events)
    await session.flush()
    return Evaluation(objectives=objectives, key_results=krs)
