"""Objectives: create and edit (not in a closed cycle), align under a parent (no loops), grade
after close, carry into the next cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.goals import mappers
from services.goals.domain.alignment import creates_cycle
from services.goals.errors import (
    AlignmentCycle,
    AlreadyCarried,
    InvalidAlignment,
    ObjectiveNotFound,
)
from services.goals.repository import key_results as kr_repo
from services.goals.repository import objectives as repo
from services.goals.repository import teams as team_repo
from services.goals.schemas import (
    CarryOver,
    KeyResultRead,
    ObjectiveCreate,
    ObjectiveDetail,
    ObjectiveRead,
    ObjectiveUpdate,
    ScoreOverride,
)
from services.goals.service.context import Write
from services.goals.service.cycles import grade, load_open
from services.goals.service.evaluation import Change, reevaluate_write
from services.goals.tables import KeyResult, Objective, new_id
from shared.db import AsyncSession
from shared.errors import found
from shared.pagination import Page, PageQuery, page_of


async def load(session: AsyncSession, tenant: str, objective_id: str) -> Objective:
    return found(
        await repo.get(session, tenant, objective_id),
        ObjectiveNotFound(f"no objective '{objective_id}'"),
    )


async def detail(session: AsyncSession, tenant: str, objective_id: str) -> ObjectiveDetail:
    objective = await load(session, tenant, objective_id)
    krs = await kr_repo.of_objectives(session, tenant, [objective.id])
    return mappers.objective_detail(objective, krs)


async def key_results(session: AsyncSession, tenant: str, objective_id: str) -> list[KeyResultRead]:
    objective = await load(session, tenant, objective_id)
    return [
        mappers.kr_read(k) for k in await kr_repo.of_objectives(session, tenant, [objective.id])
    ]


async def page(
    session: AsyncSession, tenant: str, query: PageQuery, **equal: str | None
) -> Page[ObjectiveRead]:
    """Objectives whose columns equal each filter given (cycle, team, owner, status of their
    own KRs, level, parent)."""
    return page_of(await repo.page(session, tenant, query, **equal), mappers.objective_read)


async def _team_of(
    session: AsyncSession, tenant: str, owner_type: str, owner: str, team_id: str | None
) -> str | None:
    """The objective's team: the owner when a team owns it, else the optional `team_id`."""
    if owner_type == "team":
        if team_id is not None and team_id != owner:
            raise InvalidAlignment("a team-owned objective belongs to its owner team")
        team_id = owner
    if team_id is not None and await team_repo.get(session, tenant, team_id) is None:
        raise InvalidAlignment(f"no team '{team_id}'")
    return team_id


async def _check_parent(
    session: AsyncSession, tenant: str, objective_id: str, cycle_id: str, parent_id: str | None
) -> None:
    if parent_id is None:
        return
    parent = await repo.get(session, tenant, parent_id)
    if parent is None:
        raise InvalidAlignment(f"no parent objective '{parent_id}'")
    if parent.cycle_id != cycle_id:
        raise InvalidAlignment("an objective aligns under an objective of the same cycle")
    links = {o.id: o.parent_id for o in await repo.in_cycle(session, tenant, cycle_id)}
    if creates_cycle(objective_id, parent_id, links.get):
        raise AlignmentCycle("an objective cannot align under itself or one of its descendants")


# What a carried-over objective keeps of its source (not its parent: another cycle's), and
# what each of its KRs keeps: where it got to and its link, not its window, status or score.
_CARRIED = ("title", "description", "owner_type", "owner", "team_id", "level", "commitment")
_KR_CARRIED = (
    *("title", "description", "kind", "unit", "weight", "owner", "confidence"),
    *("start", "target", "bound_low", "bound_high", "current", "done"),
    *("kpi", "kpi_aggregation", "kpi_period", "kpi_cadence_s", "graduation_periods"),
    *("promoted_from_kpi", "promoted_at", "promoted_start"),
)


def _new(tenant: str, cycle_id: str, now: datetime, **fields: Any) -> Objective:
    """A new objective of the cycle, open and not started, with its `fields`."""
    return Objective(
        **fields,
        id=new_id(),
        tenant=tenant,
        cycle_id=cycle_id,
        state="open",
        status="not_started",
        rollup_status="not_started",
        created_at=now,
        updated_at=now,
    )


