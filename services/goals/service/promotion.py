"""Promote a KPI into a key result: start from the KPI's current value, stay linked to it,
keep the provenance (which KPI, when, from what value)."""

from __future__ import annotations

from services.goals import mappers
from services.goals.domain import kpi_link as link
from services.goals.domain import progress as p
from services.goals.errors import InvalidKeyResult
from services.goals.metrics_client import KpiCurrent, KpiInfo
from services.goals.repository import kpi_links as link_repo
from services.goals.schemas import KeyResultCreate, KeyResultPromote, KeyResultRead, ObjectiveCreate
from services.goals.service import objectives as objective_service
from services.goals.service.context import Write
from services.goals.service.cycles import load_open
from services.goals.service.evaluation import Change, reevaluate_write
from services.goals.service.key_results import new_kr


def _title(info: KpiInfo, kind: p.KrKind, start: float, body: KeyResultPromote) -> str:
    unit = f" {info.unit}" if info.unit else ""
    if kind is p.KrKind.INCREASE or kind is p.KrKind.DECREASE:
        verb = "Raise" if kind is p.KrKind.INCREASE else "Lower"
        return f"{verb} {info.name} from {start:g} to {body.target:g}{unit}"
    if kind is p.KrKind.KEEP_ABOVE:
        return f"Keep {info.name} at or above {body.target:g}{unit}"
    if kind is p.KrKind.KEEP_BELOW:
        return f"Keep {info.name} at or below {body.target:g}{unit}"
    return f"Keep {info.name} between {body.bound_low:g} and {body.bound_high:g}{unit}"


async def promote(
    write: Write, body: KeyResultPromote, info: KpiInfo, current: KpiCurrent
) -> KeyResultRead:
    """Create the KR (and its objective, when a new one is given) in `body.cycle_id`.

    `info` and `current` are what metrics answered for the KPI (looked up by the caller
    before the transaction). The KPI's current period, when it overlaps the KR's window, is
    the KR's first stored period, so the KR starts at progress 0 with a value.
    """
    if (body.objective_id is None) == (body.objective is None):
        raise InvalidKeyResult("give objective_id or objective (a new one), exactly one")
    assert current.value is not None
    session, tenant, now = write.session, write.tenant, write.now
    cycle = await load_open(session, tenant, body.cycle_id)
    if body.objective is not None:
        new = ObjectiveCreate(cycle_id=cycle.id, **body.objective.model_dump())
        objective_id = (await objective_service.create(write, new)).id
    else:
        assert body.objective_id is not None
        objective = await objective_service.load(session, tenant, body.objective_id)
        if objective.cycle_id != cycle.id:
            raise InvalidKeyResult(
                f"objective '{objective.title}' belongs to another cycle than '{cycle.name}'"
            )
        objective_id = objective.id
    kind = p.KrKind(body.kind) if body.kind is not None else link.default_kind(info.direction)
    start = current.value
    title = body.title or _title(info, kind, start, body)
    create = KeyResultCreate(
        title=title[:300],
        kind=kind.value,
        unit=info.unit[:32],
        start=start if kind in p.TARGET_KINDS else None,
        target=body.target,
        bound_low=body.bound_low,
        bound_high=body.bound_high,
        weight=body.weight,
        owner=body.owner,
        kpi=info.key,
        kpi_aggregation=body.kpi_aggregation,
        graduation_periods=body.graduation_periods,
    )
    kr = await new_kr(write, objective_id, create, info)
    kr.promoted_from_kpi, kr.promoted_at, kr.promoted_start = info.key, now, start
    assert current.period_start is not None
    assert current.period_end is not None
    if current.last_at is not None and link.overlaps(
        current.period_start, current.period_end, kr.starts_at, kr.due_at
    ):
        row = link_repo.period_row(
            tenant=tenant,
            kr_id=kr.id,
            period_start=current.period_start,
            period_end=current.period_end,
            value=current.value,
            count=current.count,
            last_value=current.last_value if current.last_value is not None else current.value,
            last_at=current.last_at,
            revision=current.revision,
            now=now,
        )
        await link_repo.store_periods(session, [row])
    await session.flush()
    change = Change(created={kr.id})
    await reevaluate_write(session, write.settings, cycle, now, change, key_results=[kr])
    return mappers.kr_read(kr)
