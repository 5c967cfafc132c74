"""Alert rules: by id, pages by name, the ones with a webhook or a `no_data` condition."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.tables import AlertRule
from shared.pagination import Sort
from shared.repository import page_of_tenant

BY_NAME = Sort("name", col(AlertRule.name))  # type: ignore[arg-type]


async def count(session: AsyncSession, tenant: str) -> int:
    stmt = select(func.count()).select_from(AlertRule).where(col(AlertRule.tenant) == tenant)
    return int((await session.execute(stmt)).scalar_one())


async def with_webhook(session: AsyncSession) -> Sequence[AlertRule]:
    """Every rule that has a webhook, of every tenant."""
    stmt = select(AlertRule).where(col(AlertRule.webhook_secret).is_not(None))
    return (await session.execute(stmt)).scalars().all()


async def get(session: AsyncSession, tenant: str, rule_id: str) -> AlertRule | None:
    rule = await session.get(AlertRule, rule_id)
    return rule if rule is not None and rule.tenant == tenant else None


async def page(
    session: AsyncSession, tenant: str, *, limit: int, cursor: str | None
) -> tuple[list[AlertRule], str | None]:
    return await page_of_tenant(
        session, AlertRule, tenant, sort=BY_NAME, limit=limit, cursor=cursor
    )


async def add(session: AsyncSession, rule: AlertRule) -> None:
    session.add(rule)
    await session.flush()


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded rules (inside the caller's transaction)."""
    await session.flush()


async def delete(session: AsyncSession, rule: AlertRule) -> None:
    await session.delete(rule)
    await session.flush()


async def by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, AlertRule]:
    if not ids:
        return {}
    result = await session.execute(select(AlertRule).where(col(AlertRule.id).in_(ids)))
    return {r.id: r for r in result.scalars().all()}


async def absent_on_kpis(session: AsyncSession) -> Sequence[AlertRule]:
    """Enabled `no_data` rules on one KPI (their alert must exist before any data does)."""
    result = await session.execute(
        select(AlertRule).where(
            col(AlertRule.enabled).is_(True),
            col(AlertRule.condition) == "no_data",
            col(AlertRule.target_kind) == "kpi",
        )
    )
    return result.scalars().all()
