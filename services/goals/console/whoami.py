"""/v1/whoami: the calling key's tenant, id and scopes (the console hides what it cannot do)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from services.goals.deps import Reader
from shared.auth import Scope
from shared.errors import problem_responses


class WhoAmI(BaseModel):
    tenant: str
    key_id: str
    scopes: list[Scope]
    can_write: bool


router = APIRouter(tags=["api keys"], responses=problem_responses(401, 403))


@router.get("/whoami", response_model=WhoAmI)
async def whoami(caller: Reader) -> WhoAmI:
    """Who the key is: any valid key may ask (401 otherwise)."""
    return WhoAmI(
        tenant=caller.tenant,
        key_id=caller.key_id,
        scopes=sorted(caller.scopes),
        can_write=caller.allows(Scope.WRITE),
    )
