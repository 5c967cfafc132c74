"""/v1/webhook-deliveries: each webhook post, its attempts, last status and last error."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.alerts.deps import Reader, ReadSession
from services.alerts.mappers import delivery_read
from services.alerts.schemas import DeliveryRead
from services.alerts.service import deliveries as service
from shared.errors import problem_responses
from shared.pagination import CursorQuery, LimitQuery, Page, page_of

router = APIRouter(
    prefix="/webhook-deliveries", tags=["webhooks"], responses=problem_responses(401, 403)
)


@router.get("", response_model=Page[DeliveryRead], responses=problem_responses(400, 404, 422))
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
    return page_of(
        await service.list_deliveries(
            session,
            caller.tenant,
            rule_id=rule_id,
            status=status,
            fingerprint=fingerprint,
            limit=limit,
            cursor=cursor,
        ),
        delivery_read,
    )


@router.get("/{delivery_id}", response_model=DeliveryRead, responses=problem_responses(404))
async def get_delivery(delivery_id: str, caller: Reader, session: ReadSession) -> DeliveryRead:
    return delivery_read(await service.get_delivery(session, caller.tenant, delivery_id))
