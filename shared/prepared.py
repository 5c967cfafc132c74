"""Core statements run on the driver's own connection, compiled once per database.

For the statements a consumer runs per event or per alert (the alerts service's reads and
write-backs): through `AsyncSession.execute` SQLAlchemy compiles the parameters of every row
again (`_init_compiled`, 14 % of the alerts handler's CPU at 1,000 KPIs,
`bench/alerts_cpu.py --profile`) and builds a result row object per row. Here the statement
is compiled once per dialect; a row's parameters go through the bind processors of their
columns' types (a `UtcDateTime` becomes naive UTC text on SQLite, JSON a string) and a result
row through the result processors, exactly as SQLAlchemy would, on the connection and in the
transaction of the session (`shared.db.driver_connection`). Errors are the driver's own.

What it does not do, and refuses at compile time: expanding parameters (`IN` lists: pass the
keys as one value, a JSON array on SQLite or arrays on PostgreSQL, as `shared.sql.KeyLookup`
does) and Python-side column defaults (the rows are written whole).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from shared.db import AsyncSession, driver_connection

Processor = Callable[[Any], Any] | None


@dataclass(slots=True)
class _Compiled:
    sql: str
    # Per positional parameter: the name it is read by from a row, or None for a constant.
    names: tuple[str | None, ...]
    constants: tuple[Any, ...]
    binders: tuple[Processor, ...]
    columns: tuple[Any, ...]  # the selected columns, whose types read the result
    readers: tuple[Processor, ...] | None = None  # their result processors, once known

    def args(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, constant, bind in zip(self.names, self.constants, self.binders, strict=True):
            value = constant if name is None else row[name]
            values.append(value if bind is None or value is None else bind(value))
        return tuple(values)

    def read(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        readers = self.readers
        assert readers is not None
        if not any(readers):
            return [tuple(row) for row in rows]
        return [
            tuple(v if r is None else r(v) for v, r in zip(row, readers, strict=True))
            for row in rows
        ]


class Prepared:
    """One statement (or one per database, when `build` is given the dialect's name), run on
    the driver's connection of the session it is handed."""

    def __init__(self, build: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._build = build
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, session: AsyncSession) -> _Compiled:
        dialect = session.get_bind().dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            build = self._build
            statement = build if isinstance(build, ClauseElement) else build(dialect.name)
            compiled = self._compiled[dialect.name] = _compile(statement, dialect)
        return compiled

    async def executemany(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per row (each a mapping of parameter name to value)."""
        if not rows:
            return
        compiled = self._for(session)
        args = [compiled.args(row) for row in rows]
        conn = await driver_connection(session)
        if session.get_bind().dialect.name == "postgresql":
            await conn.executemany(compiled.sql, args)
        else:
            await conn.cursor().executemany(compiled.sql, args)

    async def fetch(
        self, session: AsyncSession, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """The result rows of one run, as tuples of the selected columns' values."""
        compiled = self._for(session)
        args = compiled.args(params or {})
        conn = await driver_connection(session)
        await _know_readers(compiled, session, conn)
        if session.get_bind().dialect.name == "postgresql":
            return compiled.read(await conn.fetch(compiled.sql, *args))
        cursor = conn.cursor()
        await cursor.execute(compiled.sql, args)
        return compiled.read(await cursor.fetchall())


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise TypeError("Prepared writes whole rows: this statement has Python-side defaults")
    if "POSTCOMPILE" in compiled.string:
        raise TypeError("Prepared takes no expanding parameters (IN lists)")
    names: list[str | None] = []
    constants: list[Any] = []
    binders: list[Processor] = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        binders.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
        if bind.required:
            names.append(name)
            constants.append(None)
        else:
            names.append(None)
            constants.append(bind.effective_value)
    columns = tuple(getattr(statement, "selected_columns", ()))
    return _Compiled(compiled.string, tuple(names), tuple(constants), tuple(binders), columns)


async def _know_readers(compiled: _Compiled, session: AsyncSession, conn: Any) -> None:
    """The result processors of the selected columns' types, given the type the database
    reports for each, as SQLAlchemy asks for them (asyncpg's numeric ones need it: a float
    column's values are floats already, a numeric one's Decimals). SQLite reports none; a
    PostgreSQL statement is prepared once for its result's types (built-in types' ids are
    the same on every connection)."""
    if compiled.readers is not None:
        return
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        attributes = (await conn.prepare(compiled.sql)).get_attributes()
        codes: list[Any] = [a.type.oid for a in attributes]
    else:
        codes = [None] * len(compiled.columns)
    compiled.readers = tuple(
        c.type.dialect_impl(dialect).result_processor(dialect, code)
        for c, code in zip(compiled.columns, codes, strict=True)
    )
