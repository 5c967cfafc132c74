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


def rule_read(rule: AlertRule) -> RuleRead:
    kind = rule.target_kind
    return RuleRead(
        id=rule.id,
        name=rule.name,
        enabled=rule.enabled,
        kpi=rule.target if kind == "kpi" else None,
        key_result=rule.target if kind == "key_result" else None,
        objective=rule.target if kind == "objective" else None,
        selector=Selector(tags=list(rule.selector_tags)) if kind == "selector" else None,
        condition=rule.condition,
        operator=rule.operator,
        threshold=rule.threshold,
        resolve_threshold=rule.resolve_threshold,
        health=rule.health,
        status=rule.status,
        window_seconds=rule.window_seconds,
        change=rule.change,
        no_data_seconds=rule.no_data_seconds,
        for_seconds=rule.for_seconds,
        keep_firing_for_seconds=rule.keep_firing_for_seconds,
        repeat_interval_seconds=rule.repeat_interval_seconds,
        severity=rule.severity,
        labels=rule.labels,
        annotations=rule.annotations,
        webhook=WebhookRead(url=rule.webhook_url) if rule.webhook_url else None,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
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
    return AlertRead(
        fingerprint=alert.fingerprint,
        rule_id=alert.rule_id,
        state=alert.state,
        subject_kind=alert.subject_kind,
        subject=alert.subject,
        value=alert.value,
        starts_at=alert.started_at,
        ends_at=alert.ended_at,
        active_since=alert.active_since,
        last_seen_at=alert.last_seen_at,
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=generator_url_for(urls, alert.subject_kind, alert.subject),
        silenced_by=alert.silenced_by,
        inhibited=alert.inhibited,
        acknowledged=ack,
        updated_at=alert.updated_at,
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
    return SilenceRead(
        id=silence.id,
        matchers=[MatcherBody.model_validate(m) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        state=state,
    )


def settings_read(row: TenantSettings | None) -> SettingsRead:
    """A tenant without a settings row has every built-in rule on."""
    if row is None:
        return SettingsRead(kpi_red=True, kr_off_track=True, guardrail_breached=True)
    return SettingsRead(
        kpi_red=row.kpi_red,
        kr_off_track=row.kr_off_track,
        guardrail_breached=row.guardrail_breached,
    )


def guardrail_read(row: Guardrail) -> GuardrailRead:
    return GuardrailRead(
        kpi=row.kpi,
        key_result_id=row.key_result_id,
        kind=row.kind,
        target=row.target,
        bound_low=row.bound_low,
        bound_high=row.bound_high,
        periods_met=row.periods_met,
        graduated_at=row.graduated_at,
    )


def delivery_read(row: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead.model_validate(row, from_attributes=True)
