"""What the console asks goals about itself: `GET /v1/whoami` (the calling key's tenant, id
and scopes, so a page hides what the key cannot do) and the goals defaults a page shows."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.goals.deps import Reader, SettingsDep
from shared.auth import Scope
from shared.errors import problem_responses


class WhoAmI(BaseModel):
    tenant: str
    key_id: str
    scopes: list[Scope]
    can_write: bool = Field(description="The key may change things (write or admin scope)")


class GoalsDefaults(BaseModel):
    graduation_periods: int = Field(
        description="Met periods in a row that graduate a KR whose graduation_periods is null"
    )


router = APIRouter(tags=["api keys"], responses=problem_responses(401, 403))


@router.get("/v1/whoami", response_model=WhoAmI)
async def whoami(caller: Reader) -> WhoAmI:
    """Who the key is: any valid key may ask (401 otherwise)."""
    return WhoAmI(
        tenant=caller.tenant,
        key_id=caller.key_id,
        scopes=sorted(caller.scopes),
        can_write=caller.allows(Scope.WRITE),
    )


@router.get("/console/api/defaults", response_model=GoalsDefaults, include_in_schema=False)
async def defaults(caller: Reader, settings: SettingsDep) -> GoalsDefaults:
    return GoalsDefaults(graduation_periods=settings.graduation_periods)
