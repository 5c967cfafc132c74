"""Re-evaluate a cycle after any change: load its objectives, KRs and the KPI periods its
linked KRs stored, let `domain.evaluation` decide, write the outcome back onto the rows and put
its events in the outbox, all in the caller's transaction.

Every write that can move a number goes through `reevaluate`, so "every change of a KR's
progress or status emits `lodestar.kr.progress.v1`" holds by construction, in the same
transaction as the change. Time alone also moves a status (pace, a KPI gone quiet, a KPI period
completing): the status timer (`loops.py`) re-evaluates every open cycle, as does
`POST /v1/cycles/{id}/refresh`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.goals import mappers
from services.goals.domain import evaluation
from services.goals.domain.evaluation import Change
from services.goals.repository import key_results as kr_repo
from services.goals.repository import kpi_links as link_repo
from services.goals.repository import objectives as objective_repo
from services.goals.settings import GoalsSettings
from services.goals.tables import Cycle, KeyResult
from shared.db import AsyncSession
from shared.outbox import enqueue
from shared.tenants import timezone_of

__all__ = ["Change", "reevaluate"]


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
    if outcome.events:
        source = f"lodestar/{settings.service_name}"
        events = [
            mappers.cloud_event(e, source=source, tenant=tenant, time=now) for e in outcome.events
        ]
        await enqueue(session, settings.topics.name(settings.topics.okr_events), *events)
    await session.flush()
