"""/v1/silences: Alertmanager's silences (matchers, startsAt/endsAt, createdBy, comment)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.alerts.deps import Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.alerts.mappers import silence_read
from services.alerts.schemas import SilenceCreate, SilenceRead
from services.alerts.service import silences as service
from shared.errors import problem_responses
from shared.events import utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, page_of

router = APIRouter(prefix="/silences", tags=["silences"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SilenceRead,
    responses=problem_responses(409, 422),
)
async def create(
    body: SilenceCreate, caller: Writer, session: WriteSession, settings: SettingsDep
) -> SilenceRead:
    """Mute the alerts every matcher matches while startsAt ≤ now < endsAt. Silenced alerts
    are still evaluated and listed; they are not published. Takes effect at the next
    evaluation (an event or the timer)."""
    now = utcnow()
    quota = settings.max_silences_per_tenant
    silence = await service.create_silence(session, caller.tenant, body, now, quota=quota)
    return silence_read(silence, now)


@router.get("", response_model=Page[SilenceRead], responses=problem_responses(400, 404, 422))
async def list_silences(
    caller: Reader,
    session: ReadSession,
    include_expired: Annotated[bool, Query()] = False,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[SilenceRead]:
    now = utcnow()
    return page_of(
        await service.list_silences(
            session,
            caller.tenant,
            include_expired=include_expired,
            now=now,
            limit=limit,
            cursor=cursor,
        ),
        lambda row: silence_read(row, now),
    )


@router.get("/{silence_id}", response_model=SilenceRead, responses=problem_responses(404))
async def get_silence(silence_id: str, caller: Reader, session: ReadSession) -> SilenceRead:
    silence = await service.get_silence(session, caller.tenant, silence_id)
    return silence_read(silence, utcnow())


@router.delete("/{silence_id}", response_model=SilenceRead, responses=problem_responses(404))
async def expire(silence_id: str, caller: Writer, session: WriteSession) -> SilenceRead:
    """Expire a silence now (it stays listed with `include_expired`)."""
    now = utcnow()
    return silence_read(await service.expire_silence(session, caller.tenant, silence_id, now), now)
