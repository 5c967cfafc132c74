"""Acknowledgements, silences and the tenant's built-in rules."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts import repository
from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.errors import AlertNotActive, AlertNotFound, SilenceNotFound
from services.alerts.schemas import (
    AckCreate,
    MatcherBody,
    SettingsRead,
    SettingsUpdate,
    SilenceCreate,
    SilenceRead,
)
from services.alerts.service.evaluate import (
    BUILTIN_KPI_GUARDRAIL,
    KPI_RED,
    KR_OFF_TRACK,
    Evaluator,
)
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert, AlertHistory, Silence, TenantSettings
from shared.errors import Unprocessable


async def acknowledge(
    session: AsyncSession, tenant: str, fingerprint: str, body: AckCreate, who: str, now: datetime
) -> Alert:
    """Mark an active alert as acknowledged (who, when, note); it is no longer repeated.
    The mark ends when the alert resolves."""
    alert = await repository.get_alert(session, tenant, fingerprint, for_update=True)
    if alert is None:
        raise AlertNotFound(f"no alert '{fingerprint}'")
    if AlertState(alert.state) not in ACTIVE_STATES:
        raise AlertNotActive(f"alert '{fingerprint}' is {alert.state}: nothing to acknowledge")
    alert.acked_by = body.by or who
    alert.acked_at = now
    alert.ack_note = body.note
    alert.updated_at = now
    session.add(
        AlertHistory(
            tenant=tenant,
            fingerprint=fingerprint,
            kind="acknowledged",
            value=alert.value,
            detail=f"{alert.acked_by}: {body.note}" if body.note else alert.acked_by,
            at=now,
        )
    )
    await session.flush()
    return alert


def silence_read(silence: Silence, now: datetime) -> SilenceRead:
    state = (
        "pending" if now < silence.starts_at else ("active" if now < silence.ends_at else "expired")
    )
    return SilenceRead(
        id=silence.id,
        matchers=[MatcherBody.model_validate(m) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        state=state,
    )


async def create_silence(
    session: AsyncSession, tenant: str, body: SilenceCreate, now: datetime
) -> Silence:
    starts_at = body.starts_at or now
    if body.ends_at <= starts_at or body.ends_at <= now:
        raise Unprocessable("endsAt must be after startsAt and in the future")
    silence = Silence(
        id=str(uuid.uuid4()),
        tenant=tenant,
        matchers=[m.model_dump(mode="json") for m in body.matchers],
        starts_at=starts_at,
        ends_at=body.ends_at,
        created_by=body.created_by,
        comment=body.comment,
        created_at=now,
        updated_at=now,
    )
    session.add(silence)
    await session.flush()
    return silence


async def expire_silence(
    session: AsyncSession, tenant: str, silence_id: str, now: datetime
) -> Silence:
    """End a silence now (Alertmanager's expire); an expired one is left as it is."""
    silence = await repository.get_silence(session, tenant, silence_id)
    if silence is None:
        raise SilenceNotFound(f"no silence '{silence_id}'")
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at)
        silence.updated_at = now
        await session.flush()
    return silence


def _settings_read(row: TenantSettings | None) -> SettingsRead:
    if row is None:
        return SettingsRead(kpi_red=True, kr_off_track=True, guardrail_breached=True)
    return SettingsRead(
        kpi_red=row.kpi_red,
        kr_off_track=row.kr_off_track,
        guardrail_breached=row.guardrail_breached,
    )


async def get_settings(session: AsyncSession, tenant: str) -> SettingsRead:
    return _settings_read(await repository.get_settings(session, tenant))


async def update_settings(
    session: AsyncSession,
    settings: AlertsSettings,
    tenant: str,
    body: SettingsUpdate,
    now: datetime,
) -> SettingsRead:
    """Switch the built-in rules; switching one off resolves the alerts it holds open."""
    row = await repository.get_settings(session, tenant)
    if row is None:
        row = TenantSettings(tenant=tenant, updated_at=now)
        session.add(row)
    evaluator = Evaluator(session, settings, now)
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
    await session.flush()
    return _settings_read(row)
