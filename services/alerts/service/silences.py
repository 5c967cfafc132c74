"""Silences: create, read, page, expire."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.alerts.errors import QuotaExceeded, SilenceNotFound
from services.alerts.repository import silences as repository
from services.alerts.schemas import SilenceCreate
from services.alerts.service.definitions import bump
from services.alerts.tables import Silence
from shared.db import AsyncSession
from shared.errors import Unprocessable, found


async def create_silence(
    session: AsyncSession, tenant: str, body: SilenceCreate, now: datetime, *, quota: int
) -> Silence:
    """A new silence; at most `quota` of a tenant's may be unexpired (409 past it)."""
    if await repository.count_unexpired(session, tenant, now) >= quota:
        raise QuotaExceeded(f"a tenant may have {quota} silences that have not ended")
    starts_at = body.starts_at or now
    if body.ends_at <= starts_at or body.ends_at <= now:
        raise Unprocessable("endsAt must be after startsAt and in the future")
    silence = Silence(
        id=str(uuid.uuid4()),
        tenant=tenant,
        matchers=[m.model_dump(mode="json") for m in body.matchers],
        starts_at=starts_at,
        ends_at=body.ends_at,
        created_by=body.created_by,
        comment=body.comment,
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, silence)
    await bump(session, tenant)
    return silence


async def get_silence(session: AsyncSession, tenant: str, silence_id: str) -> Silence:
    return found(
        await repository.get(session, tenant, silence_id),
        SilenceNotFound(f"no silence '{silence_id}'"),
    )


async def list_silences(
    session: AsyncSession,
    tenant: str,
    *,
    include_expired: bool,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[Silence], str | None]:
    """A page of silences, newest first (expired ones only if asked), and the next cursor."""
    return await repository.page(
        session,
        tenant,
        not_expired_at=None if include_expired else now,
        limit=limit,
        cursor=cursor,
    )


async def expire_silence(
    session: AsyncSession, tenant: str, silence_id: str, now: datetime
) -> Silence:
    """End a silence now (Alertmanager's expire); an expired one is left as it is."""
    silence = await get_silence(session, tenant, silence_id)
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at)
        silence.updated_at = now
        await repository.save(session)
        await bump(session, tenant)
    return silence
