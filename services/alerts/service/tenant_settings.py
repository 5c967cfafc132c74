"""The tenant's built-in rules, on unless switched off; switching one off resolves the alerts
it holds open."""

from __future__ import annotations

from datetime import datetime

from services.alerts.domain.rules import BUILTIN_KPI_GUARDRAIL, KPI_RED, KR_OFF_TRACK
from services.alerts.repository import tenant_settings as repository
from services.alerts.schemas import SettingsUpdate
from services.alerts.service.definitions import bump
from services.alerts.service.evaluator import Evaluator
from services.alerts.settings import AlertsSettings
from services.alerts.tables import TenantSettings
from shared.db import AsyncSession
from shared.events import utcnow


async def get_settings(session: AsyncSession, tenant: str) -> TenantSettings | None:
    """The tenant's row; None means every built-in rule is on."""
    return await repository.get(session, tenant)


async def update_settings(
    session: AsyncSession,
    settings: AlertsSettings,
    tenant: str,
    body: SettingsUpdate,
    now: datetime,
) -> TenantSettings:
    """Switch the built-in rules; switching one off resolves the alerts it holds open."""
    row = await repository.get(session, tenant)
    if row is None:
        row = TenantSettings(tenant=tenant, updated_at=now)
        repository.add(session, row)
    evaluator = Evaluator(session, settings, utcnow)
    if body.kpi_red is not None:
        if row.kpi_red and not body.kpi_red:
            await evaluator.close_rule_alerts(tenant, KPI_RED)
        row.kpi_red = body.kpi_red
    if body.kr_off_track is not None:
        if row.kr_off_track and not body.kr_off_track:
            await evaluator.close_rule_alerts(tenant, KR_OFF_TRACK)
        row.kr_off_track = body.kr_off_track
    if body.guardrail_breached is not None:
        if row.guardrail_breached and not body.guardrail_breached:
            await evaluator.close_rule_alerts(tenant, evaluator.builtins[BUILTIN_KPI_GUARDRAIL])
        row.guardrail_breached = body.guardrail_breached
    row.updated_at = now
    await repository.save(session)
    await bump(session, tenant)
    return row
