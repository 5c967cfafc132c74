"""/v1/dashboard: every KPI of the tenant with value, health, trend and sparkline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.metrics import service
from services.metrics.deps import Reader, ReadSession
from services.metrics.schemas import DashboardRead
from shared.errors import problem_responses
from shared.events import utcnow

router = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=problem_responses(401, 403))


@router.get("", response_model=DashboardRead, responses=problem_responses(422))
async def get_dashboard(
    caller: Reader,
    session: ReadSession,
    points: Annotated[int, Query(ge=1, le=100, description="Sparkline length in periods")] = 12,
) -> DashboardRead:
    return await service.dashboard(session, caller.tenant, utcnow(), points)
