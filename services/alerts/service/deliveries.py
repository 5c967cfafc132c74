"""Webhook deliveries: read and page them; hand the sender the due ones and record how each
post went (delivered, retried with backoff, or failed after the last attempt)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from services.alerts.domain.webhooks import retry_delay
from services.alerts.errors import DeliveryNotFound
from services.alerts.repository import deliveries as repository
from services.alerts.settings import AlertsSettings
from services.alerts.tables import WebhookDelivery
from shared.db import AsyncSession

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    """How one post went: the receiver's status code, or the transport error."""

    delivery_id: str
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def get_delivery(session: AsyncSession, tenant: str, delivery_id: str) -> WebhookDelivery:
    delivery = await repository.get(session, delivery_id)
    if delivery is None or delivery.tenant != tenant:
        raise DeliveryNotFound(f"no delivery '{delivery_id}'")
    return delivery


async def list_deliveries(
    session: AsyncSession,
    tenant: str,
    *,
    rule_id: str | None,
    status: str | None,
    fingerprint: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookDelivery], str | None]:
    """A page of deliveries, newest first, and the next cursor."""
    return await repository.page(
        session,
        tenant,
        rule_id=rule_id,
        status=status,
        fingerprint=fingerprint,
        limit=limit,
        cursor=cursor,
    )


async def due_deliveries(
    session: AsyncSession,
    now: datetime,
    limit: int,
    *,
    skip_ids: Collection[str] = (),
    skip_urls: Collection[str] = (),
) -> Sequence[WebhookDelivery]:
    return await repository.due(session, now, limit, skip_ids=skip_ids, skip_urls=skip_urls)


async def record_outcomes(
    session: AsyncSession, settings: AlertsSettings, outcomes: Iterable[Outcome], now: datetime
) -> None:
    for outcome in outcomes:
        row = await repository.get(session, outcome.delivery_id)
        if row is None:
            continue
        row.attempts += 1
        row.last_status_code = outcome.status_code
        row.last_error = outcome.error
        row.updated_at = now
        if outcome.ok:
            row.status, row.delivered_at = "delivered", now
        elif row.attempts >= settings.webhook_max_attempts:
            row.status = "failed"
            log.warning("webhook_failed", delivery=row.id, error=row.last_error)
        else:
            row.next_attempt_at = now + retry_delay(
                row.attempts,
                timedelta(seconds=settings.webhook_backoff_base_s),
                timedelta(seconds=settings.webhook_backoff_max_s),
            )
    await repository.save(session)
