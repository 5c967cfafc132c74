"""Webhook deliveries: the due ones, by id, pages newest first."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, and_, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.alerts.tables import WebhookDelivery
from shared.db import wrote
from shared.pagination import Sort
from shared.repository import page_of_tenant

NEWEST_FIRST = Sort("-created_at", col(WebhookDelivery.created_at), descending=True)  # type: ignore[arg-type]


def add_all(session: AsyncSession, rows: Iterable[WebhookDelivery]) -> None:
    """New deliveries, inserted at the next flush (the sender wakes when they commit)."""
    session.add_all(list(rows))
    wrote(session, WebhookDelivery.__tablename__)


async def pending(session: AsyncSession) -> Sequence[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.status) == "pending")
    return (await session.execute(stmt)).scalars().all()


async def save(session: AsyncSession) -> None:
    """Write the changes made to loaded deliveries (inside the caller's transaction)."""
    await session.flush()


def _due_query() -> Select[WebhookDelivery]:
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        col(earlier.status) == "pending",
        col(earlier.tenant) == col(WebhookDelivery.tenant),
        col(earlier.fingerprint) == col(WebhookDelivery.fingerprint),
        col(earlier.url) == col(WebhookDelivery.url),
        or_(
            col(earlier.created_at) < col(WebhookDelivery.created_at),
            and_(
                col(earlier.created_at) == col(WebhookDelivery.created_at),
                col(earlier.seq) < col(WebhookDelivery.seq),
            ),
        ),
    )
    return (
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.next_attempt_at) <= bindparam("now"),
            ~blocked,
            col(WebhookDelivery.id).not_in(bindparam("skip_ids", expanding=True)),
            col(WebhookDelivery.url).not_in(bindparam("skip_urls", expanding=True)),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.created_at))
        .limit(bindparam("limit"))
    )


# Built once: the sender asks after every post, and building the query was most of its cost.
_DUE = _due_query()


async def due(
    session: AsyncSession,
    now: datetime,
    limit: int,
    *,
    skip_ids: Collection[str] = (),
    skip_urls: Collection[str] = (),
) -> Sequence[WebhookDelivery]:
    """The pending deliveries whose time has come and that are the oldest pending one of their
    alert to their receiver: a fingerprint's posts go out in the order they were written (a
    "resolved" never overtakes its retried "firing"), while other alerts go on. Those in
    flight (`skip_ids`) and those to receivers with no free lane (`skip_urls`) are left out,
    so a slow receiver's backlog never fills the page the others are taken from."""
    params = {"now": now, "limit": limit, "skip_ids": list(skip_ids), "skip_urls": list(skip_urls)}
    result = await session.execute(_DUE, params)
    return result.scalars().all()


async def get(session: AsyncSession, delivery_id: str) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def page(
    session: AsyncSession,
    tenant: str,
    *,
    rule_id: str | None,
    status: str | None,
    fingerprint: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookDelivery], str | None]:
    """A page of the tenant's deliveries, newest first (each filter given applied), and the
    next cursor."""
    return await page_of_tenant(
        session,
        WebhookDelivery,
        tenant,
        sort=NEWEST_FIRST,
        limit=limit,
        cursor=cursor,
        equal={"rule_id": rule_id, "status": status, "fingerprint": fingerprint},
    )
