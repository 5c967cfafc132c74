"""The queries every service's repositories share: one of a tenant's rows by its key, and a
page of a tenant's rows narrowed by the filters a list offers (its cursor bound to the tenant).

Every table that holds a tenant's resources has a `tenant` column; a row is only ever found
through its tenant, so another tenant's id is simply not there (404, never 403).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.pagination import Sort, keyset_page

__all__ = ["one_of_tenant", "page_of_tenant"]

M = TypeVar("M")


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


def _column(model: type[Any], name: str) -> InstrumentedAttribute[Any]:
    column: InstrumentedAttribute[Any] = getattr(model, name)
    return column
