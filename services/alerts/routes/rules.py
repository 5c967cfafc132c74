"""/v1/rules: alert rules."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.alerts import repository
from services.alerts.deps import Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.alerts.errors import RuleNotFound
from services.alerts.schemas import RuleCreate, RuleRead, RuleUpdate
from services.alerts.service import rules as service
from shared.errors import BadRequest, problem_responses
from shared.events import utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/rules", tags=["rules"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleRead,
    responses=problem_responses(422),
)
async def create_rule(body: RuleCreate, caller: Writer, session: WriteSession) -> RuleRead:
    rule = await service.create_rule(session, caller.tenant, body, utcnow())
    return service.rule_read(rule)


@router.get("", response_model=Page[RuleRead], responses=problem_responses(400, 422))
async def list_rules(
    caller: Reader, session: ReadSession, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[RuleRead]:
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 2 or not all(isinstance(v, str) for v in values):
            raise BadRequest("invalid cursor")
        after = (values[0], values[1])
    rows = await repository.list_rules(session, caller.tenant, limit=limit, after=after)
    next_cursor = encode_cursor([rows[-1].name, rows[-1].id]) if len(rows) == limit else None
    return Page(items=[service.rule_read(r) for r in rows], next_cursor=next_cursor)


@router.get("/{rule_id}", response_model=RuleRead, responses=problem_responses(404))
async def get_rule(rule_id: str, caller: Reader, session: ReadSession) -> RuleRead:
    rule = await repository.get_rule(session, caller.tenant, rule_id)
    if rule is None:
        raise RuleNotFound(f"no rule '{rule_id}'")
    return service.rule_read(rule)


@router.patch("/{rule_id}", response_model=RuleRead, responses=problem_responses(404, 422))
async def update_rule(
    rule_id: str, body: RuleUpdate, caller: Writer, session: WriteSession, settings: SettingsDep
) -> RuleRead:
    rule = await service.update_rule(session, settings, caller.tenant, rule_id, body, utcnow())
    return service.rule_read(rule)


@router.delete(
    "/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_rule(
    rule_id: str, caller: Writer, session: WriteSession, settings: SettingsDep
) -> Response:
    await service.delete_rule(session, settings, caller.tenant, rule_id, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
