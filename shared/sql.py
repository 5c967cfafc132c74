"""Dialect-aware SQL helpers for the statements SQLite and PostgreSQL spell differently."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Select, String, Table, and_, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Join

from shared.db import binder
from shared.prepared import Prepared


def dialect_insert(session: AsyncSession, table: Table | Any) -> Any:
    """An INSERT with `on_conflict_do_nothing/do_update` for the session's database."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Table | Any) -> Any:
    """An INSERT with `on_conflict_do_nothing/do_update` for the database named `dialect`."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class _CrossJoin(Join):
    """An inner join SQLite spells `CROSS JOIN`: its planner keeps the left table the outer
    loop (https://sqlite.org/optoverview.html#crossjoin). Only ever compiled for SQLite."""

    inherit_cache = True


@compiles(_CrossJoin, "sqlite")
def _cross_join(join: _CrossJoin, compiler: SQLCompiler, **kw: Any) -> str:
    assert join.onclause is not None
    on = compiler.process(join.onclause, **kw)
    kw["asfrom"] = True
    left, right = compiler.process(join.left, **kw), compiler.process(join.right, **kw)
    return f"{left} CROSS JOIN {right} ON {on}"


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
    event, as one statement of a fixed text whatever the number of keys: on PostgreSQL the
    same join, on SQLite a join with the keys as one JSON array (`json_each`), each key's
    values already as the columns' types bind them, in a CROSS JOIN that keeps the keys the
    outer loop (tests/integration/test_lookup_plans.py): each key searched by the index, as
    with the statement per key it replaced, without a call into the library per key (the
    alerts handler's CPU per measurement 0.67 → 0.60 ms, `bench/alerts_cpu.py --kpis 1000`)."""

    def __init__(self, query: Select[Any], table: Table, names: Sequence[str]) -> None:
        self.names = tuple(names)
        columns = [table.c[name] for name in names]
        self._sqlite = query.where(
            *(c.in_(bindparam(f"keys_{i}", expanding=True)) for i, c in enumerate(columns))
        )
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
        each = func.json_each(bindparam("keys_json", type_=String())).table_valued(
            "value", name="keys"
        )
        # The keys' table first, in a CROSS JOIN: SQLite keeps the left table of one as the
        # outer loop, so the table is searched by its index once per key whatever else the
        # query filters on (a plain join would let it scan an index of a filter instead).
        on = and_(*(c == func.json_extract(each.c.value, f"$[{i}]") for i, c in enumerate(columns)))
        self._sqlite_joined = query.select_from(_CrossJoin(each, table, on))
        self._columns = columns
        self._prepared = Prepared(self.fetch_statement)

    def fetch_statement(self, dialect: str) -> Select[Any]:
        """What `fetch` runs on the database named `dialect`."""
        return self._postgres if dialect == "postgresql" else self._sqlite_joined

    def statement(self, session: AsyncSession) -> Select[Any]:
        if session.get_bind().dialect.name == "postgresql":
            return self._postgres
        return self._sqlite

    def params(self, session: AsyncSession, keys: Collection[tuple[Any, ...]]) -> dict[str, Any]:
        """The statement's parameters for these keys (each a tuple in `names`' order)."""
        columns = list(zip(*keys, strict=True)) if keys else [() for _ in self.names]
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
            return await self._prepared.fetch(session, {"keys_json": self._json(session, wanted)})
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            found.extend(await self._prepared.fetch(session, self.params(session, part)))
        return found

    def _json(self, session: AsyncSession, keys: Sequence[tuple[Any, ...]]) -> str:
        """The keys as one JSON array of arrays, each value as its column's type binds it
        (a `UtcDateTime` as the text SQLite stores), so the join compares like with like."""
        binders = [binder(session, c) for c in self._columns]
        return json.dumps(
            [
                [None if v is None else b(v) for v, b in zip(key, binders, strict=True)]
                for key in keys
            ]
        )

    def _key(self, row: Any) -> tuple[Any, ...]:
        return tuple(row._mapping[name] for name in self.names)
