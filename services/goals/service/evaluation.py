"""Re-evaluate a cycle after any change: load its objectives, KRs and the KPI periods its
linked KRs stored, let `domain.evaluation` decide, write the outcome back onto the rows and put
its events in the outbox, all in the caller's transaction.

Every write that can move a number goes through `reevaluate`, so "every change of a KR's
progress or status emits `lodestar.kr.progress.v1`" holds by construction, in the same
transaction as the change. Time alone also moves a status (pace, a KPI gone quiet, a KPI period
completing): the status timer (`loops.py`) re-evaluates every open cycle, as does
`POST /v1/cycles/{id}/refresh`.

A batch of KPI values takes the partial path, `reevaluate_touched`: only the KRs that stored a
new period value, and the objectives above them, are re-judged (`domain.touched`), read and
written in plain rows, so a batch costs what it holds, not what its cycle holds.
"""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["Change", "reevaluate", "reevaluate_touched"]


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
    view = mappers.cycle_view(cycle, await timezone_of(session, tenant))
    objectives = [
        mappers.objective_state(row)
        for row in await objective_repo.states_in_cycle(session, tenant, cycle.id)
    ]
    ids = [kr.id for kr in touched]
    moving = partial.affected(objectives, touched)
    outcome = partial.evaluate_touched(
        view,
        objectives,
        touched,
        await link_repo.periods_of(session, tenant, ids),
        await kr_repo.light_of_objectives(session, tenant, cycle.id, moving, excluding=ids),
        change=change,
        policy=_policy(settings),
        now=now,
    )
    await judged_repo.save_key_results(
        session, tenant, outcome.key_results.values(), mappers.KR_JUDGED, outcome.changed, now
    )
    # Every judged column of an objective is one of its announced numbers: only an objective
    # announced has anything to write.
    moved = [o for oid, o in outcome.objectives.items() if oid in outcome.changed]
    await judged_repo.save_objectives(
        session, tenant, moved, mappers.OBJECTIVE_JUDGED, outcome.changed, now
    )
    await _announce(session, settings, tenant, outcome.events, now)
    return outcome.key_results
