"""/v1/dashboard: every KPI of the tenant with value, health, trend and sparkline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.metrics.deps import Now, Reader, ReadSession
from services.metrics.schemas import DashboardRead
from services.metrics.service.dashboard import dashboard
from shared.errors import problem_responses

router = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=problem_responses(401, 403))


@router.get("", response_model=DashboardRead, responses=problem_responses(422))
async def get_dashboard(
    caller: Reader,
    session: ReadSession,
    now: Now,
    points: Annotated[int, Query(ge=1, le=100, description="Sparkline length in periods")] = 12,
) -> DashboardRead:
    return await dashboard(session, caller.tenant, now, points)
