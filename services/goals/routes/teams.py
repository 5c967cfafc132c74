"""/v1/teams: the hierarchy (company → department → team), members, and a team's scorecard."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from services.goals.deps import Reader, ReadSession, WriteContext
from services.goals.schemas import (
    MemberPut,
    MemberRead,
    Scorecard,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)
from services.goals.service import teams as service
from shared.errors import problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, PageQuery

router = APIRouter(prefix="/teams", tags=["teams"], responses=problem_responses(401, 403))

Person = Annotated[str, Path(min_length=1, max_length=200)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TeamRead,
    responses=problem_responses(409, 422),
)
async def create_team(body: TeamCreate, write: WriteContext) -> TeamRead:
    """A team, optionally under a parent team (no loops: 409)."""
    return await service.create(write, body)


@router.get("", response_model=Page[TeamRead], responses=problem_responses(400, 404, 422))
async def list_teams(
    caller: Reader,
    session: ReadSession,
    parent_id: str | None = None,
    sort: Annotated[Literal["name", "created_at"], Query()] = "name",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[TeamRead]:
    query = PageQuery(sort, limit, cursor)
    return await service.page(session, caller.tenant, query, parent_id=parent_id)


@router.get("/{team_id}", response_model=TeamRead, responses=problem_responses(404))
async def get_team(team_id: str, caller: Reader, session: ReadSession) -> TeamRead:
    return await service.get(session, caller.tenant, team_id)


@router.patch("/{team_id}", response_model=TeamRead, responses=problem_responses(404, 409, 422))
async def update_team(team_id: str, body: TeamUpdate, write: WriteContext) -> TeamRead:
    return await service.update(write, team_id, body)


@router.get("/{team_id}/members", response_model=list[MemberRead], responses=problem_responses(404))
async def list_members(team_id: str, caller: Reader, session: ReadSession) -> list[MemberRead]:
    return await service.members(session, caller.tenant, team_id)


@router.put(
    "/{team_id}/members/{person}",
    response_model=MemberRead,
    responses=problem_responses(404, 422),
)
async def put_member(
    team_id: str, person: Person, body: MemberPut, write: WriteContext
) -> MemberRead:
    """Add a person to the team, or change their role (idempotent)."""
    return await service.put_member(write, team_id, person, body)


@router.delete(
    "/{team_id}/members/{person}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(404),
)
async def remove_member(team_id: str, person: Person, write: WriteContext) -> None:
    await service.remove_member(write, team_id, person)


@router.get("/{team_id}/scorecard", response_model=Scorecard, responses=problem_responses(404, 422))
async def scorecard(
    team_id: str, cycle_id: Annotated[str, Query()], caller: Reader, session: ReadSession
) -> Scorecard:
    """The team's objectives in a cycle, including its sub-teams', with the roll-up."""
    return await service.scorecard(session, caller.tenant, team_id, cycle_id)
