"""/v1/silences: Alertmanager's silences (matchers, startsAt/endsAt, createdBy, comment)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.alerts import repository
from services.alerts.deps import Reader, ReadSession, Writer, WriteSession
from services.alerts.errors import SilenceNotFound
from services.alerts.schemas import SilenceCreate, SilenceRead
from services.alerts.service.marks import create_silence, expire_silence, silence_read
from shared.errors import BadRequest, problem_responses
from shared.events import utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/silences", tags=["silences"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SilenceRead,
    responses=problem_responses(422),
)
async def create(body: SilenceCreate, caller: Writer, session: WriteSession) -> SilenceRead:
    """Mute the alerts every matcher matches while startsAt ≤ now < endsAt. Silenced alerts
    are still evaluated and listed; they are not published. Takes effect at the next
    evaluation (an event or the timer)."""
    now = utcnow()
    return silence_read(await create_silence(session, caller.tenant, body, now), now)


@router.get("", response_model=Page[SilenceRead], responses=problem_responses(400, 422))
async def list_silences(
    caller: Reader,
    session: ReadSession,
    include_expired: Annotated[bool, Query()] = False,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[SilenceRead]:
    now = utcnow()
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 2 or not all(isinstance(v, str) for v in values):
            raise BadRequest("invalid cursor")
        after = (values[0], values[1])
    rows = await repository.list_silences(
        session,
        caller.tenant,
        limit=limit,
        after=after,
        not_expired_at=None if include_expired else now,
    )
    next_cursor = (
        encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id])
        if len(rows) == limit
        else None
    )
    return Page(items=[silence_read(s, now) for s in rows], next_cursor=next_cursor)


@router.get("/{silence_id}", response_model=SilenceRead, responses=problem_responses(404))
async def get_silence(silence_id: str, caller: Reader, session: ReadSession) -> SilenceRead:
    silence = await repository.get_silence(session, caller.tenant, silence_id)
    if silence is None:
        raise SilenceNotFound(f"no silence '{silence_id}'")
    return silence_read(silence, utcnow())


@router.delete("/{silence_id}", response_model=SilenceRead, responses=problem_responses(404))
async def expire(silence_id: str, caller: Writer, session: WriteSession) -> SilenceRead:
    """Expire a silence now (it stays listed with `include_expired`)."""
    now = utcnow()
    return silence_read(await expire_silence(session, caller.tenant, silence_id, now), now)
