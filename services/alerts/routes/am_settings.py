"""/v1/settings/alertmanager: where the tenant's alerts are posted — the deployment's
Alertmanagers (`LODESTAR_ALERTMANAGER_URLS`), the tenant's own, or none."""

from __future__ import annotations

from fastapi import APIRouter

from services.alerts.am_schemas import AlertmanagerSettingsRead, AlertmanagerSettingsUpdate
from services.alerts.deps import Admin, Reader, ReadSession, SettingsDep, WriteSession
from services.alerts.service import alertmanager as service
from shared.errors import problem_responses
from shared.events import utcnow

router = APIRouter(
    prefix="/settings/alertmanager", tags=["settings"], responses=problem_responses(401, 403)
)


@router.get("", response_model=AlertmanagerSettingsRead)
async def read(
    caller: Reader, session: ReadSession, settings: SettingsDep
) -> AlertmanagerSettingsRead:
    return await service.get_targets(session, settings, caller.tenant)


@router.put("", response_model=AlertmanagerSettingsRead, responses=problem_responses(422))
async def update(
    body: AlertmanagerSettingsUpdate, caller: Admin, session: WriteSession, settings: SettingsDep
) -> AlertmanagerSettingsRead:
    """Takes effect at the sender's next round: alerts already posted to an Alertmanager no
    longer named are left to resolve there by their `endsAt`."""
    return await service.set_targets(session, settings, caller.tenant, body, utcnow())
