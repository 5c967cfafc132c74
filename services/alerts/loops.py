"""The alerts service's own background loops, supervised like the consumers.

`Ticker` moves alerts along the clock (`for`, `keep_firing_for`, repeats, silences ending,
no data, acknowledgements lapsing): each tick the alerts due (`alerts.due_at`), and all those
of a tenant whose rules, silences or settings changed since the last. `WebhookSender` posts
the rows of the deliveries table (written in the transaction of what they announce), one
alert's in the order written, retrying with backoff; it runs apart from evaluation, so a slow
or dead receiver never holds an alert back, and one alert's failing posts never hold
another's, nor one receiver's slowness another's (see
`WebhookSender`; the bounds of each post are in `egress`). Both run in one replica at a time
(`Runtime.singleton`, leader election in `shared.leader`): two senders would both post a due
row, and one sender keeps one alert's posts in the order written.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import structlog

from services.alerts import egress
from services.alerts.domain.webhooks import signed_headers
from services.alerts.service.alerts import expire_acknowledgements
from services.alerts.service.definitions import DefinitionCache, all_versions
from services.alerts.service.deliveries import Outcome, due_deliveries, record_outcomes
from services.alerts.service.evaluator import Evaluator
from services.alerts.settings import AlertsSettings
from services.alerts.tables import WebhookDelivery
from shared.crypto import unseal
from shared.db import Database
from shared.events import utcnow
from shared.supervisor import BackgroundLoop

log = structlog.get_logger(__name__)


class Ticker(BackgroundLoop):
    def __init__(self, db: Database, settings: AlertsSettings) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._definitions = DefinitionCache()
        # Each tenant's definitions version at the last tick; None before the first, which
        # looks at every alert the clock could move (`Evaluator.tick`).
        self._versions: dict[str, int] | None = None
        self.ticks = 0

    async def run(self) -> None:
        while not self.stopping:
            started = time.monotonic()
            await self.tick_once()
            elapsed = time.monotonic() - started
            await self.pause(max(self._settings.evaluation_interval_s - elapsed, 0.0))

    async def tick_once(self) -> int:
        async with self._db.transaction() as session:
            await expire_acknowledgements(session, self._settings, utcnow())
            versions = await all_versions(session)
            last = self._versions
            changed = None if last is None else {t for t, v in versions.items() if last.get(t) != v}
            evaluator = Evaluator(session, self._settings, utcnow, self._definitions)
            seen = await evaluator.tick(changed)
        self._versions = versions
        self.ticks += 1
        return seen


class WebhookSender(BackgroundLoop):
    """Each due delivery is its own task, recording its own outcome when its post ends; at
    most `webhook_lanes_per_url` at once to one URL and `webhook_batch_max` in all. So a
    receiver that drips its answer for the whole deadline holds its own lanes, never another
    receiver's deliveries (nor their recording)."""

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
        self._in_flight: dict[str, str] = {}  # delivery id -> its URL
        self._tasks: set[asyncio.Task[None]] = set()
        # Woken by the commits that write deliveries (in this process: others' are polled).
        db.after_writing(WebhookDelivery.__tablename__, self.wake)

    async def run(self) -> None:
        settings = self._settings
        async with httpx.AsyncClient(
            timeout=settings.webhook_timeout_s, transport=self._transport
        ) as client:
            try:
                while not self.stopping:
                    if not await self.send_due(client):
                        await self.pause(settings.webhook_poll_interval_s)
            finally:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send_due(self, client: httpx.AsyncClient) -> int:
        """Start the posts of the due deliveries there is room for; returns how many."""
        settings = self._settings
        room = settings.webhook_batch_max - len(self._in_flight)
        if room <= 0:
            return 0
        lanes = Counter(self._in_flight.values())
        full = [url for url, n in lanes.items() if n >= settings.webhook_lanes_per_url]
        async with self._db.session() as session:
            due = await due_deliveries(
                session, utcnow(), room, skip_ids=list(self._in_flight), skip_urls=full
            )
        started = 0
        for delivery in due:
            if lanes[delivery.url] >= settings.webhook_lanes_per_url:
                continue
            lanes[delivery.url] += 1
            self._in_flight[delivery.id] = delivery.url
            task = asyncio.create_task(self._deliver(client, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    async def _deliver(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> None:
        try:
            outcome = await self._post(client, delivery)
            async with self._db.transaction(notify=False) as session:
                await record_outcomes(session, self._settings, [outcome], utcnow())
        except Exception as exc:  # e.g. the database is down: the row stays due, retried
            log.warning("webhook_attempt_not_recorded", delivery=delivery.id, error=str(exc))
        finally:
            self._in_flight.pop(delivery.id, None)
            self.wake()

    async def _post(self, client: httpx.AsyncClient, delivery: WebhookDelivery) -> Outcome:
        settings = self._settings
        body = delivery.body.encode()
        try:
            secret = unseal(settings.secret_key, delivery.secret)
        except ValueError:
            return Outcome(delivery.id, None, "the secret does not open with this secret key")
        try:
            signature = signed_headers(secret, delivery.id, int(time.time()), body)
        except ValueError:  # a secret set before whsec_ secrets: the rule must be given one
            return Outcome(delivery.id, None, "the secret is not a whsec_ secret: set it again")
        headers = {"Content-Type": "application/json", "User-Agent": "lodestar-alerts", **signature}
        answer = await egress.post(
            client,
            delivery.url,
            body,
            headers,
            allow_private=settings.webhook_allow_private,
            deadline_s=settings.webhook_timeout_s,
        )
        return Outcome(delivery.id, answer.status_code, answer.error)
