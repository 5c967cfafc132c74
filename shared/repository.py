"""The queries every service's repositories share: one of a tenant's rows by its key, all of
them that match, and a page of a tenant's rows narrowed by the filters a list offers (its
cursor bound to the tenant).

Every table that holds a tenant's resources has a `tenant` column; a row is only ever found
through its tenant, so another tenant's id is simply not there (404, never 403).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.pagination import PageQuery, Sort, keyset_page

__all__ = [
    "all_of_tenant",
    "columns_of",
    "one_of_tenant",
    "page_of_tenant",
    "sorted_page_of_tenant",
]

M = TypeVar("M")


def columns_of(table: Table, shape: type[Any]) -> list[Column[Any]]:
    """The columns of `table` named by the fields of the dataclass `shape`, in its order: a
    Core select of plain rows that a mapper turns into `shape`, with one list of names to keep
    (the dataclass), not a copy of it beside the query."""
    return [table.c[field.name] for field in dataclasses.fields(shape)]


async def one_of_tenant(
    session: AsyncSession, model: type[M], tenant: str, *, for_update: bool = False, **key: Any
) -> M | None:
    """The tenant's row of `model` whose columns equal `key` (`id=...`, `name=...`), or None.

    `for_update` locks the row (PostgreSQL) and refreshes a copy the session already holds, so
    writes to one row run one after the other and each sees the previous one's result."""
    stmt = select(model).where(
        _column(model, "tenant") == tenant,
        *(_column(model, name) == value for name, value in key.items()),
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def all_of_tenant(
    session: AsyncSession,
    model: type[M],
    tenant: str,
    *where: ColumnElement[bool],
    order_by: Sequence[str] = ("created_at", "id"),
    fresh: bool = False,
    **equal: Any,
) -> list[M]:
    """Every one of the tenant's rows of `model` whose columns equal `equal` and that meets
    each `where`, ordered by the columns `order_by` names.

    `fresh` reads them as stored now: the session's pending changes are flushed first
    (autoflush), then the copies it already holds are refreshed, so a caller working from
    them never sees a stale one."""
    stmt = (
        select(model)
        .where(
            _column(model, "tenant") == tenant,
            *(_column(model, name) == value for name, value in equal.items()),
            *where,
        )
        .order_by(*(_column(model, name) for name in order_by))
    )
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars().all())


async def page_of_tenant(
    session: AsyncSession,
    model: type[M],
    tenant: str,
    *,
    sort: Sort,
    limit: int,
    cursor: str | None,
    equal: Mapping[str, Any] | None = None,
    where: Iterable[ColumnElement[bool]] = (),
    id_column: str = "id",
) -> tuple[list[M], str | None]:
    """One page of the tenant's rows of `model` by `sort` (then `id_column`), keeping those
    whose columns equal each non-None value of `equal` and that meet every `where`."""
    stmt = select(model).where(_column(model, "tenant") == tenant, *where)
    for name, value in (equal or {}).items():
        if value is not None:
            stmt = stmt.where(_column(model, name) == value)
    return await keyset_page(
        session,
        stmt,
        model=model,
        sort=sort,
        id_column=_column(model, id_column),
        limit=limit,
        cursor=cursor,
        tenant=tenant,
    )


async def sorted_page_of_tenant(
    session: AsyncSession,
    model: type[M],
    tenant: str,
    sorts: Mapping[str, Sort],
    query: PageQuery,
    **equal: Any,
) -> tuple[list[M], str | None]:
    """`page_of_tenant` for a list that offers a choice of `sorts` (`query.sort` names one),
    keeping the rows whose columns equal each non-None value of `equal`."""
    return await page_of_tenant(
        session,
        model,
        tenant,
        sort=sorts[query.sort],
        limit=query.limit,
        cursor=query.cursor,
        equal=equal,
    )


def _column(model: type[Any], name: str) -> InstrumentedAttribute[Any]:
    column: InstrumentedAttribute[Any] = getattr(model, name)
    return column
