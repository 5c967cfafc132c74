"""/v1/rules: alert rules."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.alerts import repository, service
from services.alerts.deps import Reader, ReadSession, Writer, WriteSession
from services.alerts.errors import RuleNotFound
from services.alerts.schemas import RuleCreate, RuleRead
from shared.errors import problem_responses

router = APIRouter(prefix="/rules", tags=["rules"], responses=problem_responses(401, 403))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleRead,
    responses=problem_responses(422),
)
async def create_rule(body: RuleCreate, caller: Writer, session: WriteSession) -> RuleRead:
    rule = await service.create_rule(session, caller.tenant, body)
    return RuleRead.model_validate(rule, from_attributes=True)


@router.get("", response_model=list[RuleRead])
async def list_rules(caller: Reader, session: ReadSession) -> list[RuleRead]:
    rules = await repository.list_rules(session, caller.tenant)
    return [RuleRead.model_validate(r, from_attributes=True) for r in rules]


@router.get("/{rule_id}", response_model=RuleRead, responses=problem_responses(404))
async def get_rule(rule_id: str, caller: Reader, session: ReadSession) -> RuleRead:
    rule = await repository.get_rule(session, caller.tenant, rule_id)
    if rule is None:
        raise RuleNotFound(f"no rule '{rule_id}'")
    return RuleRead.model_validate(rule, from_attributes=True)
