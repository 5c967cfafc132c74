"""SQLite through `shared.sqlite_inline`: what the services rely on from a database driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from shared.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/inline.db")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)"))
    yield database
    await database.dispose()


async def rows(db: Database) -> list[tuple[int, str]]:
    async with db.session() as session:
        result = await session.execute(text("SELECT a, b FROM t ORDER BY a"))
        return [(a, b) for a, b in result.all()]


class TestInlineSqlite:
    async def test_a_transaction_that_raises_leaves_nothing(self, db: Database) -> None:
        async def insert_then_fail() -> None:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO t VALUES (1, 'x')"))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await insert_then_fail()
        assert await rows(db) == []

    async def test_a_duplicate_key_is_sqlalchemys_integrity_error(self, db: Database) -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t VALUES (1, 'x')"))

        async def insert_again() -> None:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO t VALUES (1, 'y')"))

        with pytest.raises(exc.IntegrityError):
            await insert_again()
        assert await rows(db) == [(1, "x")]

    async def test_a_reader_sees_only_committed_rows(self, db: Database) -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t VALUES (1, 'x')"))
            assert await rows(db) == []  # another connection, before the commit
        assert await rows(db) == [(1, "x")]

    async def test_many_rows_stream_back_in_order(self, db: Database) -> None:
        async with db.transaction() as session:
            await session.execute(
                text("INSERT INTO t VALUES (:a, :b)"), [{"a": i, "b": str(i)} for i in range(500)]
            )
        async with db.session() as session:
            streamed = [a async for (a,) in await session.stream(text("SELECT a FROM t"))]
        assert streamed == list(range(500))
