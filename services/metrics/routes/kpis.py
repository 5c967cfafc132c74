"""/v1/kpis: KPI definitions, and each KPI's current value and series."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.metrics.deps import Now, Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.metrics.schemas import KpiCreate, KpiRead, KpiUpdate, KpiValueRead, SeriesRead
from services.metrics.service import graduation, values
from services.metrics.service import kpis as service
from shared.errors import problem_responses
from shared.events import UtcDatetime
from shared.pagination import CursorQuery, LimitQuery, Page
from shared.periods import Period

router = APIRouter(prefix="/kpis", tags=["kpis"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=KpiRead,
    responses=problem_responses(400, 409, 422),
)
async def create_kpi(
    body: KpiCreate, caller: Writer, session: WriteSession, now: Now, settings: SettingsDep
) -> KpiRead:
    quota = settings.max_kpis_per_tenant
    return await service.create(session, caller.tenant, body, now, quota=quota)


@router.get("", response_model=Page[KpiRead], responses=problem_responses(400, 404, 422))
async def list_kpis(
    caller: Reader, session: ReadSession, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[KpiRead]:
    return await service.page(session, caller.tenant, limit=limit, cursor=cursor)


@router.get("/{key}", response_model=KpiRead, responses=problem_responses(404))
async def get_kpi(key: str, caller: Reader, session: ReadSession) -> KpiRead:
    return await service.get(session, caller.tenant, key)


@router.patch("/{key}", response_model=KpiRead, responses=problem_responses(400, 404, 409, 422))
async def update_kpi(
    key: str, body: KpiUpdate, caller: Writer, session: WriteSession, now: Now
) -> KpiRead:
    return await service.update(session, caller.tenant, key, body, now)


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404))
async def delete_kpi(key: str, caller: Writer, session: WriteSession) -> Response:
    """Delete the definition with its points and rollups."""
    await service.delete(session, caller.tenant, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{key}/guardrail", response_model=KpiRead, responses=problem_responses(404))
async def remove_guardrail(
    key: str, caller: Writer, session: WriteSession, now: Now, settings: SettingsDep
) -> KpiRead:
    """Remove the guardrail a graduated key result made of the KPI (`guardrail` on the KPI
    says what it changed): the KPI gets back the direction and bands it had before, unless
    they were edited since (then the edit stays). 404 when the KPI is no guardrail. A write
    key, as for PATCH. Alerts learns of it (`lodestar.kpi.guardrail.removed.v1` on
    `kpi.values`) and resolves the KPI's KpiGuardrailBreached."""
    return await graduation.remove_guardrail(session, caller.tenant, key, now, settings)


@router.get("/{key}/value", response_model=KpiValueRead, responses=problem_responses(404))
async def current_value(key: str, caller: Reader, session: ReadSession, now: Now) -> KpiValueRead:
    """The latest period with data, its health now (`no_data` past the cadence) and its
    trend against the period before."""
    return await values.current_value(session, caller.tenant, key, now)


@router.get("/{key}/series", response_model=SeriesRead, responses=problem_responses(404, 422))
async def series(
    key: str,
    caller: Reader,
    session: ReadSession,
    now: Now,
    start: Annotated[UtcDatetime, Query(description="Inclusive, RFC 3339")],
    end: Annotated[UtcDatetime | None, Query(description="Exclusive; default now")] = None,
    bucket: Annotated[Period | None, Query(description="Default: the KPI's period")] = None,
) -> SeriesRead:
    return await values.series(session, caller.tenant, key, start, end or now, bucket)
