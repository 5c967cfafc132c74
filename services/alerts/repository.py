"""Every query of the alerts service; the caller passes the session and owns the commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.tables import (
    Alert,
    AlertHistory,
    AlertRule,
    Silence,
    TenantSettings,
    WebhookDelivery,
)

# --- rules -------------------------------------------------------------------------------


async def get_rule(session: AsyncSession, tenant: str, rule_id: str) -> AlertRule | None:
    rule = await session.get(AlertRule, rule_id)
    return rule if rule is not None and rule.tenant == tenant else None


async def list_rules(
    session: AsyncSession, tenant: str, *, limit: int, after: tuple[str, str] | None
) -> Sequence[AlertRule]:
    query = select(AlertRule).where(col(AlertRule.tenant) == tenant)
    if after is not None:
        name, rule_id = after
        query = query.where(
            or_(
                col(AlertRule.name) > name,
                and_(col(AlertRule.name) == name, col(AlertRule.id) > rule_id),
            )
        )
    query = query.order_by(col(AlertRule.name), col(AlertRule.id)).limit(limit)
    return (await session.execute(query)).scalars().all()


async def rules_for_kpi(session: AsyncSession, tenant: str, kpi: str) -> Sequence[AlertRule]:
    """Enabled rules on this KPI, and every enabled tag-selector rule (the caller matches)."""
    result = await session.execute(
        select(AlertRule)
        .where(
            col(AlertRule.tenant) == tenant,
            col(AlertRule.enabled).is_(True),
            or_(
                and_(col(AlertRule.target_kind) == "kpi", col(AlertRule.target) == kpi),
                col(AlertRule.target_kind) == "selector",
            ),
        )
        .order_by(col(AlertRule.id))
    )
    return result.scalars().all()


async def rules_for(
    session: AsyncSession, tenant: str, target_kind: str, target: str
) -> Sequence[AlertRule]:
    result = await session.execute(
        select(AlertRule)
        .where(
            col(AlertRule.tenant) == tenant,
            col(AlertRule.enabled).is_(True),
            col(AlertRule.target_kind) == target_kind,
            col(AlertRule.target) == target,
        )
        .order_by(col(AlertRule.id))
    )
    return result.scalars().all()


async def rules_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, AlertRule]:
    if not ids:
        return {}
    result = await session.execute(select(AlertRule).where(col(AlertRule.id).in_(ids)))
    return {r.id: r for r in result.scalars().all()}


async def absent_rules_on_kpis(session: AsyncSession) -> Sequence[AlertRule]:
    """Enabled `no_data` rules on one KPI (their alert must exist before any data does)."""
    result = await session.execute(
        select(AlertRule).where(
            col(AlertRule.enabled).is_(True),
            col(AlertRule.condition) == "no_data",
            col(AlertRule.target_kind) == "kpi",
        )
    )
    return result.scalars().all()


# --- alerts ------------------------------------------------------------------------------


async def get_alert(
    session: AsyncSession, tenant: str, fingerprint: str, *, for_update: bool = False
) -> Alert | None:
    return await session.get(Alert, (tenant, fingerprint), with_for_update=for_update)


async def alerts_of_rule(
    session: AsyncSession, tenant: str, rule_id: str, *, active_only: bool = True
) -> Sequence[Alert]:
    query = select(Alert).where(col(Alert.tenant) == tenant, col(Alert.rule_id) == rule_id)
    if active_only:
        query = query.where(col(Alert.state).in_([s.value for s in ACTIVE_STATES]))
    return (await session.execute(query.with_for_update())).scalars().all()


async def alerts_to_tick(session: AsyncSession) -> Sequence[Alert]:
    """Alerts the clock can move: active ones, and those of rules that watch for no data."""
    watched = select(col(AlertRule.id)).where(col(AlertRule.no_data_seconds).is_not(None))
    result = await session.execute(
        select(Alert)
        .where(
            or_(
                col(Alert.state).in_([s.value for s in ACTIVE_STATES]),
                col(Alert.rule_id).in_(watched.scalar_subquery()),
            )
        )
        .order_by(col(Alert.tenant), col(Alert.fingerprint))
        .with_for_update()
    )
    return result.scalars().all()


async def firing_labels(session: AsyncSession, tenant: str) -> dict[str, dict[str, str]]:
    """Fingerprint → labels of the tenant's firing alerts (the sources of inhibition)."""
    result = await session.execute(
        select(col(Alert.fingerprint), col(Alert.labels)).where(
            col(Alert.tenant) == tenant, col(Alert.state) == AlertState.FIRING.value
        )
    )
    return {fp: dict(labels) for fp, labels in result.all()}


