"""The Alertmanager view of Lodestar's alerts and silences: which Alertmanagers a tenant's
alerts go to, the alerts and groups readers ask for, and silences made through API v2 (they
are Lodestar silences, the same rows as `/v1/silences`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from services.alerts.am_schemas import (
    AlertmanagerSettingsRead,
    AlertmanagerSettingsUpdate,
    PostableSilence,
)
from services.alerts.domain import alertmanager as am
from services.alerts.domain.matching import Matcher
from services.alerts.repository import alertmanager as repository
from services.alerts.repository import silences as silence_repo
from services.alerts.schemas import SilenceCreate
from services.alerts.service import silences
from services.alerts.service.destinations import check_destination
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert, AlertmanagerTarget, Silence
from shared.db import AsyncSession
from shared.mapping import view_of

# Alertmanager keeps expired silences this long (its --data.retention default, 120 h).
SILENCE_RETENTION = timedelta(hours=120)


def alert_url(settings: AlertsSettings, fingerprint: str) -> str:
    """Where the alert is in Lodestar: its generatorURL."""
    return f"{settings.public_url.rstrip('/')}/v1/alerts/{fingerprint}"


def alert_view(alert: Alert, settings: AlertsSettings) -> am.AlertView:
    assert alert.started_at is not None
    return view_of(
        am.AlertView,
        alert,
        starts_at=alert.started_at,
        ends_at=alert.ended_at if alert.state == "resolved" else None,
        generator_url=alert_url(settings, alert.fingerprint),
    )


def target_urls(row: AlertmanagerTarget | None, settings: AlertsSettings) -> list[str]:
    """Where a tenant's alerts are posted (no row: the deployment's Alertmanagers)."""
    if row is None or row.mode == "default":
        return list(settings.alertmanager_urls)
    return list(row.urls) if row.mode == "own" else []


def _settings_read(
    row: AlertmanagerTarget | None, settings: AlertsSettings
) -> AlertmanagerSettingsRead:
    return AlertmanagerSettingsRead.model_validate(
        {
            "mode": row.mode if row is not None else "default",
            "urls": list(row.urls) if row is not None else [],
            "effective_urls": target_urls(row, settings),
        }
    )


async def get_targets(
    session: AsyncSession, settings: AlertsSettings, tenant: str
) -> AlertmanagerSettingsRead:
    return _settings_read(await repository.target(session, tenant), settings)


async def set_targets(
    session: AsyncSession,
    settings: AlertsSettings,
    tenant: str,
    body: AlertmanagerSettingsUpdate,
    now: datetime,
) -> AlertmanagerSettingsRead:
    row = await repository.target(session, tenant)
    if row is None:
        row = AlertmanagerTarget(tenant=tenant, mode=body.mode, updated_at=now)
        repository.add_target(session, row)
    urls = [str(u).rstrip("/") for u in body.urls]
    for url in urls:  # the tenant's own: the address rule of webhooks holds
        await check_destination(settings, url)
    row.mode = body.mode
    row.urls = urls
    row.updated_at = now
    await session.flush()
    return _settings_read(row, settings)


async def alerts(
    session: AsyncSession, settings: AlertsSettings, tenant: str
) -> list[am.AlertView]:
    return [alert_view(a, settings) for a in await repository.firing_of(session, tenant)]


def _silence_view(silence: Silence) -> am.SilenceView:
    return view_of(am.SilenceView, silence)


async def list_silences(
    session: AsyncSession, tenant: str, matchers: Sequence[Matcher], now: datetime
) -> list[dict[str, Any]]:
    """The tenant's silences, expired ones within Alertmanager's retention, newest first."""
    rows = await silence_repo.ended_after(session, tenant, now - SILENCE_RETENTION)
    views = [_silence_view(s) for s in rows]
    return [am.gettable_silence(v, now) for v in views if am.silence_matches_filter(v, matchers)]


async def get_silence(
    session: AsyncSession, tenant: str, silence_id: str, now: datetime
) -> dict[str, Any]:
    silence = await silences.get_silence(session, tenant, silence_id)
    return am.gettable_silence(_silence_view(silence), now)


async def post_silence(
    session: AsyncSession, tenant: str, body: PostableSilence, now: datetime, *, quota: int
) -> str:
    """Create a Lodestar silence; with an `id`, replace that silence (Alertmanager's update:
    the old one expires, the new one takes its place). Returns the new silence's id."""
    if body.id:
        await silences.expire_silence(session, tenant, body.id, now)
    create = SilenceCreate.model_validate(
        {
            "matchers": am.matchers_from_api(m.model_dump() for m in body.matchers),
            "startsAt": max(body.startsAt, now),
            "endsAt": body.endsAt,
            "createdBy": body.createdBy,
            "comment": body.comment,
        }
    )
    return (await silences.create_silence(session, tenant, create, now, quota=quota)).id


async def expire_silence(
    session: AsyncSession, tenant: str, silence_id: str, now: datetime
) -> None:
    await silences.expire_silence(session, tenant, silence_id, now)
