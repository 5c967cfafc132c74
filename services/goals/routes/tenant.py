"""/v1/tenant: the caller's tenant, its name and the timezone its KPI periods follow."""

from __future__ import annotations

from fastapi import APIRouter

from services.goals.deps import Admin, Reader, ReadSession, RuntimeDep, WriteSession
from services.goals.schemas import TenantRead, TenantUpdate
from services.goals.service import tenant as service
from shared.errors import problem_responses

router = APIRouter(prefix="/tenant", tags=["tenant"], responses=problem_responses(401, 403))


@router.get("", response_model=TenantRead)
async def get_tenant(caller: Reader, session: ReadSession) -> TenantRead:
    return await service.get(session, caller.tenant)


@router.patch("", response_model=TenantRead, responses=problem_responses(422))
async def update_tenant(
    body: TenantUpdate, caller: Admin, session: WriteSession, runtime: RuntimeDep
) -> TenantRead:
    """Rename the tenant or set its timezone (an IANA name; an unknown one is a 422). Every
    day, week, month and quarter follows it from now on, in metrics, goals and alerts."""
    return await service.update(session, caller.tenant, body, runtime.settings)
