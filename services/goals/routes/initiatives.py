"""/v1/initiatives: the work attached to a key result."""

from __future__ import annotations

from fastapi import APIRouter

from services.goals.deps import Reader, ReadSession, WriteContext
from services.goals.schemas import InitiativeRead, InitiativeUpdate
from services.goals.service import initiatives as service
from shared.errors import problem_responses

router = APIRouter(
    prefix="/initiatives", tags=["initiatives"], responses=problem_responses(401, 403)
)


@router.get("/{initiative_id}", response_model=InitiativeRead, responses=problem_responses(404))
async def get_initiative(
    initiative_id: str, caller: Reader, session: ReadSession
) -> InitiativeRead:
    return await service.get(session, caller.tenant, initiative_id)


@router.patch(
    "/{initiative_id}", response_model=InitiativeRead, responses=problem_responses(404, 409, 422)
)
async def update_initiative(
    initiative_id: str, body: InitiativeUpdate, write: WriteContext
) -> InitiativeRead:
    return await service.update(write, initiative_id, body)
