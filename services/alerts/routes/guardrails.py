"""/v1/guardrails: the KPIs whose linked key result graduated (from `lodestar.kr.graduated.v1`).
Their health leaving green fires the built-in KpiGuardrailBreached."""

from __future__ import annotations

from fastapi import APIRouter

from services.alerts import repository
from services.alerts.deps import Reader, ReadSession
from services.alerts.errors import GuardrailNotFound
from services.alerts.schemas import GuardrailRead
from services.alerts.tables import Guardrail
from shared.errors import BadRequest, problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/guardrails", tags=["guardrails"], responses=problem_responses(401, 403))


def guardrail_read(row: Guardrail) -> GuardrailRead:
    return GuardrailRead(
        kpi=row.kpi,
        key_result_id=row.key_result_id,
        kind=row.kind,
        target=row.target,
        bound_low=row.bound_low,
        bound_high=row.bound_high,
        periods_met=row.periods_met,
        graduated_at=row.graduated_at,
    )


@router.get("", response_model=Page[GuardrailRead], responses=problem_responses(400, 422))
async def list_guardrails(
    caller: Reader, session: ReadSession, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[GuardrailRead]:
    """Guardrails in KPI order."""
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 1 or not isinstance(values[0], str):
            raise BadRequest("invalid cursor")
        after = values[0]
    rows = await repository.list_guardrails(session, caller.tenant, limit=limit, after=after)
    next_cursor = encode_cursor([rows[-1].kpi]) if len(rows) == limit else None
    return Page(items=[guardrail_read(r) for r in rows], next_cursor=next_cursor)


@router.get("/{kpi}", response_model=GuardrailRead, responses=problem_responses(404))
async def get_guardrail(kpi: str, caller: Reader, session: ReadSession) -> GuardrailRead:
    row = await repository.get_guardrail(session, caller.tenant, kpi)
    if row is None:
        raise GuardrailNotFound(f"KPI '{kpi}' is not a guardrail (no key result graduated)")
    return guardrail_read(row)
