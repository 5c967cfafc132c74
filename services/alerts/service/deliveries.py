"""Webhook deliveries: read and page them; hand the sender the due ones and record how each
post went (delivered, retried with backoff, or failed after the last attempt)."""

from __future__ import annotations

from collections.abc import Iterable
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


# Reads the service adds no rule to, served by the repository as they are: the API's page
# (newest first, filtered by rule, status and fingerprint) and the sender's due deliveries.
list_deliveries = repository.page
due_deliveries = repository.due


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
