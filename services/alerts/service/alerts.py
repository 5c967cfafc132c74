"""Alerts as the API shows them: one with its history, pages filtered by state and label,
acknowledgements (put on, taken off, lapsing), each published on `alerts` and to the webhook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.domain.labels import ack_in_force
from services.alerts.errors import AlertNotAcknowledged, AlertNotActive, AlertNotFound
from services.alerts.repository import alerts as repository
from services.alerts.repository import deliveries as deliveries_repo
from services.alerts.repository import rules as rules_repo
from services.alerts.schemas import AckCreate
from services.alerts.service.notifier import ack_notice
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert, AlertHistory
from shared.db import AsyncSession
from shared.errors import BadRequest, found
from shared.events import ALERT_ACKNOWLEDGED_V1, ALERT_UNACKNOWLEDGED_V1, AlertAckV1
from shared.outbox import enqueue


async def _load(
    session: AsyncSession, tenant: str, fingerprint: str, *, for_update: bool = False
) -> Alert:
    alert = await repository.get(session, tenant, fingerprint, for_update=for_update)
    return found(alert, AlertNotFound(f"no alert '{fingerprint}'"))


async def get_alert(
    session: AsyncSession, tenant: str, fingerprint: str
) -> tuple[Alert, Sequence[AlertHistory]]:
    """One alert and the history of every transition, notification and acknowledgement."""
    alert = await _load(session, tenant, fingerprint)
    return alert, await repository.history(session, tenant, fingerprint)


# A page of alerts in fingerprint order (stable under updates) and the next cursor: the
# repository's, with no rule of the service's to add.
list_alerts = repository.page


async def acknowledge(
    session: AsyncSession,
    settings: AlertsSettings,
    tenant: str,
    fingerprint: str,
    body: AckCreate,
    who: str,
    now: datetime,
) -> Alert:
    """Mark an active alert as acknowledged (who, when, note, until when); it is no longer
    repeated. The mark ends when the alert resolves, when it is taken off, or at its expiry.
    Acknowledging again replaces the mark."""
    alert = await _load(session, tenant, fingerprint, for_update=True)
    if AlertState(alert.state) not in ACTIVE_STATES:
        raise AlertNotActive(f"alert '{fingerprint}' is {alert.state}: nothing to acknowledge")
    expires_at = body.expires_at
    if body.ttl is not None:
        expires_at = now + timedelta(seconds=body.ttl)
    if expires_at is not None and expires_at <= now:
        raise BadRequest("expires_at is in the past")
    alert.acked_by = body.by or who
    alert.acked_at = now
    alert.ack_note = body.note
    alert.ack_expires_at = expires_at
    alert.updated_at = now
    detail = f"{alert.acked_by}: {body.note}" if body.note else alert.acked_by
    if expires_at is not None:
        detail += f" (until {expires_at.isoformat()})"
    await _record(session, alert, "acknowledged", detail, now)
    ack = _ack_of(alert, alert.acked_by, now, expires_at, note=body.note)
    await _announce(session, settings, alert, ack, ALERT_ACKNOWLEDGED_V1, now)
    return alert


async def unacknowledge(
    session: AsyncSession,
    settings: AlertsSettings,
    tenant: str,
    fingerprint: str,
    who: str,
    now: datetime,
) -> Alert:
    """Take an acknowledgement off: the alert is repeated again, and the change published."""
    alert = await _load(session, tenant, fingerprint, for_update=True)
    if alert.acked_at is None or not ack_in_force(alert.ack_expires_at, now):
        raise AlertNotAcknowledged(f"alert '{fingerprint}' is not acknowledged")
    await _take_off(session, settings, alert, who, now)
    return alert


async def expire_acknowledgements(
    session: AsyncSession, settings: AlertsSettings, now: datetime
) -> int:
    """Take off every acknowledgement whose expiry has come (the ticker's part); returns how
    many."""
    lapsed = await repository.acks_expired(session, now)
    for alert in lapsed:
        await _take_off(session, settings, alert, None, now)
    return len(lapsed)


async def _take_off(
    session: AsyncSession, settings: AlertsSettings, alert: Alert, who: str | None, now: datetime
) -> None:
    ack = _ack_of(alert, who, now, alert.ack_expires_at, expired=who is None)
    alert.acked_by = alert.acked_at = alert.ack_note = alert.ack_expires_at = None
    alert.updated_at = now
    await _record(session, alert, "unacknowledged", who or "expired", now)
    await _announce(session, settings, alert, ack, ALERT_UNACKNOWLEDGED_V1, now)


def _ack_of(
    alert: Alert,
    by: str | None,
    now: datetime,
    expires_at: datetime | None,
    *,
    note: str | None = None,
    expired: bool = False,
) -> AlertAckV1:
    """The published acknowledgement (put on, or taken off) of `alert` as it now stands."""
    return AlertAckV1(
        fingerprint=alert.fingerprint,
        labels=alert.labels,
        subject=alert.subject,
        state=alert.state,
        by=by,
        at=now,
        note=note,
        expires_at=expires_at,
        expired=expired,
    )


async def _record(
    session: AsyncSession, alert: Alert, kind: str, detail: str | None, now: datetime
) -> None:
    await repository.add_history(
        session,
        AlertHistory(
            tenant=alert.tenant,
            fingerprint=alert.fingerprint,
            kind=kind,
            value=alert.value,
            detail=detail,
            at=now,
        ),
    )


async def _announce(
    session: AsyncSession,
    settings: AlertsSettings,
    alert: Alert,
    ack: AlertAckV1,
    type_: str,
    now: datetime,
) -> None:
    rule = await rules_repo.get(session, alert.tenant, alert.rule_id)
    event, post = ack_notice(settings, alert, rule, ack, type_, now)
    await enqueue(session, settings.topics.name(settings.topics.alerts), event)
    if post is not None:
        deliveries_repo.add_all(session, [post])
