"""/v1/rules: alert rules."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.alerts.deps import Reader, ReadSession, SettingsDep, Writer, WriteSession
from services.alerts.mappers import rule_read
from services.alerts.schemas import RuleCreate, RuleRead, RuleUpdate
from services.alerts.service import rules as service
from shared.errors import problem_responses
from shared.events import utcnow
from shared.pagination import CursorQuery, LimitQuery, Page, page_of

router = APIRouter(prefix="/rules", tags=["rules"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleRead,
    responses=problem_responses(409, 422),
)
async def create_rule(
    body: RuleCreate, caller: Writer, session: WriteSession, settings: SettingsDep
) -> RuleRead:
    rule = await service.create_rule(session, settings, caller.tenant, body, utcnow())
    return rule_read(rule)


@router.get("", response_model=Page[RuleRead], responses=problem_responses(400, 404, 422))
async def list_rules(
    caller: Reader, session: ReadSession, limit: LimitQuery = 100, cursor: CursorQuery = None
) -> Page[RuleRead]:
    """Rules by name."""
    return page_of(
        await service.list_rules(session, caller.tenant, limit=limit, cursor=cursor), rule_read
    )


@router.get("/{rule_id}", response_model=RuleRead, responses=problem_responses(404))
async def get_rule(rule_id: str, caller: Reader, session: ReadSession) -> RuleRead:
    return rule_read(await service.get_rule(session, caller.tenant, rule_id))


@router.patch("/{rule_id}", response_model=RuleRead, responses=problem_responses(404, 422))
async def update_rule(
    rule_id: str, body: RuleUpdate, caller: Writer, session: WriteSession, settings: SettingsDep
) -> RuleRead:
    rule = await service.update_rule(session, settings, caller.tenant, rule_id, body, utcnow())
    return rule_read(rule)


@router.delete(
    "/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_rule(
    rule_id: str, caller: Writer, session: WriteSession, settings: SettingsDep
) -> Response:
    await service.delete_rule(session, settings, caller.tenant, rule_id, utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
