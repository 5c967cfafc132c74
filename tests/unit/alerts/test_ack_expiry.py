"""An acknowledgement past its expiry reads as gone, before the ticker has taken it off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.alerts.domain.labels import ack_in_force
from services.alerts.mappers import alert_read
from services.alerts.settings import AlertsSettings
from services.alerts.tables import Alert

ACKED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EXPIRES_AT = ACKED_AT + timedelta(minutes=30)


def acked_alert() -> Alert:
    return Alert(
        tenant="acme",
        fingerprint="8706e138dfc7006c",
        rule_id="r-1",
        subject_kind="kpi",
        subject="mql",
        state="firing",
        labels={"alertname": "Test", "kpi": "mql"},
        acked_by="ana",
        acked_at=ACKED_AT,
        ack_expires_at=EXPIRES_AT,
        updated_at=ACKED_AT,
    )


def test_the_ack_shows_until_its_expiry_and_not_from_then() -> None:
    settings = AlertsSettings()
    before = alert_read(acked_alert(), settings, EXPIRES_AT - timedelta(microseconds=1))
    assert before.acknowledged is not None
    assert before.acknowledged.expires_at == EXPIRES_AT
    assert alert_read(acked_alert(), settings, EXPIRES_AT).acknowledged is None


def test_an_ack_without_expiry_holds() -> None:
    assert ack_in_force(None, ACKED_AT + timedelta(days=3650))
