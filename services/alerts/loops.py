"""The alerts service's own background loops, supervised like the consumers.

`Ticker` moves alerts along the clock (`for`, `keep_firing_for`, repeats, silences ending,
no data). `WebhookSender` posts the rows of the deliveries table (written in the transaction
of the transition they announce), retrying with backoff; it runs apart from evaluation, so a
slow or dead receiver never holds an alert back. One sender per deployment: two replicas would
both post a due row (a claim with `FOR UPDATE SKIP LOCKED` would lift that).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import structlog

from services.alerts import repository
from services.alerts.domain.webhooks import SIGNATURE_HEADER, retry_delay, sign
from services.alerts.service.evaluate import Evaluator
from services.alerts.settings import AlertsSettings
from services.alerts.tables import WebhookDelivery
from shared.db import Database
from shared.events import utcnow
from shared.supervisor import BackgroundLoop

log = structlog.get_logger(__name__)


class Ticker(BackgroundLoop):
    def __init__(self, db: Database, settings: AlertsSettings) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self.ticks = 0

    async def run(self) -> None:
        while not self.stopping:
            started = time.monotonic()
            await self.tick_once()
            elapsed = time.monotonic() - started
            await self.pause(max(self._settings.evaluation_interval_s - elapsed, 0.0))

    async def tick_once(self) -> int:
        async with self._db.transaction() as session:
            seen = await Evaluator(session, self._settings, utcnow()).tick()
        self.ticks += 1
        return seen


@dataclass(frozen=True)
class _Outcome:
    delivery_id: str
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(BackgroundLoop):
    def __init__(
        self,
        db: Database,
        settings: AlertsSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._transport = transport
        db.after_commit.append(self.wake)

    async def run(self) -> None:
        settings = self._settings
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_s, transport=self._transport
        ) as client:
            while not self.stopping:
                if await self.send_due(client) < settings.webhook_batch_max:
                    await self.pause(settings.webhook_poll_interval_s)

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """Post the due deliveries concurrently, then record each outcome; returns how many."""
        async with self._db.session() as session:
            due = list(
                await repository.due_deliveries(session, utcnow(), self._settings.webhook_batch_max)
            )
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._post(client, d) for d in due))
        now = utcnow()
        settings = self._settings
        async with self._db.transaction(notify=False) as session:
            for outcome in outcomes:
                row = await repository.get_delivery(session, outcome.delivery_id)
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
                    log.warning(
                        "webhook_failed", delivery=row.id, url=row.url, error=row.last_error
                    )
                else:
                    row.next_attempt_at = now + retry_delay(
                        row.attempts,
                        timedelta(seconds=settings.webhook_backoff_base_s),
                        timedelta(seconds=settings.webhook_backoff_max_s),
                    )
        return len(due)

    async def _post(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> _Outcome:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lodestar-alerts",
            SIGNATURE_HEADER: sign(delivery.secret, body),
            "X-Lodestar-Delivery": delivery.id,
        }
        try:
            response = await client.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return _Outcome(delivery.id, None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if response.is_success else f"HTTP {response.status_code}"
        return _Outcome(delivery.id, response.status_code, error)
