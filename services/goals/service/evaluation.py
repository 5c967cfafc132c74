"""Re-evaluate a cycle after a change: load its objectives, KRs and the KPI periods its
linked KRs stored, let `domain.evaluation` decide, write the outcome back onto the rows and put
its events in the outbox, all in the caller's transaction.

Every write that can move a number goes through `reevaluate` or one of its partial forms, so
"every change of a KR's progress or status emits `lodestar.kr.progress.v1`" holds by
construction, in the same transaction as the change. Time alone also moves a status (pace, a KPI
gone quiet, a KPI period completing): the status timer (`loops.py`) re-evaluates every open
cycle, as does `POST /v1/cycles/{id}/refresh`; so do the writes that move the whole cycle (its
dates, activating, closing) and grading a closed one.

The partial forms re-judge only what the change touched and the objectives above it
(`domain.touched`), so a change costs what it moves, not what its cycle holds:
`reevaluate_touched` for a batch of KPI values (the KRs that stored a new period value, read
and written in plain rows), `reevaluate_write` for a write to a KR or an objective of an open
cycle (create, edit, check-in, backfill, promotion, carry-over: the rows it holds).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.goals import mappers
from services.goals.domain import evaluation
from services.goals.domain import touched as partial
from services.goals.domain.evaluation import Change, KeyResultState
from services.goals.repository import judged as judged_repo
from services.goals.repository import key_results as kr_repo
from services.goals.repository import kpi_links as link_repo
from services.goals.repository import objectives as objective_repo
from services.goals.settings import GoalsSettings
from services.goals.tables import Cycle, KeyResult
from shared.db import AsyncSession
from shared.outbox import enqueue
from shared.tenants import timezone_of, timezones_of

__all__ = ["Change", "Part", "reevaluate", "reevaluate_touched", "reevaluate_write"]


def _policy(settings: GoalsSettings) -> evaluation.Policy:
    return evaluation.Policy(
        thresholds=settings.thresholds, graduation_periods=settings.graduation_periods
    )


async def reevaluate(
    session: AsyncSession,
    settings: GoalsSettings,
    cycle: Cycle,
    now: datetime,
    change: Change = Change(),
    *,
    key_results: Sequence[KeyResult] | None = None,
) -> None:
    """Recompute the cycle's numbers at `now` and enqueue an event for each change (see
    `domain.evaluation.evaluate`); the rows the session holds are updated in place.

    `key_results`: every KR of the cycle, as the caller just read it in this transaction with
    the cycle locked and left it unchanged (spares reading them again).
    """
    tenant = cycle.tenant
    objective_rows = await objective_repo.in_cycle(session, tenant, cycle.id)
    kr_rows = (
        key_results
        if key_results is not None
        else await kr_repo.in_cycle(session, tenant, cycle.id)
    )
    view = mappers.cycle_view(cycle, await timezone_of(session, tenant))
    krs = [mappers.kr_state(kr) for kr in kr_rows]
    followers = evaluation.kpi_followers(view, krs, change)
    outcome = evaluation.evaluate(
        view,
        [mappers.objective_state(o) for o in objective_rows],
        krs,
        await link_repo.periods_of(session, [(tenant, kr_id) for kr_id in followers]),
        change=change,
        policy=_policy(settings),
        now=now,
    )
    for kr in kr_rows:
        mappers.write_back(kr, outcome.key_results[kr.id], mappers.KR_JUDGED)
        if kr.id in outcome.changed:
            kr.updated_at = now
    for o in objective_rows:
        mappers.write_back(o, outcome.objectives[o.id], mappers.OBJECTIVE_JUDGED)
        if o.id in outcome.changed:
            o.updated_at = now
    await _announce(session, settings, [(tenant, e) for e in outcome.events], now)
    await session.flush()


async def _announce(
    session: AsyncSession,
    settings: GoalsSettings,
    events: Sequence[tuple[str, evaluation.Event]],
    now: datetime,
) -> None:
    """Put the (tenant, event)s in the outbox (published on `okr.events` once committed)."""
    if events:
        source = f"lodestar/{settings.service_name}"
        await enqueue(
            session,
            settings.topics.name(settings.topics.okr_events),
            *(
                mappers.cloud_event(e, source=source, tenant=tenant, time=now)
                for tenant, e in events
            ),
        )


@dataclass(frozen=True, slots=True)
class Part:
    """What a partial re-evaluation re-judges in one open cycle: the `touched` KRs (as stored
    after the change, in the cycle's order), the `edited` objectives, and the objectives above
    them all."""

    cycle: Cycle
    touched: Sequence[KeyResultState]
    edited: Collection[str | None] = ()


async def _judge_parts(
    session: AsyncSession,
    settings: GoalsSettings,
    parts: Sequence[Part],
    now: datetime,
    change: Change,
    *,
    counted: bool,
) -> list[evaluation.Outcome]:
    """`domain.touched.evaluate_touched` of each part, from its cycle's objectives as stored
    and the other KRs of those it must count (`domain.touched.to_read`), with the events in
    the outbox; the caller writes the judged numbers back. Each read is one statement for all
    the parts, whatever their cycles and tenants (a batch of kpi.values touches a cycle of
    each tenant it carries)."""
    keys = [(part.cycle.tenant, part.cycle.id) for part in parts]
    zones = await timezones_of(session, {tenant for tenant, _ in keys})
    objectives = await objective_repo.states_in_cycles(session, keys)
    readings = [
        partial.to_read(objectives[part.cycle.id], part.touched, part.edited, counted=counted)
        for part in parts
    ]
    touched = [(part.cycle.tenant, kr) for part in parts for kr in part.touched]
    periods = await link_repo.periods_of(
        session, [(tenant, kr.id) for tenant, kr in touched if kr.follows_kpi]
    )
    others = await kr_repo.light_of_objectives(
        session,
        [
            (tenant, cycle_id, oid)
            for (tenant, cycle_id), reading in zip(keys, readings, strict=True)
            for oid in reading
        ],
        excluding={kr.id for _, kr in touched},
    )
    policy = _policy(settings)
    outcomes: list[evaluation.Outcome] = []
    events: list[tuple[str, evaluation.Event]] = []
    for part, reading in zip(parts, readings, strict=True):
        outcome = partial.evaluate_touched(
            mappers.cycle_view(part.cycle, zones[part.cycle.tenant]),
            objectives[part.cycle.id],
            part.touched,
            periods,
            [light for oid in reading for light in others[oid]],
            edited=part.edited,
            counted=counted,
            change=change,
            policy=policy,
            now=now,
        )
        outcomes.append(outcome)
        events.extend((part.cycle.tenant, event) for event in outcome.events)
    await _announce(session, settings, events, now)
    return outcomes


async def reevaluate_touched(
    session: AsyncSession,
    settings: GoalsSettings,
    parts: Sequence[Part],
    now: datetime,
    change: Change,
) -> dict[str, KeyResultState]:
    """Re-judge only the `touched` KRs of each part (open, following a KPI, as stored with the
    cycle locked, in its order) and the objectives above them, at `now`, write them back and
    enqueue the events (`domain.touched.evaluate_touched`: those a full `reevaluate` of each
    cycle would emit for this change); returns the touched KRs as re-judged, by id. Open
    cycles only; the parts' cycles and their KRs all differ."""
    outcomes = await _judge_parts(session, settings, parts, now, change, counted=True)
    changed = {oid for outcome in outcomes for oid in outcome.changed}
    await judged_repo.save_key_results(
        session,
        [
            (part.cycle.tenant, kr)
            for part, outcome in zip(parts, outcomes, strict=True)
            for kr in outcome.key_results.values()
        ],
        mappers.KR_JUDGED,
        changed,
        now,
    )
    await judged_repo.save_objectives(
        session,
        [
            (part.cycle.tenant, o)
            for part, outcome in zip(parts, outcomes, strict=True)
            for oid, o in outcome.objectives.items()
            if oid in outcome.rewritten
        ],
        mappers.OBJECTIVE_JUDGED,
        changed,
        now,
    )
    return {kr.id: kr for outcome in outcomes for kr in outcome.key_results.values()}


async def reevaluate_write(
    session: AsyncSession,
    settings: GoalsSettings,
    cycle: Cycle,
    now: datetime,
    change: Change = Change(),
    *,
    key_results: Sequence[KeyResult] = (),
    objectives: Collection[str | None] = (),
) -> None:
    """After a write in an open cycle, re-judge only what it moved: the KRs `key_results` it
    made or edited (the rows the session holds), the objectives `objectives` it made or edited
    (and the parent an objective left), and the objectives above them all, at `now`; the rows
    are updated in place and an event enqueued for each change, as `reevaluate` does for them
    (`domain.touched.evaluate_touched`). The cycle's other KRs keep their stored numbers: what
    time alone moved there is the status timer's."""
    await session.flush()  # the plain-row reads below see the write
    ordered = sorted(key_results, key=lambda kr: (kr.created_at, kr.id))  # the cycle's order
    touched = [mappers.kr_state(kr) for kr in ordered]
    [outcome] = await _judge_parts(
        session, settings, [Part(cycle, touched, objectives)], now, change, counted=False
    )
    for kr in ordered:
        mappers.write_back(kr, outcome.key_results[kr.id], mappers.KR_JUDGED)
        if kr.id in outcome.changed:
            kr.updated_at = now
    for o in await objective_repo.of_ids(session, cycle.tenant, list(outcome.objectives)):
        mappers.write_back(o, outcome.objectives[o.id], mappers.OBJECTIVE_JUDGED)
        if o.id in outcome.changed:
            o.updated_at = now
    await session.flush()
