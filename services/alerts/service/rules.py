"""Rules: create, read, page, change, delete; changing a rule's identity closes the alerts
it held open."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.alerts.errors import QuotaExceeded, RuleNotFound
from services.alerts.repository import deliveries
from services.alerts.repository import rules as repository
from services.alerts.schemas import RuleCreate, RuleUpdate, Webhook
from services.alerts.service.definitions import bump
from services.alerts.service.destinations import check_destination
from services.alerts.service.evaluator import Evaluator
from services.alerts.service.mapping import rule_view
from services.alerts.settings import AlertsSettings
from services.alerts.tables import AlertRule
from shared.crypto import FERNET_PREFIX, seal
from shared.db import AsyncSession
from shared.errors import found
from shared.events import utcnow

# A new rule stores each field of its body as given (an enum as its value) but its target,
# stored as (`target_kind`, `target`), and its webhook, stored checked and sealed.
_STORED_OTHERWISE = {"kpi", "key_result", "objective", "selector", "webhook"}


async def _webhook(settings: AlertsSettings, webhook: Webhook) -> tuple[str, str]:
    """The URL (checked) and the secret (sealed) to store."""
    url = str(webhook.url)
    await check_destination(settings, url)
    return url, seal(settings.secret_key, webhook.secret)


async def seal_stored_secrets(session: AsyncSession, settings: AlertsSettings) -> int:
    """Seal the webhook secrets stored in plain text before secrets were sealed (rules, and
    deliveries not yet sent); returns how many. A Fernet token starts `gAAAAA` (its version
    byte), which no plain secret of the API's shape (`whsec_…`) does."""
    sealed = 0
    for rule in await repository.with_webhook(session):
        if rule.webhook_secret and not rule.webhook_secret.startswith(FERNET_PREFIX):
            rule.webhook_secret = seal(settings.secret_key, rule.webhook_secret)
            await bump(session, rule.tenant)
            sealed += 1
    for delivery in await deliveries.pending(session):
        if not delivery.secret.startswith(FERNET_PREFIX):
            delivery.secret = seal(settings.secret_key, delivery.secret)
            sealed += 1
    await session.flush()
    return sealed


async def create_rule(
    session: AsyncSession, settings: AlertsSettings, tenant: str, body: RuleCreate, now: datetime
) -> AlertRule:
    if await repository.count(session, tenant) >= settings.max_rules_per_tenant:
        raise QuotaExceeded(f"a tenant may have {settings.max_rules_per_tenant} rules")
    webhook_url, webhook_secret = (
        await _webhook(settings, body.webhook) if body.webhook else (None, None)
    )
    if body.kpi is not None:
        kind, target = "kpi", body.kpi
    elif body.key_result is not None:
        kind, target = "key_result", body.key_result
    elif body.objective is not None:
        kind, target = "objective", body.objective
    else:
        kind, target = "selector", ""
    rule = AlertRule(
        **body.model_dump(mode="json", exclude=_STORED_OTHERWISE),
        id=str(uuid.uuid4()),
        tenant=tenant,
        target_kind=kind,
        target=target,
        selector_tags=sorted(body.selector.tags) if body.selector else [],
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, rule)
    await bump(session, tenant)
    return rule


async def get_rule(session: AsyncSession, tenant: str, rule_id: str) -> AlertRule:
    return found(
        await repository.get(session, tenant, rule_id), RuleNotFound(f"no rule '{rule_id}'")
    )


async def list_rules(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> tuple[list[AlertRule], str | None]:
    """A page of the tenant's rules by name, and the cursor of the next one."""
    return await repository.page(session, tenant, limit=limit, cursor=cursor)


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
    rule = await get_rule(session, tenant, rule_id)
    identity_changes = (
        (body.severity is not None and body.severity != rule.severity)
        or (body.labels is not None and body.labels != rule.labels)
        or (body.enabled is False and rule.enabled)
    )
    if identity_changes:
        await Evaluator(session, settings, utcnow).close_rule_alerts(tenant, rule_view(rule))
    changes = body.model_dump(exclude_unset=True, exclude={"webhook", "remove_webhook"})
    for name, value in changes.items():
        if value is not None:
            setattr(rule, name, value)
    if body.webhook is not None:
        rule.webhook_url, rule.webhook_secret = await _webhook(settings, body.webhook)
    elif body.remove_webhook:
        rule.webhook_url = rule.webhook_secret = None
    rule.updated_at = now
    await repository.save(session)
    await bump(session, tenant)
    return rule


async def delete_rule(
    session: AsyncSession, settings: AlertsSettings, tenant: str, rule_id: str, now: datetime
) -> None:
    """Delete a rule; its open alerts resolve (and say so on the topic), their history stays."""
    rule = await get_rule(session, tenant, rule_id)
    await Evaluator(session, settings, utcnow).close_rule_alerts(tenant, rule_view(rule))
    await repository.delete(session, rule)
    await bump(session, tenant)
