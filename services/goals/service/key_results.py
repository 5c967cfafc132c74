"""Key results: a KR's numbers must fit its kind (422) and its window must lie inside its
cycle (422); nothing changes in a closed cycle (409) but scores, nor in a graduated KR (409).
A KR linked to a KPI follows it (the lookup is the caller's, before the transaction)."""

from __future__ import annotations

from services.goals import mappers
from services.goals.domain import kpi_link as link
from services.goals.domain import progress as p
from services.goals.errors import (
    InvalidKeyResult,
    KeyResultGraduated,
    KeyResultNotFound,
    WindowOutsideCycle,
)
from services.goals.metrics_client import KpiInfo
from services.goals.repository import key_results as repo
from services.goals.repository import kpi_links as link_repo
from services.goals.schemas import KeyResultCreate, KeyResultRead, KeyResultUpdate, ScoreOverride
from services.goals.service.context import Write
from services.goals.service.cycles import grade, load_open
from services.goals.service.evaluation import Change, reevaluate_write
from services.goals.service.objectives import load as load_objective
from services.goals.tables import Cycle, KeyResult, new_id
from shared.db import AsyncSession
from shared.errors import found


async def load(session: AsyncSession, tenant: str, kr_id: str) -> KeyResult:
    return found(
        await repo.get(session, tenant, kr_id), KeyResultNotFound(f"no key result '{kr_id}'")
    )


async def get(session: AsyncSession, tenant: str, kr_id: str) -> KeyResultRead:
    return mappers.kr_read(await load(session, tenant, kr_id))


def load_open_kr(kr: KeyResult) -> KeyResult:
    """The KR, refusing (409) changes to one that graduated (closed as achieved)."""
    if kr.state == "graduated":
        raise KeyResultGraduated(
            f"key result '{kr.title}' graduated into a guardrail of KPI '{kr.kpi}' "
            "and is closed as achieved"
        )
    return kr


def link_to(kr: KeyResult, info: KpiInfo, aggregation: str | None) -> None:
    """Make the KR follow the KPI `info` describes (as metrics answered the lookup)."""
    if kr.kind == p.KrKind.MILESTONE:
        raise InvalidKeyResult("a milestone cannot be linked to a KPI: it is done or not")
    kr.kpi = info.key
    kr.kpi_aggregation = aggregation or kr.kpi_aggregation or link.WindowAggregation.LAST.value
    period = link.known_period(info.period)
    kr.kpi_period = None if period is None else period.value
    kr.kpi_cadence_s = link.quiet_limit_s(period, info.cadence)


def _unlink(kr: KeyResult) -> None:
    kr.kpi = kr.kpi_aggregation = kr.kpi_period = None
    kr.kpi_cadence_s = kr.periods_met = kr.periods_elapsed = None
    kr.kpi_last_at = None


def _check(kr: KeyResult, cycle: Cycle) -> None:
    error = p.definition_error(mappers.kr_spec(kr))
    if error is not None:
        raise InvalidKeyResult(error)
    if kr.kpi is not None and kr.kind == p.KrKind.MILESTONE:
        raise InvalidKeyResult("a milestone cannot be linked to a KPI: it is done or not")
    if kr.starts_at > kr.due_at:
        raise InvalidKeyResult("starts_at must not be after due_at")
    if kr.starts_at < cycle.starts_at or kr.due_at > cycle.ends_at:
        raise WindowOutsideCycle(
            f"a key result's dates must lie inside its cycle '{cycle.name}' "
            f"({cycle.starts_at.isoformat()} to {cycle.ends_at.isoformat()})"
        )


async def create(
    write: Write, objective_id: str, body: KeyResultCreate, kpi: KpiInfo | None = None
) -> KeyResultRead:
    """A new KR; with `body.kpi` the caller looked the KPI up first (`kpi`) and the KR follows
    it from now on."""
    kr = await new_kr(write, objective_id, body, kpi)
    cycle = await load_open(write.session, write.tenant, kr.cycle_id)
    change = Change(created={kr.id})
    await reevaluate_write(
        write.session, write.settings, cycle, write.now, change, key_results=[kr]
    )
    return mappers.kr_read(kr)


async def new_kr(
    write: Write, objective_id: str, body: KeyResultCreate, kpi: KpiInfo | None = None
) -> KeyResult:
    """Build, check and add a KR (not yet re-evaluated)."""
    session, tenant, now = write.session, write.tenant, write.now
    objective = await load_objective(session, tenant, objective_id)
    cycle = await load_open(session, tenant, objective.cycle_id)
    kr = KeyResult(
        # The KPI link is made by `link_to`, after its lookup; the window defaults to the cycle.
        **body.model_dump(exclude={"kpi", "kpi_aggregation", "starts_at", "due_at"}),
        id=new_id(),
        tenant=tenant,
        objective_id=objective.id,
        cycle_id=cycle.id,
        starts_at=body.starts_at or cycle.starts_at,
        due_at=body.due_at or cycle.ends_at,
        status=p.Status.NOT_STARTED.value,
        created_at=now,
        updated_at=now,
    )
    if body.kpi is not None:
        if kpi is None or kpi.key != body.kpi:
            raise ValueError("look the KPI up before linking")
        link_to(kr, kpi, body.kpi_aggregation)
    _check(kr, cycle)
    session.add(kr)
    return kr


async def update(
    write: Write, kr_id: str, body: KeyResultUpdate, kpi: KpiInfo | None = None
) -> KeyResultRead:
    """Edit a KR. `kpi` links it (the caller looked the KPI up: `kpi`), null unlinks it;
    either way what it stored of a previous KPI is dropped."""
    session, tenant = write.session, write.tenant
    kr = load_open_kr(await load(session, tenant, kr_id))
    cycle = await load_open(session, tenant, kr.cycle_id)
    relink = "kpi" in body.model_fields_set and body.kpi != kr.kpi
    for name in body.model_fields_set - {"kpi", "kpi_aggregation"}:
        value = getattr(body, name)
        # Numbers may be cleared with an explicit null; the rest only replaced.
        if value is not None or name in {"start", "target", "bound_low", "bound_high"}:
            setattr(kr, name, value)
    if relink:
        await link_repo.forget_periods(session, tenant, kr.id)
        _unlink(kr)
        if body.kpi is not None:
            if kpi is None or kpi.key != body.kpi:
                raise ValueError("look the KPI up before linking")
            link_to(kr, kpi, body.kpi_aggregation)
    elif body.kpi_aggregation is not None:
        if kr.kpi is None:
            raise InvalidKeyResult("kpi_aggregation applies to a KR linked to a KPI")
        kr.kpi_aggregation = body.kpi_aggregation
    _check(kr, cycle)
    change = Change(touched={kr.id})
    await reevaluate_write(session, write.settings, cycle, write.now, change, key_results=[kr])
    return mappers.kr_read(kr)


async def override_score(write: Write, kr_id: str, body: ScoreOverride) -> KeyResultRead:
    kr = await load(write.session, write.tenant, kr_id)
    kr.updated_at = write.now
    await grade(write, kr, body)
    return mappers.kr_read(kr)
