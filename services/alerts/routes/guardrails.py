"""/v1/guardrails: the KPIs whose linked key result graduated (from `lodestar.kr.graduated.v1`).
Their health leaving green fires the built-in KpiGuardrailBreached."""

from __future__ import annotations

from fastapi import APIRouter

from services.alerts.deps import Reader, ReadSession
from services.alerts.mappers import guardrail_read
from services.alerts.schemas import GuardrailRead
from services.alerts.service import guardrails as service
from shared.errors import problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, page_of

router = APIRouter(prefix="/guardrails", tags=["guardrails"], responses=problem_responses(401, 403))


@router.get("", response_model=Page[GuardrailRead], responses=problem_responses(400, 404, 422))
async def list_guardrails(
    caller: Reader, session: ReadSession, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[GuardrailRead]:
    """Guardrails in KPI order."""
    return page_of(
        await service.list_guardrails(session, caller.tenant, limit=limit, cursor=cursor),
        guardrail_read,
    )


@router.get("/{kpi}", response_model=GuardrailRead, responses=problem_responses(404))
async def get_guardrail(kpi: str, caller: Reader, session: ReadSession) -> GuardrailRead:
    return guardrail_read(await service.get_guardrail(session, caller.tenant, kpi))
