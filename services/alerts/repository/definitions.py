"""Definition versions (`definition_versions`) and the whole-tenant loads of what they
version: enabled rules, unexpired silences, the settings row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.alerts.tables import AlertRule, DefinitionVersion, Silence
from shared.sql import dialect_insert


async def bump(session: AsyncSession, tenant: str) -> None:
    """Move the tenant's version on, in the caller's transaction (an upsert: PostgreSQL
    serialises concurrent writers on the row, so two replicas' writes make two versions)."""
    table = DefinitionVersion.__table__  # type: ignore[attr-defined]
    stmt = dialect_insert(session, table).values(tenant=tenant, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant"], set_={"version": table.c.version + 1}
    )
    await session.execute(stmt)


# Built once: every batch asks (an expanding IN list).
_VERSIONS_OF = select(col(DefinitionVersion.tenant), col(DefinitionVersion.version)).where(
    col(DefinitionVersion.tenant).in_(bindparam("tenants", expanding=True))
)


async def versions_of(session: AsyncSession, tenants: Iterable[str]) -> dict[str, int]:
    """Tenant → version, one query; a tenant never written to has none (version 0)."""
    wanted = sorted(set(tenants))
    result = await session.execute(_VERSIONS_OF, {"tenants": wanted})
    found = dict.fromkeys(wanted, 0)
    found.update({tenant: int(version) for tenant, version in result.all()})
    return found


async def all_versions(session: AsyncSession) -> dict[str, int]:
    """Every tenant's version (one row a tenant written to)."""
    result = await session.execute(
        select(col(DefinitionVersion.tenant), col(DefinitionVersion.version))
    )
    return {tenant: int(version) for tenant, version in result.all()}


async def enabled_rules_of(session: AsyncSession, tenants: Iterable[str]) -> Sequence[AlertRule]:
    result = await session.execute(
        select(AlertRule)
        .where(col(AlertRule.tenant).in_(sorted(set(tenants))), col(AlertRule.enabled).is_(True))
        .order_by(col(AlertRule.id))
    )
    return result.scalars().all()


async def unexpired_silences_of(
    session: AsyncSession, tenants: Iterable[str], now: datetime
) -> Sequence[Silence]:
    """Silences not ended at `now`, future ones too: which are active is judged per batch."""
    result = await session.execute(
        select(Silence).where(
            col(Silence.tenant).in_(sorted(set(tenants))), col(Silence.ends_at) > now
        )
    )
    return result.scalars().all()
