"""/v1/objectives: list and filter, create and align, grade, carry over; their key results."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from services.goals.deps import KpiWriteContext, Reader, ReadSession, WriteContext
from services.goals.schemas import (
    CarryOver,
    KeyResultCreate,
    KeyResultRead,
    Level,
    ObjectiveCreate,
    ObjectiveDetail,
    ObjectiveRead,
    ObjectiveUpdate,
    ScoreOverride,
    StatusName,
)
from services.goals.service import key_results as kr_service
from services.goals.service import objectives as service
from shared.errors import problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, PageQuery

router = APIRouter(prefix="/objectives", tags=["objectives"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ObjectiveRead,
    responses=problem_responses(404, 409, 422),
)
async def create_objective(body: ObjectiveCreate, write: WriteContext) -> ObjectiveRead:
    """An objective in a cycle that is not closed (409), aligned under `parent_id` (an
    objective of the same cycle, 422 otherwise)."""
    return await service.create(write, body)


@router.get("", response_model=Page[ObjectiveRead], responses=problem_responses(400, 404, 422))
async def list_objectives(
    caller: Reader,
    session: ReadSession,
    cycle_id: str | None = None,
    team_id: str | None = None,
    owner: str | None = None,
    status: StatusName | None = None,
    level: Level | None = None,
    parent_id: str | None = None,
    sort: Annotated[
        Literal["created_at", "-created_at", "title", "progress", "-progress"], Query()
    ] = "created_at",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ObjectiveRead]:
    """Objectives, filtered by cycle, team, owner, status (own KRs), level or parent."""
    return await service.page(
        session,
        caller.tenant,
        PageQuery(sort, limit, cursor),
        cycle_id=cycle_id,
        team_id=team_id,
        owner=owner,
        status=status,
        level=level,
        parent_id=parent_id,
    )


@router.get("/{objective_id}", response_model=ObjectiveDetail, responses=problem_responses(404))
async def get_objective(objective_id: str, caller: Reader, session: ReadSession) -> ObjectiveDetail:
    return await service.detail(session, caller.tenant, objective_id)


@router.patch(
    "/{objective_id}", response_model=ObjectiveRead, responses=problem_responses(404, 409, 422)
)
async def update_objective(
    objective_id: str, body: ObjectiveUpdate, write: WriteContext
) -> ObjectiveRead:
    """Edit or re-align (409 if the new parent would make a loop, or the cycle is closed)."""
    return await service.update(write, objective_id, body)


@router.put(
    "/{objective_id}/score",
    response_model=ObjectiveRead,
    responses=problem_responses(404, 409, 422),
)
async def override_objective_score(
    objective_id: str, body: ScoreOverride, write: WriteContext
) -> ObjectiveRead:
    """Grade by hand (0.0-1.0, with a note) once the cycle is closed (409 before)."""
    return await service.override_score(write, objective_id, body)


@router.post(
    "/{objective_id}/carry-over",
    status_code=status.HTTP_201_CREATED,
    response_model=ObjectiveDetail,
    responses=problem_responses(404, 409, 422),
)
async def carry_over(objective_id: str, body: CarryOver, write: WriteContext) -> ObjectiveDetail:
    """Copy the objective and its KRs into another open cycle (once: 409 the second time)."""
    return await service.carry_over(write, objective_id, body)


@router.post(
    "/{objective_id}/key-results",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyResultRead,
    responses=problem_responses(404, 409, 422, 503),
    tags=["key results"],
)
async def create_key_result(
    objective_id: str, body: KeyResultCreate, write: KpiWriteContext
) -> KeyResultRead:
    """A key result. Bounds of keep_above / keep_below / keep_between are INCLUSIVE
    (`≥ target`, `≤ target`, `bound_low ≤ value ≤ bound_high`). target ≠ start, weight > 0,
    and `starts_at`/`due_at` inside the cycle, else 422. With `kpi` the KR is linked to that
    KPI (checked with metrics: 422 unknown KPI, 503 metrics unreachable) and its value
    follows the KPI's values, starting from the KPI's stored periods inside the KR's window
    (a `sum` KR created mid-cycle counts what happened before)."""
    kpi = await write.kpi(body.kpi) if body.kpi is not None else None
    async with write.transaction() as tx:
        kr = await kr_service.create(tx, objective_id, body, kpi)
    return await write.backfill(kr)


@router.get(
    "/{objective_id}/key-results",
    response_model=list[KeyResultRead],
    responses=problem_responses(404),
    tags=["key results"],
)
async def list_key_results(
    objective_id: str, caller: Reader, session: ReadSession
) -> list[KeyResultRead]:
    return await service.key_results(session, caller.tenant, objective_id)
