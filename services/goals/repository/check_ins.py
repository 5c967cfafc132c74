"""Queries on check-ins: a key result's history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.goals.domain.states import KeyResultState
from services.goals.tables import CheckIn, KeyResult
from shared.pagination import PageQuery, Sort
from shared.prepared import Prepared
from shared.repository import sorted_page_of_tenant

CHECK_IN_SORTS = {
    "-at": Sort("-at", col(CheckIn.at), descending=True),  # type: ignore[arg-type]
    "at": Sort("at", col(CheckIn.at)),  # type: ignore[arg-type]
}

_CHECK_INS = CheckIn.__table__  # type: ignore[attr-defined]
# Built once, run on the driver's connection (`shared.prepared`): every batch of kpi.values
# records a check-in per KR it moved.
_INSERT = Prepared(
    insert(_CHECK_INS).values({c.name: bindparam(c.name) for c in _CHECK_INS.columns})
)


def row(
    *,
    id: str,
    tenant: str,
    kr: KeyResult | KeyResultState,
    note: str,
    author: str,
    source: str,
    at: datetime,
) -> dict[str, Any]:
    """A check-in recording the KR's value and what it made of the KR (`kr`: the re-evaluated
    row, or its state), as `add_many` takes it."""
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
    await _INSERT.executemany(session, rows)


async def page(
    session: AsyncSession, tenant: str, kr_id: str, query: PageQuery
) -> tuple[list[CheckIn], str | None]:
    return await sorted_page_of_tenant(
        session, CheckIn, tenant, CHECK_IN_SORTS, query, key_result_id=kr_id
    )
