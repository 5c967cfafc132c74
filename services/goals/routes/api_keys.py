"""/v1/api-keys: the tenant's API keys (admin scope). The key itself is shown once."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.goals.deps import Admin, ReadSession, RuntimeDep, SettingsDep, WriteSession
from services.goals.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyRead
from services.goals.service import api_keys as service
from shared.errors import problem_responses

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyIssued,
    responses=problem_responses(409, 422),
)
async def issue_api_key(
    body: ApiKeyCreate, caller: Admin, session: WriteSession, settings: SettingsDep
) -> ApiKeyIssued:
    return await service.issue(session, caller.tenant, body, settings)


@router.get("", response_model=list[ApiKeyRead])
async def list_api_keys(caller: Admin, session: ReadSession) -> list[ApiKeyRead]:
    return await service.list_all(session, caller.tenant)


@router.get("/{key_id}", response_model=ApiKeyRead, responses=problem_responses(404))
async def get_api_key(key_id: str, caller: Admin, session: ReadSession) -> ApiKeyRead:
    return await service.get(session, caller.tenant, key_id)


@router.delete("/{key_id}", response_model=ApiKeyRead, responses=problem_responses(404, 409))
async def revoke_api_key(
    key_id: str, caller: Admin, session: WriteSession, runtime: RuntimeDep
) -> ApiKeyRead:
    return await service.revoke(session, caller.tenant, key_id, runtime.settings)
