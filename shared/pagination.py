"""Keyset pagination with opaque cursors: `limit` and `cursor` in, `next_cursor` out.

Every list in every service pages with `keyset_page`: one sort column plus the primary key as
tie-breaker, `limit + 1` rows fetched to know whether there is a next page. The cursor names
the sort it was made for; a cursor that is not one of ours, or belongs to another list or sort,
is a 400, never a 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import BadRequest

__all__ = [
    "CursorQuery",
    "LimitQuery",
    "Page",
    "Sort",
    "decode_cursor",
    "encode_cursor",
    "keyset_page",
    "page_of",
]

T = TypeVar("T")
_A_DATETIME = datetime(1970, 1, 1, tzinfo=UTC)  # a sample: "this sort is by a datetime"

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size")]
CursorQuery = Annotated[
    str | None, Query(description="The `next_cursor` of the previous page", max_length=512)
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error) as exc:  # JSONDecodeError and UnicodeError are both
        raise BadRequest("invalid cursor") from exc
    if not isinstance(values, list):
        raise BadRequest("invalid cursor")
    return values


@dataclass(frozen=True)
class Sort:
    """A sort a list offers: its name in the API, the column, the direction."""

    name: str
    column: InstrumentedAttribute[Any]
    descending: bool = False


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _decode(value: Any, sample: Any) -> Any:
    if isinstance(sample, datetime):
        if not isinstance(value, str):
            raise BadRequest("invalid cursor")
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadRequest("invalid cursor") from exc
    if value is not None and (not isinstance(value, str | int | float) or isinstance(value, bool)):
        raise BadRequest("invalid cursor")
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
        last = _decode(values[1], _A_DATETIME if datetime_sort else None)
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


def page_of(found: tuple[Sequence[Any], str | None], read: Callable[[Any], T]) -> Page[T]:
    """A repository's `(rows, next_cursor)` as the API's page, each row through `read`."""
    rows, next_cursor = found
    return Page(items=[read(row) for row in rows], next_cursor=next_cursor)
