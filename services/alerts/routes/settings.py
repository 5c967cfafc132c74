"""/v1/settings: the tenant's built-in rules (a KPI entering red fires; a KR going off track
fires; a guardrail KPI leaving green fires), on unless switched off."""

from __future__ import annotations

from fastapi import APIRouter

from services.alerts.deps import Admin, Reader, ReadSession, SettingsDep, WriteSession
from services.alerts.mappers import settings_read
from services.alerts.schemas import SettingsRead, SettingsUpdate
from services.alerts.service import tenant_settings as service
from shared.errors import problem_responses
from shared.events import utcnow

router = APIRouter(prefix="/settings", tags=["settings"], responses=problem_responses(401, 403))


@router.get("", response_model=SettingsRead)
async def read(caller: Reader, session: ReadSession) -> SettingsRead:
    return settings_read(await service.get_settings(session, caller.tenant))


@router.patch("", response_model=SettingsRead, responses=problem_responses(422))
async def update(
    body: SettingsUpdate, caller: Admin, session: WriteSession, settings: SettingsDep
) -> SettingsRead:
    """Switching a built-in rule off resolves the alerts it holds open."""
    row = await service.update_settings(session, settings, caller.tenant, body, utcnow())
    return settings_read(row)