async def list_alerts(
    session: AsyncSession,
    tenant: str,
    *,
    states: Sequence[str],
    labels: dict[str, str],
    limit: int,
    after: str | None,
) -> Sequence[Alert]:
    """Alerts in fingerprint order (stable under updates, so cursors never skip one)."""
    query = select(Alert).where(col(Alert.tenant) == tenant)
    if states:
        query = query.where(col(Alert.state).in_(states))
    for name, value in labels.items():
        query = query.where(col(Alert.labels)[name].as_string() == value)
    if after is not None:
        query = query.where(col(Alert.fingerprint) > after)
    query = query.order_by(col(Alert.fingerprint)).limit(limit)
    return (await session.execute(query)).scalars().all()


async def history(session: AsyncSession, tenant: str, fingerprint: str) -> Sequence[AlertHistory]:
    result = await session.execute(
        select(AlertHistory)
        .where(col(AlertHistory.tenant) == tenant, col(AlertHistory.fingerprint) == fingerprint)
        .order_by(col(AlertHistory.seq))
    )
    return result.scalars().all()


# --- silences ----------------------------------------------------------------------------


async def get_silence(session: AsyncSession, tenant: str, silence_id: str) -> Silence | None:
    silence = await session.get(Silence, silence_id)
    return silence if silence is not None and silence.tenant == tenant else None


async def list_silences(
    session: AsyncSession,
    tenant: str,
    *,
    limit: int,
    after: tuple[str, str] | None,
    not_expired_at: datetime | None,
) -> Sequence[Silence]:
    query = select(Silence).where(col(Silence.tenant) == tenant)
    if not_expired_at is not None:
        query = query.where(col(Silence.ends_at) > not_expired_at)
    if after is not None:
        created, silence_id = after
        query = query.where(
            or_(
                col(Silence.created_at) < datetime.fromisoformat(created),
                and_(
                    col(Silence.created_at) == datetime.fromisoformat(created),
                    col(Silence.id) > silence_id,
                ),
            )
        )
    query = query.order_by(col(Silence.created_at).desc(), col(Silence.id)).limit(limit)
    return (await session.execute(query)).scalars().all()


async def active_silences(session: AsyncSession, tenant: str, now: datetime) -> Sequence[Silence]:
    result = await session.execute(
        select(Silence).where(
            col(Silence.tenant) == tenant,
            col(Silence.starts_at) <= now,
            col(Silence.ends_at) > now,
        )
    )
    return result.scalars().all()


# --- settings ----------------------------------------------------------------------------


async def get_settings(session: AsyncSession, tenant: str) -> TenantSettings | None:
    return await session.get(TenantSettings, tenant)


# --- webhook deliveries ------------------------------------------------------------------


async def due_deliveries(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[WebhookDelivery]:
    result = await session.execute(
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= now,
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.created_at))
        .limit(limit)
    )
    return result.scalars().all()


async def get_delivery(session: AsyncSession, delivery_id: str) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def list_deliveries(
    session: AsyncSession,
    tenant: str,
    *,
    rule_id: str | None,
    status: str | None,
    fingerprint: str | None,
    limit: int,
    after: tuple[str, str] | None,
) -> Sequence[WebhookDelivery]:
    query = select(WebhookDelivery).where(col(WebhookDelivery.tenant) == tenant)
    if rule_id is not None:
        query = query.where(col(WebhookDelivery.rule_id) == rule_id)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status)
    if fingerprint is not None:
        query = query.where(col(WebhookDelivery.fingerprint) == fingerprint)
    if after is not None:
        created, delivery_id = after
        at = datetime.fromisoformat(created)
        query = query.where(
            or_(
                col(WebhookDelivery.created_at) < at,
                and_(col(WebhookDelivery.created_at) == at, col(WebhookDelivery.id) > delivery_id),
            )
        )
    query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
    return (await session.execute(query.limit(limit))).scalars().all()
