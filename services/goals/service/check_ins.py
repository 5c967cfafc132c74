"""Check-ins: a key result's history. A manual check-in moves the KR's value (or done), and
with it progress, status and the objective's roll-up; a KR linked to a KPI takes only
confidence and a note (its value comes from the KPI: 409), a graduated one nothing (409)."""

from __future__ import annotations

from services.goals import mappers
from services.goals.domain import progress as p
from services.goals.errors import FollowsKpi, InvalidKeyResult
from services.goals.repository import check_ins as repo
from services.goals.schemas import CheckInCreate, CheckInRead
from services.goals.service.context import Write
from services.goals.service.cycles import load_open
from services.goals.service.evaluation import reevaluate_write
from services.goals.service.key_results import load, load_open_kr
from services.goals.tables import CheckIn, new_id
from shared.db import AsyncSession
from shared.pagination import Page, PageQuery, page_of


async def create(write: Write, kr_id: str, body: CheckInCreate) -> CheckInRead:
    """Record a new value, each change it makes announced on `okr.events`; its author is the
    body's, else the caller's key."""
    session, tenant, now = write.session, write.tenant, write.now
    kr = load_open_kr(await load(session, tenant, kr_id))
    cycle = await load_open(session, tenant, kr.cycle_id)
    if kr.kpi is not None:
        if body.value is not None or body.done is not None:
            raise FollowsKpi(
                f"key result '{kr.title}' follows KPI '{kr.kpi}': its value comes from the "
                "KPI (check in confidence or a note without a value, or unlink it first)"
            )
    elif kr.kind == p.KrKind.MILESTONE:
        if body.done is None or body.value is not None:
            raise InvalidKeyResult("a milestone check-in sends done (true/false), not value")
        kr.done = body.done
    else:
        if body.value is None or body.done is not None:
            raise InvalidKeyResult(f"a '{kr.kind}' check-in sends value, not done")
        kr.current = body.value
    if body.confidence is not None:
        kr.confidence = body.confidence
    await reevaluate_write(session, write.settings, cycle, now, key_results=[kr])
    entry = CheckIn(
        id=new_id(),
        tenant=tenant,
        key_result_id=kr.id,
        value=body.value if kr.kpi is None else kr.current,
        done=body.done,
        confidence=body.confidence,
        note=body.note,
        author=body.author or write.key_id,
        source="manual",
        at=now,
        progress=kr.progress,
        raw_progress=kr.raw_progress,
        status=kr.status,
    )
    session.add(entry)
    await session.flush()
    return mappers.check_in_read(entry)


async def page(
    session: AsyncSession, tenant: str, kr_id: str, query: PageQuery
) -> Page[CheckInRead]:
    kr = await load(session, tenant, kr_id)
    return page_of(await repo.page(session, tenant, kr.id, query), mappers.check_in_read)
