"""/v1/api-keys: the tenant's API keys (admin scope). The key itself is shown once."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.goals.deps import Admin, ReadSession, RuntimeDep, WriteSession
from services.goals.errors import ApiKeyNotFound
from services.goals.repository import api_keys as repository
from services.goals.schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyRead
from services.goals.service import api_keys as service
from shared.auth import parse_scopes
from shared.errors import problem_responses

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=problem_responses(401, 403))


def _read(row: object) -> ApiKeyRead:
    return ApiKeyRead(
        key_id=row.key_id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        scopes=sorted(parse_scopes(row.scopes)),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyIssued,
    responses=problem_responses(422),
)
async def issue_api_key(
    body: ApiKeyCreate, caller: Admin, session: WriteSession, runtime: RuntimeDep
) -> ApiKeyIssued:
    return await service.issue_api_key(session, caller.tenant, body, runtime.settings)


@router.get("", response_model=list[ApiKeyRead])
async def list_api_keys(caller: Admin, session: ReadSession) -> list[ApiKeyRead]:
    return [_read(row) for row in await repository.list_api_keys(session, caller.tenant)]


@router.get("/{key_id}", response_model=ApiKeyRead, responses=problem_responses(404))
async def get_api_key(key_id: str, caller: Admin, session: ReadSession) -> ApiKeyRead:
    row = await repository.get_api_key(session, caller.tenant, key_id)
    if row is None:
        raise ApiKeyNotFound(f"no API key '{key_id}'")
    return _read(row)


@router.delete("/{key_id}", response_model=ApiKeyRead, responses=problem_responses(404, 409))
async def revoke_api_key(
    key_id: str, caller: Admin, session: WriteSession, runtime: RuntimeDep
) -> ApiKeyRead:
    return await service.revoke_api_key(session, caller.tenant, key_id, runtime.settings)
