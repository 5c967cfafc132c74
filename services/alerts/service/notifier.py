"""What a batch of evaluation announces, collected in memory until its flush: history lines
(transitions and notifications, in order), `alerts` topic events for the outbox, and webhook
deliveries for the rules that have a webhook."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.alerts.domain.evaluation import AlertState, Marks, Notify, Transitioned
from services.alerts.domain.labels import generator_url_for, muted_note
from services.alerts.domain.rules import RuleView
from services.alerts.domain.webhooks import webhook_body
from services.alerts.service.mapping import LiveAlert
from services.alerts.settings import AlertsSettings
from services.alerts.tables import WebhookDelivery
from shared.events import ALERT_FIRING_V1, ALERT_RESOLVED_V1, AlertV1, CloudEvent


def alert_event(
    *, source: str, tenant: str, fingerprint: str, data: AlertV1, at: datetime
) -> CloudEvent:
    """The `lodestar.alert.firing.v1` / `...resolved.v1` event of an alert, built from values
    this service made (so without validating them again: the same event `new_event` builds,
    at a fraction of the cost per alert)."""
    return CloudEvent.model_construct(
        specversion="1.0",
        id=str(uuid.uuid4()),
        source=source,
        type=ALERT_FIRING_V1 if data.status == "firing" else ALERT_RESOLVED_V1,
        time=at,
        subject=fingerprint,
        tenant=tenant,
        datacontenttype="application/json",
        data=data.model_dump(mode="json", by_alias=True),
    )


class Notifier:
    """Collects a batch's history lines, outbox events and webhook deliveries; `take()` hands
    them over (and empties it) when the batch is written."""

    def __init__(self, settings: AlertsSettings, now: datetime) -> None:
        self.settings = settings
        self.now = now
        self.source = f"lodestar/{settings.service_name}"
        self.history: list[dict[str, Any]] = []
        self.events: list[CloudEvent] = []
        self.deliveries: list[WebhookDelivery] = []

    def take(self) -> tuple[list[dict[str, Any]], list[CloudEvent], list[WebhookDelivery]]:
        taken = self.history, self.events, self.deliveries
        self.history, self.events, self.deliveries = [], [], []
        return taken

    def transitioned(self, live: LiveAlert, event: Transitioned, marks: Marks) -> None:
        alert = live.alert
        self.history.append(
            {
                "tenant": alert.tenant,
                "fingerprint": alert.fingerprint,
                "kind": "transition",
                "from_state": event.from_state.value,
                "to_state": event.to_state.value,
                "value": live.status.value,
                "detail": muted_note(marks) if event.to_state is AlertState.FIRING else None,
                "at": event.at,
            }
        )

    def notify(self, live: LiveAlert, rule: RuleView, notify: Notify) -> None:
        """An alert fires or resolves in public: its event, its history line, its webhook."""
        settings = self.settings
        alert, status = live.alert, live.status
        assert status.started_at is not None
        generator_url = generator_url_for(settings, alert.subject_kind, alert.subject)
        ends_at = status.ended_at if notify.status == "resolved" else None
        self.events.append(
            alert_event(
                source=self.source,
                tenant=alert.tenant,
                fingerprint=alert.fingerprint,
                data=AlertV1.model_construct(
                    status=notify.status,
                    labels=live.labels,
                    annotations=live.annotations,
                    starts_at=status.started_at,
                    ends_at=ends_at,
                    generator_url=generator_url,
                    fingerprint=alert.fingerprint,
                    value=status.value,
                    subject=alert.subject,
                ),
                at=notify.at,
            )
        )
        self.history.append(
            {
                "tenant": alert.tenant,
                "fingerprint": alert.fingerprint,
                "kind": "notified",
                "from_state": None,
                "to_state": notify.status,
                "value": status.value,
                "detail": "repeat" if notify.repeat else None,
                "at": notify.at,
            }
        )
        if rule.webhook_url and rule.webhook_secret:
            body = webhook_body(
                receiver=rule.name,
                status=notify.status,
                labels=live.labels,
                annotations=live.annotations,
                starts_at=status.started_at,
                ends_at=ends_at,
                generator_url=generator_url,
                fingerprint=alert.fingerprint,
                external_url=settings.public_url,
            )
            self.deliveries.append(
                WebhookDelivery(
                    id=str(uuid.uuid4()),
                    tenant=alert.tenant,
                    rule_id=rule.id,
                    fingerprint=alert.fingerprint,
                    alert_status=notify.status,
                    url=rule.webhook_url,
                    secret=rule.webhook_secret,
                    body=json.dumps(body, separators=(",", ":")),
                    status="pending",
                    next_attempt_at=self.now,
                    created_at=self.now,
                    seq=len(self.deliveries),
                    updated_at=self.now,
                )
            )
