"""/v1/kpis: KPI definitions, and each KPI's current value and series."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.metrics import repository, service
from services.metrics.deps import Reader, ReadSession, Writer, WriteSession
from services.metrics.domain.periods import Period
from services.metrics.schemas import KpiCreate, KpiRead, KpiUpdate, KpiValueRead, SeriesRead
from shared.errors import problem_responses
from shared.events import UtcDatetime, utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/kpis", tags=["kpis"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KpiRead,
    responses=problem_responses(400, 409, 422),
)
async def create_kpi(body: KpiCreate, caller: Writer, session: WriteSession) -> KpiRead:
    kpi = await service.create_kpi(session, caller.tenant, body)
    return service.kpi_read(kpi)


@router.get("", response_model=Page[KpiRead], responses=problem_responses(400, 422))
async def list_kpis(
    caller: Reader, session: ReadSession, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[KpiRead]:
    after = str(decode_cursor(cursor)[0]) if cursor else None
    kpis = await repository.list_kpis(session, caller.tenant, after=after, limit=limit + 1)
    page = [service.kpi_read(k) for k in kpis[:limit]]
    more = len(kpis) > limit
    return Page(items=page, next_cursor=encode_cursor([page[-1].key]) if more else None)


@router.get("/{key}", response_model=KpiRead, responses=problem_responses(404))
async def get_kpi(key: str, caller: Reader, session: ReadSession) -> KpiRead:
    return service.kpi_read(await service.get_kpi(session, caller.tenant, key))


@router.patch("/{key}", response_model=KpiRead, responses=problem_responses(400, 404, 409, 422))
async def update_kpi(key: str, body: KpiUpdate, caller: Writer, session: WriteSession) -> KpiRead:
    return service.kpi_read(await service.update_kpi(session, caller.tenant, key, body))


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
async def delete_kpi(key: str, caller: Writer, session: WriteSession) -> Response:
    """Delete the definition with its points and rollups."""
    await service.delete_kpi(session, caller.tenant, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{key}/value", response_model=KpiValueRead, responses=problem_responses(404))
async def current_value(key: str, caller: Reader, session: ReadSession) -> KpiValueRead:
    """The latest period with data, its health now (`no_data` past the cadence) and its
    trend against the period before."""
    kpi = await service.get_kpi(session, caller.tenant, key)
    return await service.current_value(session, kpi, utcnow())


@router.get("/{key}/series", response_model=SeriesRead, responses=problem_responses(404, 422))
async def series(
    key: str,
    caller: Reader,
    session: ReadSession,
    start: Annotated[UtcDatetime, Query(description="Inclusive, RFC 3339")],
    end: Annotated[UtcDatetime | None, Query(description="Exclusive; default now")] = None,
    bucket: Annotated[Period | None, Query(description="Default: the KPI's period")] = None,
) -> SeriesRead:
    kpi = await service.get_kpi(session, caller.tenant, key)
    return await service.series(session, kpi, start, end or utcnow(), bucket)
