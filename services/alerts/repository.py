"""Every query of the alerts service; the caller passes the session and owns the commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.domain.evaluation import ACTIVE_STATES, AlertState
from services.alerts.tables import (
    Alert,
    AlertHistory,
    AlertRule,
    AlertsTable,
    Guardrail,
    Silence,
    TenantSettings,
    WebhookDelivery,
)

_history_table: Table = AlertsTable.metadata.tables[AlertHistory.__tablename__]

# Rows per multi-row statement: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
CHUNK = 500

T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the record of processed events ------------------------------------------------------


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


async def rules_for_targets(
    session: AsyncSession, targets: Iterable[tuple[str, str, str]]
) -> Sequence[AlertRule]:
    """Enabled rules on any of these (tenant, target kind, target), and every enabled
    tag-selector rule of their tenants (the caller matches exactly): one query for a batch."""
    wanted = set(targets)
    if not wanted:
        return []
    tenants = sorted({t for t, _, _ in wanted})
    names = sorted({target for _, _, target in wanted})
    result = await session.execute(
        select(AlertRule)
        .where(
            col(AlertRule.tenant).in_(tenants),
            col(AlertRule.enabled).is_(True),
            or_(col(AlertRule.target).in_(names), col(AlertRule.target_kind) == "selector"),
        )
        .order_by(col(AlertRule.id))
    )
    return [
        r
        for r in result.scalars().all()
        if r.target_kind == "selector" or (r.tenant, r.target_kind, r.target) in wanted
    ]


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


async def alerts_by_fingerprint(
    session: AsyncSession, keys: Iterable[tuple[str, str]], *, for_update: bool = True
) -> dict[tuple[str, str], Alert]:
    """The alerts of these (tenant, fingerprint) that exist, locked for update."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], Alert] = {}
    for chunk in _chunks(wanted):
        tenants = sorted({t for t, _ in chunk})
        query = select(Alert).where(
            col(Alert.tenant).in_(tenants), col(Alert.fingerprint).in_([f for _, f in chunk])
        )
        if for_update:
            query = query.with_for_update()
        for alert in (await session.execute(query)).scalars().all():
            found[(alert.tenant, alert.fingerprint)] = alert
    return found


async def insert_history(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """History lines in one executemany, in the order given (their `seq` follows it).

    Core, not the ORM's bulk insert: that one fetches every generated `seq` back, which cost
    ~1 ms a row here."""
    if rows:
        await session.execute(insert(_history_table), list(rows))


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


async def firing_labels_of(
    session: AsyncSession, tenants: Iterable[str]
) -> dict[str, dict[str, dict[str, str]]]:
    """Tenant → fingerprint → labels of the firing alerts of these tenants."""
    wanted = sorted(set(tenants))
    found: dict[str, dict[str, dict[str, str]]] = {t: {} for t in wanted}
    result = await session.execute(
        select(col(Alert.tenant), col(Alert.fingerprint), col(Alert.labels)).where(
            col(Alert.tenant).in_(wanted), col(Alert.state) == AlertState.FIRING.value
        )
    )
    for tenant, fp, labels in result.all():
        found[tenant][fp] = dict(labels)
    return found


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


async def active_silences_of(
    session: AsyncSession, tenants: Iterable[str], now: datetime
) -> Sequence[Silence]:
    result = await session.execute(
        select(Silence).where(
            col(Silence.tenant).in_(sorted(set(tenants))),
            col(Silence.starts_at) <= now,
            col(Silence.ends_at) > now,
        )
    )
    return result.scalars().all()


# --- settings ----------------------------------------------------------------------------


async def get_settings(session: AsyncSession, tenant: str) -> TenantSettings | None:
    return await session.get(TenantSettings, tenant)


async def settings_of(session: AsyncSession, tenants: Iterable[str]) -> dict[str, TenantSettings]:
    result = await session.execute(
        select(TenantSettings).where(col(TenantSettings.tenant).in_(sorted(set(tenants))))
    )
    return {row.tenant: row for row in result.scalars().all()}


# --- guardrails --------------------------------------------------------------------------


async def guardrails_of(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Guardrail]:
    """The guardrails of these (tenant, KPI) that exist."""
    wanted = sorted(set(keys))
    found: dict[tuple[str, str], Guardrail] = {}
    for chunk in _chunks(wanted):
        result = await session.execute(
            select(Guardrail).where(
                col(Guardrail.tenant).in_(sorted({t for t, _ in chunk})),
                col(Guardrail.kpi).in_([k for _, k in chunk]),
            )
        )
        for row in result.scalars().all():
            found[(row.tenant, row.kpi)] = row
    exact = set(wanted)
    return {k: v for k, v in found.items() if k in exact}


async def get_guardrail(session: AsyncSession, tenant: str, kpi: str) -> Guardrail | None:
    return await session.get(Guardrail, (tenant, kpi))


async def list_guardrails(
    session: AsyncSession, tenant: str, *, limit: int, after: str | None
) -> Sequence[Guardrail]:
    query = select(Guardrail).where(col(Guardrail.tenant) == tenant)
    if after is not None:
        query = query.where(col(Guardrail.kpi) > after)
    return (await session.execute(query.order_by(col(Guardrail.kpi)).limit(limit))).scalars().all()


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
