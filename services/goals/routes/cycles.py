"""/v1/cycles: planning → active → closed; the alignment tree, the retrospective."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from services.goals.deps import Reader, ReadSession, WriteContext
from services.goals.schemas import (
    AlignmentTree,
    CycleCreate,
    CycleRead,
    CycleState,
    CycleUpdate,
    Retrospective,
)
from services.goals.service import cycles as service
from shared.errors import problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, PageQuery

router = APIRouter(prefix="/cycles", tags=["cycles"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CycleRead,
    responses=problem_responses(409, 422),
)
async def create_cycle(body: CycleCreate, write: WriteContext) -> CycleRead:
    """A new cycle, in planning. `ends_at` must be after `starts_at`; names are unique."""
    return await service.create(write, body)


@router.get("", response_model=Page[CycleRead], responses=problem_responses(400, 404, 422))
async def list_cycles(
    caller: Reader,
    session: ReadSession,
    state: CycleState | None = None,
    sort: Annotated[Literal["starts_at", "-starts_at", "name"], Query()] = "-starts_at",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CycleRead]:
    query = PageQuery(sort, limit, cursor)
    return await service.page(session, caller.tenant, query, state=state)


@router.get("/{cycle_id}", response_model=CycleRead, responses=problem_responses(404))
async def get_cycle(cycle_id: str, caller: Reader, session: ReadSession) -> CycleRead:
    return await service.get(session, caller.tenant, cycle_id)


@router.patch("/{cycle_id}", response_model=CycleRead, responses=problem_responses(404, 409, 422))
async def update_cycle(cycle_id: str, body: CycleUpdate, write: WriteContext) -> CycleRead:
    """Rename or move a cycle that is not closed (409 once closed)."""
    return await service.update(write, cycle_id, body)


@router.post(
    "/{cycle_id}/activate", response_model=CycleRead, responses=problem_responses(404, 409)
)
async def activate_cycle(cycle_id: str, write: WriteContext) -> CycleRead:
    """planning → active."""
    return await service.transition(write, cycle_id, "active")


@router.post("/{cycle_id}/close", response_model=CycleRead, responses=problem_responses(404, 409))
async def close_cycle(cycle_id: str, write: WriteContext) -> CycleRead:
    """active → closed: freezes progress into a 0.0-1.0 score per KR and objective.

    A keep-above/below/between KR is achieved when its bound holds at close; an increase or
    decrease KR short of its target ends off track. Scores can then be overridden with a note.
    """
    return await service.transition(write, cycle_id, "closed")


@router.post("/{cycle_id}/refresh", response_model=CycleRead, responses=problem_responses(404, 409))
async def refresh_cycle(cycle_id: str, write: WriteContext) -> CycleRead:
    """Re-judge every status against the expected pace now, emitting events for changes."""
    return await service.refresh(write, cycle_id)


@router.get("/{cycle_id}/alignment", response_model=AlignmentTree, responses=problem_responses(404))
async def alignment_tree(cycle_id: str, caller: Reader, session: ReadSession) -> AlignmentTree:
    """The cycle's objectives nested under their parents (company → team → individual)."""
    return await service.alignment(session, caller.tenant, cycle_id)


@router.get(
    "/{cycle_id}/retrospective",
    response_model=Retrospective,
    responses=problem_responses(404, 409),
)
async def retrospective(cycle_id: str, caller: Reader, session: ReadSession) -> Retrospective:
    """A closed cycle's objectives: achieved (score ≥ 0.7 aspirational, ≥ 1.0 committed),
    missed, and carried over into another cycle. 409 before the cycle closes."""
    return await service.retrospective(session, caller.tenant, cycle_id)
