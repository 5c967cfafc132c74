"""The alerts service's own background loops, supervised like the consumers.

`Ticker` moves alerts along the clock (`for`, `keep_firing_for`, repeats, silences ending,
no data, acknowledgements lapsing). `WebhookSender` posts the rows of the deliveries table
(written in the transaction of what they announce), one alert's in the order written, retrying
with backoff; it runs apart from evaluation, so a slow or dead receiver never holds an alert
back, and one alert's failing posts never hold another's. Both run in one replica at a time
(`Runtime.singleton`, leader election in `shared.leader`): two senders would both post a due
row, and one sender keeps one alert's posts in the order written.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from services.alerts.domain.webhooks import SIGNATURE_HEADER, sign
from services.alerts.service.alerts import expire_acknowledgements
from services.alerts.service.deliveries import Outcome, due_deliveries, record_outcomes
from services.alerts.service.evaluator import Evaluator
from services.alerts.settings import AlertsSettings
from services.alerts.tables import WebhookDelivery
from shared.db import Database
from shared.events import utcnow
from shared.supervisor import BackgroundLoop


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
        now = utcnow()
        async with self._db.transaction() as session:
            await expire_acknowledgements(session, self._settings, now)
            seen = await Evaluator(session, self._settings, now).tick()
        self.ticks += 1
        return seen


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
            due = list(await due_deliveries(session, utcnow(), self._settings.webhook_batch_max))
        if not due:
            return 0
        outcomes = await asyncio.gather(*(self._post(client, d) for d in due))
        async with self._db.transaction(notify=False) as session:
            await record_outcomes(session, self._settings, outcomes, utcnow())
        return len(due)

    async def _post(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> Outcome:
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
            return Outcome(delivery.id, None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if response.is_success else f"HTTP {response.status_code}"
        return Outcome(delivery.id, response.status_code, error)
