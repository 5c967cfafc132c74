"""/v1/webhook-deliveries: each webhook post, its attempts, last status and last error."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.alerts import repository
from services.alerts.deps import Reader, ReadSession
from services.alerts.errors import DeliveryNotFound
from services.alerts.schemas import DeliveryRead
from shared.errors import BadRequest, problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor

router = APIRouter(
    prefix="/webhook-deliveries", tags=["webhooks"], responses=problem_responses(401, 403)
)


@router.get("", response_model=Page[DeliveryRead], responses=problem_responses(400, 422))
async def list_deliveries(
    caller: Reader,
    session: ReadSession,
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    fingerprint: Annotated[str | None, Query(max_length=32)] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[DeliveryRead]:
    """Newest first. A failing receiver shows here (`attempts`, `last_status_code`,
    `last_error`, `next_attempt_at`); after the last attempt the status is `failed`."""
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 2 or not all(isinstance(v, str) for v in values):
            raise BadRequest("invalid cursor")
        after = (values[0], values[1])
    rows = await repository.list_deliveries(
        session,
        caller.tenant,
        rule_id=rule_id,
        status=status,
        fingerprint=fingerprint,
        limit=limit,
        after=after,
    )
    next_cursor = (
        encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id])
        if len(rows) == limit
        else None
    )
    return Page(
        items=[DeliveryRead.model_validate(d, from_attributes=True) for d in rows],
        next_cursor=next_cursor,
    )


@router.get("/{delivery_id}", response_model=DeliveryRead, responses=problem_responses(404))
async def get_delivery(delivery_id: str, caller: Reader, session: ReadSession) -> DeliveryRead:
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None or delivery.tenant != caller.tenant:
        raise DeliveryNotFound(f"no delivery '{delivery_id}'")
    return DeliveryRead.model_validate(delivery, from_attributes=True)
