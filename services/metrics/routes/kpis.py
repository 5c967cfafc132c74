"""/v1/kpis: KPI definitions."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.metrics import repository, service
from services.metrics.deps import Reader, ReadSession, Writer, WriteSession
from services.metrics.errors import KpiNotFound
from services.metrics.schemas import KpiCreate, KpiRead
from shared.errors import problem_responses

router = APIRouter(prefix="/kpis", tags=["kpis"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KpiRead,
    responses=problem_responses(409, 422),
)
async def create_kpi(body: KpiCreate, caller: Writer, session: WriteSession) -> KpiRead:
    kpi = await service.create_kpi(session, caller.tenant, body)
    return KpiRead.model_validate(kpi, from_attributes=True)


@router.get("", response_model=list[KpiRead])
async def list_kpis(caller: Reader, session: ReadSession) -> list[KpiRead]:
    kpis = await repository.list_kpis(session, caller.tenant)
    return [KpiRead.model_validate(k, from_attributes=True) for k in kpis]


@router.get("/{key}", response_model=KpiRead, responses=problem_responses(404))
async def get_kpi(key: str, caller: Reader, session: ReadSession) -> KpiRead:
    kpi = await repository.get_kpi(session, caller.tenant, key)
    if kpi is None:
        raise KpiNotFound(f"no KPI '{key}'")
    return KpiRead.model_validate(kpi, from_attributes=True)
