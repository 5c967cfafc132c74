"""Posts every tenant's alerts to its Prometheus Alertmanager(s) (`POST /api/v2/alerts`), as
Prometheus does: firing alerts again and again while they fire, a resolution once accepted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog

from services.alerts import egress
from services.alerts.domain import alertmanager as am
from services.alerts.repository import alertmanager as repository
from services.alerts.service.alertmanager import alert_view, target_urls
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert
from shared.db import Database
from shared.events import utcnow
from shared.supervisor import BackgroundLoop

log = structlog.get_logger(__name__)

# Alerts per POST: Alertmanager takes any number; this keeps one body under a few MB.
POST_MAX = 500

Key = tuple[str, str]  # (tenant, fingerprint)


@dataclass
class _Batch:
    """What one round posts to one Alertmanager."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    firing: dict[Key, datetime] = field(default_factory=dict)  # key → startsAt
    resolved: dict[Key, datetime] = field(default_factory=dict)  # key → endsAt


class AlertmanagerSender(BackgroundLoop):
    """Sends the current state, not messages: each round reads the firing alerts and the
    resolutions an Alertmanager has not accepted yet from the alerts table, and posts them.

    Why state and not an outbox of messages: Alertmanager holds alerts in memory only and
    expects the source to repeat them (an alert not heard of again resolves by itself at its
    `endsAt`), and it merges posts by fingerprint, so posting the current state is idempotent.
    Retrying is then just the next round: nothing queues up while an Alertmanager is down, no
    stale message is replayed after it, and a restarted one has the whole firing set back at
    the next full round. The one durable record needed is which resolutions each Alertmanager
    accepted (`alertmanager_resolutions`), so a resolution is posted until it is.

    Rounds are woken by every commit (a new firing goes out at once; those already posted to
    an Alertmanager are left for the full round) and run in full every
    `alertmanager_resend_interval_s`. The sender reads only committed state and runs apart
    from evaluation, so a slow or dead Alertmanager never holds back evaluation or the
    `alerts` topic. One replica at a time runs it (`Runtime.singleton`): Alertmanager would
    merge the same state posted twice, but each replica would post it all."""

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
        # url → the firing alerts (and their startsAt) it accepted since it last failed.
        self._accepted: dict[str, dict[Key, datetime]] = {}
        self._retry_at: dict[str, float] = {}  # url → monotonic time of its next attempt
        self.rounds = 0  # rounds completed
        db.after_commit.append(self.wake)

    async def run(self) -> None:
        settings = self._settings
        resend = settings.alertmanager_resend_interval_s
        async with httpx.AsyncClient(
            timeout=settings.alertmanager_timeout_s, transport=self._transport
        ) as client:
            next_full = 0.0
            while not self.stopping:
                full = time.monotonic() >= next_full
                await self.send_round(client, full=full)
                self.rounds += 1
                if full:
                    next_full = time.monotonic() + resend
                waits = [next_full, *self._retry_at.values()]
                await self.pause(max(min(waits) - time.monotonic(), 0.0))

    async def send_round(self, client: httpx.AsyncClient, *, full: bool) -> int:
        """Post what each Alertmanager is missing (everything, if `full`); returns how many
        alerts were posted."""
        now = utcnow()
        settings = self._settings
        horizon = now - timedelta(seconds=settings.alertmanager_resolved_horizon_s)
        async with self._db.session() as session:
            targets = await repository.targets(session)
            if not settings.alertmanager_urls and not any(
                t.mode == "own" for t in targets.values()
            ):
                return 0
            firing = await repository.published_firing(session)
            resolved = await repository.resolved_since(session, horizon)
            accepted = await repository.resolutions(
                session, [(a.tenant, a.fingerprint) for a in resolved]
            )
        urls_of = {
            tenant: target_urls(targets.get(tenant), settings)
            for tenant in {a.tenant for a in (*firing, *resolved)}
        }
        batches = self._batches(firing, resolved, accepted, urls_of, now, full=full)
        if not batches:
            return 0
        results = await asyncio.gather(
            *(self._post(client, url, batch, full=full) for url, batch in batches.items())
        )
        confirmed = [
            (tenant, fp, url, ended_at)
            for (url, batch), ok in zip(batches.items(), results, strict=True)
            if ok
            for (tenant, fp), ended_at in batch.resolved.items()
        ]
        if confirmed:
            async with self._db.transaction(notify=False) as session:
                await repository.record_resolutions(session, confirmed)
        return sum(len(b.alerts) for b in batches.values())

    def _batches(
        self,
        firing: Sequence[Alert],
        resolved: Sequence[Alert],
        accepted: dict[tuple[str, str, str], datetime],
        urls_of: dict[str, list[str]],
        now: datetime,
        *,
        full: bool,
    ) -> dict[str, _Batch]:
        settings = self._settings
        # Firing alerts say they hold a few resend intervals ahead, as Prometheus does.
        holds_until = now + timedelta(seconds=4 * settings.alertmanager_resend_interval_s)
        due_now = time.monotonic()
        batches: dict[str, _Batch] = {}

        def batch(url: str) -> _Batch | None:
            if self._retry_at.get(url, 0.0) > due_now:
                return None
            return batches.setdefault(url, _Batch())

        for alert in firing:
            key, view = (alert.tenant, alert.fingerprint), alert_view(alert, settings)
            for url in urls_of[alert.tenant]:
                held = self._accepted.get(url, {}).get(key) == view.starts_at
                if (full or not held) and (b := batch(url)) is not None:
                    b.alerts.append(am.postable(view, holds_until))
                    b.firing[key] = view.starts_at
        for alert in resolved:
            assert alert.ended_at is not None
            key, view = (alert.tenant, alert.fingerprint), alert_view(alert, settings)
            for url in urls_of[alert.tenant]:
                held = accepted.get((*key, url)) == alert.ended_at
                if not held and (b := batch(url)) is not None:
                    b.alerts.append(am.postable(view, alert.ended_at))
                    b.resolved[key] = alert.ended_at
        return {url: b for url, b in batches.items() if b.alerts}

    async def _post(
        self, client: httpx.AsyncClient, url: str, batch: _Batch, *, full: bool
    ) -> bool:
        """Post a batch in slices; on success remember what the Alertmanager holds, on failure
        forget it (the next round sends it everything) and back off."""
        for start in range(0, len(batch.alerts), POST_MAX):
            error = await self._post_slice(client, url, batch.alerts[start : start + POST_MAX])
            if error is not None:
                if url not in self._retry_at:
                    log.warning("alertmanager_unreachable", url=url, error=error)
                self._accepted.pop(url, None)
                self._retry_at[url] = time.monotonic() + self._settings.alertmanager_retry_s
                return False
        if self._retry_at.pop(url, None) is not None:
            log.info("alertmanager_reachable", url=url)
        # A full round posted everything firing: what the Alertmanager holds is exactly that.
        known = self._accepted[url] = {} if full else self._accepted.get(url, {})
        known.update(batch.firing)
        for key in batch.resolved:
            known.pop(key, None)
        return True

    async def _post_slice(
        self, client: httpx.AsyncClient, url: str, alerts: list[dict[str, Any]]
    ) -> str | None:
        """One post through `egress` (pinned, no redirects, a deadline, a capped answer): a
        tenant's own Alertmanager under the address rule of webhooks, the deployment's
        (`LODESTAR_ALERTMANAGER_URLS`) trusted wherever it is."""
        settings = self._settings
        trusted = url.rstrip("/") in {u.rstrip("/") for u in settings.alertmanager_urls}
        answer = await egress.post(
            client,
            f"{url.rstrip('/')}/api/v2/alerts",
            json.dumps(alerts).encode(),
            {"Content-Type": "application/json", "User-Agent": "lodestar-alerts"},
            allow_private=trusted or settings.webhook_allow_private,
            deadline_s=settings.alertmanager_timeout_s,
        )
        if answer.status_code == 400:
            # Alertmanager refuses a body it cannot use: resending the same would not help.
            log.warning("alertmanager_refused", url=url)
            return None
        return answer.error
