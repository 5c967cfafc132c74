"""What a batch of evaluation announces, collected in memory until its flush: history lines
(transitions and notifications, in order), `alerts` topic events for the outbox, and webhook
deliveries for the rules that have a webhook. Also what an acknowledgement announces."""

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
from services.alerts.tables import Alert, AlertRule, WebhookDelivery
from shared.events import (
    ALERT_ACKNOWLEDGED_V1,
    ALERT_FIRING_V1,
    ALERT_RESOLVED_V1,
    AlertAckV1,
    CloudEvent,
    new_event,
    own_event,
)


def json_time(at: datetime | None) -> str | None:
    """A time as pydantic's JSON mode writes it (RFC 3339, UTC as `Z`)."""
    if at is None:
        return None
    text = at.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def alert_data(
    *,
    status: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    starts_at: datetime,
    ends_at: datetime | None,
    generator_url: str,
    fingerprint: str,
    value: float | None,
    subject: str,
) -> dict[str, Any]:
    """An `AlertV1` as `model_dump(mode="json", by_alias=True)` gives it, written out: the
    model's construction and dump cost more per alert than the rest of its notification."""
    return {
        "status": status,
        "labels": dict(labels),
        "annotations": dict(annotations),
        "startsAt": json_time(starts_at),
        "endsAt": json_time(ends_at),
        "generatorURL": generator_url,
        "fingerprint": fingerprint,
        "value": value,
        "subject": subject,
    }


def alert_event(
    *, source: str, tenant: str, fingerprint: str, data: dict[str, Any], at: datetime
) -> CloudEvent:
    """The `lodestar.alert.firing.v1` / `...resolved.v1` event of an alert (`data`: from
    `alert_data`), built from values this service made (`shared.events.own_event`)."""
    return own_event(
        type=ALERT_FIRING_V1 if data["status"] == "firing" else ALERT_RESOLVED_V1,
        source=source,
        tenant=tenant,
        subject=fingerprint,
        data=data,
        time=at,
    )


def delivery(
    alert: Alert | LiveAlert,
    rule_id: str,
    url: str,
    secret: str,
    alert_status: str,
    body: dict[str, Any],
    now: datetime,
    *,
    seq: int = 0,
) -> WebhookDelivery:
    """A pending webhook post of `body`, due now."""
    return WebhookDelivery(
        id=str(uuid.uuid4()),
        tenant=alert.tenant,
        rule_id=rule_id,
        fingerprint=alert.fingerprint,
        alert_status=alert_status,
        url=url,
        secret=secret,
        body=json.dumps(body, separators=(",", ":")),
        status="pending",
        next_attempt_at=now,
        created_at=now,
        seq=seq,
        updated_at=now,
    )


def ack_notice(
    settings: AlertsSettings,
    alert: Alert,
    rule: AlertRule | None,
    ack: AlertAckV1,
    type_: str,
    now: datetime,
) -> tuple[CloudEvent, WebhookDelivery | None]:
    """An acknowledgement put on or taken off (`type_`): its `alerts` event, keyed by the
    fingerprint, and, if the rule has a webhook and the alert was posted as firing, a post to
    it. The post is the alert's firing body plus a `lodestar` object saying what happened: a
    receiver built for Alertmanager ignores the extra field and sees a repeat of the firing
    (same groupKey), one built for Lodestar reads the acknowledgement."""
    event = new_event(
        type=type_,
        source=f"lodestar/{settings.service_name}",
        tenant=alert.tenant,
        subject=alert.fingerprint,
        data=ack,
        time=now,
    )
    if (
        rule is None
        or not rule.webhook_url
        or not rule.webhook_secret
        or not alert.notified
        or alert.started_at is None
    ):
        return event, None
    body = webhook_body(
        receiver=rule.name,
        status="firing",
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.started_at,
        ends_at=None,
        generator_url=generator_url_for(settings, alert.subject_kind, alert.subject),
        fingerprint=alert.fingerprint,
        external_url=settings.public_url,
    )
    body["lodestar"] = {
        "event": "acknowledged" if type_ == ALERT_ACKNOWLEDGED_V1 else "unacknowledged",
        **ack.model_dump(mode="json", include={"by", "at", "note", "expires_at", "expired"}),
    }
    status = body["lodestar"]["event"]
    return event, delivery(alert, rule.id, rule.webhook_url, rule.webhook_secret, status, body, now)


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
        alert = live
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
        alert, status = live, live.status
        assert status.started_at is not None
        generator_url = generator_url_for(settings, alert.subject_kind, alert.subject)
        ends_at = status.ended_at if notify.status == "resolved" else None
        self.events.append(
            alert_event(
                source=self.source,
                tenant=alert.tenant,
                fingerprint=alert.fingerprint,
                data=alert_data(
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
                delivery(
                    alert,
                    rule.id,
                    rule.webhook_url,
                    rule.webhook_secret,
                    notify.status,
                    body,
                    self.now,
                    seq=len(self.deliveries),
                )
            )
