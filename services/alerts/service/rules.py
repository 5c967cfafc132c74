"""Rules: create, change, delete; changing a rule's identity closes the alerts it held open."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.alerts import repository
from services.alerts.errors import RuleNotFound
from services.alerts.schemas import RuleCreate, RuleRead, RuleUpdate, Selector, WebhookRead
from services.alerts.service.evaluate import Evaluator, rule_view
from services.alerts.settings import AlertsSettings
from services.alerts.tables import AlertRule


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


async def create_rule(
    session: AsyncSession, tenant: str, body: RuleCreate, now: datetime
) -> AlertRule:
    if body.kpi is not None:
        kind, target = "kpi", body.kpi
    elif body.key_result is not None:
        kind, target = "key_result", body.key_result
    elif body.objective is not None:
        kind, target = "objective", body.objective
    else:
        kind, target = "selector", ""
    rule = AlertRule(
        id=str(uuid.uuid4()),
        tenant=tenant,
        name=body.name,
        enabled=body.enabled,
        target_kind=kind,
        target=target,
        selector_tags=sorted(body.selector.tags) if body.selector else [],
        condition=body.condition.value,
        operator=body.operator.value,
        threshold=body.threshold,
        resolve_threshold=body.resolve_threshold,
        health=body.health,
        status=body.status,
        window_seconds=body.window_seconds,
        change=body.change.value,
        no_data_seconds=body.no_data_seconds,
        for_seconds=body.for_seconds,
        keep_firing_for_seconds=body.keep_firing_for_seconds,
        repeat_interval_seconds=body.repeat_interval_seconds,
        severity=body.severity,
        labels=dict(body.labels),
        annotations=dict(body.annotations),
        webhook_url=str(body.webhook.url) if body.webhook else None,
        webhook_secret=body.webhook.secret if body.webhook else None,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    await session.flush()
    return rule


async def _load(session: AsyncSession, tenant: str, rule_id: str) -> AlertRule:
    rule = await repository.get_rule(session, tenant, rule_id)
    if rule is None:
        raise RuleNotFound(f"no rule '{rule_id}'")
    return rule


async def update_rule(
    session: AsyncSession,
    settings: AlertsSettings,
    tenant: str,
    rule_id: str,
    body: RuleUpdate,
    now: datetime,
) -> AlertRule:
    """Labels and severity are part of an alert's identity: changing them (or disabling the
    rule) resolves the alerts the rule holds open; the next observation opens new ones."""
    rule = await _load(session, tenant, rule_id)
    identity_changes = (
        (body.severity is not None and body.severity != rule.severity)
        or (body.labels is not None and body.labels != rule.labels)
        or (body.enabled is False and rule.enabled)
    )
    if identity_changes:
        await Evaluator(session, settings, now).close_rule_alerts(tenant, rule_view(rule))
    changes = body.model_dump(exclude_unset=True, exclude={"webhook", "remove_webhook"})
    for name, value in changes.items():
        if value is not None:
            setattr(rule, name, value)
    if body.webhook is not None:
        rule.webhook_url, rule.webhook_secret = str(body.webhook.url), body.webhook.secret
    elif body.remove_webhook:
        rule.webhook_url = rule.webhook_secret = None
    rule.updated_at = now
    await session.flush()
    return rule


async def delete_rule(
    session: AsyncSession, settings: AlertsSettings, tenant: str, rule_id: str, now: datetime
) -> None:
    """Delete a rule; its open alerts resolve (and say so on the topic), their history stays."""
    rule = await _load(session, tenant, rule_id)
    await Evaluator(session, settings, now).close_rule_alerts(tenant, rule_view(rule))
    await session.delete(rule)
    await session.flush()