async def create(write: Write, body: ObjectiveCreate) -> ObjectiveRead:
    session, tenant = write.session, write.tenant
    cycle = await load_open(session, tenant, body.cycle_id)
    team_id = await _team_of(session, tenant, body.owner_type, body.owner, body.team_id)
    fields = body.model_dump(exclude={"cycle_id", "team_id"})
    objective = _new(tenant, cycle.id, write.now, team_id=team_id, **fields)
    await _check_parent(session, tenant, objective.id, cycle.id, body.parent_id)
    session.add(objective)
    change = Change(created={objective.id})
    await reevaluate_write(
        session, write.settings, cycle, write.now, change, objectives=[objective.id]
    )
    return mappers.objective_read(objective)


async def update(write: Write, objective_id: str, body: ObjectiveUpdate) -> ObjectiveRead:
    session, tenant, now = write.session, write.tenant, write.now
    objective = await load(session, tenant, objective_id)
    cycle = await load_open(session, tenant, objective.cycle_id)
    fields = body.model_fields_set
    for name in ("title", "description", "level", "commitment"):
        value = getattr(body, name)
        if name in fields and value is not None:
            setattr(objective, name, value)
    if fields & {"owner_type", "owner", "team_id"}:
        owner_type = body.owner_type or objective.owner_type
        owner = body.owner or objective.owner
        wanted_team = body.team_id if "team_id" in fields else None
        objective.team_id = await _team_of(session, tenant, owner_type, owner, wanted_team)
        objective.owner_type, objective.owner = owner_type, owner
    edited: list[str | None] = [objective.id]
    if "parent_id" in fields and body.parent_id != objective.parent_id:
        await _check_parent(session, tenant, objective.id, cycle.id, body.parent_id)
        edited.append(objective.parent_id)  # the parent it leaves rolls up one child less
        objective.parent_id = body.parent_id
    objective.updated_at = now
    change = Change(touched={objective.id})
    await reevaluate_write(session, write.settings, cycle, now, change, objectives=edited)
    return mappers.objective_read(objective)


async def override_score(write: Write, objective_id: str, body: ScoreOverride) -> ObjectiveRead:
    """Grade an objective of a closed cycle by hand; the note says why."""
    objective = await load(write.session, write.tenant, objective_id)
    await grade(write, objective, body, Change(touched={objective.id}))
    return mappers.objective_read(objective)


async def carry_over(write: Write, objective_id: str, body: CarryOver) -> ObjectiveDetail:
    """Copy an objective and its KRs into another (open) cycle, keeping where each KR got to;
    the KRs take the new cycle's dates. The copy remembers where it came from."""
    session, tenant, now = write.session, write.tenant, write.now
    source = await load(session, tenant, objective_id)
    target = await load_open(session, tenant, body.cycle_id)
    if target.id == source.cycle_id:
        raise InvalidAlignment("carry an objective into another cycle")
    if source.carried_to_id is not None:
        raise AlreadyCarried(f"already carried over as objective '{source.carried_to_id}'")
    copy = _new(
        tenant,
        target.id,
        now,
        **{name: getattr(source, name) for name in _CARRIED},
        carried_from_id=source.id,
    )
    session.add(copy)
    source.carried_to_id = copy.id
    new_krs: list[KeyResult] = []
    for kr in await kr_repo.of_objectives(session, tenant, [source.id]):
        clone = KeyResult(
            **{name: getattr(kr, name) for name in _KR_CARRIED},
            id=new_id(),
            tenant=tenant,
            objective_id=copy.id,
            cycle_id=target.id,
            starts_at=target.starts_at,
            due_at=target.ends_at,
            status="not_started",
            created_at=now,
            updated_at=now,
        )
        session.add(clone)
        new_krs.append(clone)
    change = Change(created={copy.id, *(kr.id for kr in new_krs)})
    await reevaluate_write(
        session, write.settings, target, now, change, key_results=new_krs, objectives=[copy.id]
    )
    return await detail(session, tenant, copy.id)
