"""Queries on API keys (the shared `api_keys` table; goals writes it through
`shared.auth.upsert_api_key`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.tables import api_keys


async def list_api_keys(session: AsyncSession, tenant: str) -> Sequence[Row[tuple[object, ...]]]:
    result = await session.execute(
        select(api_keys).where(api_keys.c.tenant == tenant).order_by(api_keys.c.created_at)
    )
    return result.all()


async def count_active(session: AsyncSession, tenant: str) -> int:
    stmt = (
        select(func.count())
        .select_from(api_keys)
        .where(api_keys.c.tenant == tenant, api_keys.c.revoked_at.is_(None))
    )
    return int((await session.execute(stmt)).scalar_one())


async def get_api_key(
    session: AsyncSession, tenant: str, key_id: str
) -> Row[tuple[object, ...]] | None:
    result = await session.execute(
        select(api_keys).where(api_keys.c.tenant == tenant, api_keys.c.key_id == key_id)
    )
    return result.one_or_none()
