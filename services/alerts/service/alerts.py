"""Alerts as the API shows them: one with its history, pages filtered by state and label,
acknowledgements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.errors import AlertNotActive, AlertNotFound
from services.alerts.repository import alerts as repository
from services.alerts.schemas import AckCreate
from services.alerts.tables import Alert, AlertHistory


async def get_alert(
    session: AsyncSession, tenant: str, fingerprint: str
) -> tuple[Alert, Sequence[AlertHistory]]:
    """One alert and the history of every transition, notification and acknowledgement."""
    alert = await repository.get(session, tenant, fingerprint)
    if alert is None:
        raise AlertNotFound(f"no alert '{fingerprint}'")
    return alert, await repository.history(session, tenant, fingerprint)


async def list_alerts(
    session: AsyncSession,
    tenant: str,
    *,
    states: Sequence[str],
    labels: dict[str, str],
    limit: int,
    cursor: str | None,
) -> tuple[list[Alert], str | None]:
    """A page of alerts in fingerprint order (stable under updates), and the next cursor."""
    return await repository.page(
        session, tenant, states=states, labels=labels, limit=limit, cursor=cursor
    )


async def acknowledge(
    session: AsyncSession, tenant: str, fingerprint: str, body: AckCreate, who: str, now: datetime
) -> Alert:
    """Mark an active alert as acknowledged (who, when, note); it is no longer repeated.
    The mark ends when the alert resolves."""
    alert = await repository.get(session, tenant, fingerprint, for_update=True)
    if alert is None:
        raise AlertNotFound(f"no alert '{fingerprint}'")
    if AlertState(alert.state) not in ACTIVE_STATES:
        raise AlertNotActive(f"alert '{fingerprint}' is {alert.state}: nothing to acknowledge")
    alert.acked_by = body.by or who
    alert.acked_at = now
    alert.ack_note = body.note
    alert.updated_at = now
    await repository.add_history(
        session,
        AlertHistory(
            tenant=tenant,
            fingerprint=fingerprint,
            kind="acknowledged",
            value=alert.value,
            detail=f"{alert.acked_by}: {body.note}" if body.note else alert.acked_by,
            at=now,
        ),
    )
    return alert
