"""/v1/alerts: alerts and their state."""

from __future__ import annotations

from fastapi import APIRouter

from services.alerts import repository
from services.alerts.deps import Reader, ReadSession
from services.alerts.schemas import AlertRead
from shared.errors import problem_responses

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=problem_responses(401, 403))


@router.get("", response_model=list[AlertRead])
async def list_alerts(caller: Reader, session: ReadSession) -> list[AlertRead]:
    alerts = await repository.list_alerts(session, caller.tenant)
    return [AlertRead.model_validate(a, from_attributes=True) for a in alerts]
