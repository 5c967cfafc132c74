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
from shared.tenants import timezone_of

__all__ = ["Change", "reevaluate", "reevaluate_touched", "reevaluate_write"]


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
        await link_repo.periods_of(session, tenant, followers),
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
    await _announce(session, settings, tenant, outcome.events, now)
    await session.flush()


async def _announce(
    session: AsyncSession,
    settings: GoalsSettings,
    tenant: str,
    events: Sequence[evaluation.Event],
    now: datetime,
) -> None:
    """Put the events in the outbox (published on `okr.events` once committed)."""
    if events:
        source = f"lodestar/{settings.service_name}"
        await enqueue(
            session,
            settings.topics.name(settings.topics.okr_events),
            *(mappers.cloud_event(e, source=source, tenant=tenant, time=now) for e in events),
        )


async def _judge_part(
    session: AsyncSession,
    settings: GoalsSettings,
    cycle: Cycle,
    touched: Sequence[KeyResultState],
    edited: Collection[str | None],
    now: datetime,
    change: Change,
    *,
    counted: bool,
) -> evaluation.Outcome:
    """`domain.touched.evaluate_touched` of the `touched` KRs and the `edited` objectives,
    from the cycle's objectives as stored and the other KRs of those it must count
    (`domain.touched.to_read`), with its events in the outbox; the caller writes the judged
    numbers back."""
    tenant = cycle.tenant
    view = mappers.cycle_view(cycle, await timezone_of(session, tenant))
    objectives = [
        mappers.objective_state(row)
        for row in await objective_repo.states_in_cycle(session, tenant, cycle.id)
    ]
    ids = [kr.id for kr in touched]
    followers = [kr.id for kr in touched if kr.follows_kpi]
    reading = partial.to_read(objectives, touched, edited, counted=counted)
    outcome = partial.evaluate_touched(
        view,
        objectives,
        touched,
        await link_repo.periods_of(session, tenant, followers),
        await kr_repo.light_of_objectives(session, tenant, cycle.id, reading, excluding=ids),
        edited=edited,
        counted=counted,
        change=change,
        policy=_policy(settings),
        now=now,
    )
    await _announce(session, settings, tenant, outcome.events, now)
    return outcome


async def reevaluate_touched(
    session: AsyncSession,
    settings: GoalsSettings,
    cycle: Cycle,
    touched: Sequence[KeyResultState],
    now: datetime,
    change: Change,
) -> dict[str, KeyResultState]:
    """Re-judge only the `touched` KRs (open, following a KPI, as stored with the cycle locked,
    in its order) and the objectives above them, at `now`, write them back and enqueue the
    events (`domain.touched.evaluate_touched`: those a full `reevaluate` would emit for this
    change); returns the touched KRs as re-judged. An open cycle only."""
    tenant = cycle.tenant
    outcome = await _judge_part(session, settings, cycle, touched, (), now, change, counted=True)
    await judged_repo.save_key_results(
        session, tenant, outcome.key_results.values(), mappers.KR_JUDGED, outcome.changed, now
    )
    moved = [o for oid, o in outcome.objectives.items() if oid in outcome.rewritten]
    await judged_repo.save_objectives(
        session, tenant, moved, mappers.OBJECTIVE_JUDGED, outcome.changed, now
    )
    return outcome.key_results


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
    outcome = await _judge_part(
        session, settings, cycle, touched, objectives, now, change, counted=False
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
