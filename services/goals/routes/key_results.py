"""/v1/key-results: read and edit, link to a KPI, promote a KPI, check in (the history), grade,
attach initiatives.

Routes that ask metrics about a KPI do so before opening their write transaction, so the
database's writer is never held across a call to another service.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from services.goals.deps import KpiWriteContext, Reader, ReadSession, WriteContext
from services.goals.schemas import (
    CheckInCreate,
    CheckInRead,
    InitiativeCreate,
    InitiativeRead,
    KeyResultPromote,
    KeyResultRead,
    KeyResultUpdate,
    ScoreOverride,
)
from services.goals.service import check_ins, initiatives, promotion
from services.goals.service import key_results as service
from shared.errors import problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, PageQuery

router = APIRouter(
    prefix="/key-results", tags=["key results"], responses=problem_responses(401, 403)
)


@router.post(
    "/promote",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyResultRead,
    responses=problem_responses(404, 409, 422, 503),
)
async def promote_kpi(body: KeyResultPromote, write: KpiWriteContext) -> KeyResultRead:
    """Promote a KPI into a key result of a cycle: `start` is the KPI's current value (422
    "KPI has no value yet to start from" when it has none; 422 for an unknown KPI; 503 when
    metrics cannot be reached), the KR stays linked to the KPI, and `promoted_from_kpi`,
    `promoted_at` and `promoted_start` keep where it came from. Under an existing
    `objective_id` of that cycle, or a new `objective`. The KR takes the KPI's stored periods
    inside its window (backfill), as linking does."""
    info = await write.kpi(body.kpi)
    current = await write.current(body.kpi)
    async with write.transaction() as tx:
        kr = await promotion.promote(tx, body, info, current)
    return await write.backfill(kr)


@router.get("/{kr_id}", response_model=KeyResultRead, responses=problem_responses(404))
async def get_key_result(kr_id: str, caller: Reader, session: ReadSession) -> KeyResultRead:
    return await service.get(session, caller.tenant, kr_id)


@router.patch(
    "/{kr_id}", response_model=KeyResultRead, responses=problem_responses(404, 409, 422, 503)
)
async def update_key_result(
    kr_id: str, body: KeyResultUpdate, write: KpiWriteContext
) -> KeyResultRead:
    """Edit numbers, weight, dates or confidence (not in a closed cycle, nor once the KR
    graduated: 409). `kpi` links the KR to a KPI (checked with metrics: 422 unknown KPI, 503
    metrics unreachable); its value then follows the KPI's values on `kpi.values`, each
    recorded as a check-in with source `kpi`; linking (or moving a linked KR's dates)
    backfills it from the KPI's stored periods inside its window. `kpi: null` unlinks it."""
    kpi = await write.kpi(body.kpi) if body.kpi is not None else None
    async with write.transaction() as tx:
        kr = await service.update(tx, kr_id, body, kpi)
    if not {"kpi", "starts_at", "due_at"} & body.model_fields_set:
        return kr
    return await write.backfill(kr)


@router.post(
    "/{kr_id}/check-ins",
    status_code=status.HTTP_201_CREATED,
    response_model=CheckInRead,
    responses=problem_responses(404, 409, 422),
)
async def check_in(kr_id: str, body: CheckInCreate, write: WriteContext) -> CheckInRead:
    """A new value (`done` for a milestone): moves progress and status, and emits
    `lodestar.kr.progress.v1` on `okr.events` when either changes. A KR linked to a KPI takes
    its value from the KPI: a check-in there carries only confidence and a note (a value:
    409); a graduated KR takes none (409)."""
    return await check_ins.create(write, kr_id, body)


@router.get(
    "/{kr_id}/check-ins",
    response_model=Page[CheckInRead],
    responses=problem_responses(400, 404, 422),
)
async def check_in_history(
    kr_id: str,
    caller: Reader,
    session: ReadSession,
    sort: Annotated[Literal["-at", "at"], Query()] = "-at",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CheckInRead]:
    """The KR's history, newest first by default."""
    query = PageQuery(sort, limit, cursor)
    return await check_ins.page(session, caller.tenant, kr_id, query)


@router.put(
    "/{kr_id}/score", response_model=KeyResultRead, responses=problem_responses(404, 409, 422)
)
async def override_key_result_score(
    kr_id: str, body: ScoreOverride, write: WriteContext
) -> KeyResultRead:
    """Grade by hand once the cycle is closed; the objective's suggested score follows."""
    return await service.override_score(write, kr_id, body)


@router.post(
    "/{kr_id}/initiatives",
    status_code=status.HTTP_201_CREATED,
    response_model=InitiativeRead,
    responses=problem_responses(404, 409, 422),
    tags=["initiatives"],
)
async def add_initiative(kr_id: str, body: InitiativeCreate, write: WriteContext) -> InitiativeRead:
    return await initiatives.create(write, kr_id, body)


@router.get(
    "/{kr_id}/initiatives",
    response_model=list[InitiativeRead],
    responses=problem_responses(404),
    tags=["initiatives"],
)
async def list_initiatives(
    kr_id: str, caller: Reader, session: ReadSession
) -> list[InitiativeRead]:
    return await initiatives.of_key_result(session, caller.tenant, kr_id)
