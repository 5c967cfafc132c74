"""Rows → API shapes (`<Thing>Read`), every one of the service in one place."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.alerts.domain.labels import SubjectLocations, ack_in_force, generator_url_for
from services.alerts.schemas import (
    AckRead,
    AlertDetail,
    AlertRead,
    DeliveryRead,
    GuardrailRead,
    HistoryRead,
    MatcherBody,
    RuleRead,
    Selector,
    SettingsRead,
    SilenceRead,
    WebhookRead,
)
from services.alerts.tables import (
    Alert,
    AlertHistory,
    AlertRule,
    Guardrail,
    Silence,
    TenantSettings,
    WebhookDelivery,
)
from shared.mapping import read_of


def rule_read(rule: AlertRule) -> RuleRead:
    kind = rule.target_kind
    return read_of(
        RuleRead,
        rule,
        kpi=rule.target if kind == "kpi" else None,
        key_result=rule.target if kind == "key_result" else None,
        objective=rule.target if kind == "objective" else None,
        selector=Selector(tags=list(rule.selector_tags)) if kind == "selector" else None,
        webhook=WebhookRead(url=rule.webhook_url) if rule.webhook_url else None,
    )


def alert_read(alert: Alert, urls: SubjectLocations, now: datetime) -> AlertRead:
    """The alert as shown; an acknowledgement past its `expires_at` is shown as gone even
    before the ticker has taken it off."""
    ack = (
        AckRead(
            by=alert.acked_by or "",
            at=alert.acked_at,
            note=alert.ack_note,
            expires_at=alert.ack_expires_at,
        )
        if alert.acked_at is not None and ack_in_force(alert.ack_expires_at, now)
        else None
    )
    return read_of(
        AlertRead,
        alert,
        starts_at=alert.started_at,
        ends_at=alert.ended_at,
        generator_url=generator_url_for(urls, alert.subject_kind, alert.subject),
        acknowledged=ack,
    )


def alert_detail(
    alert: Alert, history: Iterable[AlertHistory], urls: SubjectLocations, now: datetime
) -> AlertDetail:
    return AlertDetail(
        **alert_read(alert, urls, now).model_dump(),
        history=[HistoryRead.model_validate(h, from_attributes=True) for h in history],
    )


def silence_read(silence: Silence, now: datetime) -> SilenceRead:
    state = (
        "pending" if now < silence.starts_at else ("active" if now < silence.ends_at else "expired")
    )
    return read_of(
        SilenceRead,
        silence,
        matchers=[MatcherBody.model_validate(m) for m in silence.matchers],
        state=state,
    )


def settings_read(row: TenantSettings | None) -> SettingsRead:
    """A tenant without a settings row has every built-in rule on."""
    if row is None:
        return SettingsRead(kpi_red=True, kr_off_track=True, guardrail_breached=True)
    return read_of(SettingsRead, row)


def guardrail_read(row: Guardrail) -> GuardrailRead:
    return read_of(GuardrailRead, row)


def delivery_read(row: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead.model_validate(row, from_attributes=True)
