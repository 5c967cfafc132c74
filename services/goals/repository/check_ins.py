"""Queries on check-ins: a key result's history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.tables import CheckIn, KeyResult
from shared.pagination import Sort, keyset_page

CHECK_IN_SORTS = {
    "-at": Sort("-at", col(CheckIn.at), descending=True),  # type: ignore[arg-type]
    "at": Sort("at", col(CheckIn.at)),  # type: ignore[arg-type]
}

_INSERT = insert(CheckIn.__table__)  # type: ignore[attr-defined]


def row(
    *,
    id: str,
    tenant: str,
    kr: KeyResult,
    note: str,
    author: str,
    source: str,
    at: datetime,
) -> dict[str, Any]:
    """A check-in recording the KR's value and what it made of the KR (`kr`: the re-evaluated
    row), as `add_many` takes it."""
    return {
        "id": id,
        "tenant": tenant,
        "key_result_id": kr.id,
        "value": kr.current,
        "done": None,
        "confidence": None,
        "note": note,
        "author": author,
        "source": source,
        "at": at,
        "progress": kr.progress,
        "raw_progress": kr.raw_progress,
        "status": kr.status,
    }


async def add_many(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert check-ins in one statement; each row has every column of `check_ins`."""
    if rows:
        await session.execute(_INSERT, list(rows))


async def page(
    session: AsyncSession, tenant: str, kr_id: str, *, sort: str, limit: int, cursor: str | None
) -> tuple[list[CheckIn], str | None]:
    stmt = select(CheckIn).where(col(CheckIn.tenant) == tenant, col(CheckIn.key_result_id) == kr_id)
    return await keyset_page(
        session,
        stmt,
        model=CheckIn,
        sort=CHECK_IN_SORTS[sort],
        id_column=col(CheckIn.id),  # type: ignore[arg-type]
        limit=limit,
        cursor=cursor,
        tenant=tenant,
    )
