"""Every query of the alerts service; the caller passes the session and owns the commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.tables import Alert, AlertRule


async def rules_for_kpi(session: AsyncSession, tenant: str, kpi: str) -> Sequence[AlertRule]:
    result = await session.execute(
        select(AlertRule)
        .where(col(AlertRule.tenant) == tenant, col(AlertRule.kpi) == kpi)
        .order_by(col(AlertRule.id))
    )
    return result.scalars().all()


async def list_rules(session: AsyncSession, tenant: str) -> Sequence[AlertRule]:
    result = await session.execute(
        select(AlertRule).where(col(AlertRule.tenant) == tenant).order_by(col(AlertRule.name))
    )
    return result.scalars().all()


async def get_rule(session: AsyncSession, tenant: str, rule_id: str) -> AlertRule | None:
    rule = await session.get(AlertRule, rule_id)
    return rule if rule is not None and rule.tenant == tenant else None


async def get_alert(session: AsyncSession, tenant: str, fingerprint: str) -> Alert | None:
    return await session.get(Alert, (tenant, fingerprint))


async def list_alerts(session: AsyncSession, tenant: str) -> Sequence[Alert]:
    result = await session.execute(
        select(Alert).where(col(Alert.tenant) == tenant).order_by(col(Alert.updated_at).desc())
    )
    return result.scalars().all()
