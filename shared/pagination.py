"""Keyset pagination with opaque cursors: `limit` and `cursor` in, `next_cursor` out.

Every list in every service pages with `keyset_page`: one sort column plus the primary key as
tie-breaker, `limit + 1` rows fetched to know whether there is a next page.

A cursor is its values (the tenant it was made for, the sort's name, the last row's sort value
and id) and an HMAC over them and the list (table), keyed by the deployment's secret
(`configure`). So a client can neither forge the values (a number where the database compares
text answered 500 on PostgreSQL) nor carry a cursor to another list or sort (400), and
another tenant's cursor, genuine but not the caller's, is a 404, as another tenant's id is:
never a 5xx. The values are also checked against the sort column's type, so even a cursor
signed under an older shape of the list cannot reach the database with the wrong type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import BadRequest, NotFound

__all__ = [
    "CursorQuery",
    "LimitQuery",
    "Page",
    "PageQuery",
    "Sort",
    "decode_cursor",
    "encode_cursor",
    "keyset_page",
    "page_of",
]

T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size")]
CursorQuery = Annotated[
    str | None, Query(description="The `next_cursor` of the previous page", max_length=512)
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageQuery:
    """What a list was asked for: the name of one of the sorts it offers, the page size, and
    the previous page's `next_cursor` (None: the first page)."""

    sort: str
    limit: int
    cursor: str | None


# Replaced by `configure` at start-up with a key derived from `LODESTAR_SECRET_KEY`, so the
# replicas of a service (and its restarts) accept each other's cursors.
_key = secrets.token_bytes(32)


def configure(secret: bytes) -> None:
    """Key cursor signatures with `secret` (derived, so the key serves nothing else)."""
    global _key
    _key = hmac.new(secret, b"lodestar cursor v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(scope: str, payload: bytes) -> bytes:
    return hmac.new(_key, scope.encode() + b"\0" + payload, hashlib.sha256).digest()[:18]


def encode_cursor(tenant: str, table: str, values: list[Any]) -> str:
    """An opaque cursor for the tenant's `values` of the list `table`."""
    payload = json.dumps([tenant, *values], separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(table, payload))}"


def decode_cursor(tenant: str, table: str, cursor: str) -> list[Any]:
    """The values of a cursor `encode_cursor` made for the list `table`: BadRequest for any
    other text, NotFound for one made for another tenant."""
    payload_text, _, mac_text = cursor.partition(".")
    try:
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, binascii.Error) as exc:
        raise BadRequest("invalid cursor") from exc
    if not hmac.compare_digest(mac, _mac(table, payload)):
        raise BadRequest("the cursor does not belong to this list")
    try:
        values = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and UnicodeError are both
        raise BadRequest("invalid cursor") from exc
    if not isinstance(values, list) or not values:
        raise BadRequest("invalid cursor")
    if values[0] != tenant:
        raise NotFound("no such page: the cursor is another tenant's")
    return values[1:]


@dataclass(frozen=True)
class Sort:
    """A sort a list offers: its name in the API, the column, the direction."""

    name: str
    column: InstrumentedAttribute[Any]
    descending: bool = False


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _column_type(column: InstrumentedAttribute[Any]) -> type:
    """The Python type of a column's values (a TypeDecorator's is its implementation's)."""
    sql_type = column.expression.type
    sql_type = getattr(sql_type, "impl_instance", sql_type)
    try:
        python_type: type = sql_type.python_type
    except NotImplementedError:
        return str
    return python_type


def _decode(value: Any, expected: type) -> Any:
    """A cursor value as the column's type; BadRequest if it is not one."""
    if value is None:
        return None
    if issubclass(expected, datetime):
        if not isinstance(value, str):
            raise BadRequest("invalid cursor")
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise BadRequest("invalid cursor") from exc
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest("invalid cursor")
    if expected is str and not isinstance(value, str):
        raise BadRequest("invalid cursor")
    if expected in (int, float) and not isinstance(value, int | float):
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
    tenant: str,
) -> tuple[list[T], str | None]:
    """One page of `stmt` (already filtered to `tenant`) ordered by (sort column, id); the
    cursor is bound to the list and the sort it was made for (replayed elsewhere: 400) and to
    the tenant (another tenant's: 404)."""
    col, ident = sort.column, id_column
    table = str(getattr(model, "__tablename__", model.__name__))
    if cursor is not None:
        values = decode_cursor(tenant, table, cursor)
        if len(values) != 3 or values[0] != sort.name:
            raise BadRequest("the cursor does not belong to this list and sort")
        last = _decode(values[1], _column_type(col))
        last_id = _decode(values[2], _column_type(ident))
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
    values = [sort.name, _encode(getattr(tail, key)), _encode(getattr(tail, ident.key))]
    next_cursor = encode_cursor(tenant, table, values)
    return rows, next_cursor


def page_of(found: tuple[Sequence[Any], str | None], read: Callable[[Any], T]) -> Page[T]:
    """A repository's `(rows, next_cursor)` as the API's page, each row through `read`."""
    rows, next_cursor = found
    return Page(items=[read(row) for row in rows], next_cursor=next_cursor)
