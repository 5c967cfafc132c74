"""Dialect-aware SQL helpers for the statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.prepared import Prepared


def dialect_insert(session: AsyncSession, table: Table | Any) -> Any:
    """An INSERT with `on_conflict_do_nothing/do_update` for the session's database."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Table | Any) -> Any:
    """An INSERT with `on_conflict_do_nothing/do_update` for the database named `dialect`."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class KeyLookup:
    """`query` (a SELECT from `table`) narrowed to the rows whose `names` columns equal one
    of the keys given when it runs: built once (it runs per batch), spelled per database.

    On PostgreSQL a join with the keys as arrays (`unnest`): one index lookup per key, which
    the planner chooses even before the table has statistics (a new database, before
    autovacuum's first ANALYZE). There, an IN list per column is estimated at one row per
    condition, and the planner reads the key's first column in the index and filters the
    rest: every batch a scan of the tenant's rows. On SQLite an IN list per column (its
    planner looks each combination up by the index); that matches the cartesian product of
    the columns' values, so `rows` keeps the exact keys only.

    Lock with `with_for_update(of=table)`: PostgreSQL locks no function's rows.

    `fetch` runs it on the driver's connection (`shared.prepared`), for the lookups run per
    event: on PostgreSQL the same join, on SQLite one lookup by the index per key."""

    def __init__(self, query: Select[Any], table: Table, names: Sequence[str]) -> None:
        self._names = tuple(names)
        columns = [table.c[name] for name in names]
        self._sqlite = query.where(
            *(c.in_(bindparam(f"keys_{i}", expanding=True)) for i, c in enumerate(columns))
        )
        point = query.where(*(c == bindparam(f"key_{i}") for i, c in enumerate(columns)))
        keys = (
            func.unnest(
                *(
                    bindparam(f"keys_{i}", type_=postgresql.ARRAY(c.type))
                    for i, c in enumerate(columns)
                )
            )
            .table_valued(*(f"key_{i}" for i in range(len(columns))))
            .render_derived(name="keys")
        )
        self._postgres = query.join_from(
            table, keys, and_(*(c == keys.c[f"key_{i}"] for i, c in enumerate(columns)))
        )
        self._prepared = Prepared(lambda name: self._postgres if name == "postgresql" else point)

    def statement(self, session: AsyncSession) -> Select[Any]:
        if session.get_bind().dialect.name == "postgresql":
            return self._postgres
        return self._sqlite

    def params(self, session: AsyncSession, keys: Collection[tuple[Any, ...]]) -> dict[str, Any]:
        """The statement's parameters for these keys (each a tuple in `names`' order)."""
        columns = list(zip(*keys, strict=True)) if keys else [() for _ in self._names]
        if session.get_bind().dialect.name == "postgresql":
            return {f"keys_{i}": list(values) for i, values in enumerate(columns)}
        return {f"keys_{i}": sorted(set(values)) for i, values in enumerate(columns)}

    async def rows(
        self,
        session: AsyncSession,
        keys: Collection[tuple[Any, ...]],
        key: Callable[[Any], tuple[Any, ...]] | None = None,
        chunk: int = 500,
    ) -> list[Any]:
        """The result rows of exactly these keys, `chunk` keys per statement. `key` is a
        row's key (by default its `names` columns, which the query then selects)."""
        key_of = key or self._key
        wanted = sorted(set(keys))
        exact = set(wanted)
        statement = self.statement(session)
        found: list[Any] = []
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            result = await session.execute(statement, self.params(session, part))
            found.extend(row for row in result if key_of(row) in exact)
        return found

    async def fetch(
        self, session: AsyncSession, keys: Collection[tuple[Any, ...]], chunk: int = 500
    ) -> list[tuple[Any, ...]]:
        """The rows of exactly these keys as tuples of the query's columns, on the driver's
        connection."""
        wanted = sorted(set(keys))
        if session.get_bind().dialect.name != "postgresql":
            return await self._prepared.fetch_each(
                session, [{f"key_{i}": v for i, v in enumerate(key)} for key in wanted]
            )
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            found.extend(await self._prepared.fetch(session, self.params(session, part)))
        return found

    def _key(self, row: Any) -> tuple[Any, ...]:
        return tuple(row._mapping[name] for name in self._names)
