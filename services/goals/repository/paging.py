"""Keyset pagination over one sort column plus the id as tie-breaker, with opaque cursors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import BadRequest
from shared.pagination import decode_cursor, encode_cursor

T = TypeVar("T")


@dataclass(frozen=True)
class Sort:
    """A sort a list offers: its name in the API, the column, the direction."""

    name: str
    column: InstrumentedAttribute[Any]
    descending: bool = False


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _decode(value: Any, sample: Any) -> Any:
    if isinstance(sample, datetime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    model: type[T],
    sort: Sort,
    id_column: InstrumentedAttribute[Any],
    limit: int,
    cursor: str | None,
    datetime_sort: bool = False,
) -> tuple[list[T], str | None]:
    """One page of `stmt` ordered by (sort column, id); the cursor names the sort it was made
    for, so a cursor replayed with another sort is refused (400)."""
    col, ident = sort.column, id_column
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 3 or values[0] != sort.name or not isinstance(values[2], str):
            raise BadRequest("the cursor does not belong to this list and sort")
        last = _decode(values[1], datetime.min if datetime_sort else None)
        last_id = values[2]
        if sort.descending:
            stmt = stmt.where(or_(col < last, and_(col == last, ident < last_id)))
        else:
            stmt = stmt.where(or_(col > last, and_(col == last, ident > last_id)))
    order = (col.desc(), ident.desc()) if sort.descending else (col.asc(), ident.asc())
    found = (await session.execute(stmt.order_by(*order).limit(limit + 1))).scalars().all()
    rows: list[T] = [row for row in found if isinstance(row, model)]
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    tail = rows[-1]
    key = sort.column.key
    next_cursor = encode_cursor([sort.name, _encode(getattr(tail, key)), getattr(tail, ident.key)])
    return rows, next_cursor
