"""The caller's tenant: its name and timezone. goals stores a change and announces it as
`lodestar.tenant.v1` on the compacted `tenants` topic (through the outbox), from which metrics
and alerts learn the zone their periods follow.

A new timezone applies from the moment each service hears of it: measurements rolled up from
then on land in the new zone's periods; stored periods keep the bounds they had (nothing is
re-bucketed, a KPI's history may show its old-zone periods beside the new ones)."""

from __future__ import annotations

from services.goals.repository import tenants as repository
from services.goals.schemas import TenantRead, TenantUpdate
from shared.auth import upsert_tenant
from shared.db import AsyncSession
from shared.events import TENANT_V1, TenantV1, new_event
from shared.outbox import enqueue
from shared.periods import DEFAULT_TIMEZONE
from shared.settings import ServiceSettings


async def get(session: AsyncSession, tenant: str) -> TenantRead:
    row = await repository.get(session, tenant)
    if row is None:  # known by its keys only: the defaults every service assumes
        return TenantRead(slug=tenant, name=tenant, timezone=DEFAULT_TIMEZONE)
    return TenantRead(slug=tenant, name=str(row.name), timezone=str(row.timezone))


async def update(
    session: AsyncSession, tenant: str, body: TenantUpdate, settings: ServiceSettings
) -> TenantRead:
    current = await get(session, tenant)
    record = TenantV1(
        slug=tenant,
        name=body.name if body.name is not None else current.name,
        timezone=body.timezone if body.timezone is not None else current.timezone,
    )
    await upsert_tenant(session, record)
    event = new_event(
        type=TENANT_V1,
        source=f"lodestar/{settings.service_name}",
        tenant=tenant,
        subject="tenant",
        data=record,
    )
    await enqueue(session, settings.topics.name(settings.topics.tenants), event)
    return await get(session, tenant)
